// Package fakeclock is a runtime.Clock for tests whose time moves only when
// the test says so, so that schedules of minutes run in milliseconds.
package fakeclock

import (
	"sync"
	"time"

	"github.com/monsta/monsta/runtime"
)

// Clock is a runtime.Clock whose time moves only by Advance.
type Clock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*timer
}

// New returns a clock that reads start.
func New(start time.Time) *Clock { return &Clock{now: start} }

// Now implements runtime.Clock.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// NewTimer implements runtime.Clock.
func (c *Clock) NewTimer(d time.Duration) runtime.Timer {
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
	defer t.clk.mu.Unlock()
	t.when, t.active = t.clk.now.Add(d), true
	select {
	case <-t.c:
	default:
	}
}
