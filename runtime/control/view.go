package control

import (
	"math"
	"slices"
	"time"

	"github.com/monsta/monsta/runtime"
	"github.com/monsta/monsta/runtime/engine"
)

// The states a test is shown in.
const (
	StateOK      = "OK"
	StateFail    = "FAIL"
	StatePending = "PENDING" // not run yet
	// StateOutOfShard is a test that another shard runs ([main] shard).
	StateOutOfShard = "OUT_OF_SHARD"
)

// Test is one test as the API shows it.
type Test struct {
	Name string `json:"name"`
	// State is OK, FAIL, PENDING, or the reason its notifications are held
	// (SILENCED, MAINTENANCE, …).
	State           string        `json:"state"`
	OK              bool          `json:"ok"` // the last run passed
	Failures        int           `json:"failures"`
	Since           time.Time     `json:"since,omitzero"` // failing since
	LastRun         time.Time     `json:"last_run,omitzero"`
	NextRun         time.Time     `json:"next_run,omitzero"`
	DurationSeconds float64       `json:"duration_seconds"`
	IntervalSeconds float64       `json:"interval_seconds"`
	Hold            *runtime.Hold `json:"hold,omitempty"`
	// Shard is "out" for a test another shard runs, "dependency" for one
	// this shard runs only because its tests depend on it (it never
	// notifies here), and empty otherwise.
	Shard  string  `json:"shard,omitempty"`
	Checks []Check `json:"checks"`
}

// Check is one check's last result.
type Check struct {
	Name            string             `json:"name"`
	Type            string             `json:"type"`
	OK              bool               `json:"ok"`
	Errors          []string           `json:"errors,omitempty"`
	Stats           map[string]float64 `json:"stats,omitempty"`
	DurationSeconds float64            `json:"duration_seconds"`
}

// FirstError is the first error of the last run, or "".
func (t *Test) FirstError() string {
	for _, c := range t.Checks {
		if len(c.Errors) > 0 {
			return c.Name + ": " + c.Errors[0]
		}
	}
	return ""
}

// Failing tells whether the test is failing and nobody holds its pages.
func (t *Test) Failing() bool { return t.State == StateFail }

// NewTest turns an engine snapshot into the API's view.
func NewTest(st engine.TestStatus) Test {
	t := Test{
		Name: st.Name, OK: st.LastOK, Failures: st.Failures, Since: st.Since,
		LastRun: st.LastRun, NextRun: st.Next,
		DurationSeconds: st.Duration.Seconds(), IntervalSeconds: st.Interval.Seconds(),
		Hold: st.Held, Shard: string(st.Shard), Checks: make([]Check, 0, len(st.Checks)),
	}
	switch {
	case st.Shard == runtime.ShardOut:
		t.State = StateOutOfShard
	case st.Held != nil:
		t.State = string(st.Held.Reason)
	case st.LastRun.IsZero():
		t.State = StatePending
	case st.LastOK:
		t.State = StateOK
	default:
		t.State = StateFail
	}
	for _, c := range st.Checks {
		var stats map[string]float64
		for k, v := range c.Stats {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				continue // JSON cannot carry them
			}
			if stats == nil {
				stats = make(map[string]float64, len(c.Stats))
			}
			stats[k] = v
		}
		t.Checks = append(t.Checks, Check{Name: c.Check, Type: c.Type, OK: c.OK, Errors: c.Errors, Stats: stats, DurationSeconds: c.Duration.Seconds()})
	}
	return t
}

// rank orders states for people: failing first, then silenced, in
// maintenance, other holds, pending and passing.
func rank(t *Test) int {
	switch t.State {
	case StateFail:
		return 0
	case string(runtime.HoldSilenced):
		return 1
	case string(runtime.HoldMaintenance):
		return 2
	case StateOK:
		return 5
	case StatePending:
		return 4
	}
	return 3
}

// SortForPeople orders tests failing first (longest failing first), then
// silenced, in maintenance, other holds, pending and passing; by name
// within a group.
func SortForPeople(tests []Test) {
	slices.SortStableFunc(tests, func(a, b Test) int {
		if ra, rb := rank(&a), rank(&b); ra != rb {
			return ra - rb
		}
		if a.State == StateFail {
			if c := a.Since.Compare(b.Since); c != 0 {
				return c
			}
		}
		if a.Name < b.Name {
			return -1
		}
		if a.Name > b.Name {
			return 1
		}
		return 0
	})
}
