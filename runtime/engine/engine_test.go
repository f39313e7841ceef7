package engine

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/monsta/monsta/config"
	"github.com/monsta/monsta/runtime"
)

// loadPlan writes conf as monsta.conf in a temp dir and resolves it.
func loadPlan(t testing.TB, reg *runtime.Registry, conf string) *runtime.Plan {
	t.Helper()
	dir := t.TempDir()
	f := filepath.Join(dir, "monsta.conf")
	if err := os.WriteFile(f, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(f, filepath.Join(dir, "conf.d"))
	if err != nil {
		t.Fatal(err)
	}
	p, _, err := runtime.NewResolver(cfg).Resolve(reg)
	if err != nil {
		t.Fatalf("Resolve() error = %v", err)
	}
	return p
}

func startEngine(t *testing.T, p *runtime.Plan, clk runtime.Clock) (*Engine, context.CancelFunc) {
	t.Helper()
	e, err := New(p, Options{Clock: clk, Retry: runtime.RetryPolicy{First: time.Millisecond, Max: time.Millisecond, MaxAge: time.Minute}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.Run(ctx); close(done) }()
	stop := func() {
		cancel()
		<-done
		e.Close(context.Background())
	}
	t.Cleanup(stop)
	return e, cancel
}

func recv[T any](t *testing.T, c <-chan T) T {
	t.Helper()
	select {
	case v := <-c:
		return v
	case <-time.After(10 * time.Second):
		t.Fatal("timed out waiting")
	}
	var zero T
	return zero
}

func TestSchedulerSpreadsFirstRuns(t *testing.T) {
	clk := newFakeClock()
	start := clk.Now()
	const n = 20
	checks := map[string]runtime.Check{}
	var conf strings.Builder
	started := make(chan time.Time, n)
	for i := range n {
		name := "t" + string(rune('a'+i))
		checks[name] = &scriptedCheck{clk: clk, started: started}
		conf.WriteString("[Check_" + name + "]\ntype=fake\nhost=" + name + "\n[Test_" + name + "]\nchecks=" + name + "\ninterval=100\n")
	}
	p := loadPlan(t, testRegistry(t, checks, nil), conf.String())
	startEngine(t, p, clk)
	firsts := map[time.Duration]bool{}
	for len(firsts) < n {
		w := clk.waitIdle(t)
		clk.Advance(w.Sub(clk.Now()))
		// collect the starts this step caused
		for {
			select {
			case s := <-started:
				firsts[s.Sub(start)] = true
				continue
			case <-time.After(50 * time.Millisecond):
			}
			break
		}
		if clk.Now().Sub(start) > 100*time.Second {
			break
		}
	}
	if len(firsts) < n*3/4 {
		t.Errorf("first runs at %d distinct offsets, want about %d (spread over the interval)", len(firsts), n)
	}
	for off := range firsts {
		if off < 0 || off >= 100*time.Second {
			t.Errorf("first run at +%v, want within the first interval [0, 100s)", off)
		}
	}
}

func TestSchedulerFixedRateNoOverlap(t *testing.T) {
	clk := newFakeClock()
	chk := &scriptedCheck{clk: clk, started: make(chan time.Time, 10), release: make(chan struct{})}
	p := loadPlan(t, testRegistry(t, map[string]runtime.Check{"a": chk}, nil), `
[Check_a]
type=fake
host=a
[Test_a]
checks=a
interval=10
`)
	e, _ := startEngine(t, p, clk)
	first := clk.waitIdle(t)
	clk.Advance(first.Sub(clk.Now()))
	s1 := recv(t, chk.started)
	if !s1.Equal(first) {
		t.Fatalf("first run at %v, want %v", s1, first)
	}
	// The scheduler re-arms for start+10s although the run is still going.
	next := clk.waitIdle(t)
	if got := next.Sub(s1); got != 10*time.Second {
		t.Fatalf("next run planned %v after the first start, want 10s (start to start)", got)
	}
	// The run takes 13 s: the start at +10 s is skipped, not overlapped.
	clk.Advance(next.Sub(clk.Now()))
	after := clk.waitIdle(t)
	if e.Overruns() != 1 {
		t.Fatalf("Overruns() = %d, want 1", e.Overruns())
	}
	select {
	case s := <-chk.started:
		t.Fatalf("second run started at %v while the first was still running", s)
	default:
	}
	clk.Advance(3 * time.Second)
	chk.release <- struct{}{}
	waitNotRunning(t, e.tests[0])
	// The next start stays on the grid: first + 20 s, no drift.
	if want := first.Add(20 * time.Second); !after.Equal(want) {
		t.Fatalf("run after the overrun planned at +%v, want +20s", after.Sub(first))
	}
	clk.Advance(after.Sub(clk.Now()))
	if s := recv(t, chk.started); !s.Equal(first.Add(20 * time.Second)) {
		t.Fatalf("third slot started at +%v, want +20s", s.Sub(first))
	}
	chk.release <- struct{}{}
}

func TestEngineEscalationAndRecovery(t *testing.T) {
	clk := newFakeClock()
	web := &scriptedCheck{clk: clk, results: []error{errBoom, errBoom, errBoom, nil}}
	db := &scriptedCheck{clk: clk}
	bob := &recordingNotifier{got: make(chan runtime.Message, 10)}
	boss := &recordingNotifier{got: make(chan runtime.Message, 10)}
	p := loadPlan(t, testRegistry(t, map[string]runtime.Check{"web": web, "db": db}, map[string]runtime.Notifier{"bob": bob, "boss": boss}), `
[Check_web]
type=fake
host=web
[Check_db]
type=fake
host=db
[Notification_bob]
type=rec
recipient=bob
[Notification_boss]
type=recorder
recipient=boss
[Test_site]
checks=web db
requires=all
notify=2:bob 4:boss
`)
	e, err := New(p, Options{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(context.Background())
	ctx := context.Background()
	wantFailures := []int{1, 2, 3, 0}
	for i, want := range wantFailures {
		r, err := e.RunTestOnce(ctx, "site")
		if err != nil {
			t.Fatal(err)
		}
		if r.Failures != want || r.OK != (want == 0) {
			t.Fatalf("run %d: failures=%d ok=%v, want %d", i+1, r.Failures, r.OK, want)
		}
		if i == 1 {
			m := recv(t, bob.got)
			if m.State != runtime.StateFail || m.Failures != 2 || !strings.Contains(m.Long, "boom") || !strings.Contains(m.Short, "site") {
				t.Fatalf("level 2 message = %+v", m)
			}
		}
	}
	m := recv(t, bob.got)
	if m.State != runtime.StateRecovered || m.Failures != 3 || m.Since.IsZero() || !strings.Contains(m.Short, "3 failed runs") {
		t.Fatalf("bob got %s with %d failures since %v (%q), want RECOVERED after 3 failed runs", m.State, m.Failures, m.Since, m.Short)
	}
	select {
	case m := <-boss.got:
		t.Fatalf("boss (level 4, never reached) got %s", m.State)
	case <-time.After(100 * time.Millisecond):
	}
}

func TestEngineRequiresAny(t *testing.T) {
	clk := newFakeClock()
	a := &scriptedCheck{clk: clk, results: []error{errBoom, errBoom}}
	b := &scriptedCheck{clk: clk, results: []error{nil, errBoom}}
	p := loadPlan(t, testRegistry(t, map[string]runtime.Check{"a": a, "b": b}, nil), `
[Check_a]
type=fake
host=a
[Check_b]
type=fake
host=b
[Test_x]
checks=a b
requires=any
`)
	e, err := New(p, Options{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(context.Background())
	r, _ := e.RunTestOnce(context.Background(), "x")
	if !r.OK {
		t.Fatalf("any with one passing check: ok=false, want true")
	}
	r, _ = e.RunTestOnce(context.Background(), "x")
	if r.OK || r.Failures != 1 {
		t.Fatalf("any with no passing check: ok=%v failures=%d, want false 1", r.OK, r.Failures)
	}
}

type hookFunc struct {
	before func(*runtime.NotifyEvent)
	after  chan runtime.TestResult
}

func (h hookFunc) BeforeNotify(ctx context.Context, ev *runtime.NotifyEvent) error {
	h.before(ev)
	return nil
}
func (h hookFunc) AfterResult(ctx context.Context, r runtime.TestResult) { h.after <- r }

// TestSlowAfterResultHookSkipsNoRun: a test is released before its
// AfterResult hooks run, so a hook still running at the next slot neither
// delays that run nor makes it an overrun.
func TestSlowAfterResultHookSkipsNoRun(t *testing.T) {
	clk := newFakeClock()
	chk := &scriptedCheck{clk: clk, started: make(chan time.Time, 10)}
	p := loadPlan(t, testRegistry(t, map[string]runtime.Check{"a": chk}, nil), `
[Check_a]
type=fake
host=a
[Test_a]
checks=a
interval=10
`)
	h := hookFunc{after: make(chan runtime.TestResult)} // AfterResult blocks until received
	e, err := New(p, Options{Clock: clk, Hooks: h})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { e.Run(ctx); close(stopped) }()
	defer func() {
		// Let hooks still blocked return, so that Run can end.
		drained := make(chan struct{})
		go func() {
			for {
				select {
				case <-h.after:
				case <-drained:
					return
				}
			}
		}()
		cancel()
		<-stopped
		close(drained)
		e.Close(context.Background())
	}()
	first := clk.waitIdle(t)
	clk.Advance(first.Sub(clk.Now()))
	recv(t, chk.started)
	next := clk.waitIdle(t)
	// The first run's hook has not returned (nobody received from after).
	waitNotRunning(t, e.tests[0])
	clk.Advance(next.Sub(clk.Now()))
	if s := recv(t, chk.started); !s.Equal(next) {
		t.Fatalf("second run started at %v, want %v", s, next)
	}
	recv(t, h.after)
	recv(t, h.after)
	if n := e.Overruns(); n != 0 {
		t.Fatalf("Overruns() = %d, want 0: a run was skipped while a hook ran", n)
	}
}

func TestEngineHooksRewriteAndSuppress(t *testing.T) {
	clk := newFakeClock()
	c := &scriptedCheck{clk: clk, results: []error{errBoom, errBoom}}
	bob := &recordingNotifier{got: make(chan runtime.Message, 10)}
	p := loadPlan(t, testRegistry(t, map[string]runtime.Check{"c": c}, map[string]runtime.Notifier{"bob": bob}), `
[Check_c]
type=fake
host=c
[Notification_bob]
type=rec
recipient=bob
[Test_t]
checks=c
notify=1:bob 2:bob
`)
	calls := 0
	h := hookFunc{after: make(chan runtime.TestResult, 10), before: func(ev *runtime.NotifyEvent) {
		calls++
		if calls == 1 {
			ev.Message.Short = "rewritten"
			return
		}
		ev.Suppress = true
	}}
	e, err := New(p, Options{Clock: clk, Hooks: h})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(context.Background())
	e.RunTestOnce(context.Background(), "t")
	if m := recv(t, bob.got); m.Short != "rewritten" {
		t.Fatalf("subject = %q, want the hook's", m.Short)
	}
	e.RunTestOnce(context.Background(), "t")
	select {
	case m := <-bob.got:
		t.Fatalf("suppressed message delivered: %+v", m)
	case <-time.After(100 * time.Millisecond):
	}
	if r := recv(t, h.after); r.Test != "t" {
		t.Fatalf("AfterResult got %q", r.Test)
	}
}

func TestDispatcherRetriesUntilDelivered(t *testing.T) {
	flaky := &flakyNotifier{failures: 2, got: make(chan runtime.Message, 1)}
	spec := &runtime.NotificationSpec{Name: "n", Notifier: flaky, Desc: &runtime.Descriptor{Kind: runtime.KindNotifier, Name: "flaky"}}
	d := NewDispatcher(map[string]*runtime.NotificationSpec{"n": spec}, DispatcherOptions{Retry: runtime.RetryPolicy{First: time.Millisecond, Max: time.Millisecond, MaxAge: time.Hour}})
	if err := d.Enqueue("n", runtime.Message{Test: "x", Time: time.Now()}); err != nil {
		t.Fatal(err)
	}
	recv(t, flaky.got)
	d.Close(context.Background())
	if flaky.calls != 3 {
		t.Fatalf("Notify called %d times, want 3 (2 failures, then delivered once)", flaky.calls)
	}
	if c := d.Counts()["n"]; c != (DeliveryCounts{Sent: 1, Retried: 2}) {
		t.Errorf("Counts() = %+v, want 1 sent, 2 retried", c)
	}
}

type flakyNotifier struct {
	failures, calls int
	got             chan runtime.Message
}

func (f *flakyNotifier) Notify(ctx context.Context, m runtime.Message) error {
	f.calls++
	if f.calls <= f.failures {
		return errBoom
	}
	f.got <- m
	return nil
}

func waitNotRunning(t *testing.T, tr *testRunner) {
	t.Helper()
	for i := 0; tr.running.Load(); i++ {
		if i > 10000 {
			t.Fatal("run never finished")
		}
		time.Sleep(time.Millisecond)
	}
}

// hungNotifier blocks until its context ends.
type hungNotifier struct{ calls chan struct{} }

func (h *hungNotifier) Notify(ctx context.Context, m runtime.Message) error {
	h.calls <- struct{}{}
	<-ctx.Done()
	return ctx.Err()
}

func TestDispatcherHungNotifierDelaysNobody(t *testing.T) {
	hung := &hungNotifier{calls: make(chan struct{}, 10)}
	fine := &recordingNotifier{got: make(chan runtime.Message, 10)}
	specs := map[string]*runtime.NotificationSpec{
		"hung": {Name: "hung", Notifier: hung, Desc: &runtime.Descriptor{Kind: runtime.KindNotifier, Name: "hung", Deadline: func(*runtime.Options) time.Duration { return time.Hour }}},
		"fine": {Name: "fine", Notifier: fine, Desc: &runtime.Descriptor{Kind: runtime.KindNotifier, Name: "fine"}},
	}
	d := NewDispatcher(specs, DispatcherOptions{})
	defer d.Stop()
	d.Enqueue("hung", runtime.Message{Test: "a", Time: time.Now()})
	recv(t, hung.calls)
	if q := d.Queued(); len(q) != 1 || q[0].Notification != "hung" || q[0].Message.Test != "a" {
		t.Errorf("Queued() = %+v, want the message to hung", q)
	}
	for _, test := range []string{"a", "b"} {
		if err := d.Enqueue("fine", runtime.Message{Test: test, Time: time.Now()}); err != nil {
			t.Fatal(err)
		}
		if m := recv(t, fine.got); m.Test != test {
			t.Fatalf("fine got %q, want %q", m.Test, test)
		}
	}
}

// orderedFlaky fails every first attempt of a message.
type orderedFlaky struct {
	tried map[string]bool
	got   chan string
}

func (o *orderedFlaky) Notify(ctx context.Context, m runtime.Message) error {
	if !o.tried[m.Test] {
		o.tried[m.Test] = true
		return errBoom
	}
	o.got <- m.Test
	return nil
}

func TestDispatcherKeepsOrderAcrossRetries(t *testing.T) {
	n := &orderedFlaky{tried: map[string]bool{}, got: make(chan string, 10)}
	d := NewDispatcher(map[string]*runtime.NotificationSpec{"n": {Name: "n", Notifier: n, Desc: &runtime.Descriptor{Kind: runtime.KindNotifier, Name: "n"}}},
		DispatcherOptions{Retry: runtime.RetryPolicy{First: time.Millisecond, Max: 2 * time.Millisecond, MaxAge: time.Hour}})
	for _, test := range []string{"1", "2", "3"} {
		d.Enqueue("n", runtime.Message{Test: test, Time: time.Now()})
	}
	for _, want := range []string{"1", "2", "3"} {
		if got := recv(t, n.got); got != want {
			t.Fatalf("delivered %s, want %s (order per notification)", got, want)
		}
	}
	d.Close(context.Background())
}

func TestDispatcherPermanentErrorNotRetried(t *testing.T) {
	calls := 0
	n := notifierFunc(func(ctx context.Context, m runtime.Message) error { calls++; return runtime.Permanent(errBoom) })
	d := NewDispatcher(map[string]*runtime.NotificationSpec{"n": {Name: "n", Notifier: n, Desc: &runtime.Descriptor{Kind: runtime.KindNotifier, Name: "n"}}},
		DispatcherOptions{Retry: runtime.RetryPolicy{First: time.Millisecond, Max: time.Millisecond, MaxAge: time.Hour}})
	d.Enqueue("n", runtime.Message{Test: "x", Time: time.Now()})
	d.Close(context.Background())
	if calls != 1 {
		t.Errorf("Notify called %d times for a permanent error, want 1", calls)
	}
	if c := d.Counts()["n"]; c != (DeliveryCounts{Failed: 1}) {
		t.Errorf("Counts() = %+v, want 1 failed", c)
	}
}

type notifierFunc func(ctx context.Context, m runtime.Message) error

func (f notifierFunc) Notify(ctx context.Context, m runtime.Message) error { return f(ctx, m) }

// TestEngineWorkersCappedRunsQueued wants at most max_concurrent_checks
// workers, and the runs beyond them started in order as workers free up,
// none lost.
func TestEngineWorkersCappedRunsQueued(t *testing.T) {
	clk := newFakeClock()
	started, release := make(chan time.Time, 10), make(chan struct{})
	checks := map[string]runtime.Check{}
	conf := "[main]\nmax_concurrent_checks = 2\n"
	for _, n := range []string{"a", "b", "c", "d", "e"} {
		checks[n] = &scriptedCheck{clk: clk, started: started, release: release}
		conf += "[Check_" + n + "]\ntype=fake\nhost=" + n + "\n[Test_" + n + "]\nchecks=" + n + "\ninterval=10\n"
	}
	e, _ := startEngine(t, loadPlan(t, testRegistry(t, checks, nil), conf), clk)
	clk.waitIdle(t)
	clk.Advance(10 * time.Second) // every test is due
	for range 2 {
		recv(t, started)
	}
	for i := 0; i < 3; i++ {
		select {
		case <-started:
			t.Fatal("a third check started while two ran with max_concurrent_checks = 2")
		case <-time.After(20 * time.Millisecond):
		}
		if w := e.workers.Load(); w > 2 {
			t.Fatalf("%d workers, want at most 2", w)
		}
		release <- struct{}{}
		recv(t, started)
	}
	release <- struct{}{}
	release <- struct{}{}
	for _, tr := range e.tests {
		waitNotRunning(t, tr)
	}
	if w := e.workers.Load(); w > 2 {
		t.Fatalf("%d workers, want at most 2", w)
	}
}
