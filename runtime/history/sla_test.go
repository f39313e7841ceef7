package history

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// base is the tests' origin; at(m) is m minutes after it.
var base = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)

func at(m int) time.Time { return base.Add(time.Duration(m) * time.Minute) }

func mins(m int) time.Duration { return time.Duration(m) * time.Minute }

func up(m int) Event { return Event{Test: "t", At: at(m), Kind: Up} }

func down(m int, err string) Event { return Event{Test: "t", At: at(m), Kind: Down, Error: err} }

func on(m int, kind, name string) Event {
	return Event{Test: "t", At: at(m), Kind: HoldOn, Hold: kind, HoldName: name}
}

func off(m int, kind, name string) Event {
	return Event{Test: "t", At: at(m), Kind: HoldOff, Hold: kind, HoldName: name}
}

func page(m, level int, who ...string) Event {
	return Event{Test: "t", At: at(m), Kind: Page, Paged: who, Level: level}
}

func sess(from, to int) Session { return Session{Start: at(from), End: at(to), Clean: true} }

// want is the part of a Report a case checks (Uptime -2: not checked,
// as when it is an awkward fraction the columns already pin down).
type want struct {
	up, down, maint, unreach, nodata int // minutes
	uptime                           float64
	outages                          int
	total, longest, mttr, mtbf       int // minutes
}

func (w want) check(t *testing.T, r Report) {
	t.Helper()
	got := want{
		up: int(r.Up / time.Minute), down: int(r.Down / time.Minute), maint: int(r.Maintenance / time.Minute),
		unreach: int(r.Unreachable / time.Minute), nodata: int(r.NoData / time.Minute), uptime: r.Uptime,
		outages: r.Outages, total: int(r.TotalDown / time.Minute), longest: int(r.Longest / time.Minute),
		mttr: int(r.MTTR / time.Minute), mtbf: int(r.MTBF / time.Minute),
	}
	if w.uptime == -2 {
		got.uptime = -2
	}
	if got != w {
		t.Errorf("report\n got %+v\nwant %+v", got, w)
	}
}

