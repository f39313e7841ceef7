package history

import (
	"math"
	"slices"
	"time"
)

// This file is the ledger arithmetic: uptime, outages and error budgets
// computed from a test's Events and the Sessions in which monsta ran, as
// pure functions. The rules, which README.md states for users:
//
//   - Time counts only inside sessions; outside them it is NoData, never up.
//     Before a test's first Up or Down nothing is known of it: NoData too.
//   - A test is down from a Down event to the next Up. Silences, FLAPPING
//     and RECOVERING do not change that: a silenced outage is still an
//     outage, a silence only holds pages.
//   - Maintenance time is excluded (neither up nor down) by default, or
//     counts as up or down by Accounting.Maintenance. UNREACHABLE time (a
//     parent failed) is its own column, excluded from uptime. Where both
//     hold, maintenance wins.
//   - Uptime = Up / (Up + Down). An outage that crosses the window's edge
//     counts only inside the window.
//   - An event earlier than the one before it (a clock step back) is
//     clamped to the earlier time: no duration is ever negative.
//   - A gap between sessions inside an outage (monsta stopped or crashed
//     while the test was down) is NoData, and the outage goes on through
//     it: seen down before and after the gap, it is one outage whose
//     Duration counts only what was seen. Up or down carries over a gap;
//     holds do not: a new process reports the holds in force at its first
//     run, so every session starts with none (a crash never leaves a
//     maintenance window open for ever).

// The values of Accounting.Maintenance.
const (
	// MaintenanceExclude leaves maintenance time out of uptime (the default).
	MaintenanceExclude = "exclude"
	// MaintenanceUp counts maintenance time as up.
	MaintenanceUp = "up"
	// MaintenanceDown counts maintenance time as down.
	MaintenanceDown = "down"
)

// Accounting says how maintenance counts and in which timezone days and
// months fall.
type Accounting struct {
	Maintenance string         // "exclude" (default, ""), "up" or "down"; any other value: exclude
	Location    *time.Location // days and months of the report; nil: UTC
}

// location is the accounting's timezone, UTC when unset.
func (a Accounting) location() *time.Location {
	if a.Location == nil {
		return time.UTC
	}
	return a.Location
}

// Outage is one span in which a test was down, from its Down to its Up.
type Outage struct {
	Start, End time.Time // End zero while ongoing
	Ongoing    bool
	Duration   time.Duration // counted downtime within the window
	FirstError string
	Paged      []string // everyone paged during it
	Held       []string // holds it met: "silence x", "maintenance y", …
}

// Report is one test's uptime over [From, To). Up, Down, Maintenance,
// Unreachable and NoData add up to To-From. With Accounting.Maintenance
// "up" or "down", maintenance time is in Up or Down and Maintenance is
// zero: Maintenance is the time excluded as maintenance.
type Report struct {
	Test     string
	From, To time.Time
	Columns
	Uptime float64 // percent of counted time; -1: nothing counted
	// Outages counts the outages with counted downtime in the window (one
	// wholly inside excluded maintenance, UNREACHABLE or NoData does not
	// count). TotalDown and Longest are over their Durations; with
	// maintenance counted as down, Down can exceed TotalDown.
	Outages int
	// MTTR is the mean Duration of the outages that ended inside the
	// window (0: none did); MTBF is Up / Outages (0: no outage).
	TotalDown, Longest, MTTR, MTBF time.Duration
}

// Day is one calendar day of a test in the accounting's timezone.
type Day struct {
	Start time.Time
	// End is the next day's Start, or for the last day the end Days was
	// given; End-Start is 23 or 25 hours on a day the clocks change.
	End    time.Time
	Uptime float64 // percent; -1: no data that day
	Columns
	Outages []Outage // those overlapping the day, Duration counted within it
}

