package engine

import (
	"slices"
	"time"

	"github.com/monsta/monsta/runtime"
)

// streak is a test's escalation state: consecutive failures and who was
// notified during the current failure streak.
type streak struct {
	failures   int
	notified   []string           // notification names sent a FAIL in this streak, in order
	lastNotify time.Time          // last FAIL notification of this streak (for renotify)
	lastLevel  int                // highest level that fired in this streak
	since      time.Time          // first failure of this streak
	held       runtime.HoldReason // the hold in force at the last run ("" none)
	owed       bool               // a page of level 1+ was held back in this streak
	owedBy     string             // what held it back: "silence 3f2a", "maintenance window nightly"
	// passes counts passing runs in a row while failing (recover_after).
	passes int
	// history, flapping and flapTo are flap detection's: the last runs'
	// results, whether the test flaps, and who was told it does.
	history  flapHistory
	flapping bool
	flapTo   []string
	// prevNotified is who was paged in the streak that ended last.
	prevNotified []string
}

// observe records one run at now. It returns the failure count after the
// run and the failure count before it (non-zero on a recovery); since is
// the first failure of the streak the run belongs to (or ended). A failing
// test recovers only on its recoverAfter-th passing run in a row; the runs
// before it change nothing but the count of passes (pending reports them).
func (s *streak) observe(ok bool, now time.Time, recoverAfter int) (failures, before int, since time.Time, pending bool) {
	before = s.failures
	if ok {
		if s.failures > 0 && s.passes+1 < recoverAfter {
			s.passes++
			return s.failures, before, s.since, true
		}
		s.passes = 0
		since = s.since
		s.failures, s.since = 0, time.Time{}
		return 0, before, since, false
	}
	s.passes = 0
	if s.failures == 0 {
		s.since = now
	}
	s.failures++
	return s.failures, before, s.since, false
}

// markNotified remembers names as paged during this streak.
func (s *streak) markNotified(names []string, level int, at time.Time) {
	for _, n := range names {
		if !slices.Contains(s.notified, n) {
			s.notified = append(s.notified, n)
		}
	}
	s.lastNotify = at
	if level > s.lastLevel {
		s.lastLevel = level
	}
}

// sent records a FAIL decision as delivered to names (after hooks).
func (s *streak) sent(d Decision, names []string, at time.Time) {
	if d.State == runtime.StateFail && len(names) > 0 {
		s.markNotified(names, d.Level, at)
	}
}

// reset forgets the streak after a recovery was handled.
func (s *streak) reset() {
	if len(s.notified) > 0 {
		s.prevNotified = s.notified
	}
	s.notified = nil
	s.lastNotify = time.Time{}
	s.lastLevel = 0
}

// Decision is what one test run asks the dispatcher to send.
type Decision struct {
	State runtime.State
	Level int      // the level that fired; 0 for level-0/OK messages; -1 recovery only
	Names []string // notifications to send to, deduplicated, in notify order
	// Reason explains a message that is not about one run (FLAPPING).
	Reason string
	// Outage describes the streak: its start, its failed runs, and
	// whether this FAIL is a renotify reminder.
	Outage runtime.Outage
}

// escalate decides for a run that observe counted: failures after it,
// before it, and the start of its streak.
func escalate(t *runtime.TestSpec, s *streak, ok bool, now time.Time, failures, before int, since time.Time) (Decision, bool) {
	if ok {
		return decidePass(t, s, before, since)
	}
	return decideFail(t, s, failures, since, now)
}

// clone returns a copy of s that shares no slice with it.
func (s streak) clone() streak {
	s.notified = slices.Clone(s.notified)
	s.flapTo = slices.Clone(s.flapTo)
	s.prevNotified = slices.Clone(s.prevNotified)
	return s
}

// decidePass decides for a passing run: OK to level 0, or RECOVERED when
// it ends a streak of before failures that began at since.
func decidePass(t *runtime.TestSpec, s *streak, before int, since time.Time) (Decision, bool) {
	var names []string
	state := runtime.StateOK
	if before > 0 {
		state = runtime.StateRecovered
		if t.Recovery {
			names = addNew(names, s.notified...)
		}
		// Notifiers that track a state always learn that it ended.
		for _, n := range s.notified {
			if slices.Contains(t.EveryRun, n) {
				names = addNew(names, n)
			}
		}
		s.reset()
	}
	names = addNew(names, levelNames(t, 0)...)
	if len(names) == 0 {
		return Decision{}, false
	}
	d := Decision{State: state, Level: 0, Names: names}
	if state == runtime.StateRecovered {
		d.Level = -1
		d.Outage = runtime.Outage{Since: since, Failures: before}
	}
	return d, true
}

// decideFail decides for the failures-th failing run in a row of a
// streak that began at since: the level equal to failures, else a
// renotify reminder, plus the state-tracking notifiers and level 0.
func decideFail(t *runtime.TestSpec, s *streak, failures int, since, now time.Time) (Decision, bool) {
	var names []string
	level, reminder := 0, false
	if ln := levelNames(t, failures); len(ln) > 0 {
		names = addNew(names, ln...)
		level = failures
	} else if t.Renotify > 0 && s.lastLevel > 0 && now.Sub(s.lastNotify) >= t.Renotify {
		names = addNew(names, levelNames(t, s.lastLevel)...)
		level, reminder = s.lastLevel, true
	}
	// Notifiers that track a state are fed every failing run from their
	// level on.
	for _, lv := range t.Notify {
		if lv.Level < 1 || lv.Level > failures {
			continue
		}
		for _, n := range lv.Names {
			if slices.Contains(t.EveryRun, n) && !slices.Contains(names, n) {
				names = addNew(names, n)
				level = max(level, lv.Level)
			}
		}
	}
	names = addNew(names, levelNames(t, 0)...)
	if len(names) == 0 {
		return Decision{}, false
	}
	return Decision{State: runtime.StateFail, Level: level, Names: names,
		Outage: runtime.Outage{Since: since, Failures: failures, Reminder: reminder}}, true
}

// levelNames returns the notifications of t's escalation level l.
func levelNames(t *runtime.TestSpec, l int) []string {
	for _, lv := range t.Notify {
		if lv.Level == l {
			return lv.Names
		}
	}
	return nil
}

// addNew appends to names those of add it does not hold yet.
func addNew(names []string, add ...string) []string {
	for _, n := range add {
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	return names
}
