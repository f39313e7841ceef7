// Command monsta-bench measures monsta against the quality targets of
// DESIGN.md, in one run beside a paced bare Go loop doing the same probe at
// the same rate and, with -peer monit, beside Monit checking the same
// targets:
//
//   - CPU per check: the process's CPU (user+sys) over a window divided by
//     the checks completed in it, for -tests portconnect tests at -rate
//     checks per second. The check reads the target's "220" banner
//     (expect=220; -check connect: connect and close). Targets: at most
//     1.2x the paced bare loop at 5,000/s and above, 1.3x below; at
//     5,000/s at most Monit's at its own rate;
//   - peak resident memory (VmHWM, start-up included): at most half of
//     Monit's, and at most 300 MB for 100,000 tests;
//   - the time from start to the first check and to every test scheduled
//     (target: 3 s);
//   - p99 lateness of check starts with -hung extra tests whose peer
//     accepts and never answers (target: 5 ms);
//   - with -history, the cost of the history store: the daemon with
//     [main] history = yes against history = no, in the same run: CPU per
//     check at most 1.10x, peak RSS at most 20 MiB more, and the database's
//     size per test (history.db with its WAL) at the end of the window.
//
// The daemon, the bare loop, the listeners and Monit each run in their own
// process (this binary re-executed, or /usr/bin/monit), so that no process
// pays for another's work. The configuration is a real monsta.conf in a
// temporary directory, loaded and run through the daemon's app.
//
//	monsta-bench [-tests 10000[,100000]] [-rate 1000[,5000]] [-runs 1]
//	             [-peer monit] [-check banner|connect] [-hung 300] [-history]
//	             [-duration 10s] [-warmup 3s] [-json]
//	             [-cpuprofile FILE] [-memprofile FILE]
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
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Environment of the re-executed child processes.
const (
	roleEnv = "MONSTA_BENCH_ROLE"
	argsEnv = "MONSTA_BENCH_ARGS"
)

// Targets of DESIGN.md "Quality targets".
const (
	targetCPURatioFast = 1.2 // at fastRate and above
	targetCPURatioSlow = 1.3 // below fastRate
	fastRate           = 5000
	targetPeakVsPeer   = 0.5
	targetPeak100k     = 300 << 20 // bytes, for 100,000 tests
	targetScheduled    = 3 * time.Second
	targetP99          = 5 * time.Millisecond
	// History on against off (-history).
	targetHistoryCPU  = 1.10
	targetHistoryPeak = 20 << 20 // bytes more
)

// params are the settings of one configuration (the flags).
type params struct {
	Tests    int
	Rate     float64       // checks per second of the -tests
	Interval time.Duration // Tests / Rate
	Check    string        // banner or connect
	Peer     string        `json:",omitempty"` // "" or monit
	// History runs the daemon with history = no beside the one with
	// history = yes, and compares them.
	History     bool `json:",omitempty"`
	Hung        int
	Duration    time.Duration
	Warmup      time.Duration
	HungTimeout time.Duration
	Spawned     time.Duration
	Unpaced     time.Duration
	Addrs       int
	// Main are [main] lines for monsta's runtime settings (max_procs,
	// gc_percent, memory_limit), empty: the defaults.
	Main       string `json:",omitempty"`
	CPUProfile string `json:",omitempty"`
	MemProfile string `json:",omitempty"`
}

// banner tells whether the checks read the banner.
func (p params) banner() bool { return p.Check == "banner" }

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

// metric is one row of the table: monsta's value beside another's.
type metric struct {
	Name   string
	Unit   string
	Monsta float64
	Versus string   `json:",omitempty"` // whose Other is: "bare loop", "monit"
	Other  *float64 `json:",omitempty"`
	Ratio  *float64 `json:",omitempty"`
	Target string
	Status string // PASS, MISS or info
}

// report is everything one run of one configuration measured.
type report struct {
	Start      time.Time
	Machine    machine
	Params     params
	Listener   listenReady
	Accepted   listenStats
	Monsta     daemonResult  // -tests, no hung tests
	MonstaHung *daemonResult `json:",omitempty"` // -tests plus -hung
	// MonstaNoHistory is -tests with history = no (-history); Monsta then
	// runs with history = yes.
	MonstaNoHistory *daemonResult `json:",omitempty"`
	Peer            *peerResult   `json:",omitempty"`
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

// intList parses "10000,100000".
func intList(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return nil, fmt.Errorf("%q: not a number", f)
		}
		out = append(out, n)
	}
	return out, nil
}

