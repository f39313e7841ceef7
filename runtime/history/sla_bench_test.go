package history

import (
	"fmt"
	"math/rand"
	"testing"
	"time"
)

// benchLedger is a realistic 90-day ledger for n tests: about three
// outages a week each (minutes to an hour, each paged and recovered), a
// silence now and then, a weekly maintenance window, and monsta restarted
// every ten days with a few minutes between sessions.
func benchLedger(n int, end time.Time) (map[string][]Event, []Session) {
	rng := rand.New(rand.NewSource(26))
	start := end.Add(-90 * 24 * time.Hour)
	var sessions []Session
	for s := start; s.Before(end); s = s.Add(10 * 24 * time.Hour) {
		sessions = append(sessions, Session{Start: s.Add(5 * time.Minute), End: minTime(s.Add(10*24*time.Hour), end), Clean: true})
	}
	ledger := make(map[string][]Event, n)
	for i := range n {
		name := fmt.Sprintf("test%05d", i)
		ev := []Event{{Test: name, At: start, Kind: Up}}
		for at := start; ; {
			at = at.Add(time.Duration(rng.Int63n(int64(4 * 24 * time.Hour))))
			if !at.Before(end) {
				break
			}
			if rng.Intn(8) == 0 {
				ev = append(ev, Event{Test: name, At: at.Add(-time.Minute), Kind: HoldOn, Hold: HoldMaintenance, HoldName: "weekly"})
			}
			ev = append(ev, Event{Test: name, At: at, Kind: Down, Error: "connect: connection refused"},
				Event{Test: name, At: at, Kind: Page, Paged: []string{"ops"}, Level: 0})
			at = at.Add(time.Duration(1+rng.Int63n(60)) * time.Minute)
			ev = append(ev, Event{Test: name, At: at, Kind: Up}, Event{Test: name, At: at, Kind: Page, Paged: []string{"ops"}, Level: -1})
			if rng.Intn(8) == 0 {
				ev = append(ev, Event{Test: name, At: at.Add(time.Minute), Kind: HoldOff, Hold: HoldMaintenance, HoldName: "weekly"})
			}
		}
		ledger[name] = ev
	}
	return ledger, sessions
}

// BenchmarkCompute reports 10,000 tests over 90 days per op (what
// --report over 90 days does once it has read the ledger).
func BenchmarkCompute(b *testing.B) {
	end := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	ledger, sessions := benchLedger(10000, end)
	events := 0
	for _, ev := range ledger {
		events += len(ev)
	}
	from := end.Add(-90 * 24 * time.Hour)
	b.ResetTimer()
	for b.Loop() {
		for name, ev := range ledger {
			if r := Compute(name, ev, sessions, from, end, Accounting{}); r.Outages == 0 {
				b.Fatalf("%s: no outage in %d events", name, len(ev))
			}
		}
	}
	b.ReportMetric(float64(events)/10000, "events/test")
}

// BenchmarkDays builds the 90-day bars of 10,000 tests per op (what the
// status page draws).
func BenchmarkDays(b *testing.B) {
	end := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	ledger, sessions := benchLedger(10000, end)
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		b.Fatalf("load Europe/Berlin: %v", err)
	}
	b.ResetTimer()
	for b.Loop() {
		for _, ev := range ledger {
			if d := Days(ev, sessions, end, 90, Accounting{Location: berlin}); len(d) != 90 {
				b.Fatalf("%d days", len(d))
			}
		}
	}
}
