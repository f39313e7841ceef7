package app

import (
	"log/slog"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/monsta/monsta/runtime"
	"github.com/monsta/monsta/runtime/history"
)

// flappingTarget is a loopback service the test takes down (its listener
// closed: connection refused) and up again on the same port, logging when
// it did.
type flappingTarget struct {
	t    *testing.T
	addr string
	ln   net.Listener
	log  []time.Time // down, up, down, up, …
}

func newFlappingTarget(t *testing.T) *flappingTarget {
	ft := &flappingTarget{t: t}
	ft.listen("127.0.0.1:0")
	ft.addr = ft.ln.Addr().String()
	t.Cleanup(func() {
		if ft.ln != nil {
			ft.ln.Close()
		}
	})
	return ft
}

func (ft *flappingTarget) listen(addr string) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		ft.t.Fatalf("listen %s: %v", addr, err)
	}
	ft.ln = ln
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
}

func (ft *flappingTarget) down() {
	ft.ln.Close()
	ft.ln = nil
	ft.log = append(ft.log, time.Now())
}

func (ft *flappingTarget) up() {
	ft.listen(ft.addr)
	ft.log = append(ft.log, time.Now())
}

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
	ft := newFlappingTarget(t)
	host, port, _ := net.SplitHostPort(ft.addr)
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
	}{{interval, ft.down}, {3 * interval, ft.up}, {5 * interval, ft.down}, {7 * interval, ft.up}}
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
	want := downtime(ft.log)
	t.Logf("downtime: recorded %v, the target's log %v; %d outages", got, want, outages)
	if outages != 2 {
		t.Errorf("%d outages recorded, want 2 (the target's log: %v)\nledger: %s", outages, ft.log, ledgerText(events))
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
