// Command monsta-bench measures monsta against the quality targets of
// DESIGN.md in one run, beside a bare Go dial+close loop measured the same
// way:
//
//   - CPU per check: the daemon's own process CPU (user+sys) over a window
//     divided by the checks completed in it, for -tests portconnect tests
//     (connect+close) at -interval, against the bare loop's CPU per dial at
//     the same rate (target: at most 1.2x);
//   - resident memory per configured test on top of the idle process
//     (target: under 4 KiB);
//   - p99 lateness of check starts with -hung extra tests whose peer accepts
//     and never answers (target: under 5 ms).
//
// For context the bare loop also runs with a goroutine and a timeout per
// dial (what any scheduler must do per check at the least) and unpaced.
//
// The daemon, the bare loop and the loopback listeners each run in their own
// process (this binary re-executed), so that no process pays for another's
// work. The configuration is a real monsta.conf in a temporary directory,
// loaded through config.Load, runtime.Resolve and builtins.Register as
// cmd/monsta does.
//
//	monsta-bench [-tests 10000] [-hung 300] [-interval 10s] [-duration 30s]
//	             [-warmup 10s] [-json] [-cpuprofile FILE] [-memprofile FILE]
//
// Exit status: 0 every target met, 1 a target missed, 2 the bench failed.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
)

// Environment of the re-executed child processes.
const (
	roleEnv = "MONSTA_BENCH_ROLE"
	argsEnv = "MONSTA_BENCH_ARGS"
)

// Targets of DESIGN.md "Quality targets".
const (
	targetCPURatio = 1.2
	targetMemory   = 4096 // bytes per configured test
	targetP99      = 5 * time.Millisecond
)

// params are the bench's settings (the flags).
type params struct {
	Tests       int
	Hung        int
	Interval    time.Duration
	Duration    time.Duration
	Warmup      time.Duration // 0: one interval
	HungTimeout time.Duration
	Unpaced     time.Duration
	Addrs       int
	CPUProfile  string `json:",omitempty"`
	MemProfile  string `json:",omitempty"`
}

// machine describes where the bench ran.
type machine struct {
	NumCPU     int
	GOMAXPROCS int
	GoVersion  string
	OS, Arch   string
	Kernel     string `json:",omitempty"`
	PortRange  string `json:",omitempty"`
	TWReuse    string `json:",omitempty"`
}

// metric is one row of the table.
type metric struct {
	Name   string
	Unit   string
	Monsta float64
	Bare   *float64 `json:",omitempty"`
	Ratio  *float64 `json:",omitempty"`
	Target string
	Status string // PASS, MISS or info
}

// report is everything one run measured.
type report struct {
	Start      time.Time
	Machine    machine
	Params     params
	Listener   listenReady
	Accepted   listenStats
	Monsta     daemonResult  // -tests, no hung tests
	MonstaHung *daemonResult `json:",omitempty"` // -tests plus -hung
	// Bare is the bare loop; its Paced is both paced runs together.
	Bare bareResult
	// BarePaced are the paced bare-loop runs before and after monsta's, so
	// that a drift of the machine during the bench shows.
	BarePaced []loopResult
	Metrics   []metric
	Warnings  []string `json:",omitempty"`
	Errors    []string `json:",omitempty"`
}

