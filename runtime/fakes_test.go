package runtime

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/monsta/monsta/config"
)

// stubCheck passes every run: resolution tests build checks, never run
// them (the engine's tests have the scripted fakes).
// Each is a distinct pointer (it is not of size zero), so tests can tell
// instances apart.
type stubCheck struct{ _ byte }

func (*stubCheck) Run(context.Context) (Stats, error) { return nil, nil }

// stubNotifier accepts every message.
type stubNotifier struct{}

func (stubNotifier) Notify(context.Context, Message) error { return nil }

// testRegistry has a check type "fake" whose instances come from checks
// (by section host option) and a notifier type "rec".
func testRegistry(t testing.TB, checks map[string]Check, notifiers map[string]Notifier) *Registry {
	t.Helper()
	reg := NewRegistry()
	err := reg.Add(Descriptor{Kind: KindCheck, Name: "fake", Description: "a scripted check",
		Options: []Option{
			{Name: "host", Required: true, Help: "Key of the scripted check."},
			{Name: "port", Default: "80", Parse: Port, Help: "A port."},
		},
		NewCheck: func(o *Options) (Check, error) {
			if c, ok := checks[o.String("host")]; ok {
				return c, nil
			}
			return &stubCheck{}, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	err = reg.Add(Descriptor{Kind: KindNotifier, Name: "rec", Aliases: []string{"recorder"}, Description: "records messages",
		Options: []Option{
			{Name: "recipient", Required: true, Help: "Key of the recorder."},
			{Name: "password", Secret: true, Help: "A secret."},
		},
		NewNotifier: func(o *Options) (Notifier, error) {
			if n, ok := notifiers[o.String("recipient")]; ok {
				return n, nil
			}
			return stubNotifier{}, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	reg.Freeze()
	return reg
}

// loadPlan writes conf as monsta.conf in a temp dir and resolves it.
func loadPlan(t testing.TB, reg *Registry, conf string) *Plan {
	t.Helper()
	dir := t.TempDir()
	f := filepath.Join(dir, "monsta.conf")
	if err := os.WriteFile(f, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(f, filepath.Join(dir, "conf.d"))
	if err != nil {
		t.Fatal(err)
	}
	p, _, err := NewResolver(cfg).Resolve(reg)
	if err != nil {
		t.Fatalf("Resolve() error = %v", err)
	}
	return p
}

// notifierFunc adapts a function to a Notifier.
type notifierFunc func(ctx context.Context, m Message) error

func (f notifierFunc) Notify(ctx context.Context, m Message) error { return f(ctx, m) }
