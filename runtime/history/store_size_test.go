package history

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestDiskPerTest fills 90 days (the default retention) of history for
// 100 tests through the writer's own statements: every bucket of every
// resolution kept, an outage a day (Down, a page, Up, the recovery
// page), and a full ring. A test must stay within 100 KiB, of one check
// and of three (whose checks get rows of their own).
func TestDiskPerTest(t *testing.T) {
	tests := []struct {
		name   string
		checks int
		limit  int64 // bytes per test; 0: only logged
	}{
		{"one check", 1, 100 << 10},
		{"three checks", 3, 100 << 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			per := fillDisk(t, 100, tt.checks)
			t.Logf("%d check(s): %d bytes (%.1f KiB) per test at 90 days", tt.checks, per, float64(per)/1024)
			if tt.limit > 0 && per > tt.limit {
				t.Errorf("%d bytes per test, want at most %d", per, tt.limit)
			}
		})
	}
}

// fillDisk writes n tests of `checks` checks each and returns the
// database's size per test, after a checkpoint.
func fillDisk(t *testing.T, n, checks int) int64 {
	t.Helper()
	now := t0
	path := filepath.Join(t.TempDir(), "history.db")
	s := newStore(path, Options{Now: func() time.Time { return now }}.withDefaults())
	w, err := openWriter(s)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = w.st.close(); _ = w.db.Close() }()
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range n {
		ts := w.test(fmt.Sprintf("test_%03d_%s", i, strings.Repeat("x", 8)))
		fillSeries(w, ts.all, now, rng)
		for c := 0; checks > 1 && c < checks; c++ {
			fillSeries(w, w.checkSeries(ts, fmt.Sprint("check_", c)), now, rng)
		}
		fillLedger(w, ts, now, checks)
		if err := w.write(true); err != nil {
			t.Fatal(err)
		}
		w.events, w.rows, w.ring = w.events[:0], w.rows[:0], w.ring[:0]
		ts.pending = nil
	}
	if _, err := w.db.Exec("PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		t.Fatal(err)
	}
	var size int64
	for _, p := range []string{path, path + "-wal"} {
		if fi, err := os.Stat(p); err == nil {
			size += fi.Size()
		}
	}
	return size / int64(n)
}

// fillSeries adds every bucket the resolutions keep at their defaults.
func fillSeries(w *writer, s *series, now time.Time, rng *rand.Rand) {
	for res, r := range resolutions {
		keep := keepOf(res, s.check, DefaultRetention)
		if keep == noKeep {
			continue
		}
		runs := int64(r.step / (5 * time.Minute)) // a run every 5 minutes
		for at := now.Add(-keep); at.Before(now); at = at.Add(r.step) {
			mean := 20000 + rng.Int64N(200000)
			w.rows = append(w.rows, row{
				series: s.id, res: int64(r.step / time.Second), start: bucketStart(at, res),
				runs: runs, failures: rng.Int64N(2), min: mean / 2, sum: mean * runs, max: mean * 3, p95: mean * 2,
			})
		}
	}
}

// fillLedger adds an outage a day and a full ring.
func fillLedger(w *writer, ts *testState, now time.Time, checks int) {
	for d := 90; d > 0; d-- {
		at := now.Add(-time.Duration(d) * 24 * time.Hour)
		w.events = append(w.events,
			Event{Test: ts.name, At: at, Kind: Down, Error: "connect 127.0.0.1:25: connection refused"},
			Event{Test: ts.name, At: at.Add(time.Second), Kind: Page, Paged: []string{"bob", "sms_bob"}, Level: 1},
			Event{Test: ts.name, At: at.Add(10 * time.Minute), Kind: Up},
			Event{Test: ts.name, At: at.Add(10*time.Minute + time.Second), Kind: Page, Paged: []string{"bob", "sms_bob"}, Level: -1},
		)
	}
	for i := range w.s.o.Recent {
		r := Run{Test: ts.name, At: now.Add(-time.Duration(i) * 5 * time.Minute), OK: true, Duration: 42 * time.Millisecond}
		for c := range checks {
			r.Checks = append(r.Checks, CheckRun{Check: fmt.Sprint("check_", c), OK: true, Duration: 14 * time.Millisecond})
		}
		w.addRing(ts, r)
	}
}