// options are the command line's settings.
type options struct {
	p                   params
	asJSON              bool
	testsList, rateList string
	runs                int
	maxProcs, gcPercent int
	memLimit            string
}

// flagSet declares the command line's flags into o.
func (o *options) flagSet(stderr io.Writer) *flag.FlagSet {
	p := &o.p
	fs := flag.NewFlagSet("monsta-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.testsList, "tests", "10000", "configured tests, one portconnect check each; a comma-separated list runs each")
	fs.StringVar(&o.rateList, "rate", "1000", "checks per second (tests / interval); a comma-separated list runs each")
	fs.IntVar(&o.runs, "runs", 1, "how many times to run the whole series")
	fs.StringVar(&p.Check, "check", "banner", "banner: connect, read the \"220\" banner, close (expect=220); connect: connect and close")
	fs.StringVar(&p.Peer, "peer", "", "monit: run Monit ("+monitPath+", apt-get install monit) against the same targets")
	fs.BoolVar(&p.History, "history", false, "also run the daemon with [main] history = no, and compare it with history = yes")
	fs.IntVar(&p.Hung, "hung", 300, "extra tests against a peer that accepts and never answers, in a phase of their own (0: no such phase)")
	fs.DurationVar(&p.Duration, "duration", 10*time.Second, "measured window of each phase")
	fs.DurationVar(&p.Warmup, "warmup", 3*time.Second, "warm-up before each window, after start-up")
	fs.DurationVar(&p.HungTimeout, "hung-timeout", 0, "timeout of the hung tests' checks (0: 5s, or 3/4 of the interval when shorter)")
	fs.DurationVar(&p.Spawned, "spawned", 0, "window of the paced bare loop with a goroutine and a timeout per dial (0: skip it)")
	fs.DurationVar(&p.Unpaced, "unpaced", 0, "window of the unpaced bare loop (0: skip it)")
	fs.IntVar(&o.maxProcs, "max-procs", 0, "monsta's [main] max_procs (0: not set)")
	fs.IntVar(&o.gcPercent, "gc-percent", 0, "monsta's [main] gc_percent (0: not set)")
	fs.StringVar(&o.memLimit, "memory-limit", "", "monsta's [main] memory_limit, such as 40M (empty: not set)")
	fs.IntVar(&p.Addrs, "addrs", 4, "listener addresses 127.0.0.1…127.0.0.N the connects are spread over")
	fs.StringVar(&p.CPUProfile, "cpuprofile", "", "write CPU profiles of the daemon's window (no hung tests) to `FILE` and of the paced bare loop's to FILE.bare")
	fs.StringVar(&p.MemProfile, "memprofile", "", "write a heap profile of the daemon (no hung tests) at the memory sample to `FILE`")
	fs.BoolVar(&o.asJSON, "json", false, "print the reports as JSON")
	return fs
}

// series checks the parsed options, completes o.p ([main] settings,
// absolute profile paths) and returns the scales and rates to run.
func (o *options) series() (tests, rates []int, err error) {
	if o.maxProcs > 0 {
		o.p.Main += fmt.Sprintf("max_procs = %d\n", o.maxProcs)
	}
	if o.gcPercent > 0 {
		o.p.Main += fmt.Sprintf("gc_percent = %d\n", o.gcPercent)
	}
	if o.memLimit != "" {
		o.p.Main += "memory_limit = " + o.memLimit + "\n"
	}
	if tests, err = intList(o.testsList); err != nil {
		return nil, nil, fmt.Errorf("-tests: %w", err)
	}
	if rates, err = intList(o.rateList); err != nil {
		return nil, nil, fmt.Errorf("-rate: %w", err)
	}
	if o.runs < 1 {
		return nil, nil, errors.New("-runs must be at least 1")
	}
	for _, f := range []*string{&o.p.CPUProfile, &o.p.MemProfile} {
		if *f == "" {
			continue
		}
		abs, err := filepath.Abs(*f)
		if err != nil {
			return nil, nil, err
		}
		*f = abs
	}
	return tests, rates, nil
}

func run(args []string, stdout, stderr io.Writer) int {
	var o options
	fs := o.flagSet(stderr)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	fail := func(err error) int {
		fmt.Fprintln(stderr, "monsta-bench:", err)
		return 2
	}
	if fs.NArg() > 0 {
		return fail(fmt.Errorf("unexpected argument %q", fs.Arg(0)))
	}
	tests, rates, err := o.series()
	if err != nil {
		return fail(err)
	}
	all, err := o.runAll(tests, rates, stdout, stderr)
	if err != nil {
		return fail(err)
	}
	if o.asJSON {
		if err := writeJSON(stdout, all); err != nil {
			return fail(err)
		}
	} else if len(all) > 1 {
		printSummary(stdout, all)
	}
	return exitCode(all)
}

// runAll runs every scale at every rate, o.runs times, printing each
// report as it comes unless the reports are printed as JSON at the end.
func (o *options) runAll(tests, rates []int, stdout, stderr io.Writer) ([]*report, error) {
	var all []*report
	series := len(tests)*len(rates)*o.runs > 1
	for range o.runs {
		for _, n := range tests {
			// The peer runs at its own rate: measured once per scale and
			// run, beside every rate of monsta's.
			var peer *peerResult
			for _, rate := range rates {
				q := o.p
				q.Tests, q.Rate = n, float64(rate)
				if series {
					for _, f := range []*string{&q.CPUProfile, &q.MemProfile} {
						if *f != "" {
							*f = fmt.Sprintf("%s.%d-%d.%d", *f, n, rate, len(all)/(len(tests)*len(rates))+1)
						}
					}
				}
				r, err := bench(context.Background(), q, stderr, peer)
				if err != nil {
					return nil, err
				}
				peer = r.Peer
				all = append(all, r)
				if !o.asJSON {
					printReport(stdout, r)
					fmt.Fprintln(stdout)
				}
			}
		}
	}
	return all, nil
}

// writeJSON prints the reports as indented JSON: one object for one
// report, a list for a series.
func writeJSON(stdout io.Writer, all []*report) error {
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	var out any = all
	if len(all) == 1 {
		out = all[0]
	}
	return enc.Encode(out)
}

// exitCode is 2 when a run had errors, 1 when one missed its targets,
// else 0.
func exitCode(all []*report) int {
	code := 0
	for _, r := range all {
		switch {
		case len(r.Errors) > 0:
			return 2
		case r.missed():
			code = 1
		}
	}
	return code
}

func (p *params) validate() error {
	switch {
	case p.Tests < 1:
		return errors.New("-tests must be at least 1")
	case p.Rate <= 0:
		return errors.New("-rate must be positive")
	case p.Hung < 0:
		return errors.New("-hung must not be negative")
	case p.Duration <= 0 || p.Warmup < 0 || p.Unpaced < 0 || p.Spawned < 0:
		return errors.New("-duration must be positive, -warmup, -spawned and -unpaced not negative")
	case p.HungTimeout < 0:
		return errors.New("-hung-timeout must not be negative")
	case p.Addrs < 1 || p.Addrs > 250:
		return errors.New("-addrs must be 1 to 250")
	case p.Check != "banner" && p.Check != "connect":
		return fmt.Errorf("-check %q: want banner or connect", p.Check)
	case p.Peer != "" && p.Peer != "monit":
		return fmt.Errorf("-peer %q: want monit (or nothing)", p.Peer)
	}
	return nil
}

// bench runs the listener, the bare loop, the daemon (without, then with
// hung tests), the peer and the bare loop again, one after another, and
// builds the report. Problems that make a number meaningless (failed
// checks, dial errors) are in report.Errors; err is for a bench that could
// not run. A peer already measured at this scale is reused, not run again.
func bench(ctx context.Context, p params, progress io.Writer, peer *peerResult) (*report, error) {
	if err := p.validate(); err != nil {
		return nil, err
	}
	p.Interval = time.Duration(float64(p.Tests) / p.Rate * float64(time.Second))
	if p.HungTimeout == 0 {
		// Shorter than the interval, so that hung runs do not overrun.
		p.HungTimeout = min(5*time.Second, (p.Interval * 3 / 4).Round(100*time.Millisecond))
	}
	r := &report{Start: time.Now().UTC(), Machine: describeMachine(), Params: p}
	dir, err := os.MkdirTemp("", "monsta-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)

	lst, err := startListener(ctx, listenArgs{Addrs: p.Addrs, Banner: p.banner()})
	if err != nil {
		return nil, err
	}
	defer lst.stop()
	r.Listener = lst.ready

	guard := 2*time.Minute + p.Warmup + p.Duration + p.HungTimeout
	if p.Peer != "" {
		// Monit needs minutes to read 100,000 services.
		guard += time.Duration(p.Tests) * 5 * time.Millisecond
	}
	phase := func(name string, hung int, cpuprofile, memprofile string) (daemonResult, error) {
		d := filepath.Join(dir, name)
		conf, confdir, err := writeConfig(d, confSpec{Tests: p.Tests, Hung: hung, Interval: p.Interval, Banner: p.banner(), MainExtra: p.mainFor(name),
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

	bareWarm := min(p.Warmup, 2*time.Second)
	bareProfile := ""
	if p.CPUProfile != "" {
		bareProfile = p.CPUProfile + ".bare"
	}
	bare := func(a bareArgs) (bareResult, error) {
		a.Addrs, a.Banner, a.Rate, a.Warmup, a.Window, a.ListenerPID = lst.ready.Addrs, p.banner(), p.Rate, bareWarm, p.Duration, lst.cmd.Process.Pid
		fmt.Fprintf(progress, "monsta-bench: bare loop, %.0f probes/s: warm-up %v, window %v\n", p.Rate, bareWarm, p.Duration)
		cctx, cancel := context.WithTimeout(ctx, guard+a.Spawned+a.Unpaced)
		defer cancel()
		return runChild[bareResult](cctx, "bare", a)
	}

	// The paced bare loop runs before and after monsta, whose numbers are
	// compared with both runs together.
	before, err := bare(bareArgs{})
	if err != nil {
		return nil, fmt.Errorf("bare loop: %w", err)
	}
	if r.Monsta, err = phase("plain", 0, p.CPUProfile, p.MemProfile); err != nil {
		return nil, fmt.Errorf("monsta: %w", err)
	}
	if err := r.optionalPhases(p, phase); err != nil {
		return nil, err
	}
	if p.Peer == "monit" && peer != nil && peer.Tests == p.Tests {
		r.Peer = peer
	} else if p.Peer == "monit" {
		fmt.Fprintf(progress, "monsta-bench: monit, %d tests at its own rate: warm-up %v, window %v\n", p.Tests, p.Warmup, p.Duration)
		cctx, cancel := context.WithTimeout(ctx, guard)
		peer, err := runMonit(cctx, filepath.Join(dir, "monit"), peerSpec{Tests: p.Tests, Banner: p.banner(),
			Addrs: lst.ready.Addrs, Warmup: p.Warmup, Window: p.Duration}, lst)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("monit: %w", err)
		}
		r.Peer = &peer
	}
	if r.Bare, err = bare(bareArgs{Spawned: p.Spawned, Unpaced: p.Unpaced, CPUProfile: bareProfile}); err != nil {
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

// noHistoryPhase is the phase that runs with history = no (-history).
const noHistoryPhase = "nohistory"

// mainFor is the [main] lines of the phase name: -history sets history
// = no in its own phase and history = yes in the others.
func (p params) mainFor(name string) string {
	switch {
	case name == noHistoryPhase:
		return p.Main + "history = no\n"
	case p.History:
		return p.Main + "history = yes\n"
	}
	return p.Main
}

// optionalPhases runs the daemon's phases that flags ask for: with
// history = no (-history), then with hung tests (-hung).
func (r *report) optionalPhases(p params, phase func(name string, hung int, cpuprofile, memprofile string) (daemonResult, error)) error {
	if p.History {
		h, err := phase(noHistoryPhase, 0, "", "")
		if err != nil {
			return fmt.Errorf("monsta without history: %w", err)
		}
		r.MonstaNoHistory = &h
	}
	if p.Hung > 0 {
		h, err := phase("hung", p.Hung, "", "")
		if err != nil {
			return fmt.Errorf("monsta with hung tests: %w", err)
		}
		r.MonstaHung = &h
	}
	return nil
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

func startListener(ctx context.Context, a listenArgs) (*listenerProc, error) {
	cmd, err := newChild(ctx, "listener", a)
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

// counts asks the listener for its counts so far.
func (l *listenerProc) counts() (listenStats, error) {
	var st listenStats
	if _, err := io.WriteString(l.stdin, "\n"); err != nil {
		return st, fmt.Errorf("ask listener: %w", err)
	}
	if err := l.out.Decode(&st); err != nil {
		return st, fmt.Errorf("read listener counts: %w", err)
	}
	return st, nil
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
