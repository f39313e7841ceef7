package main

import (
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
	"syscall"
	"time"

	"github.com/monsta/monsta/cmd/internal/app"
	"github.com/monsta/monsta/internal/proc"
	"github.com/monsta/monsta/runtime"
	"github.com/monsta/monsta/runtime/statedir"
)

// detachedEnv marks the re-executed, detached daemon process.
const detachedEnv = "MONSTA_DETACHED"

// cmdDaemon runs the daemon until SIGTERM or SIGINT; SIGHUP reloads and
// reopens the log file, SIGUSR1 reopens the log file.
func cmdDaemon(o *options, stderr io.Writer) int {
	detached := os.Getenv(detachedEnv) == "1"
	ctl := newControlPlane()
	svc, svcErr := newService()
	logPath := daemonLogPath(o, detached)
	ao := appOptions(o, logPath)
	ao.OnCheckStart = ctl.metrics.ObserveLateness
	svc.wire(&ao)
	a, err := app.New(ao)
	if err != nil {
		return reportLoadError(stderr, err)
	}
	m := a.Main()
	if svcErr != nil {
		a.Logger().Warn("systemd watchdog ignored", "err", svcErr)
	}
	// One daemon per state directory: the lock comes before anything
	// touches the state, the pid file or the control socket.
	lock, code, err := lockInstance(m)
	if err != nil {
		fmt.Fprintf(stderr, "monsta: %v\n", err)
		if logPath(m) != "" {
			a.Logger().Error("cannot start", "err", err)
		}
		a.Close()
		return code
	}
	defer lock.Release()
	if m.Daemonize && !o.foreground && !detached {
		lock.Release() // the detached daemon takes it
		a.Close()
		return detach(stderr)
	}
	if detached || underSystemd() {
		if err := writePidFile(m); err != nil {
			if detached {
				a.Logger().Error("cannot write pid file", "err", err)
				a.Close()
				return exitFail
			}
			a.Logger().Warn("cannot write pid file", "err", err)
		} else {
			defer os.Remove(m.PidFile)
		}
	}
	if err := ctl.listenTCP(m); err != nil {
		a.Logger().Error("cannot start the HTTP API", "err", err)
		a.Close()
		return exitFail
	}
	defer ctl.close()
	if code := becomeDaemon(a.Logger(), m); code != exitOK {
		a.Close()
		return code
	}
	if err := proc.StartReaper(context.Background()); err != nil { // orphans of script checks, PID 1
		a.Logger().Warn("cannot reap orphaned processes", "err", err)
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGUSR1)
	defer signal.Stop(sigs)
	svc.start(a)
	defer svc.stop()
	if err := a.Start(); err != nil {
		a.Logger().Error("cannot start", "err", err)
		a.Close()
		return exitFail
	}
	if err := ctl.start(a, a.Logger()); err != nil {
		a.Logger().Error("cannot start the control API", "err", err)
		a.Close()
		return exitFail
	}
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
		a.Logger().Info("stopping: waiting for running checks and queued notifications", "signal", sig.String())
		break
	}
	ctl.close()
	a.Close()
	return exitOK
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

// becomeDaemon prepares the state directory, owned by [main] user, and
// drops root; both must happen before the configuration runs.
func becomeDaemon(logger *slog.Logger, m runtime.Main) int {
	if err := prepareStateDir(m); err != nil {
		logger.Error("cannot prepare state directory", "err", err)
		return exitFail
	}
	if err := dropPrivileges(m, logger); err != nil {
		logger.Error("cannot drop privileges", "err", err)
		return exitFail
	}
	return exitOK
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

// prepareStateDir makes the state directory usable by the daemon before
// anything else touches it. Started as root with another [main] user, it
// creates the directory and gives it, and everything below it, to that
// user and group (a --lint as root or a changed user= may have left
// root's or another user's files there). Started as any other user, it
// refuses a directory that user cannot use, rather than start and lose
// escalation state and pending pages.
func prepareStateDir(m runtime.Main) error {
	if m.StateDir == "" {
		return nil
	}
	uid, gid, err := daemonIDs(m)
	if err != nil {
		return err
	}
	switch {
	case uid >= 0:
		err = statedir.Own(m.StateDir, uid, gid)
	case os.Geteuid() == 0:
		err = os.MkdirAll(m.StateDir, 0o750)
	default:
		err = statedir.Usable(m.StateDir, os.Geteuid())
		if err != nil {
			err = fmt.Errorf("%w (chown it to the daemon's user, or start monsta as root to fix it)", err)
		}
	}
	if err != nil {
		return fmt.Errorf("[main] statedir %s: %w", m.StateDir, err)
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