func main() {
	if code, ok := childMain(); ok {
		os.Exit(code)
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// childMain runs this process as a listener, daemon or bare loop when it
// was started as one by the bench; ok is false otherwise.
func childMain() (code int, ok bool) {
	role := os.Getenv(roleEnv)
	if role == "" {
		return 0, false
	}
	raw := []byte(os.Getenv(argsEnv))
	fail := func(err error) (int, bool) {
		fmt.Fprintf(os.Stderr, "monsta-bench %s: %v\n", role, err)
		return 2, true
	}
	switch role {
	case "listener":
		var a listenArgs
		if err := json.Unmarshal(raw, &a); err != nil {
			return fail(err)
		}
		return listenerMain(a), true
	case "daemon":
		var a daemonArgs
		if err := json.Unmarshal(raw, &a); err != nil {
			return fail(err)
		}
		r, err := runDaemon(a)
		if err != nil {
			return fail(err)
		}
		if err := json.NewEncoder(os.Stdout).Encode(r); err != nil {
			return fail(err)
		}
		return 0, true
	case "bare":
		var a bareArgs
		if err := json.Unmarshal(raw, &a); err != nil {
			return fail(err)
		}
		r, err := runBare(a)
		if err != nil {
			return fail(err)
		}
		if err := json.NewEncoder(os.Stdout).Encode(r); err != nil {
			return fail(err)
		}
		return 0, true
	}
	return fail(fmt.Errorf("unknown role %q", role))
}

func run(args []string, stdout, stderr io.Writer) int {
	p := params{}
	var asJSON bool
	fs := flag.NewFlagSet("monsta-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&p.Tests, "tests", 10000, "configured tests, one portconnect check each (connect+close)")
	fs.IntVar(&p.Hung, "hung", 300, "extra tests against a peer that accepts and never answers (0: none)")
	fs.DurationVar(&p.Interval, "interval", 10*time.Second, "interval of every test")
	fs.DurationVar(&p.Duration, "duration", 30*time.Second, "measured window of each phase")
	fs.DurationVar(&p.Warmup, "warmup", 0, "warm-up before each window (0: one interval)")
	fs.DurationVar(&p.HungTimeout, "hung-timeout", 5*time.Second, "timeout of the hung tests' checks")
	fs.DurationVar(&p.Unpaced, "unpaced", 5*time.Second, "window of the unpaced bare loop (0: skip it)")
	fs.IntVar(&p.Addrs, "addrs", 4, "listener addresses 127.0.0.1…127.0.0.N the connects are spread over")
	fs.StringVar(&p.CPUProfile, "cpuprofile", "", "write CPU profiles of the daemon's window (no hung tests) to `FILE` and of the paced bare loop's to FILE.bare")
	fs.StringVar(&p.MemProfile, "memprofile", "", "write a heap profile of the daemon (no hung tests) at the memory sample to `FILE`")
	fs.BoolVar(&asJSON, "json", false, "print the report as JSON")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "monsta-bench: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	for _, f := range []*string{&p.CPUProfile, &p.MemProfile} {
		if *f == "" {
			continue
		}
		abs, err := filepath.Abs(*f)
		if err != nil {
			fmt.Fprintln(stderr, "monsta-bench:", err)
			return 2
		}
		*f = abs
	}
	r, err := bench(context.Background(), p, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "monsta-bench:", err)
		return 2
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(r); err != nil {
			fmt.Fprintln(stderr, "monsta-bench:", err)
			return 2
		}
	} else {
		printReport(stdout, r)
	}
	switch {
	case len(r.Errors) > 0:
		return 2
	case r.missed():
		return 1
	}
	return 0
}

func (p *params) validate() error {
	switch {
	case p.Tests < 1:
		return errors.New("-tests must be at least 1")
	case p.Hung < 0:
		return errors.New("-hung must not be negative")
	case p.Interval <= 0 || p.Duration <= 0 || p.Warmup < 0 || p.Unpaced < 0:
		return errors.New("-interval and -duration must be positive, -warmup and -unpaced not negative")
	case p.Hung > 0 && p.HungTimeout <= 0:
		return errors.New("-hung-timeout must be positive")
	case p.Addrs < 1 || p.Addrs > 250:
		return errors.New("-addrs must be 1 to 250")
	}
	return nil
}

// bench runs the listener, the daemon (without, then with hung tests) and
// the bare loop, one after another, and builds the report. Problems that
// make a number meaningless (failed checks, dial errors) are in
// report.Errors; err is for a bench that could not run.
func bench(ctx context.Context, p params, progress io.Writer) (*report, error) {
	if p.Warmup == 0 {
		p.Warmup = p.Interval
	}
	if err := p.validate(); err != nil {
		return nil, err
	}
	r := &report{Start: time.Now().UTC(), Machine: describeMachine(), Params: p}
	dir, err := os.MkdirTemp("", "monsta-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)

	lst, err := startListener(ctx, p.Addrs)
	if err != nil {
		return nil, err
	}
	defer lst.stop()
	r.Listener = lst.ready

	rate := float64(p.Tests) / p.Interval.Seconds()
	guard := p.Warmup + p.Duration + p.HungTimeout + 5*time.Minute
	phase := func(name string, hung int, cpuprofile, memprofile string) (daemonResult, error) {
		d := filepath.Join(dir, name)
		conf, confdir, err := writeConfig(d, confSpec{Tests: p.Tests, Hung: hung, Interval: p.Interval,
			HungTimeout: p.HungTimeout, Addrs: lst.ready.Addrs, Silent: lst.ready.Silent})
		if err != nil {
			return daemonResult{}, err
		}
		starts := float64(p.Tests+hung) / p.Interval.Seconds() * p.Duration.Seconds()
		a := daemonArgs{Config: conf, ConfDir: confdir, Warmup: p.Warmup, Window: p.Duration,
			MaxStarts: int(2*starts) + 10000, CPUProfile: cpuprofile, MemProfile: memprofile, ListenerPID: lst.cmd.Process.Pid}
		fmt.Fprintf(progress, "monsta-bench: monsta, %d tests + %d hung, %.0f checks/s: warm-up %v, window %v\n",
			p.Tests, hung, float64(p.Tests+hung)/p.Interval.Seconds(), p.Warmup, p.Duration)
		cctx, cancel := context.WithTimeout(ctx, guard)
		defer cancel()
		return runChild[daemonResult](cctx, "daemon", a)
	}

	bareWarm := min(p.Warmup, 3*time.Second)
	bareProfile := ""
	if p.CPUProfile != "" {
		bareProfile = p.CPUProfile + ".bare"
	}
	bare := func(a bareArgs) (bareResult, error) {
		a.Addrs, a.Rate, a.Warmup, a.Window, a.ListenerPID = lst.ready.Addrs, rate, bareWarm, p.Duration, lst.cmd.Process.Pid
		cctx, cancel := context.WithTimeout(ctx, guard+a.Spawned+a.Unpaced)
		defer cancel()
		return runChild[bareResult](cctx, "bare", a)
	}

	// The paced bare loop runs before and after monsta, whose numbers are
	// compared with both runs together.
	fmt.Fprintf(progress, "monsta-bench: bare loop, %.0f dials/s: warm-up %v, window %v\n", rate, bareWarm, p.Duration)
	before, err := bare(bareArgs{})
	if err != nil {
		return nil, fmt.Errorf("bare loop: %w", err)
	}
	if r.Monsta, err = phase("plain", 0, p.CPUProfile, p.MemProfile); err != nil {
		return nil, fmt.Errorf("monsta: %w", err)
	}
	if p.Hung > 0 {
		h, err := phase("hung", p.Hung, "", "")
		if err != nil {
			return nil, fmt.Errorf("monsta with hung tests: %w", err)
		}
		r.MonstaHung = &h
	}
	fmt.Fprintf(progress, "monsta-bench: bare loop, %.0f dials/s: warm-up %v, window %v, again with a goroutine per dial; unpaced %v\n",
		rate, bareWarm, p.Duration, p.Unpaced)
	if r.Bare, err = bare(bareArgs{Spawned: p.Duration, Unpaced: p.Unpaced, CPUProfile: bareProfile}); err != nil {
		return nil, fmt.Errorf("bare loop: %w", err)
	}
	r.BarePaced = []loopResult{before.Paced, r.Bare.Paced}
	r.Bare.Paced = sumLoops(r.BarePaced)
	if r.Accepted, err = lst.stop(); err != nil {
		return nil, fmt.Errorf("listener: %w", err)
	}
	r.evaluate()
	return r, nil
}

// sumLoops adds up loop runs into one, as if they were one window.
func sumLoops(runs []loopResult) loopResult {
	var t loopResult
	for _, l := range runs {
		t.Dials += l.Dials
		t.Errors += l.Errors
		if t.FirstError == "" {
			t.FirstError = l.FirstError
		}
		t.WindowSeconds += l.WindowSeconds
		t.CPUSeconds += l.CPUSeconds
		t.SysSeconds += l.SysSeconds
		t.ListenerCPUs += l.ListenerCPUs * l.WindowSeconds
		t.OtherCPUs += l.OtherCPUs * l.WindowSeconds
		t.Load1 = max(t.Load1, l.Load1)
	}
	if t.WindowSeconds > 0 {
		t.ListenerCPUs /= t.WindowSeconds
		t.OtherCPUs /= t.WindowSeconds
		t.Rate = float64(t.Dials) / t.WindowSeconds
	}
	if t.Dials > 0 {
		t.CPUPerDialUS = t.CPUSeconds * 1e6 / float64(t.Dials)
	}
	return t
}

// newChild returns the command that re-executes this binary as role.
func newChild(ctx context.Context, role string, args any) (*exec.Cmd, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find own executable: %w", err)
	}
	js, err := json.Marshal(args)
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, exe)
	cmd.Env = append(os.Environ(), roleEnv+"="+role, argsEnv+"="+string(js))
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd, nil
}

