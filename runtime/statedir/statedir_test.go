package statedir

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/monsta/monsta/runtime"
)

func TestStateRoundTrip(t *testing.T) {
	d, err := Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	st := runtime.TestState{Fingerprint: "abc", Failures: 2, Notified: []string{"bob"}, LastLevel: 2,
		LastNotify: time.Date(2026, 11, 24, 1, 2, 3, 0, time.UTC)}
	for _, name := range []string{"web", "a/b", "..", "ünï code"} {
		if err := d.SaveTest(name, st); err != nil {
			t.Fatalf("SaveTest(%q) error = %v", name, err)
		}
	}
	got := d.LoadState()
	for _, name := range []string{"web", "a/b", "..", "ünï code"} {
		if !reflect.DeepEqual(got[name], st) {
			t.Errorf("LoadState()[%q] = %+v, want %+v", name, got[name], st)
		}
	}
	// A test back to normal needs no file.
	if err := d.SaveTest("web", runtime.TestState{Fingerprint: "abc"}); err != nil {
		t.Fatal(err)
	}
	if _, ok := d.LoadState()["web"]; ok {
		t.Error("state of a recovered test still on disk")
	}
}

func TestCorruptStateSetAside(t *testing.T) {
	dir := t.TempDir()
	d, _ := Open(dir, nil)
	if err := d.SaveTest("good", runtime.TestState{Failures: 1}); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "state", "bad.json")
	if err := os.WriteFile(bad, []byte(`{"failures": 3, "notif`), 0o600); err != nil {
		t.Fatal(err)
	}
	got := d.LoadState()
	if got["good"].Failures != 1 || len(got) != 1 {
		t.Fatalf("LoadState() = %+v, want only the good test", got)
	}
	if _, err := os.Stat(bad); !os.IsNotExist(err) {
		t.Error("truncated file still in place")
	}
	m, _ := filepath.Glob(bad + ".corrupt-*")
	if len(m) != 1 {
		t.Errorf("truncated file not kept aside: %v", m)
	}
}

func TestOutbox(t *testing.T) {
	dir := t.TempDir()
	d, _ := Open(dir, nil)
	var ids []string
	for i, test := range []string{"one", "two", "three"} {
		id, err := d.Put("bob", runtime.Message{Test: test, State: runtime.StateFail, Failures: i + 1})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if _, err := d.Put("sms", runtime.Message{Test: "x"}); err != nil {
		t.Fatal(err)
	}
	p := d.Pending()
	var bob []string
	for _, x := range p {
		if x.Notification == "bob" {
			bob = append(bob, x.Message.Test)
		}
	}
	if strings.Join(bob, " ") != "one two three" || len(p) != 4 {
		t.Fatalf("Pending() = %+v, want bob's three in order and one for sms", p)
	}
	if err := d.Delete("bob", ids[0]); err != nil {
		t.Fatal(err)
	}
	if err := d.Fail("bob", ids[1], "550 no such user"); err != nil {
		t.Fatal(err)
	}
	if n := len(d.Pending()); n != 2 {
		t.Fatalf("Pending() has %d messages after a delete and a fail, want 2", n)
	}
	f := d.Failures()
	if len(f) != 1 || f[0].Test != "two" || f[0].Reason != "550 no such user" {
		t.Fatalf("Failures() = %+v", f)
	}
	// A truncated outbox file is set aside, the rest still resumes.
	files, _ := filepath.Glob(filepath.Join(dir, "outbox", "sms", "*.json"))
	os.WriteFile(files[0], []byte("{"), 0o600)
	p = d.Pending()
	if len(p) != 1 || p[0].Message.Test != "three" {
		t.Fatalf("Pending() with a truncated file = %+v", p)
	}
}

// TestPutDoesNotTouchTheCallersMessage: a NaN stat cannot be stored, so Put
// stores the message without stats; the caller's checks (shared with the
// other notifications of the same result and the on_result hook) keep theirs.
func TestPutDoesNotTouchTheCallersMessage(t *testing.T) {
	d, err := Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	checks := []runtime.CheckResult{{Check: "c", Stats: runtime.Stats{"ratio": math.NaN(), "connect_seconds": 0.5}}}
	m := runtime.Message{Test: "t", State: runtime.StateFail, Checks: checks}
	if _, err := d.Put("page", m); err != nil {
		t.Fatalf("Put() error = %v", err)
	}
	if got := checks[0].Stats["connect_seconds"]; got != 0.5 {
		t.Errorf("after Put, caller's stats = %v, want them unchanged", checks[0].Stats)
	}
	p := d.Pending()
	if len(p) != 1 || p[0].Message.Checks[0].Stats != nil || p[0].Message.Checks[0].Check != "c" {
		t.Errorf("Pending() = %+v, want the message without stats", p)
	}
}

// TestSaveTestConcurrently: saves from many workers at once, which the
// group commit writes in batches, each return once their state is on disk,
// and the last save of each test is what loads.
func TestSaveTestConcurrently(t *testing.T) {
	d, err := Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	const tests, saves = 40, 5
	var wg sync.WaitGroup
	for i := range tests {
		wg.Go(func() {
			name := fmt.Sprintf("t%02d", i)
			for n := 1; n <= saves; n++ {
				if err := d.SaveTest(name, runtime.TestState{Fingerprint: "f", Failures: n}); err != nil {
					t.Errorf("SaveTest(%s) error = %v", name, err)
					return
				}
				// On disk on return: this goroutine reads it back.
				if got := readBack(t, d, name).Failures; got != n {
					t.Errorf("%s after save %d: %d failures on disk", name, n, got)
				}
			}
		})
	}
	wg.Wait()
	got := d.LoadState()
	if len(got) != tests {
		t.Fatalf("LoadState() has %d tests, want %d", len(got), tests)
	}
	for name, st := range got {
		if st.Failures != saves {
			t.Errorf("%s: %d failures, want the last save's %d", name, st.Failures, saves)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(d.Path(), "state", ".tmp-*")); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

// readBack reads a test's state as LoadState would (TEST.json, or
// TEST.json.latest when newer) without LoadState's clean-up, which is for
// start-up and not meant to run beside saves of other tests.
func readBack(t *testing.T, d *Dir, name string) runtime.TestState {
	t.Helper()
	p := filepath.Join(d.Path(), "state", fileName(name)+".json")
	var f, l stateFile
	if err := readJSON(p, &f); err != nil {
		t.Errorf("read %s: %v", p, err)
	}
	if err := readJSON(p+latestSuffix, &l); err == nil && l.Seq > f.Seq {
		return l.TestState
	}
	return f.TestState
}
