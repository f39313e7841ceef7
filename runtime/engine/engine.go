package engine

import (
	"container/heap"
	"context"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/monsta/monsta/runtime"
	"github.com/monsta/monsta/runtime/history"
)

// Options are the optional parts of an Engine.
type Options struct {
	Logger *slog.Logger        // nil: discard
	Clock  runtime.Clock       // nil: RealClock
	Hooks  runtime.Hooks       // nil: none
	Retry  runtime.RetryPolicy // zero: DefaultRetry
	// Outbox, when set, keeps notifications on disk until delivered;
	// Pending are the messages an earlier run left in it.
	Outbox  runtime.Outbox
	Pending []runtime.Pending
	// Saver, when set, persists each test's state when its streak changes.
	Saver runtime.StateSaver
	// State carries tests' streaks and schedules over from an earlier
	// engine (a reload or a restart); only tests whose Fingerprint matches
	// take theirs.
	State map[string]runtime.TestState
	// Gate, when set, is asked after each run whether the test's
	// notifications are held (silences, maintenance windows, …).
	Gate runtime.Gate
	// OnCheckStart, when set, is called as each check starts with how late
	// it started against its schedule (benchmarks measure lateness with it).
	OnCheckStart func(late time.Duration)
	// Heartbeat, when set, is called by the scheduler loop itself at least
	// every HeartbeatEvery while it runs (the systemd watchdog rides on it,
	// so a stuck scheduler stops the beats). It must return quickly.
	Heartbeat      func()
	HeartbeatEvery time.Duration
	// Busy are the tests whose run under the previous engine was still
	// going at a reload (Handover.Busy): each is held until that run ends,
	// then takes the state it left.
	Busy map[string]<-chan runtime.TestState
	// History, when set, is told every run and every change of a test's
	// outcome, holds and pages (history.Recorder never blocks); nil: off.
	History history.Recorder
	// HistoryContinues says State comes from the engine this one replaces
	// (a reload), whose history is the same: a test's first run records
	// only what changed since the last run of that engine. Without it (a
	// start), each test's first run records its outcome and holds.
	HistoryContinues bool
}

// Engine schedules the tests of a Plan, evaluates them, escalates failures
// and dispatches notifications.
type Engine struct {
	plan    *runtime.Plan
	log     *slog.Logger
	clock   runtime.Clock
	hooks   runtime.Hooks
	disp    *Dispatcher
	sem     chan struct{}
	onStart func(time.Duration)
	beat    func()
	beatIvl time.Duration
	saver   runtime.StateSaver
	history history.Recorder // nil: off
	// histCarry: at a reload, tests take their history mark from the
	// predecessor's state (Options.HistoryContinues).
	histCarry bool
	host      string
	// statusURL is the status page's address ([main] listen), "" when off.
	statusURL string
	tests     []*testRunner
	runs      sync.WaitGroup
	overruns  atomic.Int64
	// scheduled is when Run had every test on its schedule (Unix
	// nanoseconds; 0 before).
	scheduled atomic.Int64
	// Runs go to workers: the worker parked last takes one; when none is
	// parked and fewer than maxWorkers run, a new worker starts; else the
	// run waits in backlog, which has room for every test (a test has at
	// most one run under way), for the next worker that is done. Handing
	// runs to the last parked worker (not in turn to all) lets the workers
	// a burst started go idle and exit, so the pool is as large as the
	// runs that are really under way at once, not max_concurrent_checks.
	poolMu  sync.Mutex
	parked  []*poolWorker    // guarded by poolMu
	backlog chan *testRunner // sent to with poolMu held
	// targets share max_concurrent_checks fairly (fair.go): a run is
	// admitted by its test's target before it takes a worker.
	targets    []*target
	workers    atomic.Int32
	maxWorkers int32
	runCtx     context.Context // the context of scheduled runs; Abort ends it
	abort      context.CancelFunc
	quit       chan struct{} // closed when Run returns: parked workers exit
	loopDone   chan struct{} // closed when Run stops scheduling
	// dispMu guards forward; notify holds it for reading. A retiring
	// engine's runs queue their notifications with its successor.
	dispMu  sync.RWMutex
	forward *Dispatcher
	retired atomic.Bool // no out-of-schedule runs once handed over
}

// workerIdle is how long a worker waits for another run before it exits.
const workerIdle = 30 * time.Second

// earlyStart lets the scheduler start a run this much before it is due, so
// one wake-up starts every run due within it.
const earlyStart = time.Millisecond

