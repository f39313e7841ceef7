package engine

import (
	"encoding/json"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/monsta/monsta/runtime"
)

// diskSaver keeps each saved state as JSON, as the state directory does,
// and counts the saves.
type diskSaver struct {
	mu    sync.Mutex
	files map[string][]byte
	saves map[string]int
}

func (d *diskSaver) SaveTest(name string, st runtime.TestState) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.files == nil {
		d.files, d.saves = map[string][]byte{}, map[string]int{}
	}
	d.files[name] = b
	d.saves[name]++
	return nil
}

// load reads the states back, as a restart does.
func (d *diskSaver) load(t *testing.T) map[string]runtime.TestState {
	t.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	out := map[string]runtime.TestState{}
	for n, b := range d.files {
		var st runtime.TestState
		if err := json.Unmarshal(b, &st); err != nil {
			t.Fatal(err)
		}
		out[n] = st
	}
	return out
}

// TestLastResultSurvivesReloadAndRestart: the last result of each test
// (ok, each check's errors and stats, the duration, the time) is what the
// status shows after a reload (the state handed over) and after a restart
// (the state read back from disk), until the next run replaces it.
func TestLastResultSurvivesReloadAndRestart(t *testing.T) {
	clk := newFakeClock()
	bad := &scriptedCheck{results: []error{errBoom, errBoom}}
	good := &scriptedCheck{}
	p := loadPlan(t, testRegistry(t, map[string]runtime.Check{"bad": bad, "good": good}, nil), `
[Check_bad]
type=fake
host=bad
[Check_good]
type=fake
host=good
[Test_web]
checks=bad
[Test_db]
checks=good
`)
	saver := &diskSaver{}
	e, err := New(p, Options{Clock: clk, Saver: saver})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"web", "db"} {
		if _, err := e.RunTestOnce(t.Context(), n); err != nil {
			t.Fatal(err)
		}
	}
	want := lastResults(t, e)
	handed := e.State()
	e.Close(t.Context())
	for how, state := range map[string]map[string]runtime.TestState{"reload": handed, "restart": saver.load(t)} {
		e2, err := New(p, Options{Clock: clk, State: state})
		if err != nil {
			t.Fatal(err)
		}
		wantShown(t, how, e2, want)
		e2.Close(t.Context())
	}
	// The next run replaces it.
	e3, _ := New(p, Options{Clock: clk, State: saver.load(t)})
	defer e3.Close(t.Context())
	clk.Advance(time.Minute)
	e3.RunTestOnce(t.Context(), "web")
	if got, _ := e3.TestStatus("web"); got.Checks[0].Errors[0] != want["web"].Checks[0].Errors[0] || !got.LastRun.After(want["web"].LastRun) {
		t.Errorf("web after the next run = %+v, want its new run", got)
	}
}

// lastResults returns the status of web and db after their runs, checking
// that web failed with its error and db passed with its stats.
func lastResults(t *testing.T, e *Engine) map[string]TestStatus {
	t.Helper()
	want := map[string]TestStatus{}
	for _, n := range []string{"web", "db"} {
		want[n], _ = e.TestStatus(n)
	}
	if w := want["web"]; w.LastOK || len(w.Checks) != 1 || len(w.Checks[0].Errors) != 1 || w.LastRun.IsZero() {
		t.Fatalf("web after its run = %+v, want one failing check with its error", w)
	}
	if w := want["db"]; !w.LastOK || len(w.Checks) != 1 || w.Checks[0].Stats["n"] != 1 {
		t.Fatalf("db after its run = %+v, want passed with its stats", w)
	}
	return want
}

// wantShown wants e to show the last results of want (after how).
func wantShown(t *testing.T, how string, e *Engine, want map[string]TestStatus) {
	t.Helper()
	for n, w := range want {
		got, _ := e.TestStatus(n)
		if got.LastOK != w.LastOK || !got.LastRun.Equal(w.LastRun) || got.Duration != w.Duration || !sameResults(got.Checks, w.Checks) {
			t.Errorf("%s: %s shows %+v\nwant %+v", how, n, got, w)
		}
	}
}

// sameResults compares results as they are stored (Err aside).
func sameResults(a, b []runtime.CheckResult) bool {
	return slices.EqualFunc(a, b, func(x, y runtime.CheckResult) bool {
		return x.Check == y.Check && x.OK == y.OK && slices.Equal(x.Errors, y.Errors) && x.Stats["n"] == y.Stats["n"] &&
			x.Start.Equal(y.Start) && x.Duration == y.Duration
	})
}

// TestLastResultSavedOnNewOutcome: a passing test's state is saved when
// its outcome changes (its first run, a failure, a recovery), not at every
// run that says the same again.
func TestLastResultSavedOnNewOutcome(t *testing.T) {
	chk := &scriptedCheck{results: []error{nil, nil, nil, errBoom}}
	p := loadPlan(t, testRegistry(t, map[string]runtime.Check{"a": chk}, nil), "[Check_a]\ntype=fake\nhost=a\n[Test_web]\nchecks=a\n")
	saver := &diskSaver{}
	e, err := New(p, Options{Clock: newFakeClock(), Saver: saver})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(t.Context())
	// pass, pass, pass, fail, pass, pass
	for i, want := range []int{1, 1, 1, 2, 3, 3} {
		e.RunTestOnce(t.Context(), "web")
		if got := saver.saves["web"]; got != want {
			t.Errorf("after run %d: %d saves, want %d", i+1, got, want)
		}
	}
}
