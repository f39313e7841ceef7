// Package app owns monsta's wiring: it loads a configuration, builds its
// types, checks and notifiers once per generation, runs the engine over the
// state directory, swaps in a new generation on reload, and closes it all.
// The daemon, --run, --lint and the benchmark use it, so they load and run
// a configuration the same way. It sits above builtins, lua and runtime,
// beside the commands. Run as the daemon (Daemon), it also owns the
// process: the instance lock, the pid file, the listeners of the control
// API and the privilege drop, in one start order and one cleanup path;
// detaching and signals stay in the command.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/monsta/monsta/internal/fdlimit"
	"github.com/monsta/monsta/internal/instance"
	"github.com/monsta/monsta/runtime"
	"github.com/monsta/monsta/runtime/engine"
	"github.com/monsta/monsta/runtime/silence"
	"github.com/monsta/monsta/runtime/statedir"
)

// Options say where the configuration is, how to log, and what the app
// tells its caller.
type Options struct {
	Config, ConfDir string
	// MaxFileSize is the largest configuration file (*.conf, *.lua) read;
	// 0 means config.DefaultMaxFileSize.
	MaxFileSize int64
	// LogFormat and LogLevel override [main] log_format and log_level.
	LogFormat, LogLevel string
	// LogPath says where a generation with this [main] logs; nil or "" is
	// stderr. The daemon applies logfile and its daemonize rules here.
	LogPath func(runtime.Main) string
	Version string        // shown in the start-up line
	Events  Events        // the life-cycle callbacks
	Hooks   runtime.Hooks // run after the Lua hooks (the benchmark counts results)
	// OnCheckStart is handed to the engine (the benchmark measures lateness).
	OnCheckStart func(late time.Duration)
	// Heartbeat is called by the scheduler loop itself every
	// HeartbeatEvery (the systemd watchdog); it must return quickly.
	Heartbeat      func()
	HeartbeatEvery time.Duration
	Clock          runtime.Clock // nil: the wall clock
	// TestsOptional loads a configuration without [Test_] sections, for
	// --run of one check or notification; the daemon and --lint refuse one
	// that defines checks but no test.
	TestsOptional bool
	// OpenHistory opens the history database when [main] history = yes;
	// nil: history.Open.
	OpenHistory HistoryOpener
}

// Events are the points of the daemon's life that an init system, a control
// socket or a test wants to hear about. Every field may be nil; they are
// called on the goroutine that calls the App's method.
type Events struct {
	Ready     func(Status) // the engine runs: after Start and after every reload, taken or rejected
	Reloading func()       // a reload begins
	Stopping  func()       // Close begins
}

// Status summarises the app for a status request.
type Status struct {
	Generation    int       // 1 for the configuration loaded at start, +1 per reload taken
	Started       time.Time // when Start ran
	Loaded        time.Time // when the generation in force was loaded
	Tests         int
	Checks        int
	Notifications int
	StateDir      string
	// RestartNeeded lists settings that reloads changed but that take
	// effect only at the next start.
	RestartNeeded []string
}

// App is one running monsta: the generation in force, its state directory
// and its engine.
type App struct {
	o      Options
	mu     sync.Mutex // guards the fields below for Status
	gen    *Generation
	genN   int
	sd     *statedir.Dir
	sil    *silence.Store // the silences, in the state directory of Start
	hist   HistoryStore   // the history, of Start until Close; nil: off
	eng    *engine.Engine
	cancel context.CancelFunc
	done   chan struct{}
	start  time.Time
	loaded time.Time
	notes  []string
	tune   tuning // the Go runtime's settings before [main] changed them
	// retiring counts generations replaced by a reload whose runs are
	// still going; Close waits for them, and aborts them with retired.
	retiring sync.WaitGroup
	retired  []*engine.Engine // guarded by mu
	daemon   *DaemonOptions   // set by Daemon
	root     bool             // Daemon started as root: user and group apply
	lock     *instance.Lock   // the state directory's, once Lock ran
	ctl      *controlPlane    // the control API, once Daemon listens
	cleanup  []func()         // what Close undoes, in reverse order
}

// New loads the configuration (Load) and returns the app that will run it.
func New(o Options) (*App, error) {
	if o.Clock == nil {
		o.Clock = runtime.RealClock{}
	}
	// The default GC target serves loading too: at 100,000 tests the
	// parsed files and the plan are the most the daemon ever holds.
	tune := startTuning(os.Getenv)
	tune.apply(runtime.Main{})
	g, err := Load(o)
	if err != nil {
		return nil, err
	}
	return &App{o: o, gen: g, genN: 1, loaded: o.Clock.Now(), tune: tune}, nil
}

