package builtins

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/monsta/monsta/runtime"
)

// clockTicks is the kernel's USER_HZ, the unit of utime and stime in
// /proc/PID/stat; it is 100 on every Linux architecture Go supports.
const clockTicks = 100

func processDescriptor() runtime.Descriptor {
	return runtime.Descriptor{
		Kind:        runtime.KindCheck,
		Name:        "process",
		Description: "processes are running, not too many, not too big, not too busy",
		Help: "The check scans /proc for the processes given by pidfile or by name and fails when fewer " +
			"than min_count or more than max_count run (zombies do not count), or when together they " +
			"use more than max_rss of memory or more than max_cpu percent of one CPU. name is an " +
			"executable name (nginx: the program's file name, as ps -C matches it) or, written between " +
			"slashes, a regular expression on the command line (/java .*tomcat/). CPU use is measured " +
			"between two runs, so max_cpu is checked from the second run on. Stats: count, rss_bytes, " +
			"cpu_percent.",
		Options: []runtime.Option{
			{Name: "pidfile", Help: "File holding the process id of the one process to watch; instead of name."},
			{Name: "name", Parse: runtime.Optional(parseProcessName),
				Help: "Executable name (sshd), or /regexp/ on the command line; instead of pidfile."},
			{Name: "min_count", Default: "1", Parse: runtime.Int, Help: "Fewest matching processes that pass."},
			{Name: "max_count", Parse: runtime.Optional(runtime.Int), Help: "Most matching processes that pass; empty: no limit."},
			{Name: "max_rss", Parse: runtime.Optional(runtime.Size),
				Help: "Most resident memory of all matching processes together (512M); empty: no limit."},
			{Name: "max_cpu", Parse: runtime.Optional(runtime.Float),
				Help: "Most CPU of all matching processes together since the previous run, in percent of one CPU; empty: no limit."},
		},
		Example: `[Check_nginx]
type = process
name = nginx
min_count = 2
max_rss = 1G

[Check_tomcat]
type = process
name = /java .*catalina/
max_cpu = 90
`,
		NewCheck: newProcess,
	}
}

// procMatcher decides whether a process matches by name.
type procMatcher struct {
	exe string         // executable name, or
	re  *regexp.Regexp // a pattern on the command line
}

func parseProcessName(s string) (any, error) {
	s = strings.TrimSpace(s)
	if len(s) >= 2 && s[0] == '/' && s[len(s)-1] == '/' {
		re, err := runtime.Regexp(s[1 : len(s)-1])
		if err != nil {
			return nil, err
		}
		return &procMatcher{re: re.(*regexp.Regexp)}, nil
	}
	if strings.Contains(s, "/") {
		return nil, fmt.Errorf("%q: an executable name has no slash; write a regular expression as /regexp/", s)
	}
	return &procMatcher{exe: s}, nil
}

// Process passes when the number of matching processes, their memory and
// their CPU use are within the limits.
type Process struct {
	pidfile  string
	match    *procMatcher
	min, max int // max <0: no limit
	maxRSS   int64
	maxCPU   float64 // <0: no limit
	proc     string  // "/proc"; tests use a directory of their own
	now      func() time.Time
	self     int // this process, never counted

	// CPU ticks of the processes seen by the previous run, by pid and
	// start time (a reused pid is a different process). The runtime
	// never overlaps runs of one check, so no lock is needed.
	prev   map[procKey]uint64
	prevAt time.Time
}

type procKey struct {
	pid   int
	start uint64
}

// procInfo is what the check reads of one process.
type procInfo struct {
	key   procKey
	ticks uint64 // utime + stime
	rss   int64  // bytes
}

func newProcess(o *runtime.Options) (runtime.Check, error) {
	c := &Process{pidfile: o.String("pidfile"), min: o.Int("min_count"), max: -1, maxCPU: -1,
		proc: "/proc", now: time.Now, self: os.Getpid()}
	c.match, _ = o.Value("name").(*procMatcher)
	if (c.pidfile == "") == (c.match == nil) {
		return nil, errors.New("pidfile, name: set exactly one")
	}
	if v, ok := o.Value("max_count").(int); ok {
		c.max = v
		if c.max < c.min {
			return nil, fmt.Errorf("max_count: %d is less than min_count %d", c.max, c.min)
		}
	}
	c.maxRSS, _ = o.Value("max_rss").(int64)
	if v, ok := o.Value("max_cpu").(float64); ok {
		c.maxCPU = v
	}
	return c, nil
}

