package engine

import (
	"container/heap"
	"context"
	goruntime "runtime"
	"testing"
	"time"

	"github.com/monsta/monsta/runtime"
	"github.com/monsta/monsta/runtime/history"
)

// nopCheck passes at once: what is left of a run is the engine's own work.
type nopCheck struct{}

func (nopCheck) Run(context.Context) (runtime.Stats, error) { return nil, nil }

// benchEngine builds an engine with one test of one check that passes at
// once, not running.
func benchEngine(b *testing.B, o Options) (*Engine, *testRunner) {
	reg := testRegistry(b, map[string]runtime.Check{"a": nopCheck{}}, nil)
	p := loadPlan(b, reg, "[Check_a]\ntype = fake\nhost = a\n\n[Test_a]\nchecks = a\ninterval = 60\n")
	e, err := New(p, o)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		close(e.quit)
		e.Close(context.Background())
	})
	return e, e.tests[0]
}

// BenchmarkRunTest is one run of a passing one-check test on the caller's
// goroutine: the check's deadline, its result, the streak, the state
// change check and the log decision, without the hand-off to a worker.
func BenchmarkRunTest(b *testing.B) {
	e, t := benchEngine(b, Options{})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		e.runTest(ctx, t, time.Now())
	}
}

// discardHistory is a history.Recorder that keeps nothing.
type discardHistory struct{}

func (discardHistory) Result(history.Run)  {}
func (discardHistory) Event(history.Event) {}

// BenchmarkRunTestHistory is BenchmarkRunTest telling a history: what the
// engine's side of recording costs per run (the store's is its own).
func BenchmarkRunTestHistory(b *testing.B) {
	e, t := benchEngine(b, Options{History: discardHistory{}})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		e.runTest(ctx, t, time.Now())
	}
}

// BenchmarkDispatch is the scheduler starting a due run: launch hands it
// to a parked worker, which runs it (as BenchmarkRunTest) and parks again.
func BenchmarkDispatch(b *testing.B) {
	e, t := benchEngine(b, Options{})
	e.runCtx = context.Background()
	t.next = time.Now()
	b.ReportAllocs()
	for b.Loop() {
		e.launch(t)
		for t.running.Load() {
			goruntime.Gosched()
		}
	}
	if n := e.Overruns(); n > 0 {
		b.Fatalf("%d runs overran", n)
	}
}

// TestRunHeapFixTop checks fixTop against container/heap's order.
func TestRunHeapFixTop(t *testing.T) {
	base := time.Unix(1000, 0)
	h := make(runHeap, 0, 50)
	for i := range 50 {
		tr := &testRunner{next: base.Add(time.Duration((i*37)%50) * time.Second)}
		h = append(h, heapEntry{at: tr.next.UnixNano(), t: tr})
	}
	heap.Init(&h)
	for i := range 500 {
		tr := h[0].t
		tr.next = tr.next.Add(time.Duration(13+i%7) * time.Second)
		h[0].at = tr.next.UnixNano()
		h.fixTop()
		for j := 1; j < len(h); j++ {
			if h[j].t.next.Before(h[(j-1)/2].t.next) || h[j].at != h[j].t.next.UnixNano() {
				t.Fatalf("after %d moves: heap order broken at %d", i+1, j)
			}
		}
	}
}