// Generation returns the generation in force.
func (a *App) Generation() *Generation {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.gen
}

// Main returns the [main] in force.
func (a *App) Main() runtime.Main { return a.Generation().Main }

// Logger returns the logger in force.
func (a *App) Logger() *slog.Logger { return a.Generation().Logger }

// Plan returns the plan in force.
func (a *App) Plan() *runtime.Plan { return a.Generation().Plan }

// Start logs the configuration's warnings, opens the state directory, and
// starts the engine with the state and the undelivered notifications an
// earlier run left there.
func (a *App) Start() error {
	g := a.gen
	logWarnings(g)
	if soft, err := fdlimit.Raise(); err != nil {
		g.Logger.Warn("cannot raise the descriptor limit", "limit", soft, "err", err)
	}
	sd, err := statedir.Open(g.Main.StateDir, g.Logger)
	if err != nil {
		return fmt.Errorf("open state directory: %w", err)
	}
	reportFailures(g.Logger, sd)
	sil, err := silence.Open(sd.Path(), a.o.Clock.Now)
	if sil == nil {
		return err
	}
	if err != nil {
		g.Logger.Error("silences", "err", err)
	}
	a.mu.Lock()
	a.sd, a.sil, a.start = sd, sil, a.o.Clock.Now()
	a.mu.Unlock()
	a.openHistory(g, sd.Path())
	if err := a.run(sd.LoadState(), nil, false); err != nil {
		return err
	}
	p := g.Plan
	g.Logger.Info("monsta started", "version", a.o.Version, "tests", len(p.Tests), "checks", len(p.Checks), "notifications", len(p.Notifications), "pid", os.Getpid())
	a.ready()
	return nil
}

// run builds the engine of the generation in force and starts scheduling;
// busy are the tests a retiring engine still runs, and handed says state
// comes from it (a reload) rather than from the state directory.
func (a *App) run(state map[string]runtime.TestState, busy map[string]<-chan runtime.TestState, handed bool) error {
	g := a.gen
	a.tune.apply(g.Main)
	eng, err := engine.New(g.Plan, engine.Options{
		Logger: g.Logger, Clock: a.o.Clock, Hooks: a.hooks(g), State: state, Busy: busy, Retry: g.Main.Retry,
		Saver: a.sd, Outbox: a.sd, Pending: a.sd.Pending(), OnCheckStart: a.onCheckStart(),
		Heartbeat: a.o.Heartbeat, HeartbeatEvery: a.o.HeartbeatEvery,
		// Silences and maintenance windows hold notifications alike.
		Gate: runtime.Gates{a.sil, g.Plan.Maintenance},
		// Every generation records into the one store of Start.
		History: a.History(), HistoryContinues: handed,
	})
	if err != nil {
		return fmt.Errorf("build engine: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { eng.Run(ctx); close(done) }()
	a.mu.Lock()
	a.eng, a.cancel, a.done = eng, cancel, done
	a.mu.Unlock()
	return nil
}

// onCheckStart feeds the daemon's lateness metric and Options.OnCheckStart.
func (a *App) onCheckStart() func(time.Duration) {
	m, f := a.Metrics(), a.o.OnCheckStart
	switch {
	case m == nil:
		return f
	case f == nil:
		return m.ObserveLateness
	}
	return func(late time.Duration) { m.ObserveLateness(late); f(late) }
}

// hooks are the generation's Lua hooks, then Options.Hooks.
func (a *App) hooks(g *Generation) runtime.Hooks {
	if a.o.Hooks == nil {
		return g.Hooks()
	}
	return hookList{g.Hooks(), a.o.Hooks}
}

// Silences returns the silences, nil before Start. They stay in the state
// directory of Start until a restart.
func (a *App) Silences() *silence.Store {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.sil
}

// StateDir returns the state directory in use, nil before Start.
func (a *App) StateDir() *statedir.Dir {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.sd
}

// Engine returns the running engine, nil before Start.
func (a *App) Engine() *engine.Engine {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.eng
}

// Reload loads the configuration again. When it loads, the new generation
// replaces the old one: a new logger (and log file when logfile changed),
// Lua engine, checks and notifiers, and an engine that carries each
// unchanged test's streak and schedule over. A changed statedir, listen or
// token_file is applied whole: the new state directory's lock is taken and
// its control socket opened before the old ones are given up, and the
// state, the outbox and the silences move there. A changed user or group
// of a daemon started as root, or a part of such a move that cannot be
// had, refuses the reload with
// "needs a restart". Settings that only a restart applies but that do not
// stop the reload (daemonize, pidfile) are logged and kept in Status. When
// the reload is refused, every problem is logged, the running generation
// carries on, and the error is returned.
func (a *App) Reload() error {
	if a.o.Events.Reloading != nil {
		a.o.Events.Reloading()
	}
	defer a.ready()
	old := a.gen
	old.Logger.Info("reloading configuration")
	next, mv, err := a.prepareReload(old)
	if err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			old.Logger.Error("reload rejected, configuration kept", "problem", line)
		}
		return err
	}
	if next.log != old.log {
		old.Logger.Info("log continues elsewhere", "to", next.log.name())
	}
	logWarnings(next)
	busy, notes, err := a.handOver(old, next, mv)
	if err != nil {
		return err
	}
	a.commitMove(mv)
	if len(busy) > 0 {
		slices.Sort(busy)
		next.Logger.Info("tests still running finish under the old configuration", "tests", busy)
	}
	next.Logger.Info("configuration reloaded", "tests", len(next.Plan.Tests))
	for _, n := range notes {
		next.Logger.Warn("reload: takes effect after a restart", "setting", n)
	}
	return nil
}