// Run implements runtime.Check.
func (c *Process) Run(ctx context.Context) (runtime.Stats, error) {
	procs, what, err := c.find(ctx)
	if err != nil {
		return nil, err
	}
	now := c.now()
	var rss int64
	cur := make(map[procKey]uint64, len(procs))
	for _, p := range procs {
		rss += p.rss
		cur[p.key] = p.ticks
	}
	stats := runtime.Stats{"count": float64(len(procs)), "rss_bytes": float64(rss)}
	var errs []error
	switch {
	case len(procs) < c.min && len(procs) == 0:
		errs = append(errs, fmt.Errorf("no process %s is running", what))
	case len(procs) < c.min:
		errs = append(errs, fmt.Errorf("%d processes %s are running, fewer than min_count %d", len(procs), what, c.min))
	case c.max >= 0 && len(procs) > c.max:
		errs = append(errs, fmt.Errorf("%d processes %s are running, more than max_count %d", len(procs), what, c.max))
	}
	if c.maxRSS > 0 && rss > c.maxRSS {
		errs = append(errs, fmt.Errorf("processes %s use %s of memory (RSS), more than max_rss %s",
			what, runtime.FormatSize(float64(rss)), runtime.FormatSize(float64(c.maxRSS))))
	}
	if c.prev != nil {
		if secs := now.Sub(c.prevAt).Seconds(); secs > 0 {
			var used uint64
			for k, t := range cur {
				if p, ok := c.prev[k]; ok && t >= p {
					used += t - p
				}
			}
			pct := 100 * float64(used) / clockTicks / secs
			stats["cpu_percent"] = pct
			if c.maxCPU >= 0 && pct > c.maxCPU {
				errs = append(errs, fmt.Errorf("processes %s used %.1f%% CPU over the last %s, more than max_cpu %g%%",
					what, pct, now.Sub(c.prevAt).Round(time.Second), c.maxCPU))
			}
		}
	}
	c.prev, c.prevAt = cur, now
	return stats, errors.Join(errs...)
}

// find returns the matching live processes and how to name them in
// messages.
func (c *Process) find(ctx context.Context) ([]procInfo, string, error) {
	if c.pidfile != "" {
		b, err := os.ReadFile(c.pidfile)
		if err != nil {
			return nil, "", fmt.Errorf("read pidfile: %w", err)
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 0 {
			return nil, "", fmt.Errorf("pidfile %s: %s is not a process id", c.pidfile, quoted(bytes.TrimSpace(b), 40))
		}
		what := fmt.Sprintf("with pid %d from %s", pid, c.pidfile)
		p, ok := c.read(pid)
		if !ok {
			return nil, what, nil
		}
		return []procInfo{p}, what, nil
	}
	what := fmt.Sprintf("named %q", c.match.exe)
	if c.match.re != nil {
		what = fmt.Sprintf("matching /%s/", c.match.re)
	}
	ents, err := os.ReadDir(c.proc)
	if err != nil {
		return nil, "", fmt.Errorf("scan processes: %w", err)
	}
	var out []procInfo
	for _, e := range ents {
		if ctx.Err() != nil {
			return nil, "", fmt.Errorf("scan processes: %w", ctx.Err())
		}
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == c.self || !c.matches(pid) {
			continue
		}
		if p, ok := c.read(pid); ok {
			out = append(out, p)
		}
	}
	return out, what, nil
}

// matches tells whether process pid matches name. A process that ends
// meanwhile does not.
func (c *Process) matches(pid int) bool {
	dir := filepath.Join(c.proc, strconv.Itoa(pid))
	cmd, _ := os.ReadFile(filepath.Join(dir, "cmdline"))
	if c.match.re != nil {
		// Kernel threads have no command line.
		return len(cmd) > 0 && c.match.re.Match(bytes.TrimRight(bytes.ReplaceAll(cmd, []byte{0}, []byte{' '}), " "))
	}
	if argv0, _, _ := bytes.Cut(cmd, []byte{0}); len(argv0) > 0 && filepath.Base(string(argv0)) == c.match.exe {
		return true
	}
	// comm is the executable's file name, cut to 15 bytes; it is what is
	// left of a process that rewrote its argv[0] ("nginx: worker").
	comm, _ := os.ReadFile(filepath.Join(dir, "comm"))
	comm = bytes.TrimRight(comm, "\n")
	exe := c.match.exe
	if len(exe) > 15 {
		exe = exe[:15]
	}
	return len(comm) > 0 && string(comm) == exe
}

// read reads /proc/PID/stat; ok is false for a process that is gone or a
// zombie.
func (c *Process) read(pid int) (procInfo, bool) {
	b, err := os.ReadFile(filepath.Join(c.proc, strconv.Itoa(pid), "stat"))
	if err != nil {
		return procInfo{}, false
	}
	// The command name in parentheses may hold spaces and parentheses.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procInfo{}, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 22 || f[0] == "Z" || f[0] == "X" {
		return procInfo{}, false
	}
	num := func(k int) uint64 { n, _ := strconv.ParseUint(f[k], 10, 64); return n }
	// Fields after the name, from 0: state, ..., utime 11, stime 12, starttime 19, rss 21 (pages).
	return procInfo{
		key:   procKey{pid: pid, start: num(19)},
		ticks: num(11) + num(12),
		rss:   int64(num(21)) * int64(os.Getpagesize()),
	}, true
}
