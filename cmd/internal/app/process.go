package app

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/monsta/monsta/internal/instance"
	"github.com/monsta/monsta/runtime"
	"github.com/monsta/monsta/runtime/statedir"
)

// SetupError is a start-up failure that the configuration, or the host
// setup it names, causes: a restart cannot mend it (a state directory the
// daemon's user cannot use, another daemon on the same state directory, an
// unknown [main] user). The daemon exits with status 2 for it, which the
// packaged unit does not restart.
type SetupError struct{ Err error }

func (e *SetupError) Error() string { return e.Err.Error() }
func (e *SetupError) Unwrap() error { return e.Err }

// DaemonOptions say which parts of the process the app owns when it runs
// as the daemon (Daemon).
type DaemonOptions struct {
	// PidFile writes [main] pidfile, removed at Close. PidFileRequired
	// makes a pid file that cannot be written stop the start (a detached
	// daemon has no other trace); else it is a warning.
	PidFile, PidFileRequired bool
	// Version is served by the control API and /metrics.
	Version string
}

// Daemon makes the app the daemon process: in this one order it prepares
// the state directory (owned by [main] user), takes the instance lock,
// writes the pid file, opens [main] listen and reads token_file (before
// privileges are dropped: a low port, a token only root may read), drops
// privileges, starts the engine (Start), and serves the control API on the
// socket in the state directory and on the TCP listener. Close undoes what
// was done, in the reverse order; so does a failure part way.
func (a *App) Daemon(o DaemonOptions) error {
	a.daemon, a.root = &o, os.Geteuid() == 0
	steps := []func() error{a.Lock, a.pidFile, a.listen, a.dropPrivileges, a.Start, a.serve}
	for _, step := range steps {
		if err := step(); err != nil {
			return err
		}
	}
	return nil
}

// Lock prepares the state directory and takes its instance lock, once:
// one daemon per state directory, before anything touches the state, the
// pid file or the socket. Another daemon holding it is a *SetupError that
// names it.
func (a *App) Lock() error {
	if a.lock != nil {
		return nil
	}
	m := a.Main()
	l, err := lockStateDir(m)
	if err != nil {
		return err
	}
	a.lock = l
	a.onClose(func() { a.lock.Release() })
	return nil
}

// lockStateDir prepares m's state directory and takes its lock.
func lockStateDir(m runtime.Main) (*instance.Lock, error) {
	if err := prepareStateDir(m); err != nil {
		return nil, &SetupError{fmt.Errorf("prepare state directory: %w", err)}
	}
	uid, gid, err := daemonIDs(m)
	if err != nil {
		return nil, &SetupError{err}
	}
	l, err := instance.Acquire(m.StateDir, uid, gid)
	var held *instance.HeldError
	if errors.As(err, &held) {
		return nil, &SetupError{err}
	}
	return l, err
}

// onClose adds a step to the cleanup that Close runs, last added first.
func (a *App) onClose(f func()) { a.cleanup = append(a.cleanup, f) }

// runCleanup runs the cleanup steps, last added first, once.
func (a *App) runCleanup() {
	for i := len(a.cleanup) - 1; i >= 0; i-- {
		a.cleanup[i]()
	}
	a.cleanup = nil
}

// pidFile writes the pid file when asked to.
func (a *App) pidFile() error {
	m := a.Main()
	if !a.daemon.PidFile || m.PidFile == "" {
		return nil
	}
	if err := writePidFile(m); err != nil {
		if a.daemon.PidFileRequired {
			return err
		}
		a.Logger().Warn("cannot write pid file", "err", err)
		return nil
	}
	a.onClose(func() { os.Remove(m.PidFile) })
	return nil
}

// dropPrivileges switches to [main] user and group when running as root;
// an empty user or "root" keeps root.
func (a *App) dropPrivileges() error {
	m := a.Main()
	if os.Geteuid() != 0 || m.User == "" || m.User == "root" {
		return nil
	}
	uid, gid, err := lookupIDs(m)
	if err != nil {
		return &SetupError{err}
	}
	if err := syscall.Setgroups([]int{gid}); err != nil {
		return fmt.Errorf("drop privileges: setgroups: %w", err)
	}
	if err := syscall.Setgid(gid); err != nil {
		return fmt.Errorf("drop privileges: setgid %d: %w", gid, err)
	}
	if err := syscall.Setuid(uid); err != nil {
		return fmt.Errorf("drop privileges: setuid %d: %w", uid, err)
	}
	a.Logger().Info("dropped privileges", "user", m.User, "uid", uid, "gid", gid)
	return nil
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

// daemonIDs returns the uid and gid the daemon will run as, or -1, -1 when
// it keeps the ones it has (not root, or [main] user empty or root).
func daemonIDs(m runtime.Main) (uid, gid int, err error) {
	if os.Geteuid() != 0 || m.User == "" || m.User == "root" {
		return -1, -1, nil
	}
	return lookupIDs(m)
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

// writePidFile writes the pid file. Started as root, the daemon first
// makes the file's directory (when missing) its user's, so that it can
// remove the file at exit after dropping privileges.
func writePidFile(m runtime.Main) error {
	path := m.PidFile
	dir := filepath.Dir(path)
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("pid file directory: %w", err)
		}
		uid, gid, err := daemonIDs(m)
		if err != nil {
			return err
		}
		if uid >= 0 {
			if err := os.Chown(dir, uid, gid); err != nil {
				return fmt.Errorf("pid file directory: %w", err)
			}
		}
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		return fmt.Errorf("write pid file: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write pid file: %w", err)
	}
	return nil
}