// prepareReload loads the next generation and opens what it needs that the
// generation in force does not have; any error refuses the reload.
func (a *App) prepareReload(old *Generation) (*Generation, *move, error) {
	next, err := load(a.o, old.log)
	if err != nil {
		return nil, nil, err
	}
	if err := needsRestart(old.Main, next.Main, a.root); err != nil {
		next.Close()
		return nil, nil, err
	}
	mv, err := a.prepareMove(next)
	if err != nil {
		next.Close()
		return nil, nil, err
	}
	return next, mv, nil
}

// handOver stops scheduling and hands every test over between runs: idle
// tests go on under the new engine at once; a run under way finishes under
// the old configuration (its notifications queue with the new engine), and
// only then does the new engine schedule that test, with the state the run
// left. Undelivered notifications stay in the outbox for the new engine
// (moved with it to a new state directory). The old generation is closed
// once its last run has ended. It returns the tests still running and the
// settings that wait for a restart.
func (a *App) handOver(old, next *Generation, mv *move) (busy, notes []string, err error) {
	oldEng, oldDone := a.eng, a.done
	a.cancel()
	oldEng.Retire(func(h engine.Handover) *engine.Dispatcher {
		if mv.sd != nil {
			a.moveState(mv, next, h.State)
		}
		notes = append(restartNeeded(old.Main, next.Main), next.notes...)
		a.mu.Lock()
		a.gen, a.genN, a.loaded = next, a.genN+1, a.o.Clock.Now()
		a.notes = append(a.notes, notes...)
		a.retired = append(a.retired, oldEng)
		a.mu.Unlock()
		for name := range h.Busy {
			busy = append(busy, name)
		}
		if err = a.run(h.State, h.Busy, true); err != nil {
			return nil
		}
		return a.Engine().Dispatcher()
	})
	a.retiring.Add(1)
	go func() {
		defer a.retiring.Done()
		<-oldDone
		a.mu.Lock()
		a.retired = slices.DeleteFunc(a.retired, func(e *engine.Engine) bool { return e == oldEng })
		a.mu.Unlock()
		old.Close()
	}()
	return busy, notes, err
}

// restartNeeded lists the [main] settings that changed between old and next
// and that only a restart applies, without refusing the reload.
func restartNeeded(old, next runtime.Main) []string {
	var out []string
	add := func(name string, changed bool) {
		if changed {
			out = append(out, name)
		}
	}
	add("daemonize", old.Daemonize != next.Daemonize)
	add("pidfile", old.PidFile != next.PidFile)
	return append(out, historyChanged(old, next)...)
}

// ReopenLog opens the log file again, so that one renamed by logrotate
// stops growing; logging to stderr needs nothing. When the file cannot be
// opened, logging continues to the old one and the error says why.
func (a *App) ReopenLog() error {
	return a.Generation().log.reopen()
}