// Compute is test's uptime report over [from, to) from its events (oldest
// first, with the last one before from first) and the sessions overlapping
// the window. An empty or reversed window reports nothing (Uptime -1).
func Compute(test string, events []Event, sessions []Session, from, to time.Time, acc Accounting) Report {
	r := Report{Test: test, From: from, To: to, Uptime: -1}
	if !from.Before(to) {
		return r
	}
	l := newLedger(acc, false)
	l.sweep(events, sessions, from, to, func(a, b time.Time, c column, _ int) {
		r.add(c, b.Sub(a))
	})
	for _, o := range l.outages {
		l.sum.fold(o, to)
	}
	r.Uptime = uptime(r.Up, r.Down)
	r.summarize(l.sum)
	return r
}

// OutagesIn lists the outages that overlap [from, to), oldest first, with
// their Durations counted inside the window as the default accounting
// (maintenance excluded) counts them.
func OutagesIn(events []Event, sessions []Session, from, to time.Time) []Outage {
	return Accounting{}.OutagesIn(events, sessions, from, to)
}

// OutagesIn lists the outages that overlap [from, to) as the function
// OutagesIn does, with their Durations counted by a's maintenance rule.
func (a Accounting) OutagesIn(events []Event, sessions []Session, from, to time.Time) []Outage {
	if !from.Before(to) {
		return nil
	}
	l := newLedger(a, true)
	l.sweep(events, sessions, from, to, func(time.Time, time.Time, column, int) {})
	var out []Outage
	for _, o := range l.outages {
		if overlaps(o, from, to) {
			out = append(out, o)
		}
	}
	return out
}

// Days is n calendar days ending with end's day, oldest first, in the
// accounting's timezone; the last day ends at end (the days before it at
// the next midnight, 23 or 25 hours on a day the clocks change).
func Days(events []Event, sessions []Session, end time.Time, n int, acc Accounting) []Day {
	if n <= 0 {
		return nil
	}
	days := calendar(end, n, acc.location())
	l := newLedger(acc, true)
	var notes []dayNote
	d := 0
	l.sweep(events, sessions, days[0].Start, end, func(a, b time.Time, c column, o int) {
		for a.Before(b) {
			for !a.Before(days[d].End) {
				d++
			}
			cut := minTime(b, days[d].End)
			days[d].add(c, cut.Sub(a))
			if o >= 0 {
				notes = note(notes, d, o, c, cut.Sub(a))
			}
			a = cut
		}
	})
	notes = noteInstants(notes, l.outages, days)
	fillDays(days, l.outages, notes)
	return days
}

// Budget is the error budget of target (percent, e.g. 99.9) over r's
// window: allowed is (100-target) % of the whole window [From, To),
// rounded to the millisecond, so that a report from a month's start to
// its end gives the month's budget even while the month runs (NoData and
// excluded time do not shrink it); used is r.Down; left is allowed-used,
// negative once the budget is overspent. A target of 100 or more (or NaN)
// allows nothing, one of 0 or less the whole window.
func Budget(target float64, r Report) (allowed, used, left time.Duration) {
	window := r.To.Sub(r.From)
	if window < 0 {
		window = 0
	}
	share := 0.0
	switch {
	case math.IsNaN(target) || target >= 100:
	case target <= 0:
		share = 1
	default:
		share = (100 - target) / 100
	}
	allowed = time.Duration(math.Round(float64(window)*share/float64(time.Millisecond))) * time.Millisecond
	return allowed, r.Down, allowed - r.Down
}

// column is where a span of time is counted.
type column uint8

const (
	colNoData column = iota
	colUp
	colDown
	colMaintenance
	colUnreachable
)

// ledgerState is what the ledger says of the test at a moment.
type ledgerState uint8

const (
	stateUnknown ledgerState = iota // never run (yet)
	stateUp
	stateDown
)

// hold is one hold in force.
type hold struct{ kind, name string }

// ledger is one test's state as a sweep over its events reaches a moment.
type ledger struct {
	maintenance column // where maintenance time goes
	detail      bool   // keep Held and Paged (Compute does not need them)
	state       ledgerState
	holds       []hold
	outages     []Outage // every outage seen (with detail), also those before the window
	open        int      // index in outages of the one under way; -1: none
	to          time.Time
	sum         outageSum // without detail: the outages ended, folded in
}

// outageSum is what a Report says of the outages, summed as they end.
type outageSum struct {
	n, ended               int
	total, longest, repair time.Duration
}

