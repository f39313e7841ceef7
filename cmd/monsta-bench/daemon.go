package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	goruntime "runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/monsta/monsta/cmd/internal/app"
	monsta "github.com/monsta/monsta/runtime"
)

// hungPrefix starts the names of the tests against the silent peer
// (hung0001, with check hc0001); normal tests and checks are t000001 and
// c000001.
const hungPrefix = "hung"

// confSpec is what one generated configuration holds.
type confSpec struct {
	Tests       int
	Hung        int
	Interval    time.Duration
	HungTimeout time.Duration
	Addrs       []string // the targets
	Banner      bool     // the targets send a banner: the checks expect 220
	Silent      string   // listener that accepts and never writes
	MainExtra   string   // more [main] lines, "key = value\n"
}

// seconds formats d as INI seconds.
func seconds(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64)
}

// writeConfig writes a real monsta.conf ([main]) and conf.d/bench-*.conf (the
// checks and tests) under dir and returns the paths to pass to config.Load.
func writeConfig(dir string, s confSpec) (conf, confdir string, err error) {
	confdir = filepath.Join(dir, "conf.d")
	if err := os.MkdirAll(confdir, 0o755); err != nil {
		return "", "", fmt.Errorf("create %s: %w", confdir, err)
	}
	conf = filepath.Join(dir, "monsta.conf")
	mainText := fmt.Sprintf("[main]\nstatedir = %s\nlogfile = %s\nlog_level = info\nhostname = bench\n%s",
		filepath.Join(dir, "state"), filepath.Join(dir, "monsta.log"), s.MainExtra)
	if err := os.WriteFile(conf, []byte(mainText), 0o644); err != nil {
		return "", "", fmt.Errorf("write %s: %w", conf, err)
	}
	var b strings.Builder
	b.Grow(min(s.Tests+s.Hung, testsPerFile) * 120)
	files := 0
	// flush writes conf.d/bench-NNN.conf: files stay under config's 1 MiB
	// limit, as an admin's would.
	flush := func() error {
		f := filepath.Join(confdir, fmt.Sprintf("bench-%03d.conf", files))
		files++
		err := os.WriteFile(f, []byte(b.String()), 0o644)
		b.Reset()
		if err != nil {
			return fmt.Errorf("write %s: %w", f, err)
		}
		return nil
	}
	interval := seconds(s.Interval)
	expect := ""
	if s.Banner {
		expect = "expect = 220\n"
	}
	for i := range s.Tests {
		if i > 0 && i%testsPerFile == 0 {
			if err := flush(); err != nil {
				return "", "", err
			}
		}
		host, port, err := net.SplitHostPort(s.Addrs[i%len(s.Addrs)])
		if err != nil {
			return "", "", fmt.Errorf("listener address: %w", err)
		}
		fmt.Fprintf(&b, "[Check_c%06d]\ntype = portconnect\nhost = %s\nport = %s\n%s\n", i, host, port, expect)
		fmt.Fprintf(&b, "[Test_t%06d]\nchecks = c%06d\ninterval = %s\n\n", i, i, interval)
	}
	if s.Hung > 0 {
		host, port, err := net.SplitHostPort(s.Silent)
		if err != nil {
			return "", "", fmt.Errorf("silent listener address: %w", err)
		}
		for i := range s.Hung {
			fmt.Fprintf(&b, "[Check_hc%04d]\ntype = portconnect\nhost = %s\nport = %s\nexpect = 220\ntimeout = %s\n\n",
				i, host, port, seconds(s.HungTimeout))
			fmt.Fprintf(&b, "[Test_%s%04d]\nchecks = hc%04d\ninterval = %s\n\n", hungPrefix, i, i, interval)
		}
	}
	if err := flush(); err != nil {
		return "", "", err
	}
	return conf, confdir, nil
}

// testsPerFile is how many tests (with their checks) one conf.d file holds.
const testsPerFile = 4000

// daemonArgs configures one daemon process.
type daemonArgs struct {
	Config, ConfDir string
	Warmup, Window  time.Duration
	MaxStarts       int    // size of the lateness buffer
	CPUProfile      string // file for a CPU profile of the window; empty: none
	MemProfile      string // file for a heap profile at the memory sample; empty: none
	ListenerPID     int    // the listener process, whose CPU is measured apart
}

// latenessStats summarises the lateness of the check starts in the window.
type latenessStats struct {
	N                   int64
	Dropped             int64 // starts past the end of the buffer
	P50US, P99US, MaxUS float64
	Over5ms             int64
}