// runChild runs role to completion and decodes the JSON it prints.
func runChild[T any](ctx context.Context, role string, args any) (T, error) {
	var out T
	cmd, err := newChild(ctx, role, args)
	if err != nil {
		return out, err
	}
	b, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("run %s process: %w", role, err)
	}
	if err := json.Unmarshal(b, &out); err != nil {
		return out, fmt.Errorf("read %s result: %w", role, err)
	}
	return out, nil
}

// listenerProc is the running listener process.
type listenerProc struct {
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	out     *json.Decoder
	ready   listenReady
	stopped bool
}

func startListener(ctx context.Context, addrs int) (*listenerProc, error) {
	cmd, err := newChild(ctx, "listener", listenArgs{Addrs: addrs})
	if err != nil {
		return nil, err
	}
	l := &listenerProc{cmd: cmd}
	if l.stdin, err = cmd.StdinPipe(); err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start listener process: %w", err)
	}
	l.out = json.NewDecoder(bufio.NewReader(stdout))
	if err := l.out.Decode(&l.ready); err != nil {
		l.stdin.Close()
		cmd.Wait()
		return nil, fmt.Errorf("listener process did not start: %w", err)
	}
	return l, nil
}

// stop closes the listener's stdin, reads its counts and waits for it.
func (l *listenerProc) stop() (listenStats, error) {
	var st listenStats
	if l.stopped {
		return st, nil
	}
	l.stopped = true
	l.stdin.Close()
	derr := l.out.Decode(&st)
	if err := l.cmd.Wait(); err != nil {
		return st, fmt.Errorf("listener process: %w", err)
	}
	return st, derr
}

