package history

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestOpenRobust(t *testing.T) {
	tests := []struct {
		name    string
		prepare func(t *testing.T, dir string) string // returns the path to open
		wantErr error                                 // nil: opens
		errText string
		wantLog string // a line the store logs
		check   func(t *testing.T, dir, path string)
	}{
		{
			name: "corrupt: moved aside, a new one",
			prepare: func(t *testing.T, dir string) string {
				p := filepath.Join(dir, "history.db")
				writeFile(t, p, strings.Repeat("not a database at all\n", 400))
				return p
			},
			wantLog: "history database corrupt; moved aside",
			check: func(t *testing.T, dir, path string) {
				m, _ := filepath.Glob(path + ".corrupt-*")
				if len(m) != 1 {
					t.Errorf("moved aside: %v, want one file", m)
				}
			},
		},
		{
			name: "locked by another writer",
			prepare: func(t *testing.T, dir string) string {
				p := filepath.Join(dir, "history.db")
				other, err := Open(p, Options{})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = other.Close() })
				return p
			},
			wantErr: ErrLocked,
		},
		{
			name: "unwritable: the state directory is a file",
			prepare: func(t *testing.T, dir string) string {
				p := filepath.Join(dir, "statedir")
				writeFile(t, p, "")
				return filepath.Join(p, "history.db")
			},
			errText: "not a directory",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := tt.prepare(t, dir)
			log := &syncBuf{}
			s, err := Open(path, Options{Now: func() time.Time { return t0 }, Logger: slog.New(slog.NewTextHandler(log, nil))})
			if tt.wantErr != nil || tt.errText != "" {
				wantOpenError(t, s, err, tt.wantErr, tt.errText)
				return
			}
			if err != nil {
				t.Fatalf("Open() error = %v", err)
			}
			defer func() { _ = s.Close() }()
			if !strings.Contains(log.String(), tt.wantLog) || strings.Count(log.String(), "\n") != 1 {
				t.Errorf("log = %q, want one line with %q", log.String(), tt.wantLog)
			}
			s.Event(Event{Test: "web", At: t0, Kind: Down})
			s.Sync()
			if es, err := s.Events("web", t0, t0.Add(time.Second)); err != nil || len(es) != 1 {
				t.Errorf("Events() = %v, %v, want the new database to work", es, err)
			}
			tt.check(t, dir, path)
		})
	}
}

// wantOpenError checks that Open failed with want (if set) and text, and
// returned no store.
func wantOpenError(t *testing.T, s *Store, err, want error, text string) {
	t.Helper()
	if err == nil || (want != nil && !errors.Is(err, want)) || !strings.Contains(err.Error(), text) {
		t.Fatalf("Open() error = %v, want %v %q", err, want, text)
	}
	if s != nil {
		t.Errorf("Open() store = %v, want nil with the error", s)
	}
}

