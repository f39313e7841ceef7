package engine

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/monsta/monsta/runtime"
)

// namedCheck reports its name on ran at each run.
type namedCheck struct {
	name string
	ran  chan string
}

func (c *namedCheck) Run(context.Context) (runtime.Stats, error) {
	c.ran <- c.name
	return nil, nil
}

// TestShardsRunEveryTestOnce: three instances with shard=1/3, 2/3 and 3/3
// over 300 tests run every test exactly once per interval between them.
func TestShardsRunEveryTestOnce(t *testing.T) {
	t.Parallel()
	const n, interval = 300, 10 * time.Second
	ran := make(chan string, 2*n)
	checks := map[string]runtime.Check{}
	var body strings.Builder
	for i := range n {
		name := fmt.Sprintf("t%03d", i)
		checks[name] = &namedCheck{name: name, ran: ran}
		fmt.Fprintf(&body, "[Check_%s]\ntype=fake\nhost=%s\n[Test_%s]\nchecks=%s\ninterval=10\n", name, name, name, name)
	}
	reg := testRegistry(t, checks, nil)
	count := map[string]int{}
	perShard := make([]int, 3)
	for k := 1; k <= 3; k++ {
		clk := newFakeClock()
		clk.Advance(time.Duration(k) * 1700 * time.Millisecond) // instances start at different times
		start := clk.Now()
		p := loadPlan(t, reg, fmt.Sprintf("[main]\nshard = %d/3\n", k)+body.String())
		e, _ := startEngine(t, p, clk)
		for {
			w := clk.waitIdle(t)
			if !w.Before(start.Add(interval)) {
				break
			}
			clk.Advance(w.Sub(clk.Now()))
		}
		for _, st := range e.Status() {
			if (st.Shard == runtime.ShardOut) == (runtime.ShardOf(st.Name, 3) == k) {
				t.Errorf("shard %d/3: test %s has role %q, but ShardOf = %d", k, st.Name, st.Shard, runtime.ShardOf(st.Name, 3))
			}
		}
		want := runtime.ShardSplit(p.Tests, 3)[k-1]
		for range want {
			count[recv(t, ran)]++
			perShard[k-1]++
		}
	}
	select {
	case name := <-ran:
		t.Errorf("test %s ran more than once", name)
	default:
	}
	for i := range n {
		if name := fmt.Sprintf("t%03d", i); count[name] != 1 {
			t.Errorf("test %s ran %d times in one interval over the three shards, want 1", name, count[name])
		}
	}
	for k, c := range perShard {
		if c < n/3*2/3 || c > n/3*4/3 {
			t.Errorf("shard %d/3 ran %d of %d tests, want about a third", k+1, c, n)
		}
	}
}

// TestShardDependencyDoesNotNotify: a test run only because this shard's
// tests depend on it fails silently here; its own shard pages.
func TestShardDependencyDoesNotNotify(t *testing.T) {
	t.Parallel()
	// Find a parent and a child that land on different shards of 2.
	parent, child := "", ""
	for i := 0; parent == "" || child == ""; i++ {
		name := fmt.Sprintf("t%d", i)
		if runtime.ShardOf(name, 2) == 1 && parent == "" {
			parent = name
		} else if runtime.ShardOf(name, 2) == 2 && child == "" {
			child = name
		}
	}
	rec := &recordingNotifier{got: make(chan runtime.Message, 10)}
	fail := &scriptedCheck{results: []error{errBoom, errBoom}}
	reg := testRegistry(t, map[string]runtime.Check{"p": fail}, map[string]runtime.Notifier{"r": rec})
	conf := fmt.Sprintf(`[main]
shard = 2/2
[Check_p]
type = fake
host = p
[Check_c]
type = fake
host = c
[Notification_r]
type = rec
recipient = r
[Test_%s]
checks = p
notify = 1:r
[Test_%s]
checks = c
depends = %s
notify = 1:r
`, parent, child, parent)
	e, _ := startEngine(t, loadPlan(t, reg, conf), newFakeClock())
	st, _ := e.TestStatus(parent)
	if st.Shard != runtime.ShardDependency {
		t.Fatalf("parent %s has role %q on shard 2/2, want dependency", parent, st.Shard)
	}
	if r, err := e.RunTestOnce(context.Background(), parent); err != nil || r.OK || r.Failures != 1 {
		t.Fatalf("RunTestOnce(%s) = %+v, %v; want a failure", parent, r, err)
	}
	e.Close(context.Background())
	select {
	case m := <-rec.got:
		t.Errorf("shard 2/2 paged for its dependency: %s %s", m.State, m.Test)
	default:
	}
}