type testRunner struct {
	spec    *runtime.TestSpec
	checks  []runtime.Check
	next    time.Time    // owned by the scheduler goroutine
	due     time.Time    // the slot of the run handed to a worker
	nextPub atomic.Int64 // next as Unix nanoseconds, for State()
	running atomic.Bool
	// parents are the tests this one depends on (depends= and the uplink).
	parents []*testRunner
	// gates is the ordered list of holds its runs are judged with
	// (gateList); tests without parents share one.
	gates runtime.Gates
	// tgt is the target whose share of max_concurrent_checks the test's
	// scheduled runs take, cost checks each.
	tgt  *target
	cost int
	// waiters counts goroutines in waitIdle; idle wakes them. idle is made
	// by the first waiter: most tests never have one.
	waiters atomic.Int32
	idleMu  sync.Mutex
	idle    *sync.Cond
	oos     atomic.Bool // an out-of-schedule run (predictive) is under way
	// shard is the test's role on this instance's shard: ShardOut tests
	// are not scheduled, ShardDependency ones run but never notify.
	shard runtime.ShardRole

	mu      sync.Mutex // guards streak and last* for State()
	streak  streak
	lastRun time.Time
	// lastStart is when the last counted run's checks started.
	lastStart time.Time
	lastOK    bool
	lastDur   time.Duration
	lastRes   []runtime.CheckResult // of the last run, for the control API
	fp        string
	// hist is what the history was last told (history.go).
	hist histMark
}

// New schedules the check instances of plan and starts the dispatcher.
// Call Run to schedule, and Close when done.
func New(plan *runtime.Plan, o Options) (*Engine, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Clock == nil {
		o.Clock = runtime.RealClock{}
	}
	if o.Retry == (runtime.RetryPolicy{}) {
		o.Retry = runtime.DefaultRetry
	}
	host := plan.Main.Hostname
	if host == "" {
		host, _ = os.Hostname()
	}
	e := &Engine{
		plan:      plan,
		log:       o.Logger,
		clock:     o.Clock,
		hooks:     o.Hooks,
		sem:       make(chan struct{}, max(plan.Main.MaxConcurrentChecks, 1)),
		onStart:   o.OnCheckStart,
		beat:      o.Heartbeat,
		beatIvl:   o.HeartbeatEvery,
		host:      host,
		history:   o.History,
		histCarry: o.HistoryContinues,
		statusURL: StatusURL(plan.Main.Listen, host),
		backlog:   make(chan *testRunner, len(plan.Tests)),
		quit:      make(chan struct{}),
		loopDone:  make(chan struct{}),
		// As many workers as checks may run at once: more would only wait
		// for the semaphore, each holding a stack.
		maxWorkers: int32(max(plan.Main.MaxConcurrentChecks, 1)),
	}
	e.runCtx, e.abort = context.WithCancel(context.Background())
	byName := make(map[string]*testRunner, len(plan.Tests))
	for _, ts := range plan.Tests {
		tr := &testRunner{spec: ts}
		byName[ts.Name] = tr
		if st, ok := o.State[ts.Name]; ok && o.HistoryContinues {
			tr.hist.carry(st) // whatever its options: the history is the test's
		}
		if st, ok := o.State[ts.Name]; ok && st.Fingerprint == tr.fingerprint() {
			tr.streak.restore(st)
			tr.next = st.Next
			tr.restoreLast(st)
		}
		if len(ts.Instances) != len(ts.Checks) || slices.Contains(ts.Instances, nil) {
			return nil, fmt.Errorf("test %s: checks not built (the plan is not from Resolve)", ts.Name)
		}
		tr.checks = ts.Instances
		e.tests = append(e.tests, tr)
	}
	e.link(byName, o.Gate)
	e.share()
	e.disp = NewDispatcher(plan.Notifications, DispatcherOptions{Retry: o.Retry, Logger: o.Logger, Clock: o.Clock, Outbox: o.Outbox, Pending: o.Pending, GroupWindow: plan.Main.GroupWindow})
	e.saver = o.Saver
	for name, ch := range o.Busy {
		if t, ok := byName[name]; ok {
			e.inherit(t, ch)
		}
	}
	return e, nil
}

// link gives each test its shard role, its parents and its list of holds
// (with options, the options' gate).
func (e *Engine) link(byName map[string]*testRunner, options runtime.Gate) {
	shared := gateList(nil, options)
	roles := runtime.ShardRoles(e.plan.Tests, e.plan.Main.Uplink, e.plan.Main.Shard)
	for _, t := range e.tests {
		t.shard = roles[t.spec.Name]
		for _, p := range runtime.Parents(t.spec, e.plan.Main.Uplink) {
			if pr, ok := byName[p]; ok && pr != t {
				t.parents = append(t.parents, pr)
			}
		}
		t.gates = shared
		if len(t.parents) > 0 {
			t.gates = gateList(t, options)
		}
	}
}