// fold adds o to the sum if it counted any downtime in a window ending at
// to.
func (s *outageSum) fold(o Outage, to time.Time) {
	if o.Duration <= 0 {
		return
	}
	s.n++
	s.total += o.Duration
	s.longest = max(s.longest, o.Duration)
	if !o.Ongoing && o.End.Before(to) {
		s.ended++
		s.repair += o.Duration
	}
}

// newLedger starts a ledger that counts maintenance as acc says.
func newLedger(acc Accounting, detail bool) ledger {
	l := ledger{maintenance: colMaintenance, detail: detail, open: -1}
	switch acc.Maintenance {
	case MaintenanceUp:
		l.maintenance = colUp
	case MaintenanceDown:
		l.maintenance = colDown
	}
	return l
}

// spanFunc receives each span of [from, to) in order, with its column and
// the outage under way (-1: none).
type spanFunc func(a, b time.Time, c column, outage int)

// sweepStep is what the sweep meets next.
type sweepStep uint8

const (
	stepEnd sweepStep = iota
	stepBoundary
	stepEvent
)

// sweep walks events and sessions in time order and hands every span of
// [from, to) to emit. Events from to on do not count, but the first Up
// among them ends the outage under way (so that an outage crossing the
// window's end knows its End).
func (l *ledger) sweep(events []Event, sessions []Session, from, to time.Time, emit spanFunc) {
	sess := normalizeSessions(sessions, to)
	l.to = to
	if l.detail {
		l.outages = make([]Outage, 0, countDowns(events))
	}
	var cur time.Time
	i, j := 0, 0
	inSess := false
	for {
		next, what := l.nextStep(events, i, sess, j, inSess, cur, to)
		l.span(cur, next, inSess, from, to, emit)
		cur = next
		switch what {
		case stepEnd:
			l.endAfter(events[i:], cur)
			return
		case stepBoundary:
			if inSess {
				j++
			} else {
				l.holds = l.holds[:0]
			}
			inSess = !inSess
		case stepEvent:
			l.apply(events[i], cur)
			i++
		}
	}
}

// nextStep is the moment and kind of the sweep's next step: a session's
// start or end before an event at the same moment (so a new session's
// holds start empty before its first run reports them), then the event,
// then the window's end. Times are clamped to cur: never a step back.
func (l *ledger) nextStep(events []Event, i int, sess []Session, j int, inSess bool, cur, to time.Time) (time.Time, sweepStep) {
	next, what := to, stepEnd
	if i < len(events) {
		if at := maxTime(events[i].At, cur); at.Before(to) {
			next, what = at, stepEvent
		}
	}
	if j < len(sess) {
		b := sess[j].Start
		if inSess {
			b = sess[j].End
		}
		if b = maxTime(b, cur); b.Before(to) && !b.After(next) {
			next, what = b, stepBoundary
		}
	}
	return next, what
}

// span counts [a, b), clipped to [from, to), in the column the ledger's
// state gives it, and hands it to emit.
func (l *ledger) span(a, b time.Time, inSess bool, from, to time.Time, emit spanFunc) {
	a, b = maxTime(a, from), minTime(b, to)
	if !a.Before(b) {
		return
	}
	c := l.column(inSess)
	if c == colDown && l.open >= 0 {
		l.outages[l.open].Duration += b.Sub(a)
	}
	emit(a, b, c, l.open)
}

// column is where time goes in the ledger's present state.
func (l *ledger) column(inSess bool) column {
	if !inSess || l.state == stateUnknown {
		return colNoData
	}
	if l.held(HoldMaintenance) {
		return l.maintenance
	}
	if l.held(HoldUnreachable) {
		return colUnreachable
	}
	if l.state == stateDown {
		return colDown
	}
	return colUp
}

// held reports whether a hold of kind is in force.
func (l *ledger) held(kind string) bool {
	for _, h := range l.holds {
		if h.kind == kind {
			return true
		}
	}
	return false
}