// Close stops the engine and releases everything the app holds. It waits
// for the running tests and the queued notifications at most [main]
// stop_timeout in all: then it cancels the runs under way (their results
// do not count) and abandons deliveries (they stay in the outbox for the
// next start). Then it closes the history database (flushed, its session
// marked clean), the control API, removes the pid file,
// releases the instance lock, and closes the generation. Without Start it
// only releases what was taken.
func (a *App) Close() {
	if a.o.Events.Stopping != nil {
		a.o.Events.Stopping()
	}
	g := a.gen
	if a.eng != nil {
		a.stop(g)
	}
	// After the last engine stopped: nothing records any more.
	a.closeHistory(g.Logger)
	if a.eng != nil {
		g.Logger.Info("monsta stopped")
	}
	a.runCleanup()
	g.Close()
}

// stop ends scheduling, then the runs and deliveries within stop_timeout.
func (a *App) stop(g *Generation) {
	deadline := time.Now().Add(g.Main.StopTimeout)
	a.cancel()
	runs := make(chan struct{})
	go func() {
		<-a.done
		// Runs of generations replaced by a reload end too; their
		// notifications go to the engine closed below.
		a.retiring.Wait()
		close(runs)
	}()
	if !waitUntil(runs, deadline) {
		g.Logger.Warn("stop: stop_timeout passed, cancelling the checks still running", "stop_timeout", g.Main.StopTimeout)
		a.abortRuns()
		if !waitUntil(runs, time.Now().Add(abortWait)) {
			g.Logger.Error("stop: checks still running after being cancelled; exiting without them")
		}
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	closed := make(chan struct{})
	go func() { a.eng.Close(ctx); close(closed) }()
	if !waitUntil(closed, deadline.Add(abortWait)) {
		g.Logger.Warn("stop: notifications still being sent are abandoned; they stay in the outbox for the next start")
	}
}

// abortWait is how long a stop waits for what it cancelled to return.
const abortWait = time.Second

// abortRuns cancels the runs of the engine in force and of the retiring
// ones.
func (a *App) abortRuns() {
	a.mu.Lock()
	engines := append([]*engine.Engine{a.eng}, a.retired...)
	a.mu.Unlock()
	for _, e := range engines {
		e.Abort()
	}
}

// waitUntil waits for done until deadline and reports whether it closed.
func waitUntil(done <-chan struct{}, deadline time.Time) bool {
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		select {
		case <-done:
			return true
		default:
			return false
		}
	}
}

// Status returns a summary of the app now.
func (a *App) Status() Status {
	a.mu.Lock()
	defer a.mu.Unlock()
	p := a.gen.Plan
	st := Status{Generation: a.genN, Started: a.start, Loaded: a.loaded, Tests: len(p.Tests), Checks: len(p.Checks),
		Notifications: len(p.Notifications), RestartNeeded: append([]string(nil), a.notes...)}
	if a.sd != nil {
		st.StateDir = a.sd.Path()
	}
	return st
}

func (a *App) ready() {
	if a.o.Events.Ready != nil {
		a.o.Events.Ready(a.Status())
	}
}

// Evaluate runs the named test's checks once and applies its requires=
// rule, without counting the run (--run): no state, no outbox, nobody
// notified.
func (a *App) Evaluate(ctx context.Context, test string) (runtime.TestResult, error) {
	g := a.Generation()
	eng, err := engine.New(g.Plan, engine.Options{Logger: g.Logger, Clock: a.o.Clock})
	if err != nil {
		return runtime.TestResult{}, err
	}
	defer eng.Close(ctx)
	return eng.Evaluate(ctx, test)
}

// logWarnings logs the configuration's warnings.
func logWarnings(g *Generation) {
	for _, w := range g.Warnings {
		g.Logger.Warn("configuration", "problem", w.Error())
	}
}

// reportFailures logs, loudly, notifications that were given up earlier
// and are kept in the state directory's failed folder.
func reportFailures(logger *slog.Logger, sd *statedir.Dir) {
	for _, f := range sd.Failures() {
		logger.Error("UNDELIVERED NOTIFICATION kept in the failed folder", "notification", f.Notification, "test", f.Test, "state", f.State, "reason", f.Reason, "file", f.File)
	}
}

// hookList calls several Hooks in order.
type hookList []runtime.Hooks

// BeforeNotify implements runtime.Hooks; a suppressed event goes no
// further.
func (h hookList) BeforeNotify(ctx context.Context, ev *runtime.NotifyEvent) error {
	var errs []error
	for _, x := range h {
		if ev.Suppress {
			break
		}
		if err := x.BeforeNotify(ctx, ev); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// AfterResult implements runtime.Hooks.
func (h hookList) AfterResult(ctx context.Context, r runtime.TestResult) {
	for _, x := range h {
		x.AfterResult(ctx, r)
	}
}