// share gives each test its target and each target its fair share of
// max_concurrent_checks, and warns when the configuration needs more.
func (e *Engine) share() {
	out := map[*runtime.TestSpec]bool{}
	for _, t := range e.tests {
		out[t.spec] = t.shard == runtime.ShardOut
	}
	list, index := targets(e.plan, func(ts *runtime.TestSpec) bool { return !out[ts] })
	c := concurrencyOf(list, int(e.maxWorkers))
	e.targets = list
	for _, t := range e.tests {
		t.tgt, t.cost = index[t.spec], max(1, len(t.checks))
	}
	if w := c.Warning(); w != "" {
		e.log.Warn("max_concurrent_checks is too low for this configuration", "need", c.Need, "max_concurrent_checks", c.Cap,
			"busiest", c.Busiest, "share", c.Share, "detail", w)
	}
}

// inherit holds t, as running, until the previous engine's run of it ends,
// then takes the state that run left when t did not change.
func (e *Engine) inherit(t *testRunner, ch <-chan runtime.TestState) {
	t.running.Store(true)
	e.runs.Add(1)
	go func() {
		defer e.runs.Done()
		defer t.release()
		st, ok := <-ch
		if ok && e.histCarry {
			t.hist.carry(st) // before release: t's next run reads it
		}
		if !ok || st.Fingerprint != t.fp {
			return
		}
		t.mu.Lock()
		t.streak.restore(st)
		t.restoreLast(st)
		t.mu.Unlock()
		if e.saver != nil {
			e.save(t)
		}
	}()
}

// Handover is what a reloaded engine passes to its successor.
type Handover struct {
	// State is every test's state when scheduling stopped.
	State map[string]runtime.TestState
	// Busy has, for every test whose run was still going, a channel that
	// delivers the test's state once that run has ended.
	Busy map[string]<-chan runtime.TestState
}

// Retire hands e over to its successor without waiting for the runs under
// way: once Run's ctx is cancelled and scheduling has stopped, it stops
// e's dispatcher (undelivered messages stay in the outbox) and calls next
// with every test's state and the runs still going; next builds and starts
// the successor and returns its dispatcher. Runs still going finish under
// e's configuration and queue their notifications with that dispatcher
// (none when next returns nil); Run returns once they have finished.
func (e *Engine) Retire(next func(Handover) *Dispatcher) {
	<-e.loopDone
	// Under the lock: a notify under way sees e's own dispatcher, running
	// until the lock is taken; every later one sees the successor's.
	e.dispMu.Lock()
	defer e.dispMu.Unlock()
	e.retired.Store(true)
	h := Handover{State: e.State(), Busy: map[string]<-chan runtime.TestState{}}
	for _, t := range e.tests {
		if !t.running.Load() {
			continue
		}
		ch := make(chan runtime.TestState, 1)
		go func() {
			t.waitIdle()
			ch <- t.state()
		}()
		h.Busy[t.spec.Name] = ch
	}
	e.disp.Stop()
	e.forward = next(h)
}

// Dispatcher returns the engine's dispatcher (a Sender for Lua).
func (e *Engine) Dispatcher() *Dispatcher { return e.disp }

// Overruns counts runs skipped because the previous run of the same test
// was still going.
func (e *Engine) Overruns() int64 { return e.overruns.Load() }

// ScheduledAt returns when Run had put every test on its schedule, zero
// before (the benchmark reports the time from start to it).
func (e *Engine) ScheduledAt() time.Time {
	if n := e.scheduled.Load(); n != 0 {
		return time.Unix(0, n)
	}
	return time.Time{}
}

// spread returns the offset of a test's runs within its interval: a
// hash of its name, so that tests run spread out and keep their phase
// across restarts.
func spread(name string, interval time.Duration) time.Duration {
	h := fnv.New64a()
	h.Write([]byte(name))
	return time.Duration(h.Sum64() % uint64(interval))
}

// firstRun returns the first slot at or after now of a test's schedule:
// the times whose offset from the Unix epoch, modulo the interval, is the
// test's spread. Every instance with the same configuration runs a test at
// the same wall-clock times, so instances of an HA pair see an outage
// begin at the same slot and report the same start to Alertmanager.
func firstRun(name string, interval time.Duration, now time.Time) time.Time {
	phase := time.Duration(now.UnixNano() % int64(interval))
	wait := (spread(name, interval) - phase) % interval
	if wait < 0 {
		wait += interval
	}
	return now.Add(wait)
}

