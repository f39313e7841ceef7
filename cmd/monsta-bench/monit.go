package main

import (
	"context"
	"errors"
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
	cmd := exec.CommandContext(ctx, monitPath, "-I", "-c", rc)
	cmd.Dir = dir
	out, err := os.Create(filepath.Join(dir, "monit.out"))
	if err != nil {
		return r, err
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return r, fmt.Errorf("start monit: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		select {
		case <-exited:
			return
		default:
		}
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	}()
	pid := cmd.Process.Pid

	// Poll the listener's count: the first connection, the first cycle,
	// the window.
	var w window
	var inWindow bool
	var atWindow int64
	const tick = 20 * time.Millisecond
	firstBy := start.Add(2 * time.Minute)
	for {
		select {
		case err := <-exited:
			msg, _ := os.ReadFile(out.Name())
			return r, fmt.Errorf("monit exited early: %v: %s", err, strings.TrimSpace(string(msg)))
		case <-ctx.Done():
			return r, ctx.Err()
		case <-time.After(tick):
		}
		c, err := lst.counts()
		if err != nil {
			return r, err
		}
		n := c.Accepted - before.Accepted
		now := time.Now()
		if r.FirstCheckSeconds == 0 {
			if n == 0 {
				if now.After(firstBy) {
					return r, errors.New("monit made no connection within 2 minutes")
				}
				continue
			}
			r.FirstCheckSeconds = now.Sub(start).Seconds()
			firstBy = now
		}
		if r.AllCheckedSeconds == 0 && n >= int64(s.Tests) {
			r.AllCheckedSeconds = now.Sub(start).Seconds()
		}
		if !inWindow && now.Sub(firstBy) >= s.Warmup {
			inWindow, atWindow = true, c.Accepted
			w = startPidWindow(pid, lst.cmd.Process.Pid)
			continue
		}
		if inWindow && now.Sub(w.wall) >= s.Window {
			r.windowResult = w.end()
			r.Checks = c.Accepted - atWindow
			break
		}
	}
	if r.PeakRSS, err = procStatus(fmt.Sprint(pid), "VmHWM"); err != nil {
		return r, err
	}
	if r.RSS, err = procStatus(fmt.Sprint(pid), "VmRSS"); err != nil {
		return r, err
	}
	if log, err := os.ReadFile(filepath.Join(dir, "monit.log")); err == nil {
		for _, line := range strings.Split(string(log), "\n") {
			if strings.Contains(line, "failed") {
				r.Failed++
				if r.FailSample == "" {
					r.FailSample = line
				}
			}
		}
	}
	if r.Checks > 0 {
		r.CPUPerCheckUS = r.CPUSeconds * 1e6 / float64(r.Checks)
		r.Rate = float64(r.Checks) / r.WindowSeconds
	}
	return r, nil
}