// apply changes the ledger by one event, which happened at at.
func (l *ledger) apply(e Event, at time.Time) {
	switch e.Kind {
	case Down:
		l.down(e, at)
	case Up:
		l.up(at)
	case HoldOn:
		l.holdOn(hold{e.Hold, e.HoldName})
	case HoldOff:
		l.holdOff(hold{e.Hold, e.HoldName})
	case Page:
		l.page(e)
	}
}

// down starts an outage, or (already down) fills in its first error.
func (l *ledger) down(e Event, at time.Time) {
	if l.state == stateDown {
		if o := &l.outages[l.open]; o.FirstError == "" {
			o.FirstError = e.Error
		}
		return
	}
	l.state = stateDown
	o := Outage{Start: at, Ongoing: true, FirstError: e.Error}
	if l.detail {
		for _, h := range l.holds {
			o.Held = appendNew(o.Held, h.String())
		}
	}
	l.outages = append(l.outages, o)
	l.open = len(l.outages) - 1
}

// up ends the outage under way, if any.
func (l *ledger) up(at time.Time) {
	if l.state == stateDown {
		o := &l.outages[l.open]
		o.End, o.Ongoing = at, false
		l.open = -1
		if !l.detail {
			l.sum.fold(*o, l.to)
			l.outages = l.outages[:0]
		}
	}
	l.state = stateUp
}

// holdOn adds a hold; the outage under way met it.
func (l *ledger) holdOn(h hold) {
	if !slices.Contains(l.holds, h) {
		l.holds = append(l.holds, h)
	}
	if l.detail && l.open >= 0 {
		o := &l.outages[l.open]
		o.Held = appendNew(o.Held, h.String())
	}
}

// holdOff ends a hold: the one of that kind and name, or when none
// matches (a hold carried over a reload has no name) every one of that
// kind.
func (l *ledger) holdOff(h hold) {
	n := len(l.holds)
	l.holds = slices.DeleteFunc(l.holds, func(x hold) bool { return x == h })
	if len(l.holds) == n {
		l.holds = slices.DeleteFunc(l.holds, func(x hold) bool { return x.kind == h.kind })
	}
}

// page notes who was paged: for the outage under way, or a recovery page
// for the outage that just ended.
func (l *ledger) page(e Event) {
	if !l.detail {
		return
	}
	o := l.open
	if o < 0 && e.Level < 0 && l.state == stateUp && len(l.outages) > 0 {
		o = len(l.outages) - 1
	}
	if o < 0 {
		return
	}
	for _, p := range e.Paged {
		l.outages[o].Paged = appendNew(l.outages[o].Paged, p)
	}
}

// endAfter ends the outage under way at the first Up among the events
// after the window (clamped to from, the window's end, on).
func (l *ledger) endAfter(rest []Event, from time.Time) {
	if l.open < 0 {
		return
	}
	for _, e := range rest {
		from = maxTime(e.At, from)
		if e.Kind == Up {
			l.up(from)
			return
		}
	}
}

// String is the hold as an Outage's Held lists it: "silence x".
func (h hold) String() string {
	if h.name == "" {
		return h.kind
	}
	return h.kind + " " + h.name
}

// Columns is where a window's or a day's time went; the five add up to
// the whole of it.
type Columns struct {
	Up, Down, Maintenance, Unreachable, NoData time.Duration
}

// add counts d in column c.
func (k *Columns) add(c column, d time.Duration) {
	switch c {
	case colUp:
		k.Up += d
	case colDown:
		k.Down += d
	case colMaintenance:
		k.Maintenance += d
	case colUnreachable:
		k.Unreachable += d
	default:
		k.NoData += d
	}
}

// summarize fills in the outage figures from their sum.
func (r *Report) summarize(s outageSum) {
	r.Outages, r.TotalDown, r.Longest = s.n, s.total, s.longest
	if s.ended > 0 {
		r.MTTR = s.repair / time.Duration(s.ended)
	}
	if s.n > 0 {
		r.MTBF = r.Up / time.Duration(s.n)
	}
}

// countDowns is how many Down events there are: at most that many outages.
func countDowns(events []Event) int {
	n := 0
	for i := range events {
		if events[i].Kind == Down {
			n++
		}
	}
	return n
}