// StatusURL returns the status page's address for the HTTP listener
// listen (HOST:PORT; "" when off); an unspecified host is replaced by
// host, the name of this machine.
func StatusURL(listen, host string) string {
	if listen == "" {
		return ""
	}
	h, port, err := net.SplitHostPort(listen)
	if err != nil {
		return ""
	}
	if ip := net.ParseIP(h); h == "" || (ip != nil && ip.IsUnspecified()) {
		h = host
	}
	return "http://" + net.JoinHostPort(h, port) + "/"
}

// schedule returns the tests ordered by their first run: a carried-over
// schedule is kept when it is still within one interval from now;
// otherwise tests start spread out.
func (e *Engine) schedule(now time.Time) runHeap {
	h := make(runHeap, 0, len(e.tests))
	for _, t := range e.tests {
		if t.shard == runtime.ShardOut {
			continue // another shard runs it
		}
		if t.next.IsZero() || t.next.Sub(now) > t.spec.Interval || now.Sub(t.next) > t.spec.Interval {
			t.next = firstRun(t.spec.Name, t.spec.Interval, now)
		}
		t.nextPub.Store(t.next.UnixNano())
		h = append(h, heapEntry{at: t.next.UnixNano(), t: t})
	}
	heap.Init(&h)
	e.scheduled.Store(e.clock.Now().UnixNano())
	return h
}

// advance moves the test to its next slot after a launch: fixed rate,
// start to start, skipping slots missed by more than one interval rather
// than running them in a burst.
func (t *testRunner) advance(now time.Time) {
	t.next = t.next.Add(t.spec.Interval)
	if behind := now.Sub(t.next); behind > 0 {
		t.next = t.next.Add((behind/t.spec.Interval + 1) * t.spec.Interval)
	}
	t.nextPub.Store(t.next.UnixNano())
}

// Run schedules the tests until ctx ends, then waits for running tests to
// finish (each check is bounded by its own timeout). It does not close the
// dispatcher: call Close for that.
func (e *Engine) Run(ctx context.Context) {
	now := e.clock.Now()
	h := e.schedule(now)
	// Runs outlive shutdown: they finish, hit their own timeouts, or
	// end at Abort.
	timer := e.clock.NewTimer(time.Hour)
	defer timer.Stop()
	defer close(e.quit)
	defer e.runs.Wait()
	defer close(e.loopDone)
	defer e.dropQueued()
	hb := heartbeat{beat: e.beat, every: e.beatIvl}
	hb.tick(now)
	for {
		now = e.clock.Now()
		hb.tick(now)
		if len(h) > 0 && h[0].t.next.Sub(now) <= earlyStart {
			t := h[0].t
			e.launch(t)
			t.advance(now)
			h[0].at = t.next.UnixNano()
			h.fixTop()
			if ctx.Err() != nil {
				return
			}
			continue
		}
		// Sleep until the next run or the next heartbeat.
		wake, ok := hb.wake(h)
		if !ok {
			<-ctx.Done()
			return
		}
		timer.Reset(wake.Sub(now))
		select {
		case <-ctx.Done():
			return
		case <-timer.C():
		}
	}
}

// heartbeat calls beat from the scheduler loop at least every every (the
// systemd watchdog rides on it); a nil beat or a zero every is off.
type heartbeat struct {
	beat  func()
	every time.Duration
	next  time.Time
}

// tick beats when one is due at now (the first call always beats).
func (hb *heartbeat) tick(now time.Time) {
	if hb.beat == nil || hb.every <= 0 || now.Before(hb.next) {
		return
	}
	hb.beat()
	hb.next = now.Add(hb.every)
}

// wake is when the loop must next wake: the next run of h or the next
// beat, whichever comes first; false when there is neither.
func (hb *heartbeat) wake(h runHeap) (time.Time, bool) {
	beating := hb.beat != nil && hb.every > 0
	switch {
	case len(h) > 0 && beating && hb.next.Before(h[0].t.next):
		return hb.next, true
	case len(h) > 0:
		return h[0].t.next, true
	case beating:
		return hb.next, true
	}
	return time.Time{}, false
}

// dropQueued forgets the runs that wait for their target's share when
// scheduling stops: they have not started, and whoever schedules next
// runs them.
func (e *Engine) dropQueued() {
	e.poolMu.Lock()
	var dropped []*testRunner
	for _, g := range e.targets {
		dropped = append(dropped, g.queue...)
		g.queue = nil
	}
	e.poolMu.Unlock()
	for _, t := range dropped {
		t.release()
		e.runs.Done()
	}
}