func TestCompute(t *testing.T) {
	whole := []Session{sess(-1000, 1000)}
	cases := []struct {
		name     string
		events   []Event
		sessions []Session
		from, to int
		maint    string
		want     want
	}{
		{
			name:     "never run",
			sessions: whole, from: 0, to: 60,
			want: want{nodata: 60, uptime: -1},
		},
		{
			name:   "up all along",
			events: []Event{up(-5)}, sessions: whole, from: 0, to: 60,
			want: want{up: 60, uptime: 100},
		},
		{
			name:   "no session: no data, never up",
			events: []Event{up(-5), down(10, "x"), up(20)}, from: 0, to: 60,
			want: want{nodata: 60, uptime: -1},
		},
		{
			name:   "silence inside an outage",
			events: []Event{up(0), down(10, "refused"), on(20, HoldSilence, "s1"), off(30, HoldSilence, "s1"), up(40)}, sessions: whole, from: 0, to: 60,
			want: want{up: 30, down: 30, uptime: 50, outages: 1, total: 30, longest: 30, mttr: 30, mtbf: 30},
		},
		{
			name:   "outage inside a silence",
			events: []Event{up(0), on(10, HoldSilence, "s1"), down(20, "refused"), up(30), off(40, HoldSilence, "s1")}, sessions: whole, from: 0, to: 60,
			want: want{up: 50, down: 10, uptime: -2, outages: 1, total: 10, longest: 10, mttr: 10, mtbf: 50},
		},
		{
			name:   "flapping holds pages, not the ledger",
			events: []Event{up(0), on(5, HoldFlapping, ""), down(10, "x"), up(11), down(12, "x"), up(13), down(14, "x"), up(15), off(50, HoldFlapping, "")}, sessions: whole, from: 0, to: 60,
			want: want{up: 57, down: 3, uptime: 95, outages: 3, total: 3, longest: 1, mttr: 1, mtbf: 19},
		},
		{
			name:   "maintenance excluded",
			events: []Event{up(0), on(10, HoldMaintenance, "w"), off(40, HoldMaintenance, "w")}, sessions: whole, from: 0, to: 60,
			want: want{up: 30, maint: 30, uptime: 100},
		},
		{
			name:   "maintenance as up",
			events: []Event{up(0), on(10, HoldMaintenance, "w"), down(20, "x"), up(30), off(40, HoldMaintenance, "w")}, sessions: whole, from: 0, to: 60, maint: MaintenanceUp,
			want: want{up: 60, uptime: 100},
		},
		{
			name:   "maintenance as down: down time, no outage",
			events: []Event{up(0), on(10, HoldMaintenance, "w"), off(40, HoldMaintenance, "w")}, sessions: whole, from: 0, to: 60, maint: MaintenanceDown,
			want: want{up: 30, down: 30, uptime: 50},
		},
		{
			name:   "outage wholly inside excluded maintenance does not count",
			events: []Event{up(0), on(10, HoldMaintenance, "w"), down(20, "x"), up(30), off(40, HoldMaintenance, "w")}, sessions: whole, from: 0, to: 60,
			want: want{up: 30, maint: 30, uptime: 100},
		},
		{
			name:   "outage across the window's start",
			events: []Event{down(-30, "x"), up(20)}, sessions: whole, from: 0, to: 60,
			want: want{up: 40, down: 20, uptime: -2, outages: 1, total: 20, longest: 20, mttr: 20, mtbf: 40},
		},
		{
			name:   "outage across the window's end",
			events: []Event{up(0), down(50, "x"), up(80)}, sessions: whole, from: 0, to: 60,
			want: want{up: 50, down: 10, uptime: -2, outages: 1, total: 10, longest: 10, mttr: 0, mtbf: 50},
		},
		{
			name:   "outage across both edges",
			events: []Event{down(-10, "x"), up(80)}, sessions: whole, from: 0, to: 60,
			want: want{down: 60, uptime: 0, outages: 1, total: 60, longest: 60},
		},
		{
			name:   "ongoing outage at the window's end",
			events: []Event{up(0), down(45, "x")}, sessions: whole, from: 0, to: 60,
			want: want{up: 45, down: 15, uptime: 75, outages: 1, total: 15, longest: 15, mttr: 0, mtbf: 45},
		},
		{
			// Seen down before the gap and down again at the new process's
			// first run: one outage, and the gap (20 min) is NoData, not
			// downtime.
			name:   "monsta stopped in the middle of an outage",
			events: []Event{up(0), down(10, "x"), down(50, "x"), up(70)}, sessions: []Session{sess(0, 30), sess(50, 100)}, from: 0, to: 100,
			want: want{up: 40, down: 40, nodata: 20, uptime: 50, outages: 1, total: 40, longest: 40, mttr: 40, mtbf: 40},
		},
		{
			name:   "monsta stopped in an outage, the test up at its return",
			events: []Event{up(0), down(10, "x"), up(55)}, sessions: []Session{sess(0, 30), {Start: at(50), End: at(100)}}, from: 0, to: 100,
			want: want{up: 55, down: 25, nodata: 20, uptime: -2, outages: 1, total: 25, longest: 25, mttr: 25, mtbf: 55},
		},
		{
			name:   "a crash in maintenance does not leave it open",
			events: []Event{up(0), on(10, HoldMaintenance, "w")}, sessions: []Session{sess(0, 30), sess(40, 60)}, from: 0, to: 60,
			want: want{up: 30, maint: 20, nodata: 10, uptime: 100},
		},
		{
			name:   "clock step back: an outage of no length",
			events: []Event{up(0), down(30, "x"), up(10)}, sessions: whole, from: 0, to: 60,
			want: want{up: 60, uptime: 100},
		},
		{
			name:   "clock step back inside an outage",
			events: []Event{up(0), down(30, "x"), down(10, "y"), up(45), down(40, "z"), up(50)}, sessions: whole, from: 0, to: 60,
			want: want{up: 40, down: 20, uptime: -2, outages: 2, total: 20, longest: 15, mttr: 10, mtbf: 20},
		},
		{
			name:   "unreachable inside an outage",
			events: []Event{up(0), down(10, "x"), on(20, HoldUnreachable, "parent"), off(40, HoldUnreachable, "parent"), up(50)}, sessions: whole, from: 0, to: 60,
			want: want{up: 20, down: 20, unreach: 20, uptime: 50, outages: 1, total: 20, longest: 20, mttr: 20, mtbf: 20},
		},
		{
			name:   "a hold carried over a reload ends without its name",
			events: []Event{up(0), on(10, HoldUnreachable, "parent"), off(20, HoldUnreachable, "")}, sessions: whole, from: 0, to: 60,
			want: want{up: 50, unreach: 10, uptime: 100},
		},
		{
			name:   "MTTR and MTBF",
			events: []Event{up(0), down(10, "x"), up(20), down(30, "x"), up(50)}, sessions: whole, from: 0, to: 60,
			want: want{up: 30, down: 30, uptime: 50, outages: 2, total: 30, longest: 20, mttr: 15, mtbf: 15},
		},
		{
			name:   "unknown maintenance accounting: excluded",
			events: []Event{up(0), on(10, HoldMaintenance, "w"), off(40, HoldMaintenance, "w")}, sessions: whole, from: 0, to: 60, maint: "sometimes",
			want: want{up: 30, maint: 30, uptime: 100},
		},
		{
			name:   "maintenance wins over unreachable",
			events: []Event{up(0), down(5, "x"), on(10, HoldUnreachable, "p"), on(20, HoldMaintenance, "w"), off(30, HoldMaintenance, "w"), off(40, HoldUnreachable, "p"), up(50)}, sessions: whole, from: 0, to: 60,
			want: want{up: 15, down: 15, maint: 10, unreach: 20, uptime: 50, outages: 1, total: 15, longest: 15, mttr: 15, mtbf: 15},
		},
		{
			name:   "sessions overlapping after a clock step back count once",
			events: []Event{up(0)}, sessions: []Session{sess(30, 60), sess(0, 40), sess(70, 70)}, from: 0, to: 80,
			want: want{up: 60, nodata: 20, uptime: 100},
		},
		{
			name:   "the session under way (End zero) runs to the window's end",
			events: []Event{up(0)}, sessions: []Session{{Start: at(20)}}, from: 0, to: 60,
			want: want{up: 40, nodata: 20, uptime: 100},
		},
		{
			name:   "an event at the window's end is outside it",
			events: []Event{up(0), down(60, "x")}, sessions: whole, from: 0, to: 60,
			want: want{up: 60, uptime: 100},
		},
		{
			name:   "empty window",
			events: []Event{up(0)}, sessions: whole, from: 30, to: 30,
			want: want{uptime: -1},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := Compute("t", c.events, c.sessions, at(c.from), at(c.to), Accounting{Maintenance: c.maint})
			c.want.check(t, r)
			if sum := r.Up + r.Down + r.Maintenance + r.Unreachable + r.NoData; sum != mins(c.to-c.from) {
				t.Errorf("columns add up to %v, want %v", sum, mins(c.to-c.from))
			}
			if r.Test != "t" || !r.From.Equal(at(c.from)) || !r.To.Equal(at(c.to)) {
				t.Errorf("report names %q [%v, %v)", r.Test, r.From, r.To)
			}
		})
	}
}

