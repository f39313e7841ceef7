package runtime

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// namedCheck reports its name on ran at each run.
type namedCheck struct {
	name string
	ran  chan string
}

func (c *namedCheck) Run(context.Context) (Stats, error) {
	c.ran <- c.name
	return nil, nil
}

// TestShardsRunEveryTestOnce: three instances with shard=1/3, 2/3 and 3/3
// over 300 tests run every test exactly once per interval between them.
func TestShardsRunEveryTestOnce(t *testing.T) {
	t.Parallel()
	const n, interval = 300, 10 * time.Second
	ran := make(chan string, 2*n)
	checks := map[string]Check{}
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
			if (st.Shard == ShardOut) == (ShardOf(st.Name, 3) == k) {
				t.Errorf("shard %d/3: test %s has role %q, but ShardOf = %d", k, st.Name, st.Shard, ShardOf(st.Name, 3))
			}
		}
		want := ShardSplit(p.Tests, 3)[k-1]
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

// TestShardGrowthMovesAQuarter: going from 3 to 4 shards moves only the
// tests the new shard wins, about a quarter.
func TestShardGrowthMovesAQuarter(t *testing.T) {
	t.Parallel()
	moved := 0
	for i := range 300 {
		name := fmt.Sprintf("t%03d", i)
		a, b := ShardOf(name, 3), ShardOf(name, 4)
		if a != b {
			moved++
			if b != 4 {
				t.Errorf("%s moved from shard %d to %d, want only moves to the new shard 4", name, a, b)
			}
		}
	}
	if frac := float64(moved) / 300; frac < 0.15 || frac > 0.35 {
		t.Errorf("growing 3 → 4 shards moved %d of 300 tests (%.0f%%), want 15%%-35%%", moved, frac*100)
	}
	t.Logf("growing 3 → 4 shards moved %d of 300 tests", moved)
}

// TestShardRolesFollowDependencies: a test named in depends= or as the
// uplink runs on every shard whose tests need it, directly or not.
func TestShardRolesFollowDependencies(t *testing.T) {
	t.Parallel()
	var tests []*TestSpec
	for i := range 60 {
		tests = append(tests, &TestSpec{Name: fmt.Sprintf("t%02d", i)})
	}
	// t01 depends on t02, which depends on t03; t00 is the uplink.
	tests[1].Depends = []string{"t02"}
	tests[2].Depends = []string{"t03"}
	for k := 1; k <= 3; k++ {
		roles := ShardRoles(tests, "t00", Shard{K: k, N: 3})
		for _, tt := range tests {
			own := ShardOf(tt.Name, 3) == k
			want := ShardOut
			switch {
			case own:
				want = ShardOwn
			case tt.Name == "t00":
				want = ShardDependency // the uplink: every shard needs it
			case tt.Name == "t02" && ShardOf("t01", 3) == k,
				tt.Name == "t03" && (ShardOf("t01", 3) == k || ShardOf("t02", 3) == k):
				want = ShardDependency
			}
			if roles[tt.Name] != want {
				t.Errorf("shard %d/3: %s has role %q, want %q", k, tt.Name, roles[tt.Name], want)
			}
		}
	}
	if r := ShardRoles(tests, "", Shard{}); r["t05"] != ShardOwn {
		t.Errorf("without sharding t05 has role %q, want own", r["t05"])
	}
}

func TestParseShard(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]Shard{"": {}, "1/3": {1, 3}, " 3 / 3 ": {3, 3}, "1/1": {1, 1}} {
		if got, err := parseShard(in); err != nil || got != want {
			t.Errorf("parseShard(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"0/3", "4/3", "3", "a/b", "1/0", "-1/2"} {
		if _, err := parseShard(in); err == nil {
			t.Errorf("parseShard(%q) accepted", in)
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
		if ShardOf(name, 2) == 1 && parent == "" {
			parent = name
		} else if ShardOf(name, 2) == 2 && child == "" {
			child = name
		}
	}
	rec := &recordingNotifier{got: make(chan Message, 10)}
	fail := &scriptedCheck{results: []error{errBoom, errBoom}}
	reg := testRegistry(t, map[string]Check{"p": fail}, map[string]Notifier{"r": rec})
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
	if st.Shard != ShardDependency {
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
