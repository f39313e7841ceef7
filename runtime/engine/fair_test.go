package engine

import (
	"context"
	"fmt"
	"github.com/monsta/monsta/internal/testkit/logbuf"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/monsta/monsta/runtime"
)

// silentCheck connects to a loopback listener that never answers and
// waits for a reply that never comes, until release is closed (or its
// context ends): a check against a silent peer, which holds its slot for
// as long as the test lets it.
type silentCheck struct {
	addr    string
	release chan struct{}
}

func (c *silentCheck) Run(ctx context.Context) (runtime.Stats, error) {
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", c.addr)
	if err == nil {
		defer conn.Close()
	}
	select {
	case <-c.release:
	case <-ctx.Done():
	}
	return nil, fmt.Errorf("read banner from %s: no reply", c.addr)
}

// TestScheduleNeverStarves: 3,000 tests against one silent peer need more
// than max_concurrent_checks = 1000 at once; an unrelated test of 1 s
// still starts at every one of its slots, on the injected clock, because
// the silent peer's tests only get their fair share of the cap. The
// configuration is warned about, naming the cap.
func TestScheduleNeverStarves(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close() // never accepts: connections wait in its backlog
	clk := newFakeClock()
	silent := &silentCheck{addr: l.Addr().String(), release: make(chan struct{})}
	fast := &scriptedCheck{clk: clk, started: make(chan time.Time, 10)}
	_, port, _ := net.SplitHostPort(silent.addr)
	var conf strings.Builder
	fmt.Fprintf(&conf, "[main]\nmax_concurrent_checks=1000\n[Check_silent]\ntype=fake\nhost=silent\nport=%s\n[Check_fast]\ntype=fake\nhost=fast\n[Test_fast]\nchecks=fast\ninterval=1\n", port)
	for i := range 3000 {
		fmt.Fprintf(&conf, "[Test_s%d]\nchecks=silent\ninterval=10\n", i)
	}
	p := loadPlan(t, testRegistry(t, map[string]runtime.Check{"silent": silent, "fast": fast}, nil), conf.String())
	var logs logbuf.Buffer
	e, err := New(p, Options{Clock: clk, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "max_concurrent_checks=1000") || !strings.Contains(logs.String(), "silent:"+port) {
		t.Errorf("no warning naming the cap and the busiest target:\n%s", logs.String())
	}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { e.Run(ctx); close(stopped) }()
	defer func() {
		close(silent.release)
		cancel()
		<-stopped
		e.Close(context.Background())
	}()
	ft := e.tests[0]
	slot := firstRun("fast", time.Second, clk.Now())
	end := clk.Now().Add(20 * time.Second)
	for slot.Before(end) {
		clk.AdvanceTo(clk.waitIdle(t))
		if clk.Now().Before(slot) {
			continue
		}
		if s := recv(t, fast.started); !s.Equal(slot) {
			t.Fatalf("fast started at %v, want its slot %v", s, slot)
		}
		waitNotRunning(t, ft)
		slot = slot.Add(time.Second)
	}
	e.poolMu.Lock()
	g := e.tests[1].tgt
	inflight, share, queued := g.inflight, g.share, len(g.queue)
	e.poolMu.Unlock()
	if share != 999 || inflight != share || queued == 0 {
		t.Errorf("silent peer: %d checks running, share %d, %d queued; want its share of 999 full and more waiting", inflight, share, queued)
	}
}

// TestFairShares: max-min fairness over the cap, each target's demand
// being the checks it runs at once when it hangs.
func TestFairShares(t *testing.T) {
	tests := []struct {
		name     string
		demands  []float64
		capacity int
		want     []int
	}{
		{"room for all", []float64{3, 2, 1}, 10, []int{3, 2, 1}},
		{"one hog", []float64{3000, 1}, 1000, []int{999, 1}},
		{"two hogs share what is left", []float64{3000, 1, 2000}, 1000, []int{500, 1, 500}},
		{"fractions round up", []float64{0.5, 0.1}, 10, []int{1, 1}},
		{"more targets than the cap: one each", []float64{1, 1, 1, 1}, 2, []int{1, 1, 1, 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var list []*target
			for i, d := range tc.demands {
				list = append(list, &target{key: fmt.Sprint(i), demand: d})
			}
			fairShares(list, tc.capacity)
			for i, g := range list {
				if g.share != tc.want[i] {
					t.Errorf("target %d (demand %v): share %d, want %d", i, g.demand, g.share, tc.want[i])
				}
			}
		})
	}
}

// TestPlanConcurrency: --lint's view of the same numbers, and its warning
// naming the cap; a configuration within the cap has none.
func TestPlanConcurrency(t *testing.T) {
	conf := func(n int) string {
		var b strings.Builder
		b.WriteString("[main]\nmax_concurrent_checks=100\n[Check_a]\ntype=fake\nhost=db\nport=5432\ntimeout=5\n")
		for i := range n {
			fmt.Fprintf(&b, "[Test_t%d]\nchecks=a\ninterval=10\n", i)
		}
		return b.String()
	}
	reg := testRegistry(t, nil, nil)
	c := PlanConcurrency(loadPlan(t, reg, conf(300))) // 300 tests × 5 s of 10: 150 at once
	if c.Need != 150 || c.Cap != 100 || c.Busiest != "db:5432" || c.Share != 100 {
		t.Errorf("PlanConcurrency = %+v, want need 150 of cap 100, db:5432 held to 100", c)
	}
	if w := c.Warning(); !strings.Contains(w, "max_concurrent_checks = 100") || !strings.Contains(w, "db:5432") {
		t.Errorf("warning %q names neither the cap nor the target", w)
	}
	if w := PlanConcurrency(loadPlan(t, reg, conf(100))).Warning(); w != "" {
		t.Errorf("100 tests × 5 s of 10 within a cap of 100: warning %q", w)
	}
}