// daemonResult is what one daemon process reports.
type daemonResult struct {
	Tests, Hung int
	LoadSeconds float64 // config.Load + Resolve + engine.New
	// FirstCheckSeconds and ScheduledSeconds are the times from the start
	// of loading to the first check's start and to every test being on the
	// schedule.
	FirstCheckSeconds float64
	ScheduledSeconds  float64
	// PeakRSS is VmHWM at the end of the window: the most resident memory
	// at any time, start-up included.
	PeakRSS int64
	windowResult
	Checks        int64 // results in the window, every test
	OK, Failed    int64 // results of the normal tests in the window
	HungResults   int64
	HungPassed    int64
	FailSamples   []string `json:",omitempty"`
	HungSample    string   `json:",omitempty"`
	CPUPerCheckUS float64
	Rate          float64 // results per second
	Overruns      int64
	Lateness      latenessStats
	Baseline      memSample // before loading
	Loaded        memSample // with the engine built and running
	RSSPerTest    float64   // (Loaded.RSS - Baseline.RSS) / tests
	RSSGCPerTest  float64   // the same after a collection
	HeapPerTest   float64
	Goroutines    int
	GOMAXPROCS    int // in force after start ([main] max_procs)
	Nofile        uint64
	// HistoryBytes is the history database on disk at the end of the
	// window (history.db, its WAL and shared memory); 0: history off.
	HistoryBytes int64 `json:",omitempty"`
}

// lateRecorder collects OnCheckStart lateness into a buffer allocated (and
// touched) before the baseline is measured; the callback is two atomic adds
// and a store.
type lateRecorder struct {
	first   atomic.Int64 // when the first check started, Unix nanoseconds
	on      atomic.Bool
	n       atomic.Int64
	dropped atomic.Int64
	buf     []int64
}

func newLateRecorder(n int) *lateRecorder {
	r := &lateRecorder{buf: make([]int64, n)}
	for i := range r.buf {
		r.buf[i] = -1 // fault the pages in now, not during the window
	}
	return r
}

func (r *lateRecorder) record(late time.Duration) {
	if r.first.Load() == 0 {
		r.first.CompareAndSwap(0, time.Now().UnixNano())
	}
	if !r.on.Load() {
		return
	}
	i := r.n.Add(1) - 1
	if i >= int64(len(r.buf)) {
		r.dropped.Add(1)
		return
	}
	atomic.StoreInt64(&r.buf[i], int64(late))
}

// stats stops recording and summarises what was recorded.
func (r *lateRecorder) stats() latenessStats {
	r.on.Store(false)
	n := min(r.n.Load(), int64(len(r.buf)))
	v := make([]int64, 0, n)
	for i := range n {
		if x := atomic.LoadInt64(&r.buf[i]); x != -1 {
			v = append(v, x)
		}
	}
	slices.Sort(v)
	st := latenessStats{N: int64(len(v)), Dropped: r.dropped.Load()}
	if len(v) == 0 {
		return st
	}
	pct := func(p float64) float64 {
		i := int(p * float64(len(v)-1))
		return float64(v[i]) / 1e3
	}
	st.P50US, st.P99US, st.MaxUS = pct(0.50), pct(0.99), float64(v[len(v)-1])/1e3
	for _, x := range v {
		if x > int64(5*time.Millisecond) {
			st.Over5ms++
		}
	}
	return st
}

// resultCounter is the engine's Hooks: it counts results and keeps a few
// failure messages.
type resultCounter struct {
	ok, failed, hung, hungPassed atomic.Int64
	mu                           sync.Mutex
	samples                      []string
	hungSample                   string
}

func (c *resultCounter) BeforeNotify(context.Context, *monsta.NotifyEvent) error { return nil }

func (c *resultCounter) AfterResult(_ context.Context, r monsta.TestResult) {
	if strings.HasPrefix(r.Test, hungPrefix) {
		c.hung.Add(1)
		if r.OK {
			c.hungPassed.Add(1)
			return
		}
		c.mu.Lock()
		if c.hungSample == "" {
			c.hungSample = failText(r)
		}
		c.mu.Unlock()
		return
	}
	if r.OK {
		c.ok.Add(1)
		return
	}
	c.failed.Add(1)
	c.mu.Lock()
	if len(c.samples) < 5 {
		c.samples = append(c.samples, failText(r))
	}
	c.mu.Unlock()
}

func failText(r monsta.TestResult) string {
	var msgs []string
	for _, c := range r.Checks {
		msgs = append(msgs, c.Errors...)
	}
	return r.Test + ": " + strings.Join(msgs, "; ")
}

// counts is a snapshot of a resultCounter.
type counts struct{ ok, failed, hung, hungPassed int64 }

func (c *resultCounter) snapshot() counts {
	return counts{c.ok.Load(), c.failed.Load(), c.hung.Load(), c.hungPassed.Load()}
}