func describeMachine() machine {
	m := machine{NumCPU: goruntime.NumCPU(), GOMAXPROCS: goruntime.GOMAXPROCS(0),
		GoVersion: goruntime.Version(), OS: goruntime.GOOS, Arch: goruntime.GOARCH}
	read := func(f string) string {
		b, _ := os.ReadFile(f)
		return strings.Join(strings.Fields(string(b)), " ")
	}
	m.Kernel = read("/proc/sys/kernel/osrelease")
	m.PortRange = read("/proc/sys/net/ipv4/ip_local_port_range")
	m.TWReuse = read("/proc/sys/net/ipv4/tcp_tw_reuse")
	return m
}

// evaluate fills in the metric rows, the warnings and the errors.
func (r *report) evaluate() {
	r.cpuMetrics()
	r.memoryMetrics()
	r.latenessMetrics()
	// Sanity: a number is meaningless if what it counts went wrong.
	r.checkPhase(&r.Monsta)
	if r.MonstaHung != nil {
		r.checkPhase(r.MonstaHung)
	}
	r.checkLoops()
	r.checkListener()
}

func fp(v float64) *float64 { return &v }

// ratio is a / b, nil when b is not positive.
func ratio(a, b float64) *float64 {
	if b <= 0 {
		return nil
	}
	return fp(a / b)
}

// passMiss is a metric's status against its target.
func passMiss(ok bool) string {
	if ok {
		return "PASS"
	}
	return "MISS"
}

// sysPer is the system CPU per n events of w, in µs.
func sysPer(w windowResult, n int64) float64 {
	if n == 0 {
		return 0
	}
	return w.SysSeconds * 1e6 / float64(n)
}

