package engine

import (
	"time"

	"github.com/monsta/monsta/runtime"
)

// TestStatus is a snapshot of one test for the control API, the status
// page and the metrics.
type TestStatus struct {
	Name     string
	Interval time.Duration
	Failures int
	Since    time.Time // first failure of the current streak; zero when passing
	LastRun  time.Time // zero: not run yet (PENDING)
	LastOK   bool
	Next     time.Time
	Duration time.Duration         // of the last run
	Checks   []runtime.CheckResult // of the last run; nil before it
	Held     *runtime.Hold         // the hold in force now, if any
	// Shard is the test's role under [main] shard: ShardOwn (also when
	// nothing is sharded), ShardDependency or ShardOut.
	Shard runtime.ShardRole
}

// Status returns a snapshot of every test, in configuration order. It is
// safe to call while Run is going.
func (e *Engine) Status() []TestStatus {
	now := e.clock.Now()
	out := make([]TestStatus, len(e.tests))
	for i, t := range e.tests {
		out[i] = e.status(t, now)
	}
	return out
}

// TestStatus returns the snapshot of one test.
func (e *Engine) TestStatus(name string) (TestStatus, bool) {
	for _, t := range e.tests {
		if t.spec.Name == name {
			return e.status(t, e.clock.Now()), true
		}
	}
	return TestStatus{}, false
}

func (e *Engine) status(t *testRunner, now time.Time) TestStatus {
	t.mu.Lock()
	st := TestStatus{
		Name: t.spec.Name, Interval: t.spec.Interval,
		Failures: t.streak.failures, Since: t.streak.since,
		LastRun: t.lastRun, LastOK: t.lastOK, Duration: t.lastDur, Checks: t.lastRes,
		Shard: t.shard,
	}
	t.mu.Unlock()
	if n := t.nextPub.Load(); n != 0 {
		st.Next = time.Unix(0, n)
	}
	if h, ok := e.hold(t, now); ok {
		st.Held = &h
	}
	return st
}

// Clock returns the engine's clock.
func (e *Engine) Clock() runtime.Clock { return e.clock }