func TestComputeFlappingCountsEveryOutage(t *testing.T) {
	events := []Event{up(0), on(1, HoldFlapping, "")}
	for m := 2; m < 2+2*137; m += 2 {
		events = append(events, down(m, "flap"), up(m+1))
	}
	r := Compute("t", events, []Session{sess(0, 1000)}, at(0), at(1000), Accounting{})
	if r.Outages != 137 || r.TotalDown != mins(137) || r.Longest != time.Minute || r.MTTR != time.Minute {
		t.Errorf("flapping: %d outages, %v down, longest %v, MTTR %v; want 137, 2h17m, 1m, 1m", r.Outages, r.TotalDown, r.Longest, r.MTTR)
	}
}

func TestOutagesIn(t *testing.T) {
	whole := []Session{sess(-1000, 1000)}
	cases := []struct {
		name     string
		events   []Event
		sessions []Session
		from, to int
		want     []Outage
	}{
		{
			name: "silence inside an outage: held, and paged before and after",
			events: []Event{up(0), down(10, "refused"), page(10, 0, "ops"), on(20, HoldSilence, "s1"),
				off(30, HoldSilence, "s1"), page(35, 1, "boss", "ops"), up(40), page(40, -1, "ops", "oncall")},
			sessions: whole, from: 0, to: 60,
			want: []Outage{{Start: at(10), End: at(40), Duration: mins(30), FirstError: "refused",
				Paged: []string{"ops", "boss", "oncall"}, Held: []string{"silence s1"}}},
		},
		{
			name:     "outage inside a silence: held from its start, nobody paged",
			events:   []Event{up(0), on(10, HoldSilence, "s1"), down(20, "refused"), up(30), off(40, HoldSilence, "s1")},
			sessions: whole, from: 0, to: 60,
			want: []Outage{{Start: at(20), End: at(30), Duration: mins(10), FirstError: "refused", Held: []string{"silence s1"}}},
		},
		{
			name:     "unreachable inside an outage: held, its time not counted",
			events:   []Event{up(0), down(10, "x"), on(20, HoldUnreachable, "parent"), off(40, HoldUnreachable, "parent"), up(50)},
			sessions: whole, from: 0, to: 60,
			want: []Outage{{Start: at(10), End: at(50), Duration: mins(20), FirstError: "x", Held: []string{"unreachable parent"}}},
		},
		{
			name:     "across both edges: real start and end, duration inside",
			events:   []Event{up(-100), down(-10, "x"), up(80)},
			sessions: whole, from: 0, to: 60,
			want: []Outage{{Start: at(-10), End: at(80), Duration: mins(60), FirstError: "x"}},
		},
		{
			name:     "ended before the window: not listed",
			events:   []Event{up(-100), down(-50, "x"), up(-40), down(70, "y")},
			sessions: whole, from: 0, to: 60,
		},
		{
			name:     "ongoing at the window's end",
			events:   []Event{up(0), down(45, "x"), page(46, 0, "ops")},
			sessions: whole, from: 0, to: 60,
			want: []Outage{{Start: at(45), Ongoing: true, Duration: mins(15), FirstError: "x", Paged: []string{"ops"}}},
		},
		{
			name:     "monsta stopped in the middle: one outage, the gap not counted",
			events:   []Event{up(0), down(10, ""), down(50, "second"), up(70)},
			sessions: []Session{sess(0, 30), sess(50, 100)}, from: 0, to: 100,
			want: []Outage{{Start: at(10), End: at(70), Duration: mins(40), FirstError: "second"}},
		},
		{
			name:     "clock step back: never a negative duration",
			events:   []Event{up(0), down(30, "x"), up(10)},
			sessions: whole, from: 0, to: 60,
			want: []Outage{{Start: at(30), End: at(30), FirstError: "x"}},
		},
		{
			name:     "never run",
			sessions: whole, from: 0, to: 60,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := OutagesIn(c.events, c.sessions, at(c.from), at(c.to))
			if len(got) != len(c.want) {
				t.Fatalf("got %d outages %+v, want %d", len(got), got, len(c.want))
			}
			for i := range got {
				if !sameOutage(got[i], c.want[i]) {
					t.Errorf("outage %d\n got %+v\nwant %+v", i, got[i], c.want[i])
				}
			}
		})
	}
}

