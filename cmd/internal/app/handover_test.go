package app

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/monsta/monsta/runtime"
)

// resultCounter counts results per test (Options.Hooks).
type resultCounter struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *resultCounter) BeforeNotify(context.Context, *runtime.NotifyEvent) error { return nil }

func (c *resultCounter) AfterResult(_ context.Context, r runtime.TestResult) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n[r.Test]++
}

func (c *resultCounter) get(test string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[test]
}

// slowConf has a script check that runs (up to its 25 s timeout) until the
// file GO exists, writing a line to STARTED as it starts, then fails; and
// a fast test run every second.
const slowConf = `
[main]
statedir = STATEDIR
[Check_slow]
type = script
command = sh -c 'echo x >> DIR/STARTED; while [ ! -f DIR/GO ]; do sleep 0.01; done; exit 1'
timeout = 25
[Check_fast]
type = script
command = true
[Notification_page]
type = log
recipient = warn
[Test_slow]
checks = slow
interval = 60
notify = 1:page
[Test_fast]
checks = fast
interval = 1
`

// TestReloadDoesNotStallOtherTests: a SIGHUP while a long script check
// runs hands every other test over at once; the running check finishes
// under the old configuration, its page goes out through the new one, and
// only then does the new configuration schedule it again. Everything is
// ordering on the fake clock: the slow check runs exactly as long as the
// test wants it to.
func TestReloadDoesNotStallOtherTests(t *testing.T) {
	t.Parallel()
	f := newFixture(t, slowConf)
	conf := strings.ReplaceAll(slowConf, "DIR", f.dir)
	conf = strings.ReplaceAll(conf, "STATEDIR", filepath.Join(f.dir, "state"))
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(f.opts.Config, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(conf)
	counts := &resultCounter{n: map[string]int{}}
	f.opts.Hooks = counts
	a := f.start()
	defer a.Close()
	started := func() int {
		b, _ := os.ReadFile(filepath.Join(f.dir, "STARTED"))
		return strings.Count(string(b), "x")
	}
	// step advances the fake clock a second at a time until cond holds; the
	// bound only turns a hang into a failure.
	step := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); !cond(); {
			if time.Now().After(deadline) {
				t.Fatalf("never: %s\n%s", what, f.logText())
			}
			f.clk.Advance(time.Second)
			time.Sleep(10 * time.Millisecond)
		}
	}
	step("the slow check starts", func() bool { return started() == 1 })

	// Reload while it runs: a new test comes in, the rest is unchanged.
	write(conf + "[Check_new]\ntype = script\ncommand = true\n[Test_new]\nchecks = new\ninterval = 1\n")
	reloaded := make(chan error, 1)
	go func() { reloaded <- a.Reload() }()
	select {
	case err := <-reloaded:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Reload waits for the running check") // never timing: the check waits for GO
	}
	if a.Status().Generation != 2 {
		t.Fatalf("generation = %d, want 2", a.Status().Generation)
	}
	// Other tests go on, old and new, while the slow one still runs.
	fast := counts.get("fast")
	step("fast and new tests run after the reload", func() bool {
		return counts.get("fast") >= fast+5 && counts.get("new") >= 5
	})
	if counts.get("slow") != 0 || started() != 1 {
		t.Fatalf("slow: %d results, %d starts; want it still in its first run", counts.get("slow"), started())
	}
	// The fast test may be mid-run too; the slow one always is.
	if !regexp.MustCompile(`msg="tests still running finish under the old configuration" tests="?\[[a-z ]*slow`).MatchString(f.logText()) {
		t.Errorf("the reload does not say which tests finish under the old configuration:\n%s", f.logText())
	}

	// Let it end: its result and its page come through, and the new
	// configuration runs it again at its next slot.
	if err := os.WriteFile(filepath.Join(f.dir, "GO"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	step("the slow test's page", func() bool {
		return strings.Contains(f.logText(), "msg=notification test=slow state=FAIL failures=1")
	})
	os.Remove(filepath.Join(f.dir, "GO"))
	step("the slow check runs again under the new configuration", func() bool { return started() == 2 })
	os.WriteFile(filepath.Join(f.dir, "GO"), nil, 0o644)
	step("its second result", func() bool { return counts.get("slow") == 2 })
	// The second failure continues the streak the first run left, and
	// nothing went wrong on the way.
	step("the second failure counted on", func() bool {
		return strings.Contains(f.logText(), `msg="test failed" test=slow failures=2`)
	})
	if log := f.logText(); strings.Contains(log, "level=ERROR") {
		t.Errorf("errors in the log:\n%s", log)
	}
}