func writeFile(t *testing.T, p, s string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestFullDisk fills the database to its page limit (a full disk on
// demand): the writer logs once, keeps the events, never blocks the
// Recorder, and writes them when there is room again.
func TestFullDisk(t *testing.T) {
	f := newFixture(t, Options{})
	var pages int
	if err := f.s.w.db.QueryRow("PRAGMA page_count").Scan(&pages); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.w.db.Exec("PRAGMA max_page_count = " + strconv.Itoa(pages)); err != nil {
		t.Fatal(err)
	}
	const n = 3000
	long := strings.Repeat("x", 200)
	for i := range n {
		f.s.Event(Event{Test: "web", At: t0.Add(time.Duration(i) * time.Millisecond), Kind: Down, Error: long})
		if i%500 == 0 {
			f.s.Sync()
		}
	}
	f.s.Sync()
	if got := f.log.String(); strings.Count(got, "history write failed") != 1 || !strings.Contains(got, "full") {
		t.Fatalf("log = %q, want one line saying the database is full", got)
	}
	if _, err := f.s.w.db.Exec("PRAGMA max_page_count = 1000000"); err != nil {
		t.Fatal(err)
	}
	f.s.Event(Event{Test: "web", At: t0.Add(time.Hour), Kind: Up})
	f.s.Sync()
	es, err := f.s.Events("web", t0, t0.Add(2*time.Hour))
	if err != nil || len(es) != n+1 {
		t.Fatalf("Events() = %d events, %v, want %d once there is room", len(es), err, n+1)
	}
	if d := f.s.Dropped(); d != 0 {
		t.Errorf("Dropped() = %d, want 0", d)
	}
}

// TestDropped fills the queues of a store whose writer is not draining
// them: Result and Event return at once, count what they drop, and the
// writer, once it runs, logs how many in one line.
func TestDropped(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history.db")
	log := &syncBuf{}
	o := Options{QueueSize: 8, Now: func() time.Time { return t0 }, Logger: slog.New(slog.NewTextHandler(log, nil))}.withDefaults()
	s := newStore(path, o)
	for i := range 20 {
		s.Result(Run{Test: "web", At: t0.Add(time.Duration(i) * time.Second), OK: true})
	}
	evCap := cap(s.events)
	for i := range evCap + 5 {
		s.Event(Event{Test: "web", At: t0.Add(time.Duration(i) * time.Second), Kind: Up})
	}
	if got, want := s.Dropped(), uint64(12+5); got != want {
		t.Fatalf("Dropped() = %d, want %d", got, want)
	}
	w, err := openWriter(s)
	if err != nil {
		t.Fatal(err)
	}
	s.rdb, err = openReader(path)
	if err != nil {
		t.Fatal(err)
	}
	s.w = w
	go w.run()
	defer func() { _ = s.Close() }()
	s.Sync()
	if got := log.String(); strings.Count(got, "history queue full") != 1 || !strings.Contains(got, "dropped=17") {
		t.Errorf("log = %q, want one line naming 17 dropped", got)
	}
	r, _ := s.Recent("web", 100)
	es, _ := s.Events("web", t0, t0.Add(time.Hour*24))
	if len(r) != 8 || len(es) != evCap {
		t.Errorf("kept %d runs and %d events, want 8 and %d", len(r), len(es), evCap)
	}
	_ = s.Close()
	s.Result(Run{Test: "web", At: t0})
	if got := s.Dropped(); got != 18 {
		t.Errorf("Dropped() after Close = %d, want 18", got)
	}
}

// TestPrune drives a writer by hand past the retention: the ledger keeps
// the last Up or Down before its start, the buckets keep their
// resolution's span, the sessions of the retention stay.
func TestPrune(t *testing.T) {
	clk := &clock{t: t0.Add(-20 * 24 * time.Hour)}
	path := filepath.Join(t.TempDir(), "history.db")
	s := newStore(path, Options{Retention: 10 * 24 * time.Hour, Now: clk.Now}.withDefaults())
	w, err := openWriter(s)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = w.st.close(); _ = w.db.Close() }()
	if s.rdb, err = openReader(path); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.rdb.Close() }()
	day := 24 * time.Hour
	for _, d := range []time.Duration{-20 * day, -15 * day, -3 * day, -time.Hour} {
		w.addEvent(Event{Test: "web", At: t0.Add(d), Kind: Down})
		w.addEvent(Event{Test: "web", At: t0.Add(d + time.Minute), Kind: Page, Paged: []string{"bob"}})
		w.addEvent(Event{Test: "web", At: t0.Add(d + 2*time.Minute), Kind: Up})
		w.addRun(Run{Test: "web", At: t0.Add(d), OK: true, Duration: time.Millisecond})
	}
	if err := w.flush(true); err != nil {
		t.Fatal(err)
	}
	clk.Set(t0)
	w.prune.step(w)
	es, err := s.Events("web", t0.Add(-30*day), t0)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := kinds(es), "-359h58m0s:up -72h0m0s:down -71h59m0s:page -71h58m0s:up -1h0m0s:down -59m0s:page -58m0s:up"; got != want {
		t.Errorf("Events() after prune = %q, want %q", got, want)
	}
	var n int
	if err := s.rdb.QueryRow("SELECT COUNT(*) FROM buckets WHERE res = 300").Scan(&n); err != nil || n != 1 {
		t.Errorf("5-minute buckets after prune = %d, %v, want 1 (the last 48 h)", n, err)
	}
	if err := s.rdb.QueryRow("SELECT COUNT(*) FROM buckets WHERE res = 86400").Scan(&n); err != nil || n != 2 {
		t.Errorf("daily buckets after prune = %d, %v, want 2 (the last 10 days)", n, err)
	}
	if err := s.rdb.QueryRow("SELECT COUNT(*) FROM sessions").Scan(&n); err != nil || n != 1 {
		t.Errorf("sessions = %d, %v, want this one", n, err)
	}
}