func sameOutage(a, b Outage) bool {
	return a.Start.Equal(b.Start) && a.End.Equal(b.End) && a.Ongoing == b.Ongoing && a.Duration == b.Duration &&
		a.FirstError == b.FirstError && slices.Equal(a.Paged, b.Paged) && slices.Equal(a.Held, b.Held)
}

func TestOutagesInFollowsAccounting(t *testing.T) {
	events := []Event{up(0), on(10, HoldMaintenance, "w"), down(20, "x"), off(30, HoldMaintenance, "w"), up(40)}
	s := []Session{sess(0, 60)}
	for _, c := range []struct {
		maint string
		want  time.Duration
	}{{"", mins(10)}, {MaintenanceUp, mins(10)}, {MaintenanceDown, mins(20)}} {
		got := Accounting{Maintenance: c.maint}.OutagesIn(events, s, at(0), at(60))
		if len(got) != 1 || got[0].Duration != c.want || !slices.Equal(got[0].Held, []string{"maintenance w"}) {
			t.Errorf("maintenance %q: %+v, want one outage of %v held by maintenance w", c.maint, got, c.want)
		}
	}
	if got := OutagesIn(events, s, at(60), at(0)); got != nil {
		t.Errorf("reversed window: %+v", got)
	}
}

// dayWant is the part of a Day a case checks.
type dayWant struct {
	up, down, maint, nodata time.Duration
	uptime                  float64
}

