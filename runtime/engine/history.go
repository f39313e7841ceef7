package engine

import (
	"strings"
	"time"
	"unicode/utf8"

	"github.com/monsta/monsta/runtime"
	"github.com/monsta/monsta/runtime/history"
)

// maxHistoryError is the most of an error text the history keeps (bytes):
// enough to tell one failure from another, not a server's whole answer.
const maxHistoryError = 512

// histMark is what the engine last told the history about a test: its
// outcome (Down/Up) and the hold in force (HoldOn/HoldOff). The test's
// run owns it: only the goroutine that holds t.running touches it.
type histMark struct {
	known bool // an Up or Down was recorded (by this engine or, at a reload, its predecessor)
	ok    bool
	hold  runtime.Hold // Reason "" when none
	// byUnknown: hold comes from a saved state, which keeps the reason but
	// not who held it; the first run compares the reason alone.
	byUnknown bool
}

// carry sets the mark from a predecessor's state at a reload: the history
// heard of that outcome and hold already, so the first run records only
// what changed. Without one (a start), the first run records its outcome.
func (m *histMark) carry(st runtime.TestState) {
	*m = histMark{known: !st.LastRun.IsZero(), ok: st.LastOK, hold: runtime.Hold{Reason: st.Held}, byUnknown: true}
}

// holdKind is a hold reason as the history names it (history.HoldSilence, …).
func holdKind(r runtime.HoldReason) string {
	switch r {
	case runtime.HoldSilenced:
		return history.HoldSilence
	case runtime.HoldMaintenance:
		return history.HoldMaintenance
	case runtime.HoldUnreachable:
		return history.HoldUnreachable
	case runtime.HoldFlapping:
		return history.HoldFlapping
	case runtime.HoldRecovering:
		return history.HoldRecovering
	}
	return strings.ToLower(string(r))
}

// recordChanges tells the history what a run changed: Down or Up when the
// outcome differs from the last one recorded (or none was), HoldOff and
// HoldOn when the hold did. It is called after the decision and before
// the pages, so the ledger reads in the order things happened.
func (e *Engine) recordChanges(t *testRunner, r runtime.TestResult, hold runtime.Hold, at time.Time) {
	if e.history == nil {
		return
	}
	m := &t.hist
	if !m.known || m.ok != r.OK {
		ev := history.Event{Test: t.spec.Name, At: at, Kind: history.Up}
		if !r.OK {
			ev.Kind, ev.Error = history.Down, firstError(r.Checks)
		}
		e.history.Event(ev)
		m.known, m.ok = true, r.OK
	}
	same := hold.Reason == m.hold.Reason && (m.byUnknown || hold.By == m.hold.By)
	if !same {
		if m.hold.Reason != "" {
			e.history.Event(holdEvent(t.spec.Name, at, history.HoldOff, m.hold))
		}
		if hold.Reason != "" {
			e.history.Event(holdEvent(t.spec.Name, at, history.HoldOn, hold))
		}
	}
	if !same || m.byUnknown {
		m.hold, m.byUnknown = runtime.Hold{Reason: hold.Reason, By: hold.By}, false
	}
}

// holdEvent is a HoldOn or HoldOff ledger entry for h.
func holdEvent(test string, at time.Time, k history.Kind, h runtime.Hold) history.Event {
	return history.Event{Test: test, At: at, Kind: k, Hold: holdKind(h.Reason), HoldName: h.By}
}

// recordPage tells the history who a page of dec was queued for.
func (e *Engine) recordPage(t *testRunner, dec Decision, names []string, at time.Time) {
	if e.history == nil || len(names) == 0 {
		return
	}
	level := dec.Level
	if dec.State == runtime.StateRecovered {
		level = -1
	}
	e.history.Event(history.Event{Test: t.spec.Name, At: at, Kind: history.Page, Paged: names, Level: level})
}

// recordRun tells the history one run: its outcome, its duration and each
// check's (with the first error, as the results carry it: redacted).
func (e *Engine) recordRun(r runtime.TestResult, start, end time.Time) {
	if e.history == nil {
		return
	}
	run := history.Run{Test: r.Test, At: end, OK: r.OK, Duration: end.Sub(start), Checks: make([]history.CheckRun, len(r.Checks))}
	for i, c := range r.Checks {
		run.Checks[i] = history.CheckRun{Check: c.Check, OK: c.OK, Duration: c.Duration}
		if !c.OK && len(c.Errors) > 0 {
			run.Checks[i].Error = clip(c.Errors[0])
		}
	}
	e.history.Result(run)
}

// firstError is a failed run's first error, "check: text", clipped.
func firstError(checks []runtime.CheckResult) string {
	for _, c := range checks {
		if !c.OK && len(c.Errors) > 0 {
			return clip(c.Check + ": " + c.Errors[0])
		}
	}
	for _, c := range checks {
		if !c.OK {
			return clip(c.Check + ": failed")
		}
	}
	return ""
}

// clip cuts s to maxHistoryError bytes, on a rune boundary.
func clip(s string) string {
	if len(s) <= maxHistoryError {
		return s
	}
	cut := maxHistoryError - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
