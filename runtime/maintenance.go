package runtime

import (
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/monsta/monsta/config"
)

// MaintenanceSpec is one resolved [Maintenance_NAME] section: planned work
// during which the notifications of its tests are held, as under a
// silence. A window either repeats (a cron schedule and a duration) or is
// fixed (start and end).
type MaintenanceSpec struct {
	Name     string // without the Maintenance_ prefix
	Pos      config.Pos
	Tests    []string // test names or globs, without Test_
	Schedule cron.Schedule
	Duration time.Duration
	Start    time.Time
	End      time.Time
}

// Matches tells whether the window covers the test.
func (m *MaintenanceSpec) Matches(test string) bool {
	for _, p := range m.Tests {
		if ok, _ := path.Match(p, test); ok {
			return true
		}
	}
	return false
}

// Active tells whether the window is open at now, and when it closes.
func (m *MaintenanceSpec) Active(now time.Time) (end time.Time, ok bool) {
	if m.Schedule == nil {
		return m.End, !now.Before(m.Start) && now.Before(m.End)
	}
	// The first start after now-duration opens a window that is still
	// open at now, if it started by now.
	s := m.Schedule.Next(now.Add(-m.Duration))
	if s.IsZero() || s.After(now) {
		return time.Time{}, false
	}
	return s.Add(m.Duration), true
}

// Maintenance is the configured windows; it implements Gate.
type Maintenance []*MaintenanceSpec

// Hold implements Gate: the first open window that covers the test holds
// it.
func (ms Maintenance) Hold(q GateQuery) (Hold, bool) {
	for _, m := range ms {
		if !m.Matches(q.Test) {
			continue
		}
		if end, ok := m.Active(q.Now); ok {
			return Hold{Reason: HoldMaintenance, By: m.Name, Until: end}, true
		}
	}
	return Hold{}, false
}

// maintenanceSchema declares the keys of a [Maintenance_*] section.
var maintenanceSchema = NewSchema("unknown option for a maintenance window",
	Option{Name: "tests", Required: true, Parse: Words, Help: "Space-separated test names or globs (web*), without the Test_ prefix."},
	Option{Name: "schedule", Help: "Cron expression (minute hour day month weekday, or @daily…) at which a repeating window opens."},
	Option{Name: "duration", Parse: Length, Help: "How long a scheduled window stays open: seconds, or a duration such as 90m, 2h or 1d."},
	Option{Name: "start", Help: "Start of a one-off window: 2006-01-02 15:04 (or RFC 3339)."},
	Option{Name: "end", Help: "End of a one-off window, same format as start."},
	Option{Name: "timezone", Help: "Time zone of schedule, start and end, such as Europe/Berlin; empty: the system's."},
)

// Length parses a positive length with ParseDuration: seconds ("7200") or
// a duration with a unit ("90m", "2h", "1d"); empty is 0 (unset).
func Length(s string) (any, error) {
	if strings.TrimSpace(s) == "" {
		return time.Duration(0), nil // unset
	}
	d, err := ParseDuration(s)
	if err != nil || d <= 0 {
		return nil, fmt.Errorf("%q is not a length such as 3600, 90m, 2h or 1d", strings.TrimSpace(s))
	}
	return d, nil
}

var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// timeLayouts are the accepted forms of start and end.
var timeLayouts = []string{"2006-01-02 15:04", "2006-01-02 15:04:05", "2006-01-02T15:04", "2006-01-02T15:04:05"}

func parseLocalTime(s string, loc *time.Location) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	for _, l := range timeLayouts {
		if t, err := time.ParseInLocation(l, s, loc); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a time such as 2026-03-01 22:00", s)
}

// resolveMaintenance resolves one [Maintenance_NAME] section; tests are
// the names of the configured tests, for matching.
func resolveMaintenance(probs *config.Problems, s *config.Section, tests []*TestSpec) *MaintenanceSpec {
	o, valid := resolveOptions(probs, maintenanceSchema.declared(), s, nil, nil)
	m := &MaintenanceSpec{Name: strings.TrimPrefix(s.Name, "Maintenance_"), Pos: s.Pos}
	loc, ok := maintenanceLocation(probs, s, o)
	valid = ok && valid
	valid = maintenanceTests(probs, s, o, m, tests) && valid
	valid = maintenanceWhen(probs, s, o, m, loc) && valid
	if !valid {
		return nil
	}
	return m
}

