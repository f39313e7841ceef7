package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/monsta/monsta/config"
	"github.com/monsta/monsta/runtime/control"
	"github.com/monsta/monsta/runtime/history"
)

func TestHistoryFlags(t *testing.T) {
	t.Parallel()
	cases := []struct {
		args []string
		err  string
	}{
		{[]string{"--since", "7d", "--status"}, "--since goes with"},
		{[]string{"--csv", "--history", "web"}, "--csv goes with --report"},
		{[]string{"--report", "--csv", "--json"}, "--csv and --json"},
		{[]string{"--report", "--since", "soon"}, "--since"},
		{[]string{"--report", "--history", "web"}, "--history and --report cannot be used together"},
		{[]string{"--report", "--since", "90d", "--csv"}, ""},
		{[]string{"--history", "web", "--since", "24h", "--json"}, ""},
	}
	for _, c := range cases {
		_, err := parseArgs(c.args, io.Discard)
		switch {
		case c.err == "" && err != nil:
			t.Errorf("%v: %v", c.args, err)
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%v = %v, want %q", c.args, err, c.err)
		}
	}
}

func pf(f float64) *float64 { return &f }

func pb(b bool) *bool { return &b }

// sampleReport has a test with a target missed, one that never ran and
// one whose name needs quoting in CSV.
func sampleReport() *control.ReportAnswer {
	from := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	return &control.ReportAnswer{From: from, To: from.Add(30 * 24 * time.Hour), Tests: []control.ReportRow{
		{Test: "db", Uptime: pf(99.6643518518), UpSeconds: 2582700, DownSeconds: 8700, Outages: 2, LongestSeconds: 7200,
			MTTRSeconds: 1500, MTBFSeconds: 1291350, Target: 99.9, BudgetSeconds: 2592, BudgetLeftSeconds: -6108, Met: pb(false)},
		{Test: "new", NoDataSeconds: 2592000},
		{Test: `web, "main"`, Uptime: pf(100), UpSeconds: 2592000},
	}}
}

func TestReportCSV(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	if err := writeReportCSV(&b, sampleReport()); err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(b.String(), "\r\n") || strings.Count(b.String(), "\r\n") != 4 {
		t.Errorf("lines do not end in CRLF (RFC 4180):\n%q", b.String())
	}
	rows, err := csv.NewReader(&b).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(rows[0], ",") != strings.Join(reportHeader, ",") {
		t.Errorf("header = %v", rows[0])
	}
	want := [][]string{
		{"db", "99.6644", "2", "8700", "7200", "1500", "1291350", "2582700", "0", "0", "0", "99.9", "2592", "-6108", "false"},
		{"new", "", "0", "0", "0", "0", "0", "0", "0", "0", "2592000", "", "", "", ""},
		{`web, "main"`, "100.0000", "0", "0", "0", "0", "0", "2592000", "0", "0", "0", "", "", "", ""},
	}
	for i, w := range want {
		if got := strings.Join(rows[i+1], "|"); got != strings.Join(w, "|") {
			t.Errorf("row %d = %s\nwant     %s", i+1, got, strings.Join(w, "|"))
		}
	}
}

func TestReportTable(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	printReport(&b, sampleReport())
	for _, want := range []string{
		"TEST ", "db  ", "99.664%", "2h25m0s", "99.9%", "-1h41m48s",
		"new  ", "  -  ",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
}

func TestHistoryText(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 2, 27, 0, 0, 0, 0, time.UTC)
	th := &testHistory{Report: sampleReport().Tests[0], Outages: []control.OutageJSON{
		{Start: at, End: at.Add(25 * time.Minute), DurationSeconds: 1500, FirstError: "connect:\trefused", Paged: []string{"oncall", "boss"}, Held: []string{"silence s1"}},
		{Start: at.Add(3 * 24 * time.Hour), Ongoing: true, DurationSeconds: 7200},
	}, History: control.HistoryAnswer{Buckets: []control.BucketJSON{{Runs: 3, MeanSeconds: 0.1, P95Seconds: 0.3}, {Runs: 1, MeanSeconds: 0.5, P95Seconds: 0.6}}}}
	var b bytes.Buffer
	printHistory(&b, th, "30d")
	for _, want := range []string{
		"db over 30d: uptime 99.664%, 2 outages, down 2h25m0s (longest 2h0m0s), MTTR 25m0s",
		"SLA 99.9%: MISSED, budget 43m12s, left -1h41m48s",
		"response: 4 runs, mean 200ms, worst p95 600ms",
		"connect: refused", "oncall boss", "silence s1", "ongoing",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("--history lacks %q:\n%s", want, b.String())
		}
	}
}

