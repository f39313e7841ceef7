package runtime

import "time"

// Clock is the scheduler's source of time; tests inject a fake one.
type Clock interface {
	Now() time.Time
	// NewTimer returns a stopped-or-running timer that fires after d.
	NewTimer(d time.Duration) Timer
}

// Timer is the part of *time.Timer the scheduler uses. It is an alias of
// an unnamed interface so that a fake clock can implement Clock without
// importing runtime (internal/testkit/fakeclock, which runtime's tests use too).
type Timer = interface {
	C() <-chan time.Time
	Reset(d time.Duration)
	Stop()
}

// RealClock is the wall clock.
type RealClock struct{}

// Now implements Clock.
func (RealClock) Now() time.Time { return time.Now() }

// NewTimer implements Clock.
func (RealClock) NewTimer(d time.Duration) Timer { return &realTimer{time.NewTimer(d)} }

type realTimer struct{ t *time.Timer }

func (r *realTimer) C() <-chan time.Time   { return r.t.C }
func (r *realTimer) Reset(d time.Duration) { r.t.Reset(d) }
func (r *realTimer) Stop()                 { r.t.Stop() }