// writeHeapProfile writes the live heap (as of the last collection) to
// file.
func writeHeapProfile(file string) error {
	f, err := os.Create(file)
	if err != nil {
		return fmt.Errorf("create heap profile: %w", err)
	}
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		f.Close()
		return fmt.Errorf("write heap profile: %w", err)
	}
	return f.Close()
}

// runDaemon loads and runs the configuration through cmd/monsta's app, runs the
// engine, and measures CPU, memory and lateness over the window.
func runDaemon(a daemonArgs) (daemonResult, error) {
	var res daemonResult
	res.Nofile = raiseNofile(1 << 20)
	late := newLateRecorder(a.MaxStarts)
	hooks := &resultCounter{}
	var err error
	if res.Baseline, err = sampleMemory(); err != nil {
		return res, err
	}

	t0 := time.Now()
	mon, err := app.New(app.Options{Config: a.Config, ConfDir: a.ConfDir, LogLevel: "info",
		LogPath: func(m monsta.Main) string { return m.LogFile }, Hooks: hooks, OnCheckStart: late.record})
	if err != nil {
		return res, fmt.Errorf("load configuration: %w", err)
	}
	defer mon.Close()
	for _, t := range mon.Plan().Tests {
		if strings.HasPrefix(t.Name, hungPrefix) {
			res.Hung++
		} else {
			res.Tests++
		}
	}
	// The daemon's start: the state directory (test states are saved when
	// a streak changes, every run of a hung test), the engine, the outbox.
	if err := mon.Start(); err != nil {
		return res, err
	}
	res.LoadSeconds = time.Since(t0).Seconds()
	res.GOMAXPROCS = goruntime.GOMAXPROCS(0)
	// When every test is on the schedule: Run starts on its own goroutine.
	for deadline := time.Now().Add(time.Minute); mon.Engine().ScheduledAt().IsZero() && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	if at := mon.Engine().ScheduledAt(); !at.IsZero() {
		res.ScheduledSeconds = at.Sub(t0).Seconds()
	}

	time.Sleep(a.Warmup)
	if f := late.first.Load(); f != 0 {
		res.FirstCheckSeconds = time.Unix(0, f).Sub(t0).Seconds()
	}
	if a.CPUProfile != "" {
		f, err := os.Create(a.CPUProfile)
		if err != nil {
			return res, fmt.Errorf("create CPU profile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return res, fmt.Errorf("start CPU profile: %w", err)
		}
	}
	c0 := hooks.snapshot()
	late.on.Store(true)
	w := startWindow(a.ListenerPID)
	time.Sleep(a.Window)
	res.windowResult = w.end()
	c1 := hooks.snapshot()
	if a.CPUProfile != "" {
		pprof.StopCPUProfile()
	}
	res.Lateness = late.stats()
	res.Goroutines = goruntime.NumGoroutine()
	if res.Loaded, err = sampleMemory(); err != nil {
		return res, err
	}
	if res.PeakRSS, err = procStatus("self", "VmHWM"); err != nil {
		return res, err
	}
	// The kernel updates VmHWM lazily: after sampleMemory has returned
	// memory (FreeOSMemory) it can be below the RSS sampled just before.
	res.PeakRSS = max(res.PeakRSS, res.Loaded.RSS)
	if a.MemProfile != "" {
		if err := writeHeapProfile(a.MemProfile); err != nil {
			return res, err
		}
	}
	res.OK, res.Failed = c1.ok-c0.ok, c1.failed-c0.failed
	res.HungResults, res.HungPassed = c1.hung-c0.hung, c1.hungPassed-c0.hungPassed
	res.Checks = res.OK + res.Failed + res.HungResults
	hooks.mu.Lock()
	res.FailSamples, res.HungSample = hooks.samples, hooks.hungSample
	hooks.mu.Unlock()
	if res.Checks > 0 {
		res.CPUPerCheckUS = res.CPUSeconds * 1e6 / float64(res.Checks)
		res.Rate = float64(res.Checks) / res.WindowSeconds
	}
	res.Overruns = mon.Engine().Overruns()
	res.HistoryBytes = historyBytes(mon.Main().StateDir)
	if n := float64(res.Tests + res.Hung); n > 0 {
		res.RSSPerTest = float64(res.Loaded.RSS-res.Baseline.RSS) / n
		res.RSSGCPerTest = float64(res.Loaded.RSSAfterGC-res.Baseline.RSSAfterGC) / n
		res.HeapPerTest = float64(res.Loaded.Heap-res.Baseline.Heap) / n
	}
	return res, nil
}

// historyBytes is the size of the history database in stateDir, with its
// WAL and shared-memory files.
func historyBytes(stateDir string) int64 {
	var n int64
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if fi, err := os.Stat(filepath.Join(stateDir, app.HistoryFile+suffix)); err == nil {
			n += fi.Size()
		}
	}
	return n
}