// cpuMetrics compares monsta's CPU per check with the bare loops'.
func (r *report) cpuMetrics() {
	m, b := r.Monsta, r.Bare
	cpuRatio := ratio(m.CPUPerCheckUS, b.Paced.CPUPerDialUS)
	r.Metrics = append(r.Metrics, metric{Name: "CPU per check (paced, 1 interval)", Unit: "µs",
		Monsta: m.CPUPerCheckUS, Bare: fp(b.Paced.CPUPerDialUS), Ratio: cpuRatio,
		Target: fmt.Sprintf("≤ %.1fx bare", targetCPURatio),
		Status: passMiss(cpuRatio != nil && *cpuRatio <= targetCPURatio)})
	r.Metrics = append(r.Metrics, metric{Name: "  of which system (kernel)", Unit: "µs",
		Monsta: sysPer(m.windowResult, m.Checks), Bare: fp(sysPer(b.Paced.windowResult, b.Paced.Dials)),
		Ratio: ratio(sysPer(m.windowResult, m.Checks), sysPer(b.Paced.windowResult, b.Paced.Dials)), Status: "info"})
	r.Metrics = append(r.Metrics, metric{Name: "CPU per check vs bare goroutine+timeout per dial", Unit: "µs",
		Monsta: m.CPUPerCheckUS, Bare: fp(b.Spawned.CPUPerDialUS),
		Ratio: ratio(m.CPUPerCheckUS, b.Spawned.CPUPerDialUS), Status: "info"})
	if b.Unpaced.Dials > 0 {
		r.Metrics = append(r.Metrics, metric{Name: "CPU per check vs unpaced bare loop", Unit: "µs",
			Monsta: m.CPUPerCheckUS, Bare: fp(b.Unpaced.CPUPerDialUS),
			Ratio: ratio(m.CPUPerCheckUS, b.Unpaced.CPUPerDialUS), Target: "", Status: "info"})
	}
	r.Metrics = append(r.Metrics, metric{Name: "checks per second", Unit: "1/s", Monsta: m.Rate, Bare: fp(b.Paced.Rate),
		Ratio: ratio(m.Rate, b.Paced.Rate), Status: "info"})
}

// memoryMetrics reports memory per configured test.
func (r *report) memoryMetrics() {
	m := r.Monsta
	r.Metrics = append(r.Metrics,
		metric{Name: "RSS per configured test", Unit: "B", Monsta: m.RSSPerTest,
			Target: fmt.Sprintf("< %d", targetMemory), Status: passMiss(m.Loaded.RSS > 0 && m.RSSPerTest < targetMemory)},
		metric{Name: "RSS per test after GC", Unit: "B", Monsta: m.RSSGCPerTest, Status: "info"},
		metric{Name: "Go heap per test after GC", Unit: "B", Monsta: m.HeapPerTest, Status: "info"},
	)
}

// latenessMetrics reports how late checks started, with hung tests when
// that phase ran.
func (r *report) latenessMetrics() {
	m, b := r.Monsta, r.Bare
	lat := m.Lateness
	hungNote := "no hung tests"
	if r.MonstaHung != nil {
		lat = r.MonstaHung.Lateness
		hungNote = fmt.Sprintf("%d hung", r.MonstaHung.Hung)
	}
	r.Metrics = append(r.Metrics,
		metric{Name: "start lateness p99, " + hungNote, Unit: "ms", Monsta: lat.P99US / 1e3,
			Target: fmt.Sprintf("< %v", targetP99), Status: passMiss(lat.N > 0 && lat.P99US < float64(targetP99.Microseconds()))},
		metric{Name: "start lateness p50, " + hungNote, Unit: "ms", Monsta: lat.P50US / 1e3, Status: "info"},
		metric{Name: "start lateness max, " + hungNote, Unit: "ms", Monsta: lat.MaxUS / 1e3, Status: "info"},
	)
	if h := r.MonstaHung; h != nil {
		r.Metrics = append(r.Metrics,
			metric{Name: "start lateness p99, no hung tests", Unit: "ms", Monsta: m.Lateness.P99US / 1e3, Status: "info"},
			metric{Name: "CPU per check, " + hungNote, Unit: "µs", Monsta: h.CPUPerCheckUS, Bare: fp(b.Paced.CPUPerDialUS),
				Ratio: ratio(h.CPUPerCheckUS, b.Paced.CPUPerDialUS), Status: "info"})
	}
}

