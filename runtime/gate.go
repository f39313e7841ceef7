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
)

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
}

// Gate decides whether a test's notifications are held at a time. While a
// test is held its checks still run and its failure count still changes,
// but nothing is sent, not even level 0. When the hold ends and the test
// still fails, the level it reached is paged once; a test that recovers
// while held tells nobody. Silences, maintenance windows, unreachable
// dependencies and flapping are all gates.
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

// applyHold applies a hold to the decision decide made for one run. held
// is the reason in force ("" when none). While held it drops the decision
// and remembers whether a page of level 1 or more was held back; on the
// first run after the hold that still fails, it adds the notifications of
// the highest level reached, once. It updates s.held and s.owed.
func applyHold(t *TestSpec, s *streak, ok bool, d Decision, send bool, held HoldReason) (Decision, bool) {
	if ok && s.failures > 0 {
		// Passing, but not yet recovered (recover_after): nothing is sent
		// and whatever is owed stays owed.
		s.held = held
		return Decision{}, false
	}
	if held != "" {
		s.held = held
		if ok {
			s.owed = false // recovered inside the hold: nobody is told
		} else if send && d.State == StateFail && d.Level >= 1 {
			s.owed = true
		}
		return Decision{}, false
	}
	s.held = ""
	if ok || !s.owed {
		s.owed = false
		return d, send
	}
	s.owed = false
	reached := 0
	for _, lv := range t.Notify {
		if lv.Level >= 1 && lv.Level <= s.failures {
			reached = lv.Level
		}
	}
	if reached == 0 {
		return d, send
	}
	var names []string
	for _, lv := range t.Notify {
		if lv.Level == reached {
			names = append(names, lv.Names...)
		}
	}
	if send {
		for _, n := range d.Names {
			if !contains(names, n) {
				names = append(names, n)
			}
		}
	}
	return Decision{State: StateFail, Level: max(reached, d.Level), Names: names}, true
}
