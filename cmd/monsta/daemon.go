package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"os/user"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/monsta/monsta/internal/proc"
	"github.com/monsta/monsta/runtime"
	"github.com/monsta/monsta/runtime/statedir"
)

// detachedEnv marks the re-executed, detached daemon process.
const detachedEnv = "MONSTA_DETACHED"

// shutdownGrace bounds how long queued notifications may take to go out at
// shutdown or reload.
const shutdownGrace = 30 * time.Second

// cmdDaemon runs the daemon until SIGTERM or SIGINT; SIGHUP reloads.
func cmdDaemon(o *options, stderr io.Writer) int {
	var warnings bytes.Buffer
	detached := os.Getenv(detachedEnv) == "1"
	var logFile *os.File
	defer func() {
		if logFile != nil {
			logFile.Close()
		}
	}()
	var logger *slog.Logger
	// The daemon's logger, made once from the first [main]; a reload keeps it.
	logFor := func(m runtime.Main) (*slog.Logger, error) {
		if logger != nil {
			return logger, nil
		}
		out := io.Writer(os.Stderr)
		path := m.LogFile
		if path == "" && detached {
			path = "/var/log/monsta.log"
		}
		if path != "" && (detached || !m.Daemonize || o.foreground) {
			f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
			if err != nil {
				return nil, fmt.Errorf("open log file: %w", err)
			}
			logFile, out = f, f
		}
		logger = newLogger(o, m, out)
		return logger, nil
	}
	l, err := load(o, logFor, &warnings)
	if err != nil {
		return reportLoadError(stderr, err)
	}
	if l.main.Daemonize && !o.foreground && !detached {
		l.close()
		return detach(stderr)
	}
	logWarnings(logger, &warnings)
	if detached {
		if err := writePidFile(l.main.PidFile); err != nil {
			logger.Error("cannot write pid file", "err", err)
			return exitFail
		}
		defer os.Remove(l.main.PidFile)
	}
	if err := prepareStateDir(l.main); err != nil {
		logger.Error("cannot prepare state directory", "err", err)
		return exitFail
	}
	if err := dropPrivileges(l.main, logger); err != nil {
		logger.Error("cannot drop privileges", "err", err)
		return exitFail
	}

	sd, err := statedir.Open(l.main.StateDir, logger)
	if err != nil {
		logger.Error("cannot open state directory", "err", err)
		return exitFail
	}
	state := sd.LoadState()
	reportFailures(logger, sd)
	if err := proc.StartReaper(context.Background()); err != nil { // orphans of script checks, PID 1
		logger.Warn("cannot reap orphaned processes", "err", err)
	}

	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer signal.Stop(sigs)

	for {
		eng, err := runtime.NewEngine(l.plan, runtime.EngineOptions{
			Logger: logger, Hooks: l.hooks, State: state, Retry: l.main.Retry,
			Saver: sd, Outbox: sd, Pending: sd.Pending(),
		})
		if err != nil {
			logger.Error("cannot start", "err", err)
			return exitFail
		}
		l.setSender(eng.Dispatcher())
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { eng.Run(ctx); close(done) }()
		logger.Info("monsta started", "version", version, "tests", len(l.plan.Tests), "checks", len(l.plan.Checks), "notifications", len(l.plan.Notifications), "pid", os.Getpid())

		var next *loaded
		for next == nil {
			sig := <-sigs
			if sig != syscall.SIGHUP {
				logger.Info("stopping: waiting for running checks and queued notifications", "signal", sig.String())
				cancel()
				<-done
				closeCtx, c := context.WithTimeout(context.Background(), shutdownGrace)
				eng.Close(closeCtx)
				c()
				l.close()
				logger.Info("monsta stopped")
				return exitOK
			}
			logger.Info("reloading configuration")
			warnings.Reset()
			nl, err := load(o, logFor, &warnings)
			logWarnings(logger, &warnings)
			if err != nil {
				for _, line := range strings.Split(err.Error(), "\n") {
					logger.Error("reload rejected, configuration kept", "problem", line)
				}
				continue
			}
			next = nl
		}
		// Stop scheduling, let running tests finish, carry state over.
		// Undelivered notifications stay in the outbox for the new engine.
		cancel()
		<-done
		state = eng.State()
		eng.Dispatcher().Stop()
		l.close()
		l = next
		logger.Info("configuration reloaded")
	}
}

// reportFailures logs, loudly, notifications that were given up earlier
// and are kept in the state directory's failed folder.
func reportFailures(logger *slog.Logger, sd *statedir.Dir) {
	for _, f := range sd.Failures() {
		logger.Error("UNDELIVERED NOTIFICATION kept in the failed folder", "notification", f.Notification, "test", f.Test, "state", f.State, "reason", f.Reason, "file", f.File)
	}
}

func logWarnings(logger *slog.Logger, w *bytes.Buffer) {
	for _, line := range strings.Split(strings.TrimSpace(w.String()), "\n") {
		if line != "" {
			logger.Warn("configuration", "problem", line)
		}
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

func writePidFile(path string) error {
	if path == "" {
		return nil
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// prepareStateDir creates the state directory, owned by the daemon's user.
func prepareStateDir(m runtime.Main) error {
	if m.StateDir == "" {
		return nil
	}
	if err := os.MkdirAll(m.StateDir, 0o750); err != nil {
		return err
	}
	if os.Geteuid() == 0 && m.User != "" && m.User != "root" {
		uid, gid, err := lookupIDs(m)
		if err != nil {
			return err
		}
		return os.Chown(m.StateDir, uid, gid)
	}
	return nil
}

// lookupIDs resolves [main] user and group. The original's default group
// "nobody" does not exist on Debian, where nobody's group is "nogroup".
func lookupIDs(m runtime.Main) (uid, gid int, err error) {
	u, err := user.Lookup(m.User)
	if err != nil {
		return 0, 0, fmt.Errorf("[main] user %q: %w", m.User, err)
	}
	uid, _ = strconv.Atoi(u.Uid)
	gid, _ = strconv.Atoi(u.Gid)
	if m.Group != "" {
		g, err := user.LookupGroup(m.Group)
		var unknown user.UnknownGroupError
		if errors.As(err, &unknown) && m.Group == "nobody" {
			g, err = user.LookupGroup("nogroup")
		}
		if err != nil {
			return 0, 0, fmt.Errorf("[main] group %q: %w", m.Group, err)
		}
		gid, _ = strconv.Atoi(g.Gid)
	}
	return uid, gid, nil
}

// dropPrivileges switches to [main] user and group when running as root;
// an empty user or "root" keeps root.
func dropPrivileges(m runtime.Main, logger *slog.Logger) error {
	if os.Geteuid() != 0 || m.User == "" || m.User == "root" {
		return nil
	}
	uid, gid, err := lookupIDs(m)
	if err != nil {
		return err
	}
	if err := syscall.Setgroups([]int{gid}); err != nil {
		return fmt.Errorf("setgroups: %w", err)
	}
	if err := syscall.Setgid(gid); err != nil {
		return fmt.Errorf("setgid %d: %w", gid, err)
	}
	if err := syscall.Setuid(uid); err != nil {
		return fmt.Errorf("setuid %d: %w", uid, err)
	}
	logger.Info("dropped privileges", "user", m.User, "uid", uid, "gid", gid)
	return nil
}