func (w dayWant) check(t *testing.T, name string, d Day) {
	t.Helper()
	got := dayWant{up: d.Up, down: d.Down, maint: d.Maintenance, nodata: d.NoData, uptime: d.Uptime}
	if got != w {
		t.Errorf("%s\n got %+v\nwant %+v", name, got, w)
	}
}

func TestDaysMaintenanceAcrossMidnight(t *testing.T) {
	day := func(d, h int) time.Time { return time.Date(2026, 3, d, h, 0, 0, 0, time.UTC) }
	events := []Event{
		{At: day(1, 12), Kind: Up},
		{At: day(1, 22), Kind: HoldOn, Hold: HoldMaintenance, HoldName: "w"},
		{At: day(2, 3), Kind: HoldOff, Hold: HoldMaintenance, HoldName: "w"},
	}
	s := []Session{{Start: day(1, 0), End: day(3, 0)}}
	h := time.Hour
	cases := []struct {
		maint      string
		day1, day2 dayWant
	}{
		{MaintenanceExclude, dayWant{up: 10 * h, maint: 2 * h, nodata: 12 * h, uptime: 100}, dayWant{up: 21 * h, maint: 3 * h, uptime: 100}},
		{MaintenanceUp, dayWant{up: 12 * h, nodata: 12 * h, uptime: 100}, dayWant{up: 24 * h, uptime: 100}},
		{MaintenanceDown, dayWant{up: 10 * h, down: 2 * h, nodata: 12 * h, uptime: 100 * 10.0 / 12}, dayWant{up: 21 * h, down: 3 * h, uptime: 100 * 21.0 / 24}},
	}
	for _, c := range cases {
		t.Run(c.maint, func(t *testing.T) {
			days := Days(events, s, day(3, 0), 3, Accounting{Maintenance: c.maint, Location: time.UTC})
			if len(days) != 3 || !days[0].Start.Equal(day(1, 0)) || !days[1].Start.Equal(day(2, 0)) || !days[2].Start.Equal(day(3, 0)) {
				t.Fatalf("days %+v", days)
			}
			c.day1.check(t, "day 1", days[0])
			c.day2.check(t, "day 2", days[1])
			dayWant{uptime: -1}.check(t, "day 3, which ends as it starts", days[2])
			r := Compute("t", events, s, day(1, 0), day(3, 0), Accounting{Maintenance: c.maint})
			if r.Maintenance != c.day1.maint+c.day2.maint || r.Down != c.day1.down+c.day2.down || r.Outages != 0 {
				t.Errorf("report over both days: %+v", r)
			}
		})
	}
}

func TestDaysDST(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatalf("load Europe/Berlin: %v", err)
	}
	cases := []struct {
		name    string
		end     time.Time
		lengths []time.Duration
	}{
		{"last Sunday of March: 23 h", time.Date(2026, 3, 30, 12, 0, 0, 0, berlin), []time.Duration{24 * time.Hour, 23 * time.Hour, 12 * time.Hour}},
		{"last Sunday of October: 25 h", time.Date(2026, 10, 26, 12, 0, 0, 0, berlin), []time.Duration{24 * time.Hour, 25 * time.Hour, 12 * time.Hour}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			start := c.end.AddDate(0, 0, -5)
			s := []Session{{Start: start, End: c.end}}
			// Down for two hours across the change, 01:00 to 04:00 local
			// the day it happens: 2 h in March, 4 h in October, 3 h else.
			dstDay := time.Date(c.end.Year(), c.end.Month(), c.end.Day()-1, 0, 0, 0, 0, berlin)
			events := []Event{
				{At: start, Kind: Up},
				{At: dstDay.Add(time.Hour), Kind: Down, Error: "x"},
				{At: time.Date(dstDay.Year(), dstDay.Month(), dstDay.Day(), 4, 0, 0, 0, berlin), Kind: Up},
			}
			days := Days(events, s, c.end, 3, Accounting{Location: berlin})
			if len(days) != 3 {
				t.Fatalf("%d days", len(days))
			}
			for i, d := range days {
				if d.Start.Hour() != 0 || d.Start.Location() != berlin {
					t.Errorf("day %d starts at %v, not local midnight", i, d.Start)
				}
				if got := d.End.Sub(d.Start); got != c.lengths[i] {
					t.Errorf("day %d is %v long, want %v", i, got, c.lengths[i])
				}
				if sum := d.Up + d.Down + d.Maintenance + d.Unreachable + d.NoData; sum != c.lengths[i] {
					t.Errorf("day %d counts %v, want %v", i, sum, c.lengths[i])
				}
			}
			wantDown := c.lengths[1] - 24*time.Hour + 3*time.Hour
			if days[1].Down != wantDown || len(days[1].Outages) != 1 || days[1].Outages[0].Duration != wantDown {
				t.Errorf("the change's day: down %v, outages %+v; want %v", days[1].Down, days[1].Outages, wantDown)
			}
			r := Compute("t", events, s, days[1].Start, days[1].End, Accounting{Location: berlin})
			if r.Up+r.Down != c.lengths[1] || r.Down != wantDown {
				t.Errorf("report over the change's day: up %v down %v", r.Up, r.Down)
			}
		})
	}
}

