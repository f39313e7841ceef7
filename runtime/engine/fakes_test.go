package engine

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/monsta/monsta/internal/testkit/fakeclock"
	"github.com/monsta/monsta/runtime"
)

// fakeClock is a Clock whose time moves only by Advance. Every Reset of a
// timer is announced on resets, so a test knows the scheduler is idle.
type fakeClock struct {
	*fakeclock.Clock
	resets <-chan time.Time
}

func newFakeClock() *fakeClock {
	c := fakeclock.New(time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC))
	return &fakeClock{Clock: c, resets: c.AnnounceResets(100)}
}

// waitIdle waits until the scheduler armed its timer, and returns when it
// will fire.
func (f *fakeClock) waitIdle(t *testing.T) time.Time {
	t.Helper()
	select {
	case w := <-f.resets:
		return w
	case <-time.After(10 * time.Second):
		t.Fatal("scheduler never went idle")
	}
	return time.Time{}
}

// scriptedCheck records each run and returns what its script says.
type scriptedCheck struct {
	clk     runtime.Clock
	started chan time.Time
	release chan struct{} // when non-nil, Run blocks until it receives
	mu      sync.Mutex
	results []error // popped per run; empty: pass
}

func (c *scriptedCheck) Run(ctx context.Context) (runtime.Stats, error) {
	if c.started != nil {
		c.started <- c.clk.Now()
	}
	if c.release != nil {
		select {
		case <-c.release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.results) == 0 {
		return runtime.Stats{"n": 1}, nil
	}
	err := c.results[0]
	c.results = c.results[1:]
	return nil, err
}

// recordingNotifier collects the messages it is given.
type recordingNotifier struct {
	got  chan runtime.Message
	fail error
}

func (n *recordingNotifier) Notify(ctx context.Context, m runtime.Message) error {
	if n.fail != nil {
		return n.fail
	}
	n.got <- m
	return nil
}

var errBoom = errors.New("boom")

// testRegistry has a check type "fake" whose instances come from checks
// (by section host option) and a notifier type "rec".
func testRegistry(t testing.TB, checks map[string]runtime.Check, notifiers map[string]runtime.Notifier) *runtime.Registry {
	t.Helper()
	reg := runtime.NewRegistry()
	err := reg.Add(runtime.Descriptor{Kind: runtime.KindCheck, Name: "fake", Description: "a scripted check",
		Options: []runtime.Option{
			{Name: "host", Required: true, Help: "Key of the scripted check."},
			{Name: "port", Default: "80", Parse: runtime.Port, Help: "A port."},
		},
		NewCheck: func(o *runtime.Options) (runtime.Check, error) {
			if c, ok := checks[o.String("host")]; ok {
				return c, nil
			}
			return &scriptedCheck{}, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	err = reg.Add(runtime.Descriptor{Kind: runtime.KindNotifier, Name: "rec", Aliases: []string{"recorder"}, Description: "records messages",
		Options: []runtime.Option{
			{Name: "recipient", Required: true, Help: "Key of the recorder."},
			{Name: "password", Secret: true, Help: "A secret."},
		},
		NewNotifier: func(o *runtime.Options) (runtime.Notifier, error) {
			if n, ok := notifiers[o.String("recipient")]; ok {
				return n, nil
			}
			return &recordingNotifier{got: make(chan runtime.Message, 100)}, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	reg.Freeze()
	return reg
}
