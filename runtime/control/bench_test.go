package control

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/monsta/monsta/runtime/history"
)

// bigFixture has n tests, one in ten failing and one in a hundred
// silenced, each run once.
func bigFixture(b *testing.B, n int) *fixture {
	var conf strings.Builder
	conf.WriteString("[Check_up]\ntype=fake\nhost=up\n[Check_down]\ntype=fake\nhost=down\n")
	for i := range n {
		chk := "up"
		if i%10 == 0 {
			chk = "down"
		}
		fmt.Fprintf(&conf, "[Test_t%05d]\nchecks=%s\n", i, chk)
	}
	f := newFixture(b, conf.String(), map[string]error{"down": errors.New("connect 127.0.0.1:25: connection refused")})
	for i := 0; i < n; i += 100 {
		f.sil.Add(fmt.Sprintf("t%05d", i+5), time.Hour, "")
	}
	for i := range n {
		f.run(b, fmt.Sprintf("t%05d", i))
	}
	return f
}

// BenchmarkStatusPage10k renders the status page for 10,000 tests.
func BenchmarkStatusPage10k(b *testing.B) {
	benchGet(b, "/")
}

// BenchmarkAPITests10k renders GET /api/v1/tests for 10,000 tests.
func BenchmarkAPITests10k(b *testing.B) {
	benchGet(b, "/api/v1/tests")
}

func benchGet(b *testing.B, path string) {
	f := bigFixture(b, 10000)
	benchHandler(b, f.srv.Handler(false, ""), path)
}

func benchHandler(b *testing.B, h http.Handler, path string) {
	b.ReportAllocs()
	b.ResetTimer()
	var w countingWriter
	cpu0 := cpuTime()
	for b.Loop() {
		w = countingWriter{header: http.Header{}}
		h.ServeHTTP(&w, httptest.NewRequest("GET", path, nil))
		if w.code != 0 && w.code != 200 {
			b.Fatalf("GET %s = %d", path, w.code)
		}
	}
	b.ReportMetric(float64(w.n)/1e6, "MB/page")
	// CPU time, all threads: what a busy machine's wall time hides
	b.ReportMetric((cpuTime()-cpu0).Seconds()/float64(b.N), "cpu-s/op")
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// countingWriter is a ResponseWriter that counts the body and keeps
// none of it, as a socket would take it.
type countingWriter struct {
	header http.Header
	code   int
	n      int
}

func (w *countingWriter) Header() http.Header         { return w.header }
func (w *countingWriter) WriteHeader(code int)        { w.code = code }
func (w *countingWriter) Write(p []byte) (int, error) { w.n += len(p); return len(p), nil }

// realisticLedger is 90 days of a test's ledger before now: a few short
// outages a week (a page each, some in a silence), variant v shifting
// them so that tests differ.
func realisticLedger(test string, now time.Time, v int) []history.Event {
	start := now.Add(-BarDays * day)
	evs := []history.Event{{Test: test, At: start, Kind: history.Up}}
	for at := start.Add(time.Duration(v+1) * 7 * time.Hour); at.Before(now.Add(-time.Hour)); at = at.Add(time.Duration(40+v%9) * time.Hour) {
		evs = append(evs,
			history.Event{Test: test, At: at, Kind: history.Down, Error: "connect 127.0.0.1:443: connection refused"},
			history.Event{Test: test, At: at.Add(time.Minute), Kind: history.Page, Paged: []string{"oncall"}, Level: 1})
		if v%3 == 0 {
			evs = append(evs, history.Event{Test: test, At: at.Add(2 * time.Minute), Kind: history.HoldOn, Hold: history.HoldSilence, HoldName: "s"},
				history.Event{Test: test, At: at.Add(9 * time.Minute), Kind: history.HoldOff, Hold: history.HoldSilence, HoldName: "s"})
		}
		evs = append(evs, history.Event{Test: test, At: at.Add(time.Duration(3+v%20) * time.Minute), Kind: history.Up},
			history.Event{Test: test, At: at.Add(time.Duration(3+v%20) * time.Minute), Kind: history.Page, Paged: []string{"oncall"}, Level: -1})
	}
	return evs
}

// BenchmarkStatusPageHistory10k renders the status page for 10,000 tests
// with 90 days of history each (realisticLedger, a day of 5-minute
// buckets, monsta restarted weekly and stopped for a few hours twice),
// from a fake Reader that answers from memory: the cost is the page's own.
func BenchmarkStatusPageHistory10k(b *testing.B) {
	f := bigFixture(b, 10000)
	now := f.clk.Now()
	h := newFakeHistory()
	for w := range 12 {
		s := now.Add(-BarDays*day + time.Duration(w)*7*day)
		e := s.Add(7 * day)
		if w == 4 || w == 9 {
			e = e.Add(-5 * time.Hour)
		}
		h.sessions = append(h.sessions, history.Session{Start: s, End: e, Clean: true})
	}
	h.sessions = append(h.sessions, history.Session{Start: now.Add(-BarDays*day + 12*7*day), End: now})
	buckets := dayBuckets(now, 30*time.Millisecond)
	for i := range 10000 {
		name := fmt.Sprintf("t%05d", i)
		h.events[name] = realisticLedger(name, now, i%64)
		h.buckets[name] = buckets
	}
	// one test in ten has an SLA target
	sla := func(test string) float64 {
		if strings.HasSuffix(test, "0") {
			return 99.9
		}
		return 0
	}
	f.srv = New(Options{Engine: f.srv.o.Engine, Silences: f.sil, History: h, SLA: sla})
	benchHandler(b, f.srv.Handler(false, ""), "/")
}
