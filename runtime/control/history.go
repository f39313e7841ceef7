package control

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	monsta "github.com/monsta/monsta/runtime"
	"github.com/monsta/monsta/runtime/history"
)

// What the history surfaces show of every test.
const (
	// BarDays is the length of the status page's bar: a cell per day.
	BarDays = 90
	// ChartSpan is the span of the response-time chart, ChartStep its
	// resolution.
	ChartSpan = 24 * time.Hour
	ChartStep = 5 * time.Minute
)

// uptimeWindows are the windows the status page gives the uptime over.
var uptimeWindows = [...]struct {
	label string
	d     time.Duration
}{{"24h", 24 * time.Hour}, {"7d", 7 * 24 * time.Hour}, {"30d", 30 * 24 * time.Hour}, {"90d", BarDays * 24 * time.Hour}}

// errHistoryOff answers every history surface when Options.History is nil.
var errHistoryOff = errors.New("history is off ([main] history = no, or the history database could not be opened)")

// summary is what the status page shows of one test's history.
type summary struct {
	days   []history.Day
	uptime [len(uptimeWindows)]float64 // percent; -1: nothing counted
	chart  []history.Bucket
	// streak: the test has been up (or down) since streakSince; zero: no
	// state known.
	streakUp    bool
	streakSince time.Time
	// budget this month, when the test has an SLA target
	target            float64
	allowed, leftOver time.Duration
	err               error // the history could not be read
}

// now is the time of the moment: the engine's clock, else Options.Now.
func (s *Server) now() time.Time {
	if e := s.Engine(); e != nil {
		return e.Clock().Now()
	}
	return s.o.Now()
}

// target is test's SLA target in percent, 0 for none.
func (s *Server) target(test string) float64 {
	if s.o.SLA == nil {
		return 0
	}
	return s.o.SLA(test)
}

// location is the time zone of days and months.
func (s *Server) location() *time.Location {
	if s.o.Accounting.Location != nil {
		return s.o.Accounting.Location
	}
	return time.UTC
}

// monthStart is the start of now's month in the report's time zone.
func (s *Server) monthStart(now time.Time) time.Time {
	t := now.In(s.location())
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, t.Location())
}

// pageHistory returns what the status page shows of each test's
// history, or nil and a note saying why it shows none.
func (s *Server) pageHistory(now time.Time) (func(test string) summary, string) {
	if s.o.History == nil {
		return nil, errHistoryOff.Error()
	}
	sessions, err := s.o.History.Sessions(now.Add(-BarDays*24*time.Hour), now)
	if err != nil {
		return nil, fmt.Sprintf("cannot read the history: read sessions: %v", err)
	}
	return func(test string) summary { return s.summarize(test, sessions, now) }, ""
}

// summarize computes one test's summary from its 90-day ledger.
func (s *Server) summarize(test string, sessions []history.Session, now time.Time) summary {
	r, acc := s.o.History, s.o.Accounting
	from := now.Add(-BarDays * 24 * time.Hour)
	events, err := r.Events(test, from, now)
	if err != nil {
		return summary{err: fmt.Errorf("read the ledger of %s: %w", test, err)}
	}
	sm := summary{days: history.Days(events, sessions, now, BarDays, acc)}
	for i, w := range uptimeWindows {
		from := now.Add(-w.d)
		sm.uptime[i] = history.Compute(test, windowEvents(events, from), sessions, from, now, acc).Uptime
	}
	sm.streakUp, sm.streakSince = streak(events)
	if sm.target = s.target(test); sm.target > 0 {
		from := s.monthStart(now)
		month := history.Compute(test, windowEvents(events, from), sessions, from, now, acc)
		sm.allowed, _, sm.leftOver = history.Budget(sm.target, month)
	}
	if sm.chart, err = r.Buckets(test, "", now.Add(-ChartSpan), now, ChartStep); err != nil {
		sm.err = fmt.Errorf("read the durations of %s: %w", test, err)
	}
	return sm
}

// windowEvents is the tail of a ledger that decides a window from from
// on: from the last Up or Down before from (the state at from), or from
// the first hold still on at from if that is earlier. Compute gives the
// same over it as over the whole ledger (what it drops ended before from),
// sweeping far less: the status page asks for four windows of every
// test's 90 days.
func windowEvents(events []history.Event, from time.Time) []history.Event {
	byTime := func(a, b history.Event) int { return a.At.Compare(b.At) }
	if !slices.IsSortedFunc(events, byTime) { // a clock stepped back: leave it to Compute
		return events
	}
	i, _ := slices.BinarySearchFunc(events, from, func(e history.Event, t time.Time) int { return e.At.Compare(t) })
	lo := i
	for k := i - 1; k >= 0; k-- {
		if e := &events[k]; e.Kind == history.Up || e.Kind == history.Down {
			lo = k
			break
		}
	}
	for k := range lo {
		if e := &events[k]; e.Kind == history.HoldOn && holdOpen(events[k+1:i], e) {
			return events[k:]
		}
	}
	return events[lo:]
}

// holdOpen tells whether no HoldOff of on's hold follows it in rest.
func holdOpen(rest []history.Event, on *history.Event) bool {
	for k := range rest {
		if e := &rest[k]; e.Kind == history.HoldOff && e.Hold == on.Hold && e.HoldName == on.HoldName {
			return false
		}
	}
	return true
}

// streak finds the last change of the test's state in its ledger: up (or
// down) since when; a zero time when the ledger has none.
func streak(events []history.Event) (up bool, since time.Time) {
	for i := len(events) - 1; i >= 0; i-- {
		switch events[i].Kind {
		case history.Up:
			return true, events[i].At
		case history.Down:
			return false, events[i].At
		}
	}
	return false, time.Time{}
}

// parseSince reads a ?since= window (7d, 24h, 90m), def when absent.
func parseSince(r *http.Request, def time.Duration) (time.Duration, error) {
	return parseSpan(r.URL.Query().Get("since"), def)
}

// parseSpan reads a window such as 7d, def when v is empty.
func parseSpan(v string, def time.Duration) (time.Duration, error) {
	if v == "" {
		return def, nil
	}
	d, err := monsta.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("since: %w", err)
	}
	if d <= 0 {
		return 0, fmt.Errorf("since %q: want a positive duration", v)
	}
	return d, nil
}
