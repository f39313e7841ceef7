// Package sdnotify tells systemd what the daemon is doing (sd_notify(3)):
// ready, reloading, stopping, a status line, and watchdog keep-alives.
// Outside systemd (NOTIFY_SOCKET unset) every call does nothing.
package sdnotify

import (
	"fmt"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
)

// Notifier sends notifications to the service manager.
type Notifier struct {
	watchdog time.Duration
}

// New reads the watchdog settings of the environment (WATCHDOG_USEC and,
// when set, WATCHDOG_PID naming this process).
func New() (*Notifier, error) {
	d, err := daemon.SdWatchdogEnabled(false)
	if err != nil {
		return &Notifier{}, fmt.Errorf("systemd watchdog: %w", err)
	}
	return &Notifier{watchdog: d}, nil
}

// WatchdogEvery returns how often to send keep-alives: half the watchdog
// timeout as sd_watchdog_enabled(3) advises, or 0 without a watchdog.
func (n *Notifier) WatchdogEvery() time.Duration { return n.watchdog / 2 }

func send(state string) error {
	if _, err := daemon.SdNotify(false, state); err != nil {
		return fmt.Errorf("sd_notify: %w", err)
	}
	return nil
}

// Ready says start-up or a reload is complete, with a status line.
func (n *Notifier) Ready(status string) error {
	return send(daemon.SdNotifyReady + "\nSTATUS=" + status)
}

// Reloading says the configuration is being reloaded; Ready follows.
func (n *Notifier) Reloading() error { return send(daemon.SdNotifyReloading) }

// Stopping says the daemon is shutting down.
func (n *Notifier) Stopping() error { return send(daemon.SdNotifyStopping) }

// Status sets the one-line status systemctl status shows.
func (n *Notifier) Status(s string) error { return send("STATUS=" + s) }

// Watchdog sends a keep-alive.
func (n *Notifier) Watchdog() error { return send(daemon.SdNotifyWatchdog) }
