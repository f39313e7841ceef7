package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// monitPath is where Debian's monit package installs Monit.
const monitPath = "/usr/bin/monit"

// peerSpec is what the peer checks and how long it is measured.
type peerSpec struct {
	Tests          int
	Banner         bool
	Addrs          []string
	Warmup, Window time.Duration
}

// peerResult is what the peer did, measured from outside: its CPU from
// /proc/PID/stat, its memory from /proc/PID/status, its checks as the
// connections the listener accepted.
type peerResult struct {
	Name    string
	Version string `json:",omitempty"`
	Tests   int
	// FirstCheckSeconds is the time from starting the peer to the first
	// connection; AllCheckedSeconds to as many connections as tests (its
	// first cycle done), 0 when that did not happen before the window ended.
	FirstCheckSeconds float64
	AllCheckedSeconds float64
	windowResult
	Checks        int64 // connections accepted in the window
	CPUPerCheckUS float64
	Rate          float64
	PeakRSS       int64 // VmHWM at the end of the window
	RSS           int64 // VmRSS at the end of the window
	// Failed counts the lines of Monit's log that report a failed test;
	// FailSample is the first.
	Failed     int
	FailSample string `json:",omitempty"`
}

// writeMonitConfig writes a Monit control file (mode 0600, as Monit
// demands) with one `check host` per test against the bench's targets,
// Monit's shortest cycle, and its pid, state and id files in dir.
func writeMonitConfig(dir string, s peerSpec) (string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "set daemon 1\nset logfile %s\nset pidfile %s\nset statefile %s\nset idfile %s\n\n",
		filepath.Join(dir, "monit.log"), filepath.Join(dir, "monit.pid"), filepath.Join(dir, "monit.state"), filepath.Join(dir, "monit.id"))
	expect := ""
	if s.Banner {
		expect = ` expect "220"`
	}
	for i := range s.Tests {
		host, port, err := net.SplitHostPort(s.Addrs[i%len(s.Addrs)])
		if err != nil {
			return "", fmt.Errorf("listener address: %w", err)
		}
		fmt.Fprintf(&b, "check host t%06d with address %s\n  if failed port %s type tcp%s then alert\n", i, host, port, expect)
	}
	rc := filepath.Join(dir, "monitrc")
	if err := os.WriteFile(rc, []byte(b.String()), 0o600); err != nil {
		return "", fmt.Errorf("write %s: %w", rc, err)
	}
	return rc, nil
}

// monitVersion returns the first line of `monit -V`.
func monitVersion() (string, error) {
	out, err := exec.Command(monitPath, "-V").Output()
	if err != nil {
		return "", fmt.Errorf("%s -V: %w (install it with: apt-get install monit)", monitPath, err)
	}
	line, _, _ := strings.Cut(string(out), "\n")
	return strings.TrimSpace(line), nil
}

// runMonit runs Monit in the foreground against the listener and measures
// it: start-up, a warm-up, then the window.
func runMonit(ctx context.Context, dir string, s peerSpec, lst *listenerProc) (peerResult, error) {
	r := peerResult{Name: "monit", Tests: s.Tests}
	var err error
	if r.Version, err = monitVersion(); err != nil {
		return r, err
	}
	rc, err := writeMonitConfig(dir, s)
	if err != nil {
		return r, err
	}
	before, err := lst.counts()
	if err != nil {
		return r, err
	}
	m, err := startMonit(ctx, dir, rc)
	if err != nil {
		return r, err
	}
	defer m.stop()
	pid := m.cmd.Process.Pid
	if err := m.watch(ctx, s, lst, before.Accepted, &r); err != nil {
		return r, err
	}
	if r.PeakRSS, err = procStatus(fmt.Sprint(pid), "VmHWM"); err != nil {
		return r, err
	}
	if r.RSS, err = procStatus(fmt.Sprint(pid), "VmRSS"); err != nil {
		return r, err
	}
	r.countFailures(filepath.Join(dir, "monit.log"))
	if r.Checks > 0 {
		r.CPUPerCheckUS = r.CPUSeconds * 1e6 / float64(r.Checks)
		r.Rate = float64(r.Checks) / r.WindowSeconds
	}
	return r, nil
}

