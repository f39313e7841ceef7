package runtime

import (
	"strings"
	"testing"
	"time"
)

func TestResolveMaintenanceErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, conf, want string
	}{
		{"bad cron", "[Maintenance_m]\ntests=t\nschedule=0 25 * * *\nduration=1h\n", `monsta.conf:13: [Maintenance_m] schedule: "0 25 * * *": `},
		{"schedule without duration", "[Maintenance_m]\ntests=t\nschedule=@daily\n", `monsta.conf:11: [Maintenance_m] duration: required with schedule`},
		{"both kinds", "[Maintenance_m]\ntests=t\nschedule=@daily\nduration=1h\nstart=2026-01-01 00:00\nend=2026-01-02 00:00\n", `monsta.conf:13: [Maintenance_m] schedule: give either schedule and duration, or start and end, not both`},
		{"neither", "[Maintenance_m]\ntests=t\n", `monsta.conf:11: [Maintenance_m] schedule: give schedule and duration, or start and end`},
		{"end before start", "[Maintenance_m]\ntests=t\nstart=2026-01-02 00:00\nend=2026-01-01 00:00\n", `monsta.conf:14: [Maintenance_m] end: ends at or before its start`},
		{"bad time", "[Maintenance_m]\ntests=t\nstart=tomorrow\nend=2026-01-01 00:00\n", `monsta.conf:13: [Maintenance_m] start: "tomorrow" is not a time`},
		{"bad zone", "[Maintenance_m]\ntests=t\nschedule=@daily\nduration=1h\ntimezone=Mars/Olympus\n", `monsta.conf:15: [Maintenance_m] timezone: unknown time zone "Mars/Olympus"`},
		{"bad duration", "[Maintenance_m]\ntests=t\nschedule=@daily\nduration=soon\n", `monsta.conf:14: [Maintenance_m] duration: "soon" is not a length`},
		{"no tests", "[Maintenance_m]\nschedule=@daily\nduration=1h\n", `monsta.conf:11: [Maintenance_m] tests: required option missing`},
		{"bad glob", "[Maintenance_m]\ntests=web[\nschedule=@daily\nduration=1h\n", `monsta.conf:12: [Maintenance_m] tests: pattern "web[": syntax error in pattern`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := resolveText(t, map[string]string{"monsta.conf": okBase + tc.conf})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Resolve() error = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestResolveMaintenance(t *testing.T) {
	t.Parallel()
	p, w, err := resolveText(t, map[string]string{"monsta.conf": okBase + `
[Maintenance_nightly]
tests = Test_t nomatch*
schedule = 0 2 * * 1-5
duration = 90m
timezone = Europe/Berlin
[Maintenance_move]
tests = t
start = 2026-03-01 22:00
end = 2026-03-02T06:00:00Z
timezone = UTC
`})
	if err != nil {
		t.Fatal(err)
	}
	if len(w) != 1 || !strings.Contains(w[0].Error(), `"nomatch*" matches no test`) {
		t.Errorf("warnings = %v, want one about nomatch*", w)
	}
	if len(p.Maintenance) != 2 {
		t.Fatalf("Maintenance = %+v, want 2 windows", p.Maintenance)
	}
	berlin, _ := time.LoadLocation("Europe/Berlin")
	tests := []struct {
		at      time.Time
		held    bool
		by      string
		until   time.Time
		comment string
	}{
		{time.Date(2026, 3, 3, 1, 59, 0, 0, berlin), false, "", time.Time{}, "Tuesday before 02:00"},
		{time.Date(2026, 3, 3, 2, 0, 0, 0, berlin), true, "nightly", time.Date(2026, 3, 3, 3, 30, 0, 0, berlin), "Tuesday at 02:00"},
		{time.Date(2026, 3, 3, 3, 29, 0, 0, berlin), true, "nightly", time.Date(2026, 3, 3, 3, 30, 0, 0, berlin), "Tuesday 03:29"},
		{time.Date(2026, 3, 3, 3, 30, 0, 0, berlin), false, "", time.Time{}, "Tuesday at 03:30"},
		{time.Date(2026, 3, 7, 2, 30, 0, 0, berlin), false, "", time.Time{}, "Saturday"},
		{time.Date(2026, 3, 1, 22, 0, 0, 0, time.UTC), true, "move", time.Date(2026, 3, 2, 6, 0, 0, 0, time.UTC), "one-off start"},
		{time.Date(2026, 3, 2, 6, 0, 0, 0, time.UTC), false, "", time.Time{}, "one-off end"},
	}
	for _, tc := range tests {
		h, ok := p.Maintenance.Hold(GateQuery{Test: "t", Now: tc.at})
		if ok != tc.held || h.By != tc.by || !h.Until.Equal(tc.until) || (ok && h.Reason != HoldMaintenance) {
			t.Errorf("%s: Hold() = %+v %v, want held=%v by %q until %v", tc.comment, h, ok, tc.held, tc.by, tc.until)
		}
	}
	if _, ok := p.Maintenance.Hold(GateQuery{Test: "other", Now: time.Date(2026, 3, 3, 2, 0, 0, 0, berlin)}); ok {
		t.Error("a test outside the window is held")
	}
}
