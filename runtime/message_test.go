package runtime

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

var (
	msgNow   = time.Date(2026, 11, 24, 3, 27, 3, 0, time.UTC)
	msgSince = time.Date(2026, 11, 24, 3, 12, 0, 0, time.UTC)
	refused  = CheckResult{Check: "web", Type: "portconnect", Duration: 687966 * time.Nanosecond,
		Errors: []string{"connect 127.0.0.1:8080: connection refused"}}
	passed = CheckResult{Check: "db", Type: "portconnect", OK: true, Duration: 45 * time.Microsecond,
		Stats: Stats{"connect_seconds": 0.000687966, "banner_seconds": 2.34567}}
)

func TestMessageForms(t *testing.T) {
	tests := []struct {
		name       string
		r          TestResult
		state      State
		any        bool
		outage     Outage
		short      string
		longHas    []string
		longHasNot []string
	}{
		{
			name:  "fail",
			r:     TestResult{Test: "web", Failures: 3, Time: msgNow, Checks: []CheckResult{refused}},
			state: StateFail, outage: Outage{Since: msgSince, Failures: 3},
			short: "FAIL web on vm: web: connect 127.0.0.1:8080: connection refused (3 failures since 03:12 UTC)",
			longHas: []string{"State:    FAIL\n", "Failures: 3 in a row, first at 2026-11-24 03:12:00 UTC, failing for 15m 3s\n",
				"Check web (portconnect): FAIL in 0.69 ms\n  error: connect 127.0.0.1:8080: connection refused\n"},
			longHasNot: []string{"Requires"},
		},
		{
			name:  "fail, two checks failing",
			r:     TestResult{Test: "web", Failures: 1, Time: msgNow, Checks: []CheckResult{refused, {Check: "tls", Type: "script"}}},
			state: StateFail, outage: Outage{Since: msgNow, Failures: 1},
			short: "FAIL web on vm: web: connect 127.0.0.1:8080: connection refused; 1 more check failing (1 failure since 03:27 UTC)",
		},
		{
			name:  "first failure: no duration of a run passed off as an outage's",
			r:     TestResult{Test: "web", Failures: 1, Time: msgSince.Add(1600 * time.Microsecond), Checks: []CheckResult{refused}},
			state: StateFail, outage: Outage{Since: msgSince, Failures: 1},
			short:      "FAIL web on vm: web: connect 127.0.0.1:8080: connection refused (1 failure since 03:12 UTC)",
			longHas:    []string{"Failures: 1 in a row, first at 2026-11-24 03:12:00 UTC\n"},
			longHasNot: []string{"failing for"},
		},
		{
			name:  "outage that began yesterday, read after midnight: the date is given",
			r:     TestResult{Test: "web", Failures: 8, Time: time.Date(2026, 11, 25, 0, 30, 0, 0, time.UTC), Checks: []CheckResult{refused}},
			state: StateFail, outage: Outage{Since: time.Date(2026, 11, 24, 23, 12, 0, 0, time.UTC), Failures: 8},
			short: "FAIL web on vm: web: connect 127.0.0.1:8080: connection refused (8 failures since Nov 24 23:12 UTC)",
		},
		{
			name:  "recovered",
			r:     TestResult{Test: "web", Failures: 0, OK: true, Time: msgNow, Checks: []CheckResult{passed}},
			state: StateRecovered, outage: Outage{Since: msgSince, Failures: 3},
			short: "RECOVERED web on vm after down 15m 3s, 3 failed runs since 03:12 UTC",
			longHas: []string{"State:    RECOVERED\n",
				"Outage:   15m 3s, 3 failed runs, from 2026-11-24 03:12:00 UTC to 2026-11-24 03:27:03 UTC\n",
				"Check db (portconnect): OK in 0.04 ms\n  banner: 2.3 s\n  connect: 0.69 ms\n"},
			longHasNot: []string{"Failures: 0", "0.000687966", "µ"},
		},
		{
			name:  "ok at level 0",
			r:     TestResult{Test: "db", OK: true, Time: msgNow, Checks: []CheckResult{passed}},
			state: StateOK,
			short: "OK db on vm: 1 of 1 check passed",
			longHas: []string{"Test:     db\nState:    OK\nHost:     vm\nTime:     2026-11-24 03:27:03 UTC\n\n",
				"Check db (portconnect): OK"},
			longHasNot: []string{"Failures", "Outage"},
		},
		{
			name:  "reminder",
			r:     TestResult{Test: "web", Failures: 40, Time: msgNow.Add(3 * time.Hour), Checks: []CheckResult{refused}},
			state: StateFail, outage: Outage{Since: msgSince, Failures: 40, Reminder: true},
			short:   "FAIL web on vm: web: connect 127.0.0.1:8080: connection refused (reminder: failing for 3h 15m, 40 failures since 03:12 UTC)",
			longHas: []string{"State:    FAIL (reminder)\n", "failing for 3h 15m"},
		},
		{
			name:  "requires=any, recovered while a check still fails",
			r:     TestResult{Test: "site", OK: true, Time: msgNow, Checks: []CheckResult{refused, passed}},
			state: StateRecovered, any: true, outage: Outage{Since: msgSince, Failures: 2},
			short: "RECOVERED site on vm after down 15m 3s, 2 failed runs since 03:12 UTC; still failing: web",
			longHas: []string{"Requires: any one check passing; passing: db; failing: web\n",
				"Check web (portconnect): failing in 0.69 ms\n", "Check db (portconnect): passing in 0.04 ms\n"},
		},
		{
			name:  "requires=any, ok at level 0",
			r:     TestResult{Test: "site", OK: true, Time: msgNow, Checks: []CheckResult{refused, passed}},
			state: StateOK, any: true,
			short: "OK site on vm: 1 of 2 checks passed; failing: web: connect 127.0.0.1:8080: connection refused",
		},
		{
			name:  "requires=any, failing",
			r:     TestResult{Test: "site", Failures: 2, Time: msgNow, Checks: []CheckResult{refused, {Check: "db", Type: "portconnect", Errors: []string{"timeout"}}}},
			state: StateFail, any: true, outage: Outage{Since: msgSince, Failures: 2},
			short:   "FAIL site on vm: web: connect 127.0.0.1:8080: connection refused; 1 more check failing (2 failures since 03:12 UTC)",
			longHas: []string{"Requires: any one check passing; failing: web, db\n"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := NewMessage("vm", tc.r, tc.state, tc.any, tc.outage)
			if m.Short != tc.short {
				t.Errorf("Short =\n  %q\nwant\n  %q", m.Short, tc.short)
			}
			for _, s := range tc.longHas {
				if !strings.Contains(m.Long, s) {
					t.Errorf("Long lacks %q:\n%s", s, m.Long)
				}
			}
			for _, s := range tc.longHasNot {
				if strings.Contains(m.Long, s) {
					t.Errorf("Long has %q:\n%s", s, m.Long)
				}
			}
			for i, r := range m.Long {
				if r > 127 {
					t.Errorf("Long has non-ASCII %q at %d", r, i)
				}
			}
			if strings.Contains(m.Short, "\n") {
				t.Errorf("Short has a line break: %q", m.Short)
			}
		})
	}
}