func TestDaysOutagesPerDay(t *testing.T) {
	day := func(d, h int) time.Time { return time.Date(2026, 3, d, h, 0, 0, 0, time.UTC) }
	events := []Event{
		{At: day(1, 0), Kind: Up},
		{At: day(1, 20), Kind: Down, Error: "across midnight"},
		{At: day(2, 2), Kind: Up},
		{At: day(2, 5), Kind: Down, Error: "clock"},
		{At: day(2, 4), Kind: Up}, // a step back: no length
		{At: day(3, 6), Kind: Down, Error: "ongoing"},
	}
	days := Days(events, []Session{{Start: day(1, 0), End: day(3, 12)}}, day(3, 12), 4, Accounting{})
	if len(days) != 4 || days[0].Uptime != -1 || days[0].NoData != 24*time.Hour || len(days[0].Outages) != 0 {
		t.Fatalf("days %+v", days)
	}
	got := func(d int) []string {
		var s []string
		for _, o := range days[d].Outages {
			s = append(s, fmt.Sprintf("%s %v", o.FirstError, o.Duration))
		}
		return s
	}
	want := [][]string{nil, {"across midnight 4h0m0s"}, {"across midnight 2h0m0s", "clock 0s"}, {"ongoing 6h0m0s"}}
	for d := range days {
		if !slices.Equal(got(d), want[d]) {
			t.Errorf("day %d outages %q, want %q", d, got(d), want[d])
		}
	}
	if days[3].End != day(3, 12) || !days[3].Outages[0].Ongoing || days[1].Uptime != 100*20.0/24 {
		t.Errorf("last day %+v, day 1 uptime %v", days[3], days[1].Uptime)
	}
	if Days(events, nil, day(3, 12), 0, Accounting{}) != nil {
		t.Errorf("0 days: not nil")
	}
}

func TestBudget(t *testing.T) {
	month := Report{From: time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)}
	cases := []struct {
		name                string
		target              float64
		down                time.Duration
		allowed, used, left time.Duration
	}{
		{"99.9 over a 30-day month", 99.9, 10 * time.Minute, 43*time.Minute + 12*time.Second, 10 * time.Minute, 33*time.Minute + 12*time.Second},
		{"99.9 overspent", 99.9, time.Hour, 43*time.Minute + 12*time.Second, time.Hour, -16*time.Minute - 48*time.Second},
		{"99 over a 30-day month", 99, 0, 7*time.Hour + 12*time.Minute, 0, 7*time.Hour + 12*time.Minute},
		{"100 allows nothing", 100, time.Second, 0, time.Second, -time.Second},
		{"0 allows all", 0, time.Hour, 30 * 24 * time.Hour, time.Hour, 30*24*time.Hour - time.Hour},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := month
			r.Down = c.down
			allowed, used, left := Budget(c.target, r)
			if allowed != c.allowed || used != c.used || left != c.left {
				t.Errorf("Budget(%v) = %v, %v, %v; want %v, %v, %v", c.target, allowed, used, left, c.allowed, c.used, c.left)
			}
		})
	}
}

