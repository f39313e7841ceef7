package history

import (
	"bytes"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// t0 is the tests' epoch: a Monday, 10:00 UTC.
var t0 = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

// syncBuf is a log sink safe for the writer goroutine.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// clock is a settable clock: unlike fakeclock it can step back.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func (c *clock) Advance(d time.Duration) { c.Set(c.Now().Add(d)) }

func (c *clock) AdvanceTo(t time.Time) { c.Set(t) }

// fixture is one store in a temporary state directory on a fake clock.
type fixture struct {
	path string
	clk  *clock
	log  *syncBuf
	s    *Store
}

// open opens (or reopens) the fixture's store with o's other fields.
func (f *fixture) open(t *testing.T, o Options) *Store {
	t.Helper()
	o.Now, o.Logger = f.clk.Now, slog.New(slog.NewTextHandler(f.log, nil))
	s, err := Open(f.path, o)
	if err != nil {
		t.Fatalf("Open() error = %v", err)
	}
	f.s = s
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func newFixture(t *testing.T, o Options) *fixture {
	t.Helper()
	f := &fixture{path: filepath.Join(t.TempDir(), "history.db"), clk: &clock{t: t0}, log: &syncBuf{}}
	f.open(t, o)
	return f
}

func ev(test string, at time.Duration, k Kind) Event {
	return Event{Test: test, At: t0.Add(at), Kind: k}
}

func holdEvent(test string, at time.Duration, k Kind, h, name string) Event {
	return Event{Test: test, At: t0.Add(at), Kind: k, Hold: h, HoldName: name}
}

// kinds renders events as "at:kind[:hold]" relative to t0.
func kinds(es []Event) string {
	var b []string
	for _, e := range es {
		s := fmt.Sprintf("%v:%v", e.At.Sub(t0), e.Kind)
		if e.Hold != "" {
			s += ":" + e.Hold
		}
		b = append(b, s)
	}
	return strings.Join(b, " ")
}

func TestEventsWindow(t *testing.T) {
	f := newFixture(t, Options{})
	for _, e := range []Event{
		ev("web", 0, Up),
		holdEvent("web", time.Minute, HoldOn, HoldMaintenance, "nightly"),
		ev("web", 2*time.Minute, Down),
		{Test: "web", At: t0.Add(3 * time.Minute), Kind: Page, Paged: []string{"bob", "sms_bob"}, Level: 1},
		holdEvent("web", 4*time.Minute, HoldOn, HoldSilence, "s1"),
		holdEvent("web", 5*time.Minute, HoldOff, HoldSilence, "s1"),
		ev("web", 10*time.Minute, Up),
		holdEvent("web", 11*time.Minute, HoldOff, HoldMaintenance, "nightly"),
		ev("mail", 30*time.Second, Down),
	} {
		f.s.Event(e)
	}
	f.s.Sync()
	tests := []struct {
		name     string
		test     string
		from, to time.Duration
		want     string
	}{
		{"all", "web", 0, time.Hour, "0s:up 1m0s:hold_on:maintenance 2m0s:down 3m0s:page 4m0s:hold_on:silence 5m0s:hold_off:silence 10m0s:up 11m0s:hold_off:maintenance"},
		{"state and open hold before from", "web", 6 * time.Minute, 11 * time.Minute, "1m0s:hold_on:maintenance 2m0s:down 10m0s:up"},
		{"page before from is not state", "web", 3*time.Minute + time.Second, 4 * time.Minute, "1m0s:hold_on:maintenance 2m0s:down"},
		{"closed holds are left out", "web", 20 * time.Minute, time.Hour, "10m0s:up"},
		{"to is exclusive", "web", 0, 2 * time.Minute, "0s:up 1m0s:hold_on:maintenance"},
		{"before every event", "web", -time.Hour, -time.Minute, ""},
		{"other test", "mail", time.Hour, 2 * time.Hour, "30s:down"},
		{"unknown test", "nope", 0, time.Hour, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := f.s.Events(tt.test, t0.Add(tt.from), t0.Add(tt.to))
			if err != nil {
				t.Fatalf("Events() error = %v", err)
			}
			if g := kinds(got); g != tt.want {
				t.Errorf("Events() = %q, want %q", g, tt.want)
			}
		})
	}
	got, _ := f.s.Events("web", t0.Add(3*time.Minute), t0.Add(4*time.Minute))
	if p := got[len(got)-1]; !reflect.DeepEqual(p.Paged, []string{"bob", "sms_bob"}) || p.Level != 1 {
		t.Errorf("Events() page = %+v, want bob, sms_bob at level 1", p)
	}
}

func TestRecentOrder(t *testing.T) {
	f := newFixture(t, Options{Recent: 5})
	run := func(i int) Run {
		return Run{Test: "db", At: t0.Add(time.Duration(i) * time.Second), OK: i%3 != 0, Duration: time.Duration(i) * time.Millisecond,
			Checks: []CheckRun{{Check: "a", OK: true, Duration: time.Millisecond}, {Check: "b", OK: i%3 != 0, Error: fmt.Sprint("e", i)}}}
	}
	for i := 1; i <= 3; i++ {
		f.s.Result(run(i))
	}
	f.s.Sync()
	for i := 4; i <= 12; i++ { // wraps the ring within and across flushes
		f.s.Result(run(i))
		if i == 9 {
			f.s.Sync()
		}
	}
	f.s.Sync()
	if err := f.s.Close(); err != nil {
		t.Fatalf("Close() error = %v", err)
	}
	f.open(t, Options{Recent: 5})
	f.s.Result(run(13)) // after a restart the ring goes on
	f.s.Sync()
	tests := []struct {
		n    int
		want []int
	}{{3, []int{13, 12, 11}}, {10, []int{13, 12, 11, 10, 9}}, {0, nil}}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.n), func(t *testing.T) {
			got, err := f.s.Recent("db", tt.n)
			if err != nil {
				t.Fatalf("Recent() error = %v", err)
			}
			var idx []int
			for _, r := range got {
				idx = append(idx, int(r.At.Sub(t0)/time.Second))
			}
			if !reflect.DeepEqual(idx, tt.want) {
				t.Fatalf("Recent(%d) = %v, want %v", tt.n, idx, tt.want)
			}
			for _, r := range got {
				r.At = r.At.UTC()
				if w := run(int(r.At.Sub(t0) / time.Second)); !reflect.DeepEqual(r, w) {
					t.Errorf("Recent() run = %+v, want %+v", r, w)
				}
			}
		})
	}
}

