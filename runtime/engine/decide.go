package engine

import (
	"fmt"
	"slices"
	"strings"
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
		s.owed, s.owedBy = false, "" // the flap notice tells the state instead
	}
	v.Pages = applyHold(spec, &s, run.OK, dec, send, v.Hold)
	if prev.held == runtime.HoldUnreachable && v.Hold.Reason == "" {
		for i, p := range v.Pages {
			if p.State == runtime.StateFail && p.Reason == "" {
				v.Pages[i].Reason = "was UNREACHABLE until this run: the tests it depends on pass again"
			}
		}
	}
	if !outside && v.Flap != flapSame {
		v.Pages = flapPages(&s, v.Flap, v.Pages)
	}
	v.Record = s
	return v
}

// flapPages applies a change of flapping to the run's pages: its notice
// joins the last page, or is a page of its own.
func flapPages(s *streak, ev flapEvent, pages []Decision) []Decision {
	var last Decision
	send := len(pages) > 0
	if send {
		last, pages = pages[len(pages)-1], pages[:len(pages)-1]
	}
	if last, send = flapDecision(s, ev, last, send); send {
		pages = append(pages, last)
	}
	return pages
}

// applyHold applies the hold h (its Reason is "" when none) to the
// decision escalate made for one run, and returns the pages. While held it
// pages nothing and remembers whether, and by what, a page of level 1 or
// more was held back (a streak that ends while held owes nothing); on the
// first run after the hold that still fails, it pages the ladder that was
// held back (releaseLadder). It updates s.held, s.owed and s.owedBy.
func applyHold(t *runtime.TestSpec, s *streak, ok bool, d Decision, send bool, h runtime.Hold) []Decision {
	if h.Reason != "" {
		s.held = h.Reason
		if s.failures == 0 {
			s.owed, s.owedBy = false, "" // recovered inside the hold: nobody is told
		} else if send && d.State == runtime.StateFail && d.Level >= 1 {
			s.owed, s.owedBy = true, holdName(h)
		}
		return nil
	}
	s.held = ""
	owed, by := s.owed && !ok, s.owedBy
	s.owed, s.owedBy = false, ""
	if owed {
		if pages := releaseLadder(t, s, d, send, by); len(pages) > 0 {
			return pages
		}
	}
	if !send {
		return nil
	}
	return []Decision{d}
}

// releaseLadder pages what a hold that just ended kept back from a test
// that still fails, as it would have been paged: every level from 1 to the
// highest one reached, lowest first, each to those of its notifications
// not yet paged in this streak, and each saying since when the test fails
// and what held it (by, a holdName). The names of d, the run's own decision, that no
// level has join the last page. It returns nil when every level reached
// was paged already.
func releaseLadder(t *runtime.TestSpec, s *streak, d Decision, send bool, by string) []Decision {
	levels := slices.Clone(t.Notify)
	slices.SortStableFunc(levels, func(a, b runtime.Level) int { return a.Level - b.Level })
	reason := "failing since " + s.since.UTC().Format("2006-01-02 15:04:05 UTC") + " (" + by + " until now)"
	outage := runtime.Outage{Since: s.since, Failures: s.failures}
	paged := slices.Clone(s.notified)
	var pages []Decision
	for _, lv := range levels {
		if lv.Level < 1 || lv.Level > s.failures {
			continue
		}
		var names []string
		for _, n := range lv.Names {
			if !slices.Contains(paged, n) {
				names, paged = append(names, n), append(paged, n)
			}
		}
		if len(names) > 0 {
			pages = append(pages, Decision{State: runtime.StateFail, Level: lv.Level, Names: names, Reason: reason, Outage: outage})
		}
	}
	if len(pages) == 0 {
		return nil
	}
	if send {
		last := &pages[len(pages)-1]
		for _, n := range d.Names {
			if !slices.Contains(paged, n) {
				last.Names, paged = append(last.Names, n), append(paged, n)
			}
		}
	}
	return pages
}

// holdName names a hold for the page that releases it: "held by silence
// 3f2a", "held by maintenance window nightly", "UNREACHABLE behind switch".
func holdName(h runtime.Hold) string {
	var s string
	switch h.Reason {
	case runtime.HoldSilenced:
		s = "held by silence " + h.By
	case runtime.HoldMaintenance:
		s = "held by maintenance window " + h.By
	case runtime.HoldUnreachable:
		s = "UNREACHABLE behind " + h.By
	default:
		s = "held as " + string(h.Reason) + " " + h.By
	}
	return strings.TrimSpace(s)
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