func (e *Engine) launch(t *testRunner) {
	if !t.running.CompareAndSwap(false, true) {
		if t.oos.Load() {
			return // a dependent test runs it right now, out of schedule
		}
		e.overruns.Add(1)
		e.log.Warn("test still running at its next start, run skipped", "test", t.spec.Name, "interval", t.spec.Interval)
		return
	}
	e.runs.Add(1)
	t.due = t.next
	e.poolMu.Lock()
	if !t.tgt.admit(t) {
		// Its target has its share running: it waits for one of them.
		t.tgt.queue = append(t.tgt.queue, t)
		e.poolMu.Unlock()
		return
	}
	e.hand(t)
}

// hand gives an admitted run to a worker: the one parked last, else a new
// one, else (every worker busy) the backlog. Called with poolMu held, it
// unlocks it.
func (e *Engine) hand(t *testRunner) {
	if n := len(e.parked); n > 0 {
		w := e.parked[n-1]
		e.parked[n-1] = nil
		e.parked = e.parked[:n-1]
		e.poolMu.Unlock()
		w.run <- t // never blocks: it has room for one, and it was empty
		return
	}
	if e.workers.Load() < e.maxWorkers {
		e.workers.Add(1)
		e.poolMu.Unlock()
		go e.worker(t)
		return
	}
	// Every worker runs a test. Each looks at the backlog, holding
	// poolMu, before it parks.
	e.backlog <- t // never blocks: there is room for every test
	e.poolMu.Unlock()
}

// poolWorker is a parked worker's mailbox: launch sends it one run.
type poolWorker struct{ run chan *testRunner }

// worker runs t, then the backlog, then parks until launch hands it the
// next run; it exits when it ran nothing for workerIdle or when Run has
// returned. Reusing workers saves the start and stack growth of a
// goroutine per run; the idle timer is armed once and re-armed only when
// it fires, not per run.
func (e *Engine) worker(t *testRunner) {
	w := &poolWorker{run: make(chan *testRunner, 1)}
	idle := time.NewTimer(workerIdle)
	defer idle.Stop()
	var ran, seen uint64 // runs done, and as of the last idle tick
	for {
		if t != nil {
			e.endRun(e.runCtx, t, e.runTest(e.runCtx, t, t.due), true)
			e.runs.Done()
			ran++
		}
		if t = e.park(w); t != nil {
			continue
		}
	wait:
		select {
		case t = <-w.run:
		case <-idle.C:
			if ran != seen {
				seen = ran
				idle.Reset(workerIdle)
				goto wait // still parked
			}
			if e.unpark(w) {
				return
			}
			t = <-w.run // launch took it off the stack: its run is on the way
			idle.Reset(workerIdle)
		case <-e.quit:
			if e.unpark(w) {
				return
			}
			t = <-w.run
		}
	}
}

// park returns the backlog's next run, or puts w on the stack of parked
// workers and returns nil.
func (e *Engine) park(w *poolWorker) *testRunner {
	e.poolMu.Lock()
	defer e.poolMu.Unlock()
	select {
	case t := <-e.backlog:
		return t
	default:
	}
	e.parked = append(e.parked, w)
	return nil
}

// unpark takes w off the stack of parked workers, and counts it gone. It
// is false when launch took it off first to hand it a run.
func (e *Engine) unpark(w *poolWorker) bool {
	e.poolMu.Lock()
	defer e.poolMu.Unlock()
	i := slices.Index(e.parked, w)
	if i < 0 {
		return false
	}
	e.parked = slices.Delete(e.parked, i, i+1)
	e.workers.Add(-1)
	return true
}

// RunTestOnce runs the named test once now, as the scheduler would: the
// run counts toward the test's failures and may notify. For tests and a
// "run now" request; --run uses Evaluate.
func (e *Engine) RunTestOnce(ctx context.Context, name string) (runtime.TestResult, error) {
	t, err := e.claim(name)
	if err != nil {
		return runtime.TestResult{}, err
	}
	r := e.runTest(ctx, t, e.clock.Now())
	e.endRun(ctx, t, r, false)
	return r, nil
}

// Evaluate runs the named test's checks once now and applies its requires=
// rule, without counting the run: nobody is notified and no state changes.
// --run Test_NAME uses it.
func (e *Engine) Evaluate(ctx context.Context, name string) (runtime.TestResult, error) {
	t, err := e.claim(name)
	if err != nil {
		return runtime.TestResult{}, err
	}
	defer t.release()
	now := e.clock.Now()
	results := e.runChecks(ctx, t, now)
	r := runtime.TestResult{Test: name, OK: evaluate(t.spec.RequireAll, results), Time: e.clock.Now(), Checks: results}
	if !r.OK {
		r.Unreachable = e.failingParent(ctx, t)
	}
	return r, nil
}