func TestBuckets(t *testing.T) {
	f := newFixture(t, Options{})
	// Two hours of runs every 10 s: durations 1..100 ms; every 10th fails.
	const every = 10 * time.Second
	n := int(2 * time.Hour / every)
	for i := range n {
		d := time.Duration(i%100+1) * time.Millisecond
		r := Run{Test: "web", At: t0.Add(time.Duration(i) * every), OK: i%10 != 0, Duration: d,
			Checks: []CheckRun{{Check: "a", OK: true, Duration: d / 2}, {Check: "b", OK: i%10 != 0, Duration: d / 2}}}
		f.s.Result(r)
		f.s.Result(Run{Test: "one", At: r.At, OK: true, Duration: d, Checks: []CheckRun{{Check: "only", OK: true, Duration: d}}})
	}
	f.clk.AdvanceTo(t0.Add(2 * time.Hour))
	f.s.Sync()
	end := t0.Add(2 * time.Hour)
	tests := []struct {
		name        string
		test, check string
		from, to    time.Time
		step        time.Duration
		wantN       int
		wantStep    time.Duration
		wantRuns    int // of the first bucket
		wantFails   int
	}{
		{"fine", "web", "", t0, end, 5 * time.Minute, 24, 5 * time.Minute, 30, 3},
		{"merged to 15m", "web", "", t0, end, 15 * time.Minute, 8, 15 * time.Minute, 90, 9},
		{"hourly", "web", "", t0, end, time.Hour, 2, time.Hour, 360, 36},
		{"finer than kept", "web", "", t0, end, time.Minute, 24, 5 * time.Minute, 30, 3},
		{"day", "web", "", t0.Add(-20 * 24 * time.Hour), end, 24 * time.Hour, 1, 24 * time.Hour, n, n / 10},
		{"old window reads days", "web", "", t0.Add(-30 * 24 * time.Hour), end, 5 * time.Minute, 1, 24 * time.Hour, n, n / 10},
		{"a check", "web", "b", t0, end, time.Hour, 2, time.Hour, 360, 36},
		{"a check at 5m reads hours", "web", "b", t0, end, 5 * time.Minute, 2, time.Hour, 360, 36},
		{"no check rows for one check", "one", "only", t0, end, time.Hour, 0, 0, 0, 0},
		{"the test of one check", "one", "", t0, end, time.Hour, 2, time.Hour, 360, 0},
		{"unknown test", "nope", "", t0, end, time.Hour, 0, 0, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := f.s.Buckets(tt.test, tt.check, tt.from, tt.to, tt.step)
			if err != nil {
				t.Fatalf("Buckets() error = %v", err)
			}
			if len(got) != tt.wantN {
				t.Fatalf("Buckets() = %d buckets, want %d", len(got), tt.wantN)
			}
			if tt.wantN == 0 {
				return
			}
			b := got[0]
			if b.Step != tt.wantStep || b.Runs != tt.wantRuns || b.Failures != tt.wantFails {
				t.Errorf("Buckets()[0] = step %v runs %d failures %d, want %v %d %d", b.Step, b.Runs, b.Failures, tt.wantStep, tt.wantRuns, tt.wantFails)
			}
			for i := 1; i < len(got); i++ {
				if !got[i-1].Start.Before(got[i].Start) {
					t.Errorf("Buckets() not oldest first at %d", i)
				}
			}
		})
	}
	checkFirstHour(t, f.s, end)
}

