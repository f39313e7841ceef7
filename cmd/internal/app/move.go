package app

import (
	"errors"
	"fmt"
	"net"

	"github.com/monsta/monsta/internal/instance"
	"github.com/monsta/monsta/runtime"
	"github.com/monsta/monsta/runtime/control"
	"github.com/monsta/monsta/runtime/statedir"
)

// RestartError refuses a reload that changes a setting a running daemon
// cannot apply; the generation in force keeps running.
type RestartError struct {
	Key      string // the [main] key
	Old, New string
}

func (e *RestartError) Error() string {
	return fmt.Sprintf("[main] %s changed from %q to %q: needs a restart", e.Key, e.Old, e.New)
}

// needsRestart refuses the settings that only a start applies: the user
// and group the daemon runs as, when it started as root (it dropped
// root's privileges at start, so it cannot take another user's). Started
// as any other user it ignores both, and so does a reload.
func needsRestart(old, next runtime.Main, root bool) error {
	if !root {
		return nil
	}
	var errs []error
	if old.User != next.User {
		errs = append(errs, &RestartError{Key: "user", Old: old.User, New: next.User})
	}
	if old.Group != next.Group {
		errs = append(errs, &RestartError{Key: "group", Old: old.Group, New: next.Group})
	}
	return errors.Join(errs...)
}

// move is what a reload opens for the next generation before it commits,
// so that a part that cannot be had refuses the whole reload: a new state
// directory with its lock and control socket, a new TCP listener, a new
// token. Nil fields are the parts that do not change.
type move struct {
	sd   *statedir.Dir  // the new state directory
	lock *instance.Lock // its instance lock (daemon only)
	sock net.Listener   // its control socket (daemon only)
	// tcpChanged says [main] listen changed; tcp is the new listener (nil
	// when listen is now empty).
	tcpChanged bool
	tcp        net.Listener
	token      string // the token_file's token, read again
}

// prepareMove opens what next needs that differs from the generation in
// force. The new state directory's lock is taken before anything else
// there; the old one is released only at commit.
func (a *App) prepareMove(next *Generation) (*move, error) {
	mv := &move{}
	if err := a.openMove(mv, next); err != nil {
		mv.abort()
		return nil, err
	}
	return mv, nil
}

// openMove opens into mv what next changes.
func (a *App) openMove(mv *move, next *Generation) (err error) {
	if next.Main.StateDir != a.StateDir().Path() {
		if err := mv.openStateDir(a.ctl != nil, next); err != nil {
			return err
		}
	}
	if a.ctl == nil {
		return nil
	}
	if next.Main.TokenFile != "" {
		if mv.token, err = control.ReadToken(next.Main.TokenFile); err != nil {
			return fmt.Errorf("[main] token_file: %w: needs a restart", err)
		}
	}
	if next.Main.Listen != a.ctl.tcpAddr {
		mv.tcpChanged = true
		if next.Main.Listen != "" {
			if mv.tcp, err = net.Listen("tcp", next.Main.Listen); err != nil {
				return fmt.Errorf("[main] listen: %w: needs a restart", err)
			}
		}
	}
	return nil
}

// openStateDir takes the lock of next's state directory (for a daemon),
// opens it and its control socket.
func (mv *move) openStateDir(daemon bool, next *Generation) (err error) {
	m := next.Main
	if daemon {
		if mv.lock, err = lockStateDir(m); err != nil {
			return fmt.Errorf("[main] statedir %s: %w", m.StateDir, err)
		}
	}
	if mv.sd, err = statedir.Open(m.StateDir, next.Logger); err != nil {
		return fmt.Errorf("[main] statedir %s: %w", m.StateDir, err)
	}
	if daemon {
		if mv.sock, err = control.ListenSocket(control.SocketPath(m.StateDir)); err != nil {
			return fmt.Errorf("[main] statedir %s: %w", m.StateDir, err)
		}
	}
	return nil
}

// abort releases what prepareMove opened, for a reload refused.
func (mv *move) abort() {
	if mv.sock != nil {
		mv.sock.Close()
	}
	if mv.tcp != nil {
		mv.tcp.Close()
	}
	mv.lock.Release()
}

// moveState moves the undelivered notifications, the test states and the
// silences to the new state directory; the caller holds no lock, the
// engine of the old generation is retired.
func (a *App) moveState(mv *move, next *Generation, state map[string]runtime.TestState) {
	old := a.sd
	sd := mv.sd
	for _, p := range old.Pending() {
		if _, err := sd.Put(p.Notification, p.Message); err != nil {
			next.Logger.Error("undelivered notification not moved to the new state directory; it stays in the old", "notification", p.Notification, "err", err)
			continue
		}
		if err := old.Delete(p.Notification, p.ID); err != nil {
			next.Logger.Error("outbox", "err", err)
		}
	}
	for name, st := range state {
		if err := sd.SaveTest(name, st); err != nil {
			next.Logger.Error("cannot save test state", "test", name, "err", err)
		}
	}
	sil, err := a.sil.MoveTo(sd.Path())
	if err != nil {
		next.Logger.Error("silences not moved to the new state directory", "err", err)
	}
	a.mu.Lock()
	a.sd, a.sil = sd, sil
	a.mu.Unlock()
	next.Logger.Info("state directory moved", "from", old.Path(), "to", sd.Path())
	reportFailures(next.Logger, sd)
}

// commitMove puts the control API of the daemon on what mv opened, with
// handlers over the generation now in force, then closes the old socket
// and listener and releases the old lock.
func (a *App) commitMove(mv *move) {
	if a.ctl == nil {
		return
	}
	c := a.ctl
	logger := a.Logger()
	c.token = mv.token
	hs, ht := a.handlers()
	if mv.sock != nil {
		old := c.sock
		c.sock = newEndpoint(mv.sock)
		c.sock.start(hs, logger)
		old.close()
		logger.Info("control socket listening", "path", mv.sock.Addr().String())
	} else {
		c.sock.swap(hs)
	}
	if mv.tcpChanged {
		old := c.tcp
		c.tcp, c.tcpAddr = nil, a.Main().Listen
		if mv.tcp != nil {
			c.tcp = newEndpoint(mv.tcp)
			c.tcp.start(ht, logger)
			logTCP(logger, c.tcp, c.token)
		}
		old.close()
	} else if c.tcp != nil {
		c.tcp.swap(ht)
	}
	if mv.lock != nil {
		a.lock.Release()
		a.lock = mv.lock
	}
}