// claim finds the named test and marks it running.
func (e *Engine) claim(name string) (*testRunner, error) {
	for _, t := range e.tests {
		if t.spec.Name == name {
			if !t.running.CompareAndSwap(false, true) {
				return nil, fmt.Errorf("test %s is running", name)
			}
			return t, nil
		}
	}
	return nil, fmt.Errorf("no test named %q", name)
}

// runChecks runs the test's checks at once and returns their results.
func (e *Engine) runChecks(ctx context.Context, t *testRunner, scheduled time.Time) []runtime.CheckResult {
	results := make([]runtime.CheckResult, len(t.checks))
	if len(t.checks) == 1 {
		results[0] = e.runCheck(ctx, t, 0, scheduled)
		return results
	}
	var wg sync.WaitGroup
	for i := range t.checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = e.runCheck(ctx, t, i, scheduled)
		}()
	}
	wg.Wait()
	return results
}

func (e *Engine) runTest(ctx context.Context, t *testRunner, scheduled time.Time) runtime.TestResult {
	start := e.clock.Now()
	results := e.runChecks(ctx, t, scheduled)
	if e.runCtx.Err() != nil {
		// Aborted by a stop: not a result of the test; nothing counts.
		return runtime.TestResult{Test: t.spec.Name, Time: e.clock.Now(), Checks: results}
	}
	ok := evaluate(t.spec.RequireAll, results)
	if !ok {
		e.predict(ctx, t, e.clock.Now())
	}
	now := e.clock.Now()
	t.mu.Lock()
	prev, prevRes, prevRan := t.streak.clone(), t.lastRes, !t.lastRun.IsZero()
	t.mu.Unlock()
	v := judge(t.spec, prev, runOutcome{OK: ok, At: slotTime(scheduled, now), Now: now}, t.gates)
	t.mu.Lock()
	t.streak = v.Record
	t.lastRun, t.lastOK, t.lastDur, t.lastRes, t.lastStart = now, ok, now.Sub(start), results, start
	t.mu.Unlock()
	// A new outcome is saved too (a passing test's only change), so that
	// the last result outlives a restart; the same outcome again is not,
	// which spares passing tests a write per run.
	changed := v.Record.mark() != prev.mark() || v.Flap != flapSame || !prevRan || !sameOutcome(prevRes, results)
	e.logHoldChange(t.spec.Name, v.Hold, prev.held, len(v.Pages) > 0 && !ok)
	r := runtime.TestResult{Test: t.spec.Name, OK: ok, Failures: v.Record.failures, Time: now, Checks: results}
	// Durable before visible: notifications go to the outbox, then the
	// streak to the state file, and only then is the result logged. A kill
	// at any point loses no page (at worst one is sent twice).
	pages := v.Pages
	if t.shard == runtime.ShardDependency {
		// Its own shard pages for it; here it only gates its dependents.
		pages = nil
	}
	e.recordChanges(t, r, v.Hold, now)
	for _, dec := range pages {
		names := e.notify(ctx, t, r, dec)
		t.mu.Lock()
		t.streak.sent(dec, names, now)
		t.mu.Unlock()
		e.recordPage(t, dec, names, now)
	}
	if e.saver != nil && (changed || len(pages) > 0) {
		e.save(t)
	}
	e.logResult(t, r, v.Recovered, v.Hold)
	e.recordRun(r, start, now)
	return r
}

// endRun ends a run of t that runTest decided: it releases t, then hands
// the result to the AfterResult hooks. The run is over once its result is
// decided, saved and logged; were t released only after the hooks, the
// next run of t could find it still running while a hook ran (or, with a
// test's clock stepped at once to the next slot, between the hook and the
// release) and be skipped as an overrun. A scheduled run also gives its
// target's share back, to the next run of the target waiting for it.
func (e *Engine) endRun(ctx context.Context, t *testRunner, r runtime.TestResult, scheduled bool) {
	t.release()
	if scheduled {
		e.poolMu.Lock()
		if next := t.tgt.release(t); next != nil {
			e.hand(next)
		} else {
			e.poolMu.Unlock()
		}
	}
	if e.hooks != nil && e.runCtx.Err() == nil {
		e.hooks.AfterResult(ctx, r)
	}
}

// streakMark is the part of a streak the state file keeps beside who was
// paged, to tell whether a run changed it.
type streakMark struct {
	failures int
	held     runtime.HoldReason
	owed     bool
	owedBy   string
	passes   int
	history  flapHistory
}

