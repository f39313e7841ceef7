package app

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/monsta/monsta/runtime"
	"github.com/monsta/monsta/runtime/control"
	"github.com/monsta/monsta/runtime/history"
)

// fakeHistory is a HistoryStore that keeps what it is told and counts
// what is told after Close.
type fakeHistory struct {
	mu     sync.Mutex
	path   string
	policy runtime.HistoryPolicy
	events []history.Event
	runs   int
	closed int
	late   int // records after Close
}

func (h *fakeHistory) Result(history.Run) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.runs++
	if h.closed > 0 {
		h.late++
	}
}

func (h *fakeHistory) Event(e history.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.events = append(h.events, e)
	if h.closed > 0 {
		h.late++
	}
}

func (h *fakeHistory) Close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed++
	return nil
}

func (h *fakeHistory) Tests() ([]string, error) { return nil, nil }
func (h *fakeHistory) Events(string, time.Time, time.Time) ([]history.Event, error) {
	return nil, nil
}
func (h *fakeHistory) Sessions(time.Time, time.Time) ([]history.Session, error) { return nil, nil }
func (h *fakeHistory) Buckets(string, string, time.Time, time.Time, time.Duration) ([]history.Bucket, error) {
	return nil, nil
}
func (h *fakeHistory) Recent(string, int) ([]history.Run, error) { return nil, nil }

// kinds counts the events of kind k for test.
func (h *fakeHistory) kinds(test string, k history.Kind) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, e := range h.events {
		if e.Test == test && e.Kind == k {
			n++
		}
	}
	return n
}

// TestHistoryKeptAcrossReload: the store is opened once at start in the
// state directory, every generation records into it (a reload records no
// second Down for a test that still fails: no gap, no duplicate), and it
// is closed once, after the last engine stopped.
func TestHistoryKeptAcrossReload(t *testing.T) {
	t.Parallel()
	f := newFixture(t, strings.Replace(failingConf, "[main]\n", "[main]\nhistory_recent = 7\n", 1))
	var opened []*fakeHistory
	f.opts.OpenHistory = func(path string, p runtime.HistoryPolicy, _ *slog.Logger) (HistoryStore, error) {
		h := &fakeHistory{path: path, policy: p}
		opened = append(opened, h)
		return h, nil
	}
	a := f.start()
	f.runUntil(`msg="test failed" test=down failures=1`)
	if len(opened) != 1 || opened[0].path != filepath.Join(f.dir, "state", HistoryFile) || opened[0].policy.Recent != 7 {
		t.Fatalf("opened %d stores (%+v), want one at STATEDIR/history.db with history_recent 7", len(opened), opened)
	}
	h := opened[0]
	if err := a.Reload(); err != nil {
		t.Fatal(err)
	}
	f.runUntil(`msg="test failed" test=down failures=3`)
	if len(opened) != 1 || h.closed != 0 {
		t.Fatalf("after a reload: %d stores opened, %d closes; want the same store, open", len(opened), h.closed)
	}
	if n := h.kinds("down", history.Down); n != 1 {
		t.Errorf("%d Down events for a test failing all along, across a reload; want 1", n)
	}
	if h.kinds("down", history.Page) != 1 {
		t.Errorf("pages recorded = %d, want 1 (level 2)", h.kinds("down", history.Page))
	}
	a.Close()
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed != 1 || h.late != 0 || h.runs < 3 {
		t.Errorf("closed %d times, %d records after Close, %d runs; want closed once, last, with every run", h.closed, h.late, h.runs)
	}
}

// TestHistoryOpenFails: a history database that cannot be opened is said
// loudly, and the daemon goes on paging without it.
func TestHistoryOpenFails(t *testing.T) {
	t.Parallel()
	f := newFixture(t, failingConf)
	f.opts.OpenHistory = func(string, runtime.HistoryPolicy, *slog.Logger) (HistoryStore, error) {
		return nil, errors.New("database disk image is malformed")
	}
	a := f.start()
	defer a.Close()
	log := f.runUntil(`msg=notification test=down state=FAIL failures=2`)
	if !strings.Contains(log, `level=ERROR msg="HISTORY OFF: cannot open the history database; the daemon runs without history"`) ||
		!strings.Contains(log, "malformed") || a.History() != nil {
		t.Errorf("history store that failed to open: History() = %v, log:\n%s", a.History(), log)
	}
}

// TestHistoryOff: history = no opens nothing.
func TestHistoryOff(t *testing.T) {
	t.Parallel()
	f := newFixture(t, strings.Replace(failingConf, "[main]\n", "[main]\nhistory = no\n", 1))
	f.opts.OpenHistory = func(string, runtime.HistoryPolicy, *slog.Logger) (HistoryStore, error) {
		t.Error("history opened with history = no")
		return nil, errors.New("no")
	}
	a := f.start()
	defer a.Close()
	f.runUntil(`msg="test failed" test=down failures=1`)
	if a.History() != nil || strings.Contains(f.logText(), "HISTORY") {
		t.Errorf("history = no: History() = %v, log:\n%s", a.History(), f.logText())
	}
}

// TestHistoryServedWithTargets: the daemon's control API reads the
// history store of Start, with the generation's SLA targets: the report
// gives a test its sla, and a reload that changes it serves the new one.
func TestHistoryServedWithTargets(t *testing.T) {
	t.Parallel()
	f := newFixture(t, daemonConf("")+"sla = 99.9\n")
	a := f.startDaemon()
	f.runUntil(`msg="test failed" test=down failures=1`)
	sock := control.SocketPath(a.StateDir().Path())
	if got := reportTarget(t, sock, "down"); got != 99.9 {
		t.Errorf("report's sla_target for down = %v, want 99.9", got)
	}
	f.rewrite(strings.ReplaceAll(daemonConf(""), "STATEDIR", a.StateDir().Path()) + "sla = 99.5\n")
	if err := a.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := reportTarget(t, sock, "down"); got != 99.5 {
		t.Errorf("after a reload, sla_target for down = %v, want 99.5", got)
	}
}

// reportTarget asks the control API at the socket for the report and
// returns test's SLA target in it.
func reportTarget(t *testing.T, sock, test string) float64 {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		}}}
	resp, err := c.Get("http://monsta/api/v1/report")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var ans control.ReportAnswer
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET /api/v1/report: %s %s", resp.Status, b)
	}
	if err := json.NewDecoder(resp.Body).Decode(&ans); err != nil {
		t.Fatal(err)
	}
	for _, r := range ans.Tests {
		if r.Test == test {
			return r.Target
		}
	}
	t.Fatalf("report has no row for %s: %+v", test, ans.Tests)
	return 0
}
