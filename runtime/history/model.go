// Package history keeps what happened to every test over time, beside the
// paging path and never on it: a ledger of state changes exact to the run,
// aggregates of runs and durations in time buckets, and the last results
// of each test in a ring, in one SQLite database (modernc.org/sqlite, WAL,
// one batching writer) in the state directory. Uptime and SLA are computed
// from the ledger and the sessions in which monsta was running, never from
// samples.
//
// This file is the model every part shares: the engine records through a
// Recorder, the store keeps it, the SLA arithmetic (sla.go) reads Events
// and Sessions, and the status page, API and command line read through a
// Reader.
package history

import (
	"time"
)

// Kind is what a ledger Event records.
type Kind uint8

// The kinds of ledger events. Up and Down are the test's own state; HoldOn
// and HoldOff bracket a hold (Hold names which); Page records who was paged.
const (
	// Down: the test failed after passing, or its first run failed. Error
	// is its first error.
	Down Kind = iota + 1
	// Up: the test passed after failing, or its first run passed.
	Up
	// HoldOn: a hold began (Hold, HoldName).
	HoldOn
	// HoldOff: that hold ended.
	HoldOff
	// Page: notifications were sent for the test (Paged, Level).
	Page
)

// String returns the kind's name as stored and shown ("down", "up", …).
func (k Kind) String() string {
	switch k {
	case Down:
		return "down"
	case Up:
		return "up"
	case HoldOn:
		return "hold_on"
	case HoldOff:
		return "hold_off"
	case Page:
		return "page"
	}
	return "unknown"
}

// The holds a HoldOn/HoldOff event names, as the engine's gates report
// them (lower case).
const (
	HoldSilence     = "silence"
	HoldMaintenance = "maintenance"
	HoldUnreachable = "unreachable"
	HoldFlapping    = "flapping"
	HoldRecovering  = "recovering"
)

// Event is one entry of a test's ledger.
type Event struct {
	Test     string
	At       time.Time
	Kind     Kind
	Error    string   // Down: the first error of the run (redacted, clipped)
	Hold     string   // HoldOn, HoldOff: HoldSilence, HoldMaintenance, …
	HoldName string   // HoldOn, HoldOff: the silence's id or the window's name
	Paged    []string // Page: the notifications sent (without Notification_)
	Level    int      // Page: the escalation level; -1 for a recovery
}

// Session is a span in which monsta was running and recording. Between
// sessions there is no data: a stop, a crash, a host down. End is the last
// moment known alive (the writer marks it as it flushes); Clean says the
// session ended by a stop rather than a crash.
type Session struct {
	Start, End time.Time
	Clean      bool
}

// CheckRun is one check's part of a Run.
type CheckRun struct {
	Check    string
	OK       bool
	Duration time.Duration
	Error    string // first error, redacted and clipped; "" when OK
}

// Run is one run of a test, as the engine decided it.
type Run struct {
	Test     string
	At       time.Time // when the run ended
	OK       bool
	Duration time.Duration // the run, all its checks
	Checks   []CheckRun
}

// Bucket aggregates the runs of one test (Check "") or one check of it in
// [Start, Start+Step).
type Bucket struct {
	Start          time.Time
	Step           time.Duration
	Runs, Failures int
	Min, Mean, Max time.Duration
	P95            time.Duration
}

// Recorder is what the engine tells the history. Its methods never block
// and never fail: a full queue drops detail and counts it.
type Recorder interface {
	// Result records one run of a test.
	Result(r Run)
	// Event records one ledger entry.
	Event(e Event)
}

// Reader answers what the status page, the API and the command line ask.
// Times are half-open windows [from, to).
type Reader interface {
	// Tests returns the names of the tests the history knows.
	Tests() ([]string, error)
	// Events returns test's ledger in the window, oldest first, with the
	// last event before from (if any) first, so that the state at from is
	// known.
	Events(test string, from, to time.Time) ([]Event, error)
	// Sessions returns the sessions that overlap the window, oldest first;
	// the one under way ends at now.
	Sessions(from, to time.Time) ([]Session, error)
	// Buckets returns the aggregates of test (check "": the test as a
	// whole) in the window at step, oldest first; the store picks the
	// finest resolution it kept that is no finer than step.
	Buckets(test, check string, from, to time.Time, step time.Duration) ([]Bucket, error)
	// Recent returns up to n of test's last runs, newest first.
	Recent(test string, n int) ([]Run, error)
}