// checkPhase records what went wrong in one daemon phase.
func (r *report) checkPhase(d *daemonResult) {
	name := fmt.Sprintf("monsta (%d hung)", d.Hung)
	if d.Tests != r.Params.Tests || d.Hung != 0 && d.Hung != r.Params.Hung {
		r.Errors = append(r.Errors, fmt.Sprintf("%s: plan has %d tests + %d hung, want %d", name, d.Tests, d.Hung, r.Params.Tests))
	}
	if d.OK == 0 {
		r.Errors = append(r.Errors, name+": no check passed in the window")
	}
	if d.Failed > 0 {
		r.Errors = append(r.Errors, fmt.Sprintf("%s: %d of %d checks failed, e.g. %s", name, d.Failed, d.OK+d.Failed, strings.Join(d.FailSamples, " | ")))
	}
	if d.Lateness.N == 0 || d.Lateness.Dropped > 0 {
		r.Errors = append(r.Errors, fmt.Sprintf("%s: %d check starts recorded, %d dropped", name, d.Lateness.N, d.Lateness.Dropped))
	}
	r.checkHung(name, d)
	if d.Overruns > 0 {
		r.Warnings = append(r.Warnings, fmt.Sprintf("%s: %d runs skipped because the previous run was still going", name, d.Overruns))
	}
	r.busy(name, d.windowResult)
	want := float64(d.Tests+d.Hung) / r.Params.Interval.Seconds()
	if d.Rate < 0.95*want || d.Rate > 1.05*want {
		r.Warnings = append(r.Warnings, fmt.Sprintf("%s: %.0f checks/s, scheduled %.0f/s", name, d.Rate, want))
	}
}

// checkHung records what went wrong with the tests against the silent peer.
func (r *report) checkHung(name string, d *daemonResult) {
	if d.Hung > 0 && d.HungResults == 0 {
		r.Errors = append(r.Errors, name+": no hung test finished in the window")
	}
	if d.HungPassed > 0 {
		r.Errors = append(r.Errors, fmt.Sprintf("%s: %d runs against the silent peer passed", name, d.HungPassed))
	}
}

// checkLoops records what went wrong in the bare loops.
func (r *report) checkLoops() {
	b := r.Bare
	for _, l := range []struct {
		name string
		res  loopResult
		on   bool
	}{{"bare loop (paced)", b.Paced, true}, {"bare loop (goroutine per dial)", b.Spawned, true},
		{"bare loop (unpaced)", b.Unpaced, r.Params.Unpaced > 0}} {
		if !l.on {
			continue
		}
		r.busy(l.name, l.res.windowResult)
		if l.res.Dials == 0 {
			r.Errors = append(r.Errors, l.name+": no dial in the window")
		}
		if l.res.Errors > 0 {
			r.Errors = append(r.Errors, fmt.Sprintf("%s: %d of %d dials failed, e.g. %s", l.name, l.res.Errors, l.res.Dials, l.res.FirstError))
		}
	}
	if len(r.BarePaced) == 2 {
		a, b := r.BarePaced[0].CPUPerDialUS, r.BarePaced[1].CPUPerDialUS
		if lo, hi := min(a, b), max(a, b); lo > 0 && hi > 1.1*lo {
			r.Warnings = append(r.Warnings, fmt.Sprintf("the bare loop cost %.1fµs per dial before monsta and %.1fµs after: the machine drifted, ratios are uncertain by about %.0f%%",
				a, b, (hi/lo-1)*100))
		}
	}
}

// checkListener records what went wrong in the listener.
func (r *report) checkListener() {
	if r.Accepted.Accepted == 0 {
		r.Errors = append(r.Errors, "listener accepted no connection")
	}
	if r.Accepted.AcceptErrors > 0 {
		r.Errors = append(r.Errors, fmt.Sprintf("listener: %d accept errors", r.Accepted.AcceptErrors))
	}
	if r.Params.Hung > 0 && r.Accepted.SilentAccepted == 0 {
		r.Errors = append(r.Errors, "silent listener accepted no connection")
	}
}

// busyCPUs is how many CPUs other processes (the listener included) may
// keep busy on average before a window's timings are called disturbed.
const busyCPUs = 0.5

// busy warns when the rest of the machine was busy during w.
func (r *report) busy(name string, w windowResult) {
	if w.OtherCPUs > busyCPUs {
		r.Warnings = append(r.Warnings, fmt.Sprintf("%s: other processes kept %.2f CPUs busy during the window (load %.1f): timings are disturbed", name, w.OtherCPUs, w.Load1))
	}
}

// missed tells whether a target row is a MISS.
func (r *report) missed() bool {
	for _, m := range r.Metrics {
		if m.Status == "MISS" {
			return true
		}
	}
	return false
}

