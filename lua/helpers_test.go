package lua

import (
	"context"
	"github.com/monsta/monsta/internal/testkit/logbuf"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/monsta/monsta/builtins"
	"github.com/monsta/monsta/internal/testkit/testconf"
	"github.com/monsta/monsta/runtime"
)

// writeDir writes files into a fresh DIR/conf.d and returns its path.
func writeDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "conf.d")
	for name, src := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

type fixture struct {
	e   *Engine
	reg *runtime.Registry
	log *logbuf.Buffer
}

// load loads files with cfg (Dir and Logger filled in) into a fresh
// registry, after calling pre on it.
func load(t *testing.T, files map[string]string, cfg Config, pre func(*runtime.Registry)) fixture {
	t.Helper()
	fx := fixture{reg: runtime.NewRegistry(), log: &logbuf.Buffer{}}
	if pre != nil {
		pre(fx.reg)
	}
	cfg.Dir = writeDir(t, files)
	cfg.Logger = slog.New(slog.NewTextHandler(fx.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e, err := Load(cfg, fx.reg)
	if err != nil {
		t.Fatalf("Load() error = %v", err)
	}
	t.Cleanup(e.Close)
	fx.e = e
	return fx
}

// check builds a check of type typ with raw options.
func (fx fixture) check(t *testing.T, typ string, raw map[string]string) (runtime.Check, *runtime.Options) {
	t.Helper()
	d, ok := fx.reg.Lookup(runtime.KindCheck, typ)
	if !ok {
		t.Fatalf("check type %q not registered", typ)
	}
	o, err := runtime.NewOptions(d, "Check_test", raw)
	if err != nil {
		t.Fatalf("NewOptions() error = %v", err)
	}
	c, err := d.NewCheck(o)
	if err != nil {
		t.Fatalf("NewCheck() error = %v", err)
	}
	return c, o
}

// run runs a check through the runtime with a 10 s guard against hangs.
func (fx fixture) run(t *testing.T, typ string, raw map[string]string) runtime.CheckResult {
	t.Helper()
	c, o := fx.check(t, typ, raw)
	done := make(chan runtime.CheckResult, 1)
	go func() { done <- runtime.RunCheck(context.Background(), c, o) }()
	select {
	case r := <-done:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("check run did not return within 10 s")
	}
	return runtime.CheckResult{}
}

// notifier builds a notifier of type typ with raw options.
func (fx fixture) notifier(t *testing.T, typ string, raw map[string]string) runtime.Notifier {
	t.Helper()
	d, ok := fx.reg.Lookup(runtime.KindNotifier, typ)
	if !ok {
		t.Fatalf("notifier type %q not registered", typ)
	}
	o, err := runtime.NewOptions(d, "Notification_test", raw)
	if err != nil {
		t.Fatalf("NewOptions() error = %v", err)
	}
	n, err := d.NewNotifier(o)
	if err != nil {
		t.Fatalf("NewNotifier() error = %v", err)
	}
	return n
}

func writeFile(dir, name, content string) error {
	return os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644)
}

// resolvePlan loads the Lua files of confd beside the built-in types, as
// cmd/monsta does, and resolves mainFile (with confd's *.conf) into a plan.
// It returns the registry too; the engine is closed when the test ends.
func resolvePlan(t *testing.T, mainFile, confd string, logger *slog.Logger) (*runtime.Plan, *Engine, *runtime.Registry) {
	t.Helper()
	reg := runtime.NewRegistry()
	if err := builtins.Register(reg, builtins.Env{}); err != nil {
		t.Fatal(err)
	}
	e, err := Load(Config{Dir: confd, Logger: logger}, reg)
	if err != nil {
		t.Fatalf("Load() error = %v", err)
	}
	t.Cleanup(e.Close)
	reg.Freeze()
	return testconf.Plan(t, mainFile, confd, reg), e, reg
}
