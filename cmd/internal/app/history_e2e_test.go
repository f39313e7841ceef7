package app

import (
	"log/slog"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/monsta/monsta/internal/testkit/loopback"
	"github.com/monsta/monsta/runtime"
	"github.com/monsta/monsta/runtime/history"
)

// downtime sums the outages of a log of down, up, down, up, … times.
func downtime(log []time.Time) time.Duration {
	var d time.Duration
	for i := 0; i+1 < len(log); i += 2 {
		d += log[i+1].Sub(log[i])
	}
	return d
}

// ledgerDowntime sums the outages the ledger of test records, Down to Up,
// and counts them.
func ledgerDowntime(events []history.Event, test string) (time.Duration, int) {
	var log []time.Time
	n := 0
	for _, e := range events {
		switch {
		case e.Test != test:
		case e.Kind == history.Down:
			log = append(log, e.At)
			n++
		case e.Kind == history.Up && len(log)%2 == 1:
			log = append(log, e.At)
		}
	}
	return downtime(log), n
}

// TestHistoryMatchesTargetLog runs the app on the real clock against a
// target the test takes down twice, between the test's runs (interval 1 s),
// and compares what the engine recorded with the target's own log: the
// downtime within one interval, the number of outages exactly.
func TestHistoryMatchesTargetLog(t *testing.T) {
	t.Parallel()
	ft := loopback.NewSwitch(t)
	host, port, _ := net.SplitHostPort(ft.Addr)
	f := newFixture(t, "[main]\nstatedir = STATEDIR\n[Check_web]\ntype = portconnect\nhost = "+host+"\nport = "+port+
		"\ntimeout = 0.5\n[Test_web]\nchecks = web\ninterval = 1\n")
	f.opts.Clock = nil // the wall clock: real connects, real time
	h := &fakeHistory{}
	f.opts.OpenHistory = func(string, runtime.HistoryPolicy, *slog.Logger) (HistoryStore, error) { return h, nil }
	a := f.start()
	first := waitFirstRun(t, h)
	// Toggle half an interval after a run, so that no change races a run.
	base := first.Add(time.Second / 2)
	const interval = time.Second
	steps := []struct {
		at   time.Duration
		call func()
	}{{interval, ft.Down}, {3 * interval, ft.Up}, {5 * interval, ft.Down}, {7 * interval, ft.Up}}
	for _, s := range steps {
		time.Sleep(time.Until(base.Add(s.at)))
		s.call()
	}
	time.Sleep(time.Until(base.Add(9 * interval)))
	a.Close()

	h.mu.Lock()
	events := append([]history.Event(nil), h.events...)
	h.mu.Unlock()
	got, outages := ledgerDowntime(events, "web")
	want := ft.Downtime()
	t.Logf("downtime: recorded %v, the target's log %v; %d outages", got, want, outages)
	if outages != 2 {
		t.Errorf("%d outages recorded, want 2 (the target's log: %v)\nledger: %s", outages, ft.Log, ledgerText(events))
	}
	if diff := (got - want).Abs(); diff > interval {
		t.Errorf("downtime recorded %v, the target's log %v: %v apart, more than one interval\nledger: %s", got, want, diff, ledgerText(events))
	}
	if len(events) == 0 || events[0].Kind != history.Up {
		t.Errorf("ledger does not begin with the first run's up: %s", ledgerText(events))
	}
}

// waitFirstRun waits for the first run recorded and returns its end.
func waitFirstRun(t *testing.T, h *fakeHistory) time.Time {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		h.mu.Lock()
		n, ev := h.runs, append([]history.Event(nil), h.events...)
		h.mu.Unlock()
		if n > 0 && len(ev) > 0 {
			return ev[0].At
		}
	}
	t.Fatal("no run recorded")
	return time.Time{}
}

// ledgerText renders a ledger for a failure message.
func ledgerText(events []history.Event) string {
	var b strings.Builder
	for _, e := range events {
		b.WriteString(e.At.Format("15:04:05.000") + " " + e.Kind.String())
		if e.Error != "" {
			b.WriteString(" " + strconv.Quote(e.Error))
		}
		b.WriteString("; ")
	}
	return b.String()
}