func printReport(w io.Writer, r *report) {
	p, mc := r.Params, r.Machine
	fmt.Fprintf(w, "monsta-bench %s: %d CPUs (GOMAXPROCS %d), %s %s/%s, kernel %s\n",
		r.Start.Format(time.RFC3339), mc.NumCPU, mc.GOMAXPROCS, mc.GoVersion, mc.OS, mc.Arch, mc.Kernel)
	fmt.Fprintf(w, "%d tests (portconnect, connect+close) every %v = %.0f checks/s over %d listener addresses; %d hung tests (silent peer, timeout %v); warm-up %v, window %v\n\n",
		p.Tests, p.Interval, float64(p.Tests)/p.Interval.Seconds(), p.Addrs, p.Hung, p.HungTimeout, p.Warmup, p.Duration)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "metric\tunit\tmonsta\tbare loop\tratio\ttarget\tresult")
	num := func(v float64) string {
		switch {
		case math.IsNaN(v):
			return "-"
		case math.Abs(v) >= 100:
			return fmt.Sprintf("%.0f", v)
		case math.Abs(v) >= 10:
			return fmt.Sprintf("%.1f", v)
		}
		return fmt.Sprintf("%.2f", v)
	}
	for _, m := range r.Metrics {
		bare, ratio := "-", "-"
		if m.Bare != nil {
			bare = num(*m.Bare)
		}
		if m.Ratio != nil {
			ratio = fmt.Sprintf("%.2fx", *m.Ratio)
		}
		target := m.Target
		if target == "" {
			target = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", m.Name, m.Unit, num(m.Monsta), bare, ratio, target, m.Status)
	}
	tw.Flush()
	mo := r.Monsta
	fmt.Fprintf(w, "\nmonsta: %d checks in %.1fs, %.2fs CPU (listener %.2f, others %.2f CPUs); RSS %.1f MiB idle, %.1f MiB loaded (%.1f after GC); heap %.1f MiB; %d goroutines; load %.2fs\n",
		mo.Checks, mo.WindowSeconds, mo.CPUSeconds, mo.ListenerCPUs, mo.OtherCPUs, mib(mo.Baseline.RSS), mib(mo.Loaded.RSS), mib(mo.Loaded.RSSAfterGC),
		mib(mo.Loaded.Heap), mo.Goroutines, mo.LoadSeconds)
	if h := r.MonstaHung; h != nil {
		fmt.Fprintf(w, "monsta with hung: %d checks (%d hung, e.g. %q) in %.1fs, %.2fs CPU (listener %.2f, others %.2f CPUs); lateness n=%d p50 %.3fms p99 %.3fms max %.3fms, %d over 5ms\n",
			h.Checks, h.HungResults, h.HungSample, h.WindowSeconds, h.CPUSeconds, h.ListenerCPUs, h.OtherCPUs, h.Lateness.N,
			h.Lateness.P50US/1e3, h.Lateness.P99US/1e3, h.Lateness.MaxUS/1e3, h.Lateness.Over5ms)
	}
	bp, bs, bu := r.Bare.Paced, r.Bare.Spawned, r.Bare.Unpaced
	for i, l := range r.BarePaced {
		fmt.Fprintf(w, "bare paced, %s monsta: %.1fµs per dial (%d dials, %.2fs CPU, others %.2f CPUs)\n",
			[]string{"before", "after"}[min(i, 1)], l.CPUPerDialUS, l.Dials, l.CPUSeconds, l.OtherCPUs)
	}
	fmt.Fprintf(w, "bare paced, both: %d dials in %.1fs, %.2fs CPU (listener %.2f, others %.2f CPUs); goroutine per dial: %d dials, %.2fs CPU (others %.2f CPUs); unpaced: %d dials in %.1fs (%.0f/s), %.2fs CPU (listener %.2f, others %.2f CPUs)\n",
		bp.Dials, bp.WindowSeconds, bp.CPUSeconds, bp.ListenerCPUs, bp.OtherCPUs, bs.Dials, bs.CPUSeconds, bs.OtherCPUs,
		bu.Dials, bu.WindowSeconds, bu.Rate, bu.CPUSeconds, bu.ListenerCPUs, bu.OtherCPUs)
	fmt.Fprintf(w, "listener: %d accepted, %d silent\n", r.Accepted.Accepted, r.Accepted.SilentAccepted)
	for _, s := range r.Warnings {
		fmt.Fprintln(w, "warning:", s)
	}
	for _, s := range r.Errors {
		fmt.Fprintln(w, "ERROR:", s)
	}
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }
