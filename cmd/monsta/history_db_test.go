package main

import (
	"encoding/csv"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/monsta/monsta/runtime/history"
)

// TestReportReadsTheDatabaseWithoutADaemon writes a history database (a
// session of two hours with a half-hour outage), and with no daemon on
// the socket --report --csv and --history read it themselves.
func TestReportReadsTheDatabaseWithoutADaemon(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var mu sync.Mutex
	t0 := time.Now().Add(-3 * time.Hour).Truncate(time.Second)
	now := t0
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	st, err := history.Open(filepath.Join(dir, historyDBName), history.Options{Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	st.Event(history.Event{Test: "db", At: t0, Kind: history.Up})
	st.Event(history.Event{Test: "db", At: t0.Add(10 * time.Minute), Kind: history.Down, Error: "connection refused"})
	st.Event(history.Event{Test: "db", At: t0.Add(40 * time.Minute), Kind: history.Up})
	mu.Lock()
	now = t0.Add(2 * time.Hour)
	mu.Unlock()
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "monsta.sock") // nobody answers on it
	code, out, errs := run2([]string{"--report", "--csv", "--socket", sock})
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if code != 0 || err != nil || len(rows) != 2 || strings.Join(rows[1][:4], " ") != "db 75.0000 1 1800" {
		t.Errorf("--report --csv without a daemon = %d %v %q\n%s", code, err, rows, errs)
	}
	if code, out, errs := run2([]string{"--history", "db", "--socket", sock}); code != 0 || !strings.Contains(out, "1 outage, down 30m0s") || !strings.Contains(out, "connection refused") {
		t.Errorf("--history without a daemon = %d\n%s%s", code, out, errs)
	}
}