// maintenanceLocation returns the time zone the window's times are read
// in: timezone, or the local one.
func maintenanceLocation(probs *config.Problems, s *config.Section, o *Options) (*time.Location, bool) {
	tz := strings.TrimSpace(o.String("timezone"))
	if tz == "" {
		return time.Local, true
	}
	l, err := time.LoadLocation(tz)
	if err != nil {
		probs.Addf(o.Pos("timezone"), s.Name, "timezone", "unknown time zone %q", tz)
		return time.Local, false
	}
	return l, true
}

// maintenanceTests sets m.Tests from the tests option, checking each
// pattern and warning about one that matches no configured test.
func maintenanceTests(probs *config.Problems, s *config.Section, o *Options, m *MaintenanceSpec, tests []*TestSpec) bool {
	names, set := o.Value("tests").([]string)
	if !set {
		return true
	}
	ok := true
	if len(names) == 0 {
		probs.Addf(o.Pos("tests"), s.Name, "tests", "no tests named")
		ok = false
	}
	for _, n := range names {
		n = strings.TrimPrefix(n, "Test_")
		if _, err := path.Match(n, ""); err != nil {
			probs.Addf(o.Pos("tests"), s.Name, "tests", "pattern %q: %v", n, err)
			ok = false
			continue
		}
		m.Tests = append(m.Tests, n)
		if !matchesAnyTest(n, tests) {
			probs.Warnf(o.Pos("tests"), s.Name, "tests", "%q matches no test", n)
		}
	}
	return ok
}

// matchesAnyTest tells whether the pattern matches a configured test.
func matchesAnyTest(pattern string, tests []*TestSpec) bool {
	for _, t := range tests {
		if ok, _ := path.Match(pattern, t.Name); ok {
			return true
		}
	}
	return false
}

// maintenanceWhen sets when the window is open: a schedule with a
// duration, or a one-off start and end, never both.
func maintenanceWhen(probs *config.Problems, s *config.Section, o *Options, m *MaintenanceSpec, loc *time.Location) bool {
	sched, start, end := strings.TrimSpace(o.String("schedule")), o.IsSet("start"), o.IsSet("end")
	switch {
	case sched != "" && (start || end):
		probs.Addf(o.Pos("schedule"), s.Name, "schedule", "give either schedule and duration, or start and end, not both")
		return false
	case sched != "":
		return maintenanceRecurring(probs, s, o, m, sched, loc)
	case start || end:
		if !start || !end {
			probs.Addf(s.Pos, s.Name, "start", "a one-off window needs both start and end")
			return false
		}
		return maintenanceOneOff(probs, s, o, m, loc)
	default:
		probs.Addf(s.Pos, s.Name, "schedule", "give schedule and duration, or start and end")
		return false
	}
}

// maintenanceRecurring sets m.Schedule and m.Duration from a cron
// schedule and the required duration.
func maintenanceRecurring(probs *config.Problems, s *config.Section, o *Options, m *MaintenanceSpec, sched string, loc *time.Location) bool {
	ok := true
	sc, err := cronParser.Parse(sched)
	if err != nil {
		probs.Addf(o.Pos("schedule"), s.Name, "schedule", "%q: %v", sched, err)
		ok = false
	} else {
		if spec, isSpec := sc.(*cron.SpecSchedule); isSpec {
			spec.Location = loc
		}
		m.Schedule = sc
	}
	if _, set := s.Key("duration"); !set {
		probs.Addf(s.Pos, s.Name, "duration", "required with schedule")
		ok = false
	} else if d, parsed := o.Value("duration").(time.Duration); parsed && d > 0 {
		m.Duration = d
	} else if parsed {
		probs.Addf(o.Pos("duration"), s.Name, "duration", "must be more than 0")
		ok = false
	}
	return ok
}

// maintenanceOneOff sets m.Start and m.End for a window that opens once.
func maintenanceOneOff(probs *config.Problems, s *config.Section, o *Options, m *MaintenanceSpec, loc *time.Location) bool {
	ok := true
	if o.IsSet("duration") {
		probs.Addf(o.Pos("duration"), s.Name, "duration", "only with schedule; a one-off window ends at end")
		ok = false
	}
	var err error
	if m.Start, err = parseLocalTime(o.String("start"), loc); err != nil {
		probs.Addf(o.Pos("start"), s.Name, "start", "%v", err)
		ok = false
	}
	if m.End, err = parseLocalTime(o.String("end"), loc); err != nil {
		probs.Addf(o.Pos("end"), s.Name, "end", "%v", err)
		ok = false
	} else if !m.Start.IsZero() && !m.End.After(m.Start) {
		probs.Addf(o.Pos("end"), s.Name, "end", "ends at or before its start")
		ok = false
	}
	return ok
}
