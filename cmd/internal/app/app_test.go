package app

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/monsta/monsta/internal/testkit/fakeclock"
	"github.com/monsta/monsta/internal/testkit/testconf"
	"github.com/monsta/monsta/runtime"
)

// fixture is an app over a configuration in a temporary directory, on a
// fake clock, logging to a file the test reads.
type fixture struct {
	t    *testing.T
	dir  string
	log  string
	clk  *fakeclock.Clock
	opts Options
}

func newFixture(t *testing.T, conf string) *fixture {
	t.Helper()
	dir := t.TempDir()
	conf = strings.ReplaceAll(conf, "STATEDIR", filepath.Join(dir, "state"))
	if err := os.MkdirAll(filepath.Join(dir, "conf.d"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "monsta.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, dir: dir, log: filepath.Join(dir, "monsta.log"),
		clk: fakeclock.New(time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC))}
	f.opts = Options{Config: filepath.Join(dir, "monsta.conf"), ConfDir: filepath.Join(dir, "conf.d"),
		LogPath: func(runtime.Main) string { return f.log }, Clock: f.clk}
	return f
}

// start loads and starts an app; it is closed when the test ends (unless
// the test closed it).
func (f *fixture) start() *App {
	f.t.Helper()
	a, err := New(f.opts)
	if err != nil {
		f.t.Fatal(err)
	}
	if err := a.Start(); err != nil {
		f.t.Fatal(err)
	}
	return a
}

func (f *fixture) logText() string {
	b, _ := os.ReadFile(f.log)
	return string(b)
}

// runUntil advances the clock a second at a time until the log contains
// want. The runs themselves take real (short) time, so it yields between
// steps; the bound only turns a hang into a failure.
func (f *fixture) runUntil(want string) string {
	f.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if s := f.logText(); strings.Contains(s, want) {
			return s
		}
		f.clk.Advance(time.Second)
		time.Sleep(2 * time.Millisecond)
	}
	f.t.Fatalf("log never showed %q:\n%s", want, f.logText())
	return ""
}

// TestExampleEscalates runs examples/monsta.conf on the fake clock: the
// closed port escalates from level 1 (warn) to level 3 (error), and the
// shell test notifies at level 0. It used to take the binary 15 s of real
// intervals.
func TestExampleEscalates(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("../../../examples/monsta.conf")
	if err != nil {
		t.Fatal(err)
	}
	conf := strings.Replace(string(data), "statedir = /tmp/monsta-example", "statedir = STATEDIR", 1)
	f := newFixture(t, conf)
	a := f.start()
	f.runUntil(`level=ERROR msg=notification test=closed_port state=FAIL failures=3`)
	// Runs are aligned to the wall clock (the same slots on every
	// instance), so which test runs first depends on the fake clock's start.
	log := f.runUntil(`msg=notification test=shell state=OK`)
	for _, w := range []string{
		`msg="monsta started"`,
		`level=WARN msg=notification test=closed_port state=FAIL failures=1`,
		`msg=notification test=shell state=OK`,
	} {
		if !strings.Contains(log, w) {
			t.Errorf("log lacks %q", w)
		}
	}
	a.Close()
	if s := f.logText(); !strings.Contains(s, "monsta stopped") || strings.Contains(s, "panic") {
		t.Errorf("log after Close:\n%s", s)
	}
}

// failingConf is a test that fails on every run and pages from its second
// failure.
const failingConf = testconf.Failing

// TestReloadCarriesStateAndSwapsLog: a rejected reload keeps the running
// configuration; a taken one keeps an unchanged test's failure count, moves
// the log to the new logfile, and says which settings need a restart.
func TestReloadCarriesStateAndSwapsLog(t *testing.T) {
	t.Parallel()
	f := newFixture(t, failingConf+"[Check_shell]\ntype = script\ncommand = true\n[Test_shell]\nchecks = shell\ninterval = 1\n")
	a := f.start()
	defer a.Close()
	f.runUntil(`msg="test failed" test=down failures=1`)

	broken := filepath.Join(f.dir, "conf.d", "50-broken.conf")
	os.WriteFile(broken, []byte("[Test_x]\nchecks = nope\n"), 0o644)
	if err := a.Reload(); err == nil {
		t.Fatal("Reload() of a broken file = nil error")
	}
	f.runUntil(`50-broken.conf:2: [Test_x] checks: no check named \"nope\"`)
	f.runUntil(`msg=notification test=down state=FAIL failures=2`)

	newLog := filepath.Join(f.dir, "new.log")
	os.WriteFile(broken, []byte("[Test_shell]\ninterval = 2\n[main]\npidfile = /run/other.pid\n"), 0o644)
	f.opts.LogPath = func(runtime.Main) string { return newLog }
	a.o.LogPath = f.opts.LogPath
	if err := a.Reload(); err != nil {
		t.Fatalf("Reload() error = %v", err)
	}
	if st := a.Status(); st.Generation != 2 || len(st.RestartNeeded) != 1 || st.RestartNeeded[0] != "pidfile" {
		t.Errorf("Status() = %+v, want generation 2, pidfile needing a restart", st)
	}
	f.log = newLog
	log := f.runUntil(`msg="test failed" test=down failures=4`)
	if !strings.Contains(log, "configuration reloaded") || strings.Contains(log, "failures=1 ") {
		t.Errorf("new log after a reload that kept the test:\n%s", log)
	}
}

// TestRestartContinuesEscalation: a new app over the same state directory
// carries the failure count on, so the second failure pages. (kill -9 in
// the middle of a run is TestKillDuringCheckRun in cmd/monsta.)
func TestRestartContinuesEscalation(t *testing.T) {
	t.Parallel()
	f := newFixture(t, failingConf)
	a := f.start()
	f.runUntil(`msg="test failed" test=down failures=1`)
	a.Close()
	if strings.Contains(f.logText(), "msg=notification") {
		t.Fatal("paged before the restart")
	}
	os.Remove(f.log)
	b := f.start()
	defer b.Close()
	log := f.runUntil(`msg=notification test=down state=FAIL failures=2`)
	if strings.Contains(log, "failures=1 ") {
		t.Errorf("escalation started over after the restart:\n%s", log)
	}
}
