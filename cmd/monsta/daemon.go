package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/monsta/monsta/cmd/internal/app"
	"github.com/monsta/monsta/internal/proc"
	"github.com/monsta/monsta/runtime"
)

// detachedEnv marks the re-executed, detached daemon process.
const detachedEnv = "MONSTA_DETACHED"

// cmdDaemon runs the daemon until SIGTERM or SIGINT; SIGHUP reloads and
// reopens the log file, SIGUSR1 reopens the log file. A stop waits at most
// [main] stop_timeout for running checks and queued notifications; a
// second SIGTERM or SIGINT exits at once.
func cmdDaemon(o *options, stderr io.Writer) int {
	// A fatal error of the Go runtime (out of memory, a concurrent map
	// write, an unrecovered panic) exits with status 2, which the unit
	// takes for a configuration error and does not restart. Crashing
	// with SIGABRT instead gets the daemon restarted, and 2 stays the
	// configuration's.
	debug.SetTraceback("crash")
	detached := os.Getenv(detachedEnv) == "1"
	svc, svcErr := newService()
	logPath := daemonLogPath(o, detached)
	ao := appOptions(o, logPath)
	svc.wire(&ao)
	a, err := app.New(ao)
	if err != nil {
		return reportLoadError(stderr, err)
	}
	if svcErr != nil {
		a.Logger().Warn("systemd watchdog ignored", "err", svcErr)
	}
	m := a.Main()
	if m.Daemonize && !o.foreground && !detached {
		// The lock is tried here, so that a second daemon is refused on
		// the terminal; the detached daemon takes it for good.
		err := a.Lock()
		a.Close()
		if err != nil {
			return startFailed(a, stderr, logPath, err)
		}
		return detach(stderr)
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGUSR1)
	defer signal.Stop(sigs)
	svc.start(a)
	defer svc.stop()
	managed := detached || underSystemd()
	if err := a.Daemon(app.DaemonOptions{PidFile: managed, PidFileRequired: detached, Version: version}); err != nil {
		code := startFailed(a, stderr, logPath, err)
		a.Close()
		return code
	}
	if err := proc.StartReaper(context.Background()); err != nil { // orphans of script checks, PID 1
		a.Logger().Warn("cannot reap orphaned processes", "err", err)
	}
	return serveSignals(a, sigs, logPath)
}

// serveSignals handles signals until a stop, then closes the app; a
// second stop signal while it closes exits at once.
func serveSignals(a *app.App, sigs <-chan os.Signal, logPath func(runtime.Main) string) int {
	for sig := range sigs {
		switch sig {
		case syscall.SIGHUP:
			reopenLog(a, logPath)
			a.Reload() // logs what it did or why not
			continue
		case syscall.SIGUSR1:
			reopenLog(a, logPath)
			continue
		}
		a.Logger().Info("stopping: waiting for running checks and queued notifications", "signal", sig.String(), "at_most", a.Main().StopTimeout)
		break
	}
	closed := make(chan struct{})
	go func() { a.Close(); close(closed) }()
	for {
		select {
		case <-closed:
			return exitOK
		case sig := <-sigs:
			if sig == syscall.SIGTERM || sig == syscall.SIGINT {
				a.Logger().Warn("second stop signal: exiting at once; undelivered notifications stay in the outbox", "signal", sig.String())
				return exitFail
			}
		}
	}
}

// startFailed reports why the daemon cannot start, in the log and, when
// the log is not on stderr, on stderr too, and returns the exit status: 2
// for a problem of the configuration or of the host's setup (a restart
// cannot mend it), else 1.
func startFailed(a *app.App, stderr io.Writer, logPath func(runtime.Main) string, err error) int {
	a.Logger().Error("cannot start", "err", err)
	if logPath(a.Main()) != "" {
		fmt.Fprintf(stderr, "monsta: %v\n", err)
	}
	var se *app.SetupError
	if errors.As(err, &se) {
		return exitConfig
	}
	return exitFail
}

// reopenLog reopens the log file, if the daemon logs to one, and says so
// in the new file.
func reopenLog(a *app.App, logPath func(runtime.Main) string) {
	if logPath(a.Main()) == "" {
		return
	}
	if err := a.ReopenLog(); err != nil {
		a.Logger().Error("cannot reopen the log file, logging on to the old one", "err", err)
		return
	}
	a.Logger().Info("log file reopened")
}

// daemonLogPath is where the daemon logs: [main] logfile, or
// /var/log/monsta.log when detached without one; stderr (an empty path)
// while still in the terminal, before detaching.
func daemonLogPath(o *options, detached bool) func(runtime.Main) string {
	return func(m runtime.Main) string {
		path := m.LogFile
		if path == "" && detached {
			path = "/var/log/monsta.log"
		}
		if path != "" && (detached || !m.Daemonize || o.foreground) {
			return path
		}
		return ""
	}
}

// detach re-executes monsta in a new session with no terminal and returns
// once the child is running (or has failed right away).
func detach(stderr io.Writer) int {
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintf(stderr, "monsta: daemonize: %v\n", err)
		return exitFail
	}
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		fmt.Fprintf(stderr, "monsta: daemonize: %v\n", err)
		return exitFail
	}
	defer devnull.Close()
	cmd := exec.Command(exe, os.Args[1:]...)
	cmd.Env = append(os.Environ(), detachedEnv+"=1")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = devnull, devnull, devnull
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(stderr, "monsta: daemonize: %v\n", err)
		return exitFail
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		fmt.Fprintf(stderr, "monsta: the daemon exited at start-up (%v); see its log file\n", err)
		return exitFail
	case <-time.After(time.Second):
	}
	fmt.Fprintf(stderr, "monsta: running in the background, pid %d\n", cmd.Process.Pid)
	return exitOK
}
