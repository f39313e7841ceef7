package main

import (
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/monsta/monsta/cmd/internal/app"
	"github.com/monsta/monsta/internal/sdnotify"
	"github.com/monsta/monsta/runtime"
	"github.com/monsta/monsta/runtime/statedir"
)

// underSystemd reports whether a service manager waits for our sd_notify
// messages (Type=notify).
func underSystemd() bool { return os.Getenv("NOTIFY_SOCKET") != "" }

// statusLine is the one-line status systemctl status shows.
func statusLine(states map[string]runtime.TestState) string {
	var failing, passing, pending int
	for _, st := range states {
		switch {
		case st.LastRun.IsZero():
			pending++
		case st.LastOK:
			passing++
		default:
			failing++
		}
	}
	s := fmt.Sprintf("%d failing, %d passing", failing, passing)
	if pending > 0 {
		s += fmt.Sprintf(", %d not run yet", pending)
	}
	return s + fmt.Sprintf(" of %d %s", len(states), pluralize(len(states), "test", "tests"))
}

// statusEvery is how often the status line is refreshed under systemd
// when no watchdog asks for keep-alives more often.
const statusEvery = 10 * time.Second

// service reports the daemon's life to systemd: READY=1, RELOADING=1,
// STOPPING=1, a STATUS= line with the failing and passing counts, and
// WATCHDOG=1 each time the scheduler loop beats. The loop only nudges a
// goroutine, so a slow service manager never delays a check, while a stuck
// loop stops the keep-alives.
type service struct {
	n        *sdnotify.Notifier
	watchdog bool
	app      atomic.Pointer[app.App]
	nudge    chan struct{}
	done     chan struct{}
	mu       sync.Mutex
	last     string
}

// newService returns the service reporter; err says why the watchdog
// settings were ignored.
func newService() (*service, error) {
	n, err := sdnotify.New()
	s := &service{n: n, watchdog: n.WatchdogEvery() > 0, nudge: make(chan struct{}, 1), done: make(chan struct{})}
	return s, err
}

// wire hands the app the events and the heartbeat.
func (s *service) wire(ao *app.Options) {
	ao.Events.Ready = func(app.Status) { st, _ := s.line(); s.n.Ready(st) }
	ao.Events.Reloading = func() { s.n.Reloading() }
	ao.Events.Stopping = func() { s.n.Stopping() }
	switch {
	case s.watchdog:
		ao.Heartbeat, ao.HeartbeatEvery = s.beat, s.n.WatchdogEvery()
	case underSystemd():
		ao.Heartbeat, ao.HeartbeatEvery = s.beat, statusEvery
	}
}

// start begins reporting for a, until stop.
func (s *service) start(a *app.App) {
	s.app.Store(a)
	go func() {
		for {
			select {
			case <-s.nudge:
				if s.watchdog {
					s.n.Watchdog()
				}
				if st, changed := s.line(); changed {
					s.n.Status(st)
				}
			case <-s.done:
				return
			}
		}
	}()
}

func (s *service) stop() { close(s.done) }

// beat is the scheduler loop's heartbeat.
func (s *service) beat() {
	select {
	case s.nudge <- struct{}{}:
	default:
	}
}

// line returns the status line now ("" before the engine runs) and
// whether it changed since the last one.
func (s *service) line() (string, bool) {
	a := s.app.Load()
	if a == nil || a.Engine() == nil {
		return "", false
	}
	st := statusLine(a.Engine().State())
	if risk := statedir.AtRiskLine(a.StateDir().AtRisk()); risk != "" {
		st = risk + "; " + st
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	changed := st != s.last
	s.last = st
	return st, changed
}
