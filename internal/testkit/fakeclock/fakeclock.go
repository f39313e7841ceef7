// Package fakeclock is a runtime.Clock for tests whose time moves only when
// the test says so, so that schedules of minutes run in milliseconds.
//
// It does not import runtime (runtime.Timer is an alias of an unnamed
// interface), so runtime's own tests use it too.
package fakeclock

import (
	"sync"
	"time"
)

// Clock is a runtime.Clock whose time moves only by Advance and AdvanceTo.
type Clock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*timer
	resets chan time.Time // nil: Reset is not announced
}

// New returns a clock that reads start.
func New(start time.Time) *Clock { return &Clock{now: start} }

// AnnounceResets makes every later timer Reset send the time the timer
// will fire on the returned channel, which holds n; a Reset waits while
// it is full. A scheduler that resets its timer when it has nothing left
// to do thus tells the test it is idle.
func (c *Clock) AnnounceResets(n int) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.resets = make(chan time.Time, n)
	return c.resets
}

// Now implements runtime.Clock.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// NewTimer implements runtime.Clock.
func (c *Clock) NewTimer(d time.Duration) interface {
	C() <-chan time.Time
	Reset(d time.Duration)
	Stop()
} {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &timer{clk: c, c: make(chan time.Time, 1), when: c.now.Add(d), active: true}
	c.timers = append(c.timers, t)
	return t
}

// Advance moves time by d and fires the timers due by then.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	c.fire()
}

// AdvanceTo moves time to w, unless it is already past, and fires the
// timers due by then.
func (c *Clock) AdvanceTo(w time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if w.After(c.now) {
		c.now = w
	}
	c.fire()
}

// fire fires the timers due by now; the caller holds c.mu.
func (c *Clock) fire() {
	for _, t := range c.timers {
		if t.active && !t.when.After(c.now) {
			t.active = false
			select {
			case t.c <- c.now:
			default:
			}
		}
	}
}

type timer struct {
	clk    *Clock
	c      chan time.Time
	when   time.Time
	active bool
}

func (t *timer) C() <-chan time.Time { return t.c }

func (t *timer) Stop() {
	t.clk.mu.Lock()
	t.active = false
	t.clk.mu.Unlock()
}

func (t *timer) Reset(d time.Duration) {
	t.clk.mu.Lock()
	t.when, t.active = t.clk.now.Add(d), true
	select {
	case <-t.c:
	default:
	}
	w, resets := t.when, t.clk.resets
	t.clk.mu.Unlock()
	if resets != nil {
		resets <- w
	}
}