// checkFirstHour checks TestBuckets' first hour: durations 1..100 ms
// three times and 1..60 ms once: min 1 ms, max 100 ms, mean 16980/360
// ms, p95 ≈ 94 ms within the histogram's 12.5 %.
func checkFirstHour(t *testing.T, s *Store, end time.Time) {
	t.Helper()
	got, _ := s.Buckets("web", "", t0, end, time.Hour)
	b := got[0]
	if b.Min != time.Millisecond || b.Max != 100*time.Millisecond {
		t.Errorf("hour min, max = %v, %v, want 1ms, 100ms", b.Min, b.Max)
	}
	if want := 16980 * time.Millisecond / 360; b.Mean != want.Truncate(time.Microsecond) {
		t.Errorf("hour mean = %v, want %v", b.Mean, want)
	}
	if b.P95 < 83*time.Millisecond || b.P95 > 100*time.Millisecond {
		t.Errorf("hour p95 = %v, want 95ms within 12.5%%", b.P95)
	}
}

func TestPickResolution(t *testing.T) {
	now := t0
	tests := []struct {
		name  string
		from  time.Duration // before now
		step  time.Duration
		check bool
		want  int
	}{
		{"fine", time.Hour, 5 * time.Minute, false, 0},
		{"coarsest not coarser than step", time.Hour, 2 * time.Hour, false, 1},
		{"step finer than any", time.Hour, time.Second, false, 0},
		{"fine kept 48 h", 3 * 24 * time.Hour, 5 * time.Minute, false, 1},
		{"hours kept 14 d", 20 * 24 * time.Hour, time.Hour, false, 2},
		{"days", 80 * 24 * time.Hour, 24 * time.Hour, false, 2},
		{"past the retention", 200 * 24 * time.Hour, time.Minute, false, 2},
		{"a check has no fine buckets", time.Hour, 5 * time.Minute, true, 1},
		{"a check's hours: a week", 10 * 24 * time.Hour, time.Hour, true, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := pickResolution(now, now.Add(-tt.from), tt.step, tt.check, DefaultRetention); got != tt.want {
				t.Errorf("pickResolution() = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestHistogram(t *testing.T) {
	for _, us := range []int64{0, 1, 3, 4, 5, 7, 8, 100, 1000, 12345, 1 << 20, 1 << 32} {
		got := histMid(histBin(us))
		if diff := got - us; diff > us/8+1 || -diff > us/8+1 {
			t.Errorf("histMid(histBin(%d)) = %d, want within 12.5%%", us, got)
		}
	}
	var h hist
	for range 70000 { // past a bin's uint16: it halves, keeping proportions
		h.add(10)
	}
	for range 1000 {
		h.add(1000)
	}
	if q := h.quantile(0.95); q != histMid(histBin(10)) {
		t.Errorf("quantile(0.95) = %d, want the bin of 10", q)
	}
	if q := h.quantile(1); q != histMid(histBin(1000)) {
		t.Errorf("quantile(1) = %d, want the bin of 1000", q)
	}
}

func TestSessions(t *testing.T) {
	f := newFixture(t, Options{})
	f.s.Event(ev("web", time.Second, Down))
	f.clk.Advance(time.Minute)
	f.s.Sync()
	if err := f.s.Close(); err != nil {
		t.Fatalf("Close() error = %v", err)
	}
	f.clk.Advance(time.Hour) // monsta stopped for an hour
	f.open(t, Options{})
	f.clk.Advance(time.Minute)
	f.s.Sync()
	f.clk.Set(t0.Add(30 * time.Minute))      // a clock step back, into the gap
	f.s.Event(ev("web", 30*time.Minute, Up)) // stored as given
	f.s.Sync()
	got, err := f.s.Sessions(t0.Add(-time.Hour), t0.Add(24*time.Hour))
	if err != nil {
		t.Fatalf("Sessions() error = %v", err)
	}
	want := []Session{
		{Start: t0, End: t0.Add(time.Minute), Clean: true},
		{Start: t0.Add(61 * time.Minute), End: t0.Add(62 * time.Minute)}, // the mark did not go back
	}
	if !reflect.DeepEqual(utc(got), want) {
		t.Errorf("Sessions() = %v, want %v", got, want)
	}
	es, _ := f.s.Events("web", t0, t0.Add(time.Hour))
	if k := kinds(es); k != "1s:down 30m0s:up" {
		t.Errorf("Events() = %q, want the step back stored as given", k)
	}
	got, _ = f.s.Sessions(t0.Add(2*time.Minute), t0.Add(3*time.Minute))
	if len(got) != 0 {
		t.Errorf("Sessions() in the gap = %v, want none", got)
	}
}

func utc(ss []Session) []Session {
	for i := range ss {
		ss[i].Start, ss[i].End = ss[i].Start.UTC(), ss[i].End.UTC()
	}
	return ss
}

func TestMigrate(t *testing.T) {
	tests := []struct {
		name    string
		from    int // user_version to start at; -1: no file
		wantErr string
	}{
		{"no file", -1, ""},
		{"empty database", 0, ""},
		{"older schema", 1, ""},
		{"current", schemaVersion, ""},
		{"newer schema", 99, "newer than this monsta knows"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "history.db")
			if tt.from >= 0 {
				seed(t, path, tt.from)
			}
			s, err := Open(path, Options{Now: func() time.Time { return t0.Add(time.Hour) }})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Open() error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open() error = %v", err)
			}
			defer func() { _ = s.Close() }()
			var v int
			_ = s.rdb.QueryRow("PRAGMA user_version").Scan(&v)
			if v != schemaVersion {
				t.Errorf("user_version = %d, want %d", v, schemaVersion)
			}
			s.Result(Run{Test: "web", At: t0.Add(time.Hour), OK: true})
			s.Sync()
			if r, err := s.Recent("web", 1); err != nil || len(r) != 1 {
				t.Errorf("Recent() = %v, %v, want the run", r, err)
			}
			if tt.from >= 1 {
				es, err := s.Events("old", t0, t0.Add(time.Hour))
				if err != nil || kinds(es) != "0s:down" {
					t.Errorf("Events() = %q, %v, want the event written before the migration", kinds(es), err)
				}
			}
		})
	}
}

// seed writes a database at user_version v; from version 1 on it holds a
// test "old" with one Down event at t0.
func seed(t *testing.T, path string, v int) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }()
	if v > len(migrations) {
		if _, err := db.Exec(fmt.Sprintf("PRAGMA user_version = %d", v)); err != nil {
			t.Fatal(err)
		}
		return
	}
	if err := migrate(db, v); err != nil {
		t.Fatal(err)
	}
	if v >= 1 {
		if _, err := db.Exec("INSERT INTO tests (id, name) VALUES (7, 'old'); INSERT INTO events (test, at, kind) VALUES (7, ?, 1)", t0.UnixNano()); err != nil {
			t.Fatal(err)
		}
	}
}

func TestOpenReadOnly(t *testing.T) {
	f := newFixture(t, Options{})
	f.s.Event(ev("web", 0, Down))
	f.s.Sync()
	ro, err := OpenReadOnly(f.path) // while the writer has it open
	if err != nil {
		t.Fatalf("OpenReadOnly() error = %v", err)
	}
	defer func() { _ = ro.Close() }()
	f.s.Event(ev("web", time.Minute, Up))
	f.s.Sync()
	es, err := ro.Events("web", t0, t0.Add(time.Hour))
	if err != nil || kinds(es) != "0s:down 1m0s:up" {
		t.Errorf("Events() = %q, %v, want both events", kinds(es), err)
	}
	ro.Result(Run{Test: "web", At: t0})
	if ro.Dropped() != 1 {
		t.Errorf("read-only Dropped() = %d, want 1", ro.Dropped())
	}
	if _, err := OpenReadOnly(filepath.Join(t.TempDir(), "none.db")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("OpenReadOnly(missing) error = %v, want not exist", err)
	}
}
