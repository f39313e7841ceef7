package engine

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/monsta/monsta/runtime"
)

// TestHoldReleasePagesTheLadder runs a test whose pages a silence or a
// maintenance window holds, on the injected clock, one run a minute. When
// the hold ends on a test that still fails, every level it reached is
// paged once, lowest first, in the same run, each saying since when it
// fails and what held it; the recovery then reaches everyone paged. A
// recovery inside the hold pages nobody but is logged.
func TestHoldReleasePagesTheLadder(t *testing.T) {
	start := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
	silence := func(from, to int) runtime.Gate {
		return runtime.GateFunc(func(q runtime.GateQuery) (runtime.Hold, bool) {
			on := !q.Now.Before(start.Add(time.Duration(from)*time.Minute)) && q.Now.Before(start.Add(time.Duration(to)*time.Minute))
			return runtime.Hold{Reason: runtime.HoldSilenced, By: "s1"}, on
		})
	}
	window := func(from, to int) runtime.Gate {
		return runtime.Maintenance{{Name: "nightly", Tests: []string{"web"},
			Start: start.Add(time.Duration(from) * time.Minute), End: start.Add(time.Duration(to) * time.Minute)}}
	}
	const since = "2026-11-24 00:00:00 UTC"
	tests := []struct {
		name     string
		gate     runtime.Gate
		failures int      // the check fails this many runs, then passes
		runs     int      // runs, one a minute from start
		want     []string // "run N: LEVEL names: reason" per page, in order
		log      string   // a line the log must have, "" for none
	}{
		{
			name: "silence ends after level 5", gate: silence(0, 6), failures: 7, runs: 8,
			want: []string{
				"run 7: 1 mail: failing since " + since + " (held by silence s1 until now)",
				"run 7: 2 sms: failing since " + since + " (held by silence s1 until now)",
				"run 7: 5 boss: failing since " + since + " (held by silence s1 until now)",
				"run 8: -1 mail sms boss: ",
			},
		},
		{
			name: "window ends after level 2", gate: window(0, 3), failures: 4, runs: 5,
			want: []string{
				"run 4: 1 mail: failing since " + since + " (held by maintenance window nightly until now)",
				"run 4: 2 sms: failing since " + since + " (held by maintenance window nightly until now)",
				"run 5: -1 mail sms: ",
			},
		},
		{
			name: "paged before the hold: the rest of the ladder", gate: silence(1, 6), failures: 7, runs: 8,
			want: []string{
				"run 1: 1 mail: ",
				"run 7: 2 sms: failing since " + since + " (held by silence s1 until now)",
				"run 7: 5 boss: failing since " + since + " (held by silence s1 until now)",
				"run 8: -1 mail sms boss: ",
			},
		},
		{
			name: "the hold ends at level 5's own run", gate: silence(0, 4), failures: 6, runs: 7,
			want: []string{
				"run 5: 1 mail: failing since " + since + " (held by silence s1 until now)",
				"run 5: 2 sms: failing since " + since + " (held by silence s1 until now)",
				"run 5: 5 boss: failing since " + since + " (held by silence s1 until now)",
				"run 7: -1 mail sms boss: ",
			},
		},
		{
			name: "recovery inside the window is logged, nobody paged", gate: window(0, 10), failures: 3, runs: 5,
			log: "msg=\"test recovered\" test=web state=MAINTENANCE by=nightly",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := newFakeClock()
			p, _ := failingPlan(t, tc.failures, `
[Notification_mail]
type=rec
recipient=r
[Notification_sms]
type=rec
recipient=r
[Notification_boss]
type=rec
recipient=r
[Test_web]
checks=a
notify=1:mail 2:sms 5:boss
`)
			var (
				mu   sync.Mutex
				got  []string
				run  int
				logs bytes.Buffer
			)
			hooks := hookFunc{after: make(chan runtime.TestResult, tc.runs), before: func(ev *runtime.NotifyEvent) {
				mu.Lock()
				defer mu.Unlock()
				got = append(got, fmt.Sprintf("run %d: %d %s: %s", run, ev.Level, strings.Join(ev.Notifications, " "), ev.Message.Reason))
				if ev.Level >= 1 && ev.Message.Since.IsZero() {
					t.Errorf("run %d: level %d page without its since", run, ev.Level)
				}
			}}
			e, err := New(p, Options{Clock: clk, Gate: tc.gate, Hooks: hooks, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close(t.Context())
			for i := 1; i <= tc.runs; i++ {
				mu.Lock()
				run = i
				mu.Unlock()
				if _, err := e.RunTestOnce(t.Context(), "web"); err != nil {
					t.Fatal(err)
				}
				clk.Advance(time.Minute)
			}
			mu.Lock()
			defer mu.Unlock()
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("pages:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
			if tc.log != "" && !strings.Contains(logs.String(), tc.log) {
				t.Errorf("log lacks %q:\n%s", tc.log, logs.String())
			}
		})
	}
}