// uptime is up's percentage of up+down; -1 when both are zero.
func uptime(up, down time.Duration) float64 {
	if up+down <= 0 {
		return -1
	}
	return 100 * float64(up) / float64(up+down)
}

// overlaps reports whether o lies (even for an instant) in [from, to).
func overlaps(o Outage, from, to time.Time) bool {
	if !o.Start.Before(to) {
		return false
	}
	return o.Ongoing || o.End.After(from) || !o.Start.Before(from)
}

// calendar is the n days (Start, End) ending with end's day in loc.
func calendar(end time.Time, n int, loc *time.Location) []Day {
	e := end.In(loc)
	days := make([]Day, n)
	for k := range days {
		days[k].Start = time.Date(e.Year(), e.Month(), e.Day()-(n-1-k), 0, 0, 0, 0, loc)
	}
	for k := range days {
		if k+1 < n {
			days[k].End = days[k+1].Start
		} else {
			days[k].End = end
		}
	}
	return days
}

// dayNote is the downtime an outage counted within one day.
type dayNote struct {
	day, outage int
	down        time.Duration
}

// note adds a span of outage o on day d in column c to the notes. Spans
// come in time order, so the notes are sorted by day, then outage.
func note(notes []dayNote, d, o int, c column, x time.Duration) []dayNote {
	if c != colDown {
		x = 0
	}
	if k := len(notes) - 1; k >= 0 && notes[k].day == d && notes[k].outage == o {
		notes[k].down += x
		return notes
	}
	return append(notes, dayNote{day: d, outage: o, down: x})
}

// noteInstants adds to the notes the outages of no length (a clock step
// back), which no span covers, on the day they fell.
func noteInstants(notes []dayNote, outages []Outage, days []Day) []dayNote {
	for i, o := range outages {
		if o.Ongoing || !o.Start.Equal(o.End) || !overlaps(o, days[0].Start, days[len(days)-1].End) {
			continue
		}
		d, _ := slices.BinarySearchFunc(days, o.Start, func(x Day, t time.Time) int {
			if x.End.After(t) {
				return 1
			}
			return -1
		})
		n := dayNote{day: d, outage: i}
		k, _ := slices.BinarySearchFunc(notes, n, func(x, y dayNote) int {
			if x.day != y.day {
				return x.day - y.day
			}
			return x.outage - y.outage
		})
		notes = slices.Insert(notes, k, n)
	}
	return notes
}

// fillDays sets each day's uptime and outages (from the notes, each with
// the downtime it counted that day), all outages in one allocation.
func fillDays(days []Day, outages []Outage, notes []dayNote) {
	all := make([]Outage, len(notes))
	for k, n := range notes {
		all[k] = outages[n.outage]
		all[k].Duration = n.down
	}
	for i := range days {
		days[i].Uptime = uptime(days[i].Up, days[i].Down)
	}
	for k := 0; k < len(notes); {
		e := k
		for e < len(notes) && notes[e].day == notes[k].day {
			e++
		}
		days[notes[k].day].Outages = all[k:e:e]
		k = e
	}
}

// normalizeSessions sorts the sessions, ends the one under way (End zero)
// at to, never lets one end before it starts, and merges those that
// overlap (a clock step back).
func normalizeSessions(ss []Session, to time.Time) []Session {
	out := make([]Session, 0, len(ss))
	for _, s := range ss {
		if s.End.IsZero() {
			s.End = to
		}
		s.End = maxTime(s.End, s.Start)
		out = append(out, s)
	}
	slices.SortStableFunc(out, func(a, b Session) int { return a.Start.Compare(b.Start) })
	merged := out[:0]
	for _, s := range out {
		if k := len(merged) - 1; k >= 0 && s.Start.Before(merged[k].End) {
			merged[k].End = maxTime(merged[k].End, s.End)
			continue
		}
		merged = append(merged, s)
	}
	return merged
}

// appendNew appends s to list unless it is there already.
func appendNew(list []string, s string) []string {
	if slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}

// maxTime is the later of a and b.
func maxTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return b
	}
	return a
}

// minTime is the earlier of a and b.
func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