// monitProc is a running Monit.
type monitProc struct {
	cmd    *exec.Cmd
	out    *os.File // its stdout and stderr
	start  time.Time
	exited chan error
}

// startMonit starts Monit in the foreground on the control file rc, its
// output to dir/monit.out.
func startMonit(ctx context.Context, dir, rc string) (*monitProc, error) {
	cmd := exec.CommandContext(ctx, monitPath, "-I", "-c", rc)
	cmd.Dir = dir
	out, err := os.Create(filepath.Join(dir, "monit.out"))
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	m := &monitProc{cmd: cmd, out: out, start: time.Now(), exited: make(chan error, 1)}
	if err := cmd.Start(); err != nil {
		out.Close()
		return nil, fmt.Errorf("start monit: %w", err)
	}
	go func() { m.exited <- cmd.Wait() }()
	return m, nil
}

// stop ends Monit unless it has exited: SIGTERM, then SIGKILL after 10 s.
func (m *monitProc) stop() {
	defer m.out.Close()
	select {
	case <-m.exited:
		return
	default:
	}
	m.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-m.exited:
	case <-time.After(10 * time.Second):
		m.cmd.Process.Kill()
		<-m.exited
	}
}

// watch polls the listener's count of accepted connections (before at
// Monit's start) and fills in r: the first connection, the first cycle,
// then the window after the warm-up.
func (m *monitProc) watch(ctx context.Context, s peerSpec, lst *listenerProc, before int64, r *peerResult) error {
	const tick = 20 * time.Millisecond
	// Monit reads its control file in time that grows faster than the
	// services: about 2 minutes for 100,000 on a 2-core machine.
	wait := 2*time.Minute + time.Duration(s.Tests)*3*time.Millisecond
	p := monitPoll{s: s, r: r, start: m.start, firstBy: m.start.Add(wait), wait: wait, pid: m.cmd.Process.Pid, lstPID: lst.cmd.Process.Pid}
	for {
		select {
		case err := <-m.exited:
			msg, _ := os.ReadFile(m.out.Name())
			return fmt.Errorf("monit exited early: %v: %s", err, strings.TrimSpace(string(msg)))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(tick):
		}
		c, err := lst.counts()
		if err != nil {
			return err
		}
		if done, err := p.step(c.Accepted, c.Accepted-before, time.Now()); done || err != nil {
			return err
		}
	}
}

// monitPoll is the state of watch's polling.
type monitPoll struct {
	s           peerSpec
	r           *peerResult
	start       time.Time
	firstBy     time.Time // the first connection is due by then; once made, its time
	wait        time.Duration
	pid, lstPID int
	inWindow    bool
	atWindow    int64 // the accepted count when the window started
	w           window
}

// step takes one poll: accepted connections in all, n of them since Monit
// started. It is done once the window is over.
func (p *monitPoll) step(accepted, n int64, now time.Time) (done bool, err error) {
	r := p.r
	if r.FirstCheckSeconds == 0 {
		if n == 0 {
			if now.After(p.firstBy) {
				return false, fmt.Errorf("monit made no connection within %v", p.wait)
			}
			return false, nil
		}
		r.FirstCheckSeconds = now.Sub(p.start).Seconds()
		p.firstBy = now
	}
	if r.AllCheckedSeconds == 0 && n >= int64(p.s.Tests) {
		r.AllCheckedSeconds = now.Sub(p.start).Seconds()
	}
	if !p.inWindow && now.Sub(p.firstBy) >= p.s.Warmup {
		p.inWindow, p.atWindow = true, accepted
		p.w = startPidWindow(p.pid, p.lstPID)
		return false, nil
	}
	if p.inWindow && now.Sub(p.w.wall) >= p.s.Window {
		r.windowResult = p.w.end()
		r.Checks = accepted - p.atWindow
		return true, nil
	}
	return false, nil
}

// countFailures counts the lines of Monit's log that report a failed
// test, and keeps the first.
func (r *peerResult) countFailures(logPath string) {
	log, err := os.ReadFile(logPath)
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(log), "\n") {
		if strings.Contains(line, "failed") {
			r.Failed++
			if r.FailSample == "" {
				r.FailSample = line
			}
		}
	}
}
