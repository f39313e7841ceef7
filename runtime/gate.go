package runtime

import "time"

// HoldReason says why a test's notifications are held back.
type HoldReason string

// The reasons a notification can be held. Other gates add their own.
const (
	HoldSilenced    HoldReason = "SILENCED"
	HoldMaintenance HoldReason = "MAINTENANCE"
	// HoldUnreachable: a test it depends on (or the uplink) fails.
	HoldUnreachable HoldReason = "UNREACHABLE"
	// HoldFlapping: the test changes state too often (flap_detection).
	HoldFlapping HoldReason = "FLAPPING"
	// HoldRecovering: a failing test passes, but not yet recover_after
	// times in a row; its recovery is held until it does.
	HoldRecovering HoldReason = "RECOVERING"
)

// Own tells whether the hold is about the test's own record (FLAPPING,
// RECOVERING) rather than something outside it (a silence, a window, a
// failing parent). An own hold lets the test's flap notices through.
func (r HoldReason) Own() bool { return r == HoldFlapping || r == HoldRecovering }

// Hold is one gate's answer that a test's notifications are held.
type Hold struct {
	Reason HoldReason `json:"reason"`
	By     string     `json:"by,omitempty"`     // what holds it: a silence id, a window name
	Until  time.Time  `json:"until,omitzero"`   // when it ends, when known
	Detail string     `json:"detail,omitempty"` // free text: a silence's reason
}

// GateQuery is what a gate is asked about: one test at one time. A gate
// may be asked for display (the status page) as well as after a run, so it
// must not treat a query as an event.
type GateQuery struct {
	Test string // without the Test_ prefix
	Now  time.Time
	// Record is the test's own record, counted with the run being decided
	// (or as it stands, for display). Silences and windows ignore it; the
	// engine's FLAPPING and RECOVERING gates read it.
	Record GateRecord
}

// GateRecord is what a gate may know of a test's own history.
type GateRecord struct {
	OK           bool // the last run passed
	Failures     int  // failing runs in a row, not yet ended by a recovery
	Passes       int  // passing runs in a row of a test still failing
	RecoverAfter int  // passing runs in a row that end a failure streak
	Flapping     bool
	FlapPercent  float64 // weighted percent state change (flap detection)
}

// Gate decides whether a test's notifications are held at a time. While a
// test is held its checks still run and its failure count still changes,
// but nothing is sent, not even level 0. When the hold ends and the test
// still fails, the levels it reached are paged; a test that recovers
// while held tells nobody. Silences, maintenance windows, unreachable
// dependencies, flapping and recover_after are all gates, asked in one
// ordered list by the engine.
type Gate interface {
	Hold(q GateQuery) (Hold, bool)
}

// Gates asks each gate in turn; the first that holds wins. A nil entry is
// skipped.
type Gates []Gate

// Hold implements Gate.
func (g Gates) Hold(q GateQuery) (Hold, bool) {
	for _, x := range g {
		if x == nil {
			continue
		}
		if h, ok := x.Hold(q); ok {
			return h, true
		}
	}
	return Hold{}, false
}

// GateFunc adapts a function to a Gate.
type GateFunc func(q GateQuery) (Hold, bool)

// Hold implements Gate.
func (f GateFunc) Hold(q GateQuery) (Hold, bool) { return f(q) }