func (s *streak) mark() streakMark {
	return streakMark{failures: s.failures, held: s.held, owed: s.owed, owedBy: s.owedBy, passes: s.passes, history: s.history}
}

// slotTime is the time a run's streak is kept in: its slot, not its end,
// so that instances of an HA pair that run on the same slots (firstRun)
// agree on when an outage began.
func slotTime(scheduled, now time.Time) time.Time {
	if !scheduled.IsZero() && scheduled.Before(now) {
		return scheduled
	}
	return now
}

// logHoldChange logs when a test's notifications become held or released.
func (e *Engine) logHoldChange(test string, held runtime.Hold, wasHeld runtime.HoldReason, paging bool) {
	if held.Reason == wasHeld {
		return
	}
	if held.Reason != "" {
		e.log.Info("notifications held", "test", test, "reason", held.Reason, "by", held.By, "detail", held.Detail)
	} else {
		e.log.Info("notifications released", "test", test, "was", wasHeld, "paging", paging)
	}
}

// hold asks the gates whether t's notifications are held now, for
// display: with t's record as it stands.
func (e *Engine) hold(t *testRunner, now time.Time) (runtime.Hold, bool) {
	t.mu.Lock()
	rec := t.streak.record(t.lastOK, t.spec)
	t.mu.Unlock()
	return t.gates.Hold(runtime.GateQuery{Test: t.spec.Name, Now: now, Record: rec})
}

func (e *Engine) save(t *testRunner) {
	if err := e.saver.SaveTest(t.spec.Name, t.state()); err != nil {
		e.log.Error("cannot save test state", "test", t.spec.Name, "err", err)
	}
}

// State returns every test's state, for a reload or the state file. It is
// safe to call while Run is going.
func (e *Engine) State() map[string]runtime.TestState {
	out := make(map[string]runtime.TestState, len(e.tests))
	for _, t := range e.tests {
		st := t.state()
		if n := t.nextPub.Load(); n != 0 {
			st.Next = time.Unix(0, n)
		}
		out[t.spec.Name] = st
	}
	return out
}

// fingerprint returns the test's fingerprint, computed when first needed:
// only tests with a saved state use it, and hashing every test's options
// at start-up cost a third of a second at 100,000 tests. Call it with t.mu
// held, or before the test runs.
func (t *testRunner) fingerprint() string {
	if t.fp == "" {
		t.fp = t.spec.Fingerprint()
	}
	return t.fp
}

// state snapshots the test's streak and last result.
func (t *testRunner) state() runtime.TestState {
	t.mu.Lock()
	defer t.mu.Unlock()
	st := t.streak.export()
	st.Fingerprint, st.LastRun, st.LastOK = t.fingerprint(), t.lastRun, t.lastOK
	st.Checks, st.Duration = t.lastRes, t.lastDur
	return st
}

// restoreLast takes the last result from a saved state. The caller holds
// t.mu, or t does not run yet.
func (t *testRunner) restoreLast(st runtime.TestState) {
	t.lastRun, t.lastOK, t.lastRes, t.lastDur = st.LastRun, st.LastOK, st.Checks, st.Duration
}

// sameOutcome tells whether two runs' results say the same: each check
// passed or failed alike, with the same error texts. Stats, start and
// duration may differ.
func sameOutcome(a, b []runtime.CheckResult) bool {
	return slices.EqualFunc(a, b, func(x, y runtime.CheckResult) bool {
		return x.Check == y.Check && x.OK == y.OK && slices.Equal(x.Errors, y.Errors)
	})
}

// evaluate applies requires=all|any.
func evaluate(all bool, results []runtime.CheckResult) bool {
	if len(results) == 0 {
		return false
	}
	for _, r := range results {
		if all && !r.OK {
			return false
		}
		if !all && r.OK {
			return true
		}
	}
	return all
}

func (e *Engine) runCheck(ctx context.Context, t *testRunner, i int, scheduled time.Time) runtime.CheckResult {
	cs := t.spec.Checks[i]
	select {
	case e.sem <- struct{}{}: // the common case, without selectgo's locking
	default:
		select {
		case e.sem <- struct{}{}:
		case <-ctx.Done():
			err := fmt.Errorf("not started: shutting down: %w", ctx.Err())
			return runtime.CheckResult{Check: cs.Name, Type: cs.Desc.Name, Errors: []string{"not started: shutting down"}, Err: err}
		}
	}
	defer func() { <-e.sem }()
	if e.onStart != nil {
		e.onStart(e.clock.Now().Sub(scheduled))
	}
	return runtime.RunCheckWithClock(ctx, e.clock, t.checks[i], cs.Opts)
}