// FuzzCompute: whatever the events and sessions, the columns add up to
// the window and no duration is negative.
func FuzzCompute(f *testing.F) {
	f.Add([]byte{1, 10, 0, 2, 5, 0, 3, 3, 1, 1, 200, 2}, []byte{0, 100, 120, 60}, uint8(0))
	f.Add([]byte{2, 0, 0, 1, 255, 0, 2, 100, 3, 4, 1, 2, 5, 2, 0}, []byte{10, 50}, uint8(2))
	f.Fuzz(func(t *testing.T, ev, ss []byte, mode uint8) {
		events, sessions := fuzzLedger(ev, ss)
		from, to := at(40), at(400)
		acc := Accounting{Maintenance: []string{"", MaintenanceUp, MaintenanceDown, "bogus"}[mode%4]}
		r := Compute("t", events, sessions, from, to, acc)
		checkReport(t, r, to.Sub(from))
		checkOutages(t, r, acc.OutagesIn(events, sessions, from, to))
		days := Days(events, sessions, to, 3, acc)
		var total, down time.Duration
		for _, d := range days {
			sum := d.Up + d.Down + d.Maintenance + d.Unreachable + d.NoData
			if sum != d.End.Sub(d.Start) || min(d.Up, d.Down, d.Maintenance, d.Unreachable, d.NoData) < 0 {
				t.Fatalf("day %+v counts %v", d, sum)
			}
			total += sum
			down += d.Down
		}
		whole := Compute("t", events, sessions, days[0].Start, to, acc)
		if total != to.Sub(days[0].Start) || down != whole.Down {
			t.Fatalf("days count %v with %v down, want %v with %v", total, down, to.Sub(days[0].Start), whole.Down)
		}
	})
}

// fuzzLedger decodes events (3 bytes each: kind, minutes since the last,
// signed so the clock can step back; a hold) and sessions (2 bytes each:
// gap, length) from fuzz input.
func fuzzLedger(ev, ss []byte) ([]Event, []Session) {
	holds := []string{HoldSilence, HoldMaintenance, HoldUnreachable, HoldFlapping}
	var events []Event
	m := 0
	for i := 0; i+2 < len(ev); i += 3 {
		m += int(int8(ev[i+1]))
		e := Event{At: at(m), Kind: Kind(ev[i] % 7), Hold: holds[ev[i+2]%4], HoldName: fmt.Sprint(ev[i+2] / 4 % 2), Level: int(ev[i+2]%3) - 1, Paged: []string{"p"}}
		events = append(events, e)
	}
	var sessions []Session
	m = 0
	for i := 0; i+1 < len(ss); i += 2 {
		start := m + int(ss[i])
		m = start + int(ss[i+1])
		sessions = append(sessions, Session{Start: at(start), End: at(m)})
	}
	return events, sessions
}

func checkReport(t *testing.T, r Report, window time.Duration) {
	t.Helper()
	if sum := r.Up + r.Down + r.Maintenance + r.Unreachable + r.NoData; sum != window {
		t.Fatalf("columns add up to %v, want %v: %+v", sum, window, r)
	}
	if min(r.Up, r.Down, r.Maintenance, r.Unreachable, r.NoData, r.TotalDown, r.Longest, r.MTTR, r.MTBF) < 0 {
		t.Fatalf("negative duration: %+v", r)
	}
	if r.TotalDown > r.Down || r.Longest > r.TotalDown || (r.Uptime != -1 && (r.Uptime < 0 || r.Uptime > 100)) {
		t.Fatalf("inconsistent: %+v", r)
	}
}

// checkOutages: the outages listed agree with the report's figures (one
// path keeps them, the other folds them as they end).
func checkOutages(t *testing.T, r Report, outages []Outage) {
	t.Helper()
	n, total := 0, time.Duration(0)
	for _, o := range outages {
		if o.Duration < 0 || (!o.Ongoing && o.End.Before(o.Start)) {
			t.Fatalf("outage %+v", o)
		}
		if o.Duration > 0 {
			n++
			total += o.Duration
		}
	}
	if n != r.Outages || total != r.TotalDown {
		t.Fatalf("listed %d outages of %v, report says %d of %v", n, total, r.Outages, r.TotalDown)
	}
}