func TestSLATargets(t *testing.T) {
	t.Parallel()
	load := func(conf string) (*config.Config, error) {
		return config.Load(writeConf(t, map[string]string{"monsta.conf": conf}), "/nonexistent")
	}
	cfg, err := load("[main]\nhistory_maintenance = up\n[Test_a]\nsla = 99.9\n[Test_b]\nchecks = x\n")
	if err != nil {
		t.Fatal(err)
	}
	if targets, err := slaTargets(cfg); err != nil || len(targets) != 1 || targets["a"] != 99.9 {
		t.Errorf("slaTargets = %v %v", targets, err)
	}
	for conf, want := range map[string]string{
		"[Test_a]\nsla = lots\n": "monsta.conf:2",
		"[Test_a]\nsla = 120\n":  "sla",
	} {
		cfg, err := load(conf)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := slaTargets(cfg); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want an error naming %s", conf, err, want)
		}
	}
}

// ledgerReader is a history.Reader over one ledger and one session, for
// the command line's tests.
type ledgerReader struct {
	events  map[string][]history.Event
	session history.Session
}

func (l ledgerReader) Tests() ([]string, error) { return slices.Sorted(maps.Keys(l.events)), nil }
func (l ledgerReader) Events(test string, from, to time.Time) ([]history.Event, error) {
	return l.events[test], nil
}
func (l ledgerReader) Sessions(from, to time.Time) ([]history.Session, error) {
	return []history.Session{l.session}, nil
}
func (l ledgerReader) Buckets(test, check string, from, to time.Time, step time.Duration) ([]history.Bucket, error) {
	return []history.Bucket{{Start: to.Add(-time.Hour), Step: step, Runs: 12, Mean: 40 * time.Millisecond, P95: 90 * time.Millisecond}}, nil
}
func (l ledgerReader) Recent(test string, n int) ([]history.Run, error) { return nil, nil }

// TestHistoryThroughTheSocket serves a history on a control socket and
// asks it with --report --csv, --report --json and --history; with no
// daemon on the socket, --report says it could read neither.
func TestHistoryThroughTheSocket(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	r := ledgerReader{session: history.Session{Start: now.Add(-40 * 24 * time.Hour), End: now}, events: map[string][]history.Event{
		"db": {{At: now.Add(-40 * 24 * time.Hour), Kind: history.Up}, {At: now.Add(-3 * time.Hour), Kind: history.Down, Error: "refused"},
			{At: now.Add(-2 * time.Hour), Kind: history.Up}},
		"web": {{At: now.Add(-40 * 24 * time.Hour), Kind: history.Up}},
	}}
	sock := serveHistory(t, r, now)
	ask := func(args ...string) (int, string, string) { return run2(append(args, "--socket", sock)) }
	cases := []struct {
		args []string
		ok   func(out string) bool
	}{
		{[]string{"--report", "--csv", "--since", "7d"}, func(out string) bool {
			rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
			return err == nil && len(rows) == 3 && strings.Join(rows[1][:3], " ") == "db 99.4048 1" && strings.Join(rows[2][:2], " ") == "web 100.0000"
		}},
		{[]string{"--report", "--json"}, func(out string) bool {
			var rep control.ReportAnswer
			return json.Unmarshal([]byte(out), &rep) == nil && len(rep.Tests) == 2 && rep.To.Equal(now)
		}},
		{[]string{"--history", "Test_db", "--since", "1d"}, func(out string) bool {
			return strings.Contains(out, "db over 1d: uptime 95.833%, 1 outage, down 1h0m0s") && strings.Contains(out, "refused") &&
				strings.Contains(out, "response: 12 runs, mean 40ms, worst p95 90ms")
		}},
	}
	for _, c := range cases {
		if code, out, errs := ask(c.args...); code != 0 || !c.ok(out) {
			t.Errorf("%v = %d\n%s%s", c.args, code, out, errs)
		}
	}
	gone := filepath.Join(t.TempDir(), "monsta.sock")
	if code, _, errs := run2([]string{"--report", "--socket", gone}); code != exitConfig || !strings.Contains(errs, "is monsta running?") || !strings.Contains(errs, "history.db") {
		t.Errorf("--report without a daemon = %d %q", code, errs)
	}
}

// serveHistory serves r's history on a control socket until the test
// ends, and returns the socket's path.
func serveHistory(t *testing.T, r history.Reader, now time.Time) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "monsta.sock")
	l, err := control.ListenSocket(sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	srv := control.New(control.Options{History: r, Now: func() time.Time { return now }, SLA: func(string) float64 { return 99.9 }})
	done := make(chan struct{})
	go func() {
		defer close(done)
		control.Serve(ctx, l, srv.Handler(false, ""))
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return sock
}

// run2 runs the command line in-process and returns its exit status,
// output and errors.
func run2(args []string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}