func (e *Engine) logResult(t *testRunner, r runtime.TestResult, recovered bool, held runtime.Hold) {
	switch {
	case !r.OK:
		var errs []string
		for _, c := range r.Checks {
			for _, m := range c.Errors {
				errs = append(errs, c.Check+": "+m)
			}
		}
		if held.Reason != "" {
			e.log.Warn("test failed", "test", r.Test, "failures", r.Failures, "state", held.Reason, "reason", held.Detail, "err", errs)
			return
		}
		e.log.Warn("test failed", "test", r.Test, "failures", r.Failures, "err", errs)
	case recovered && held.Reason != "":
		// Held: nobody is told, but the log's last word on the test must
		// not be its failure.
		e.log.Info("test recovered", "test", r.Test, "state", held.Reason, "by", held.By, "paged", "nobody: held")
	case recovered:
		e.log.Info("test recovered", "test", r.Test)
	default:
		if e.log.Enabled(context.Background(), slog.LevelDebug) {
			e.log.Debug("test passed", "test", r.Test)
		}
	}
}

// notify runs the hooks and queues the message; it returns the names it
// was queued for.
func (e *Engine) notify(ctx context.Context, t *testRunner, r runtime.TestResult, dec Decision) []string {
	spec := t.spec
	msg := func() runtime.Message {
		m := runtime.NewMessage(e.host, r, dec.State, !spec.RequireAll, dec.Outage)
		if dec.Reason != "" {
			m.Reason = dec.Reason
			m.Render()
		}
		m.Interval, m.URL = spec.Interval, e.statusURL
		for _, c := range spec.Checks {
			m.CheckNames = append(m.CheckNames, c.Name)
		}
		return m
	}
	ev := &runtime.NotifyEvent{Message: msg(), Level: dec.Level, Notifications: dec.Names}
	if e.hooks != nil {
		if err := e.hooks.BeforeNotify(ctx, ev); err != nil {
			e.log.Error("notify hook failed; sending unchanged", "test", r.Test, "err", err)
			ev = &runtime.NotifyEvent{Message: msg(), Level: dec.Level, Notifications: dec.Names}
		}
		if ev.Suppress {
			e.log.Info("notification suppressed by hook", "test", r.Test, "state", dec.State)
			return nil
		}
	}
	var queued []string
	e.dispMu.RLock()
	defer e.dispMu.RUnlock()
	disp := e.disp
	if e.retired.Load() {
		disp = e.forward
	}
	for _, n := range ev.Notifications {
		if disp == nil {
			e.log.Error("notification not queued: the configuration was reloaded and did not start", "test", r.Test, "notification", n)
			continue
		}
		if err := disp.Enqueue(n, ev.Message); err != nil {
			e.log.Error("notification not queued", "test", r.Test, "notification", n, "err", err)
			continue
		}
		queued = append(queued, n)
	}
	return queued
}

// Abort cancels the runs under way (a stop that cannot wait for them):
// their checks' contexts end, and their results are not counted, saved or
// notified. Run still waits for them to return.
func (e *Engine) Abort() { e.abort() }

// Close stops the dispatcher after delivering what is queued, waiting at
// most until ctx ends.
func (e *Engine) Close(ctx context.Context) { e.disp.Close(ctx) }

// runHeap orders the tests by their next slot. Each entry carries its slot
// as Unix nanoseconds, so that sifting compares neighbouring integers
// instead of following a pointer to each test (at 10,000 tests the sift
// was 3 % of the daemon's CPU, most of it cache misses).
type runHeap []heapEntry

// heapEntry is one test in the heap: at is t.next.UnixNano().
type heapEntry struct {
	at int64
	t  *testRunner
}

// fixTop restores the heap after its first test moved to a later slot
// (heap.Fix(&h, 0) without the calls through an interface: it runs once
// per run started).
func (h runHeap) fixTop() {
	i, n := 0, len(h)
	for {
		c := 2*i + 1
		if c >= n {
			return
		}
		if r := c + 1; r < n && h[r].at < h[c].at {
			c = r
		}
		if h[c].at >= h[i].at {
			return
		}
		h[i], h[c] = h[c], h[i]
		i = c
	}
}

func (h runHeap) Len() int           { return len(h) }
func (h runHeap) Less(i, j int) bool { return h[i].at < h[j].at }
func (h runHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *runHeap) Push(x any)        { *h = append(*h, x.(heapEntry)) }
func (h *runHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
