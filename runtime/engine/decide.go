package engine

import (
	"fmt"
	"slices"
	"time"

	"github.com/monsta/monsta/runtime"
)

// runOutcome is one run of a test as the page decision sees it.
type runOutcome struct {
	OK  bool
	At  time.Time // the run's slot: the time its streak is kept in
	Now time.Time // when the run ended: the time the holds are asked about
}

// verdict is what one run of a test leads to.
type verdict struct {
	// Pages are the messages to send, in order, each to its Names.
	Pages []Decision
	// Hold is the hold in force after the run; its Reason is "" when none.
	Hold runtime.Hold
	// Record is the test's record after the run. Who is actually paged
	// (the hooks may change it) is added with streak.sent.
	Record streak
	// Flap is what the run did to the test's flapping.
	Flap flapEvent
	// Recovered says the run ended a failure streak, paged or held.
	Recovered bool
}

// judge is the page decision of one run, as a pure function: given the
// test's record before the run (prev, which it leaves alone), the run's
// outcome and the holds, it returns what to page, what holds the test and
// what to record. It counts the run (failures, recover_after's passes,
// the flap history), then asks the holds with the counted record; the
// first that holds wins. While held nothing is paged and a page of level
// 1 or more that was due is owed; when no hold is left and the test still
// fails, the owed levels are paged. An own hold (FLAPPING, RECOVERING)
// lets the flap notices through; a hold from outside (silence,
// maintenance, UNREACHABLE) holds those too.
//
// The holds are one ordered list of runtime.Gates (the engine's is made by
// gateList). A new kind of hold (cluster ownership,
// acknowledgements, actions) is one more Gate there; only a hold that does
// more than keep pages back needs a change here.
func judge(spec *runtime.TestSpec, prev streak, run runOutcome, holds runtime.Gate) verdict {
	s := prev.clone()
	failures, before, since, pending := s.observe(run.OK, run.At, spec.RecoverAfter)
	v := verdict{Flap: s.flap(run.OK, spec.Flap), Recovered: before > 0 && failures == 0}
	if h, ok := holds.Hold(runtime.GateQuery{Test: spec.Name, Now: run.Now, Record: s.record(run.OK, spec)}); ok {
		v.Hold = h
	}
	var dec Decision
	send := false
	if !pending {
		dec, send = escalate(spec, &s, run.OK, run.At, failures, before, since)
	}
	outside := v.Hold.Reason != "" && !v.Hold.Reason.Own()
	if v.Flap == flapStopped && !outside {
		s.owed = false // the flap notice tells the state instead
	}
	dec, send = applyHold(spec, &s, run.OK, dec, send, v.Hold.Reason)
	if prev.held == runtime.HoldUnreachable && v.Hold.Reason == "" && send && dec.State == runtime.StateFail {
		dec.Reason = "was UNREACHABLE until this run: the tests it depends on pass again"
	}
	if !outside {
		dec, send = flapDecision(&s, v.Flap, dec, send)
	}
	if send {
		v.Pages = []Decision{dec}
	}
	v.Record = s
	return v
}

// applyHold applies a hold to the decision escalate made for one run.
// held is the reason in force ("" when none). While held it drops the
// decision and remembers whether a page of level 1 or more was held back
// (a streak that ends while held owes nothing); on the first run after the
// hold that still fails, it adds the notifications of the highest level
// reached, once. It updates s.held and s.owed.
func applyHold(t *runtime.TestSpec, s *streak, ok bool, d Decision, send bool, held runtime.HoldReason) (Decision, bool) {
	if held != "" {
		s.held = held
		if s.failures == 0 {
			s.owed = false // recovered inside the hold: nobody is told
		} else if send && d.State == runtime.StateFail && d.Level >= 1 {
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
	return releaseOwed(t, s, d, send)
}

// releaseOwed pages what a hold that just ended kept back from a test that
// still fails: the notifications of the highest level reached, with those
// of d, the run's own decision.
func releaseOwed(t *runtime.TestSpec, s *streak, d Decision, send bool) (Decision, bool) {
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
			if !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
	}
	return Decision{State: runtime.StateFail, Level: max(reached, d.Level), Names: names}, true
}

// record is what the gates may know of the test: s, counted with a run
// that passed when ok.
func (s *streak) record(ok bool, spec *runtime.TestSpec) runtime.GateRecord {
	r := runtime.GateRecord{OK: ok, Failures: s.failures, Passes: s.passes, RecoverAfter: spec.RecoverAfter, Flapping: s.flapping}
	if s.flapping {
		r.FlapPercent = s.history.percent()
	}
	return r
}

// gateList is the ordered list of holds for t. UNREACHABLE comes first:
// it says most about why a test is quiet. Then the gates of the options
// (silences, maintenance windows). FLAPPING and RECOVERING, the test's own,
// come last, so that leaving them while another gate holds sends nothing.
// A test without parents skips UNREACHABLE, and all such tests share one
// list (t is nil for it).
func gateList(t *testRunner, options runtime.Gate) runtime.Gates {
	own := []runtime.Gate{options, runtime.GateFunc(flapping), runtime.GateFunc(recovering)}
	if t == nil || len(t.parents) == 0 {
		return own
	}
	return append(runtime.Gates{runtime.GateFunc(t.unreachable)}, own...)
}

// unreachable holds t while a test it depends on fails (has failures, so
// also while that one waits out its recover_after).
func (t *testRunner) unreachable(runtime.GateQuery) (runtime.Hold, bool) {
	for _, p := range t.parents {
		p.mu.Lock()
		failing := p.streak.failures > 0
		p.mu.Unlock()
		if failing {
			return runtime.Hold{Reason: runtime.HoldUnreachable, By: p.spec.Name, Detail: "depends on " + p.spec.Name + ", which fails"}, true
		}
	}
	return runtime.Hold{}, false
}

// flapping holds a test while it flaps.
func flapping(q runtime.GateQuery) (runtime.Hold, bool) {
	if !q.Record.Flapping {
		return runtime.Hold{}, false
	}
	return runtime.Hold{Reason: runtime.HoldFlapping, Detail: flapDetail(q.Record.FlapPercent)}, true
}

// recovering holds the recovery of a failing test that passes, until it
// passed recover_after times in a row.
func recovering(q runtime.GateQuery) (runtime.Hold, bool) {
	if !q.Record.OK || q.Record.Failures == 0 {
		return runtime.Hold{}, false
	}
	return runtime.Hold{Reason: runtime.HoldRecovering,
		Detail: fmt.Sprintf("%d of %d passing runs in a row (recover_after)", q.Record.Passes, q.Record.RecoverAfter)}, true
}