func TestMessageFit(t *testing.T) {
	runes := utf8.RuneCountInString
	long := CheckResult{Check: "portal", Errors: []string{"GET https://portal.example.org/health: " + strings.Repeat("very long server answer ", 20)}}
	tests := []struct {
		name  string
		m     Message
		limit int
		want  string
	}{
		{"fits", NewMessage("vm", TestResult{Test: "web", Failures: 3, Time: msgNow, Checks: []CheckResult{refused}}, StateFail, false, Outage{Since: msgSince, Failures: 3}),
			160, "FAIL web on vm: web: connect 127.0.0.1:8080: connection refused (3 failures since 03:12 UTC)"},
		{"host dropped first", NewMessage("vm", TestResult{Test: "web", Failures: 3, Time: msgNow, Checks: []CheckResult{refused}}, StateFail, false, Outage{Since: msgSince, Failures: 3}),
			90, "FAIL web: web: connect 127.0.0.1:8080: connection refused (3 failures since 03:12 UTC)"},
		{"error cut, streak kept", NewMessage("monitor-host.example.org", TestResult{Test: "portal", Failures: 12, Time: msgNow, Checks: []CheckResult{long}}, StateFail, false, Outage{Since: msgSince, Failures: 12}),
			160, "FAIL portal: portal: GET https://portal.example.org/health: very long server answer very long server answer very long server answer ver... (12x since 03:12 UTC)"},
		{"hook text cut, head added", Message{Test: "web", State: StateFail, Short: strings.Repeat("x", 200)},
			50, "FAIL web: " + strings.Repeat("x", 37) + "..."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.m.Fit(tc.limit, runes)
			if got != tc.want {
				t.Errorf("Fit(%d) =\n  %q\nwant\n  %q", tc.limit, got, tc.want)
			}
			if runes(got) > tc.limit {
				t.Errorf("Fit(%d) is %d long", tc.limit, runes(got))
			}
		})
	}
}

func TestHumanDuration(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{45 * time.Microsecond, "0.04 ms"},
		{687966 * time.Nanosecond, "0.69 ms"},
		{4687966 * time.Nanosecond, "4.7 ms"},
		{45 * time.Millisecond, "45 ms"},
		{2345 * time.Millisecond, "2.3 s"},
		{42 * time.Second, "42 s"},
		{15*time.Minute + 3*time.Second, "15m 3s"},
		{3*time.Hour + 15*time.Minute, "3h 15m"},
		{50 * time.Hour, "2d 2h"},
		{999600 * time.Microsecond, "1.0 s"},
		{59600 * time.Millisecond, "1m 0s"},
		{999 * time.Microsecond, "1.0 ms"},
	}
	for _, tc := range tests {
		if got := HumanDuration(tc.d); got != tc.want {
			t.Errorf("HumanDuration(%v) = %q, want %q", tc.d, got, tc.want)
		}
	}
}

func TestMessageReadsOldOutboxFields(t *testing.T) {
	var m Message
	if err := json.Unmarshal([]byte(`{"Test":"web","State":"FAIL","Subject":"s","Body":"b"}`), &m); err != nil {
		t.Fatal(err)
	}
	if m.Short != "s" || m.Long != "b" || m.Test != "web" {
		t.Errorf("decoded %+v", m)
	}
}

// TestFailReasonInShortForm: a page released by the end of a hold says,
// in its one-line form too (SMS, subjects), since when the test fails and
// what held it, also when Fit cuts the error to make room.
func TestFailReasonInShortForm(t *testing.T) {
	since := time.Date(2026, 11, 23, 22, 0, 0, 0, time.UTC)
	r := TestResult{Test: "web", Failures: 7, Time: since.Add(3 * time.Hour),
		Checks: []CheckResult{{Check: "www", Errors: []string{"connect 127.0.0.1:80: " + strings.Repeat("refused ", 30)}}}}
	m := NewMessage("vm", r, StateFail, false, Outage{Since: since, Failures: 7})
	m.Reason = "failing since 2026-11-23 22:00:00 UTC (held by silence s1 until now)"
	m.Render()
	if !strings.HasSuffix(m.Short, "; "+m.Reason+")") {
		t.Errorf("short form %q lacks the reason", m.Short)
	}
	fit := m.Fit(160, func(s string) int { return len(s) })
	if len(fit) > 160 || !strings.Contains(fit, m.Reason) || !strings.HasPrefix(fit, "FAIL web: www: connect") {
		t.Errorf("Fit(160) = %q (%d), want the head, the start of the error and the reason", fit, len(fit))
	}
}
