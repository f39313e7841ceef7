package control

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/monsta/monsta/runtime/engine"
	"github.com/monsta/monsta/runtime/history"
)

// historyTests are threeTests and a test whose name is HTML.
const historyTests = threeTests + "[Test_<b>x</b>]\nchecks=up\n"

// historyFixture is the fixture's engine with a fake history of 90 days
// (seedHistory), db with an SLA of 99.9 %.
func historyFixture(t *testing.T) (*fixture, *fakeHistory) {
	t.Helper()
	f := newFixture(t, historyTests, map[string]error{"down": errors.New("connection refused")})
	f.run(t, "web", "db", "mail", "<b>x</b>")
	h := newFakeHistory()
	seedHistory(h, f.clk.Now())
	f.srv = New(Options{Engine: func() *engine.Engine { return f.eng }, Silences: f.sil, Host: "mon1", History: h,
		SLA: func(test string) float64 {
			if test == "db" {
				return 99.9
			}
			return 0
		}})
	return f, h
}

// get serves a GET and returns the status, the content type and the body.
func fget(t *testing.T, f *fixture, path string) (int, string, string) {
	t.Helper()
	w := httptest.NewRecorder()
	f.srv.Handler(true, "").ServeHTTP(w, httptest.NewRequest("GET", path, nil))
	body, _ := io.ReadAll(w.Result().Body)
	return w.Code, w.Header().Get("Content-Type"), string(body)
}

// rowOf cuts the status page's <details> of one test.
func rowOf(t *testing.T, page, name string) string {
	t.Helper()
	i := strings.Index(page, `id="test-`+name+`"`)
	if i < 0 {
		t.Fatalf("page has no row for %s", name)
	}
	j := strings.Index(page[i:], "</details>")
	return page[i : i+j]
}

func TestStatusPageHistory(t *testing.T) {
	t.Parallel()
	f, _ := historyFixture(t)
	code, ct, page := fget(t, f, "/")
	if code != 200 || !strings.HasPrefix(ct, "text/html") {
		t.Fatalf("GET / = %d %s", code, ct)
	}
	if n := strings.Count(page, `<svg class="bar"`); n != 5 {
		t.Errorf("%d bars, want one per test (5)", n)
	}
	if n := strings.Count(page, "<rect "); n != 5*BarDays {
		t.Errorf("%d cells, want %d", n, 5*BarDays)
	}
	if strings.Contains(page, "<b>x</b>") || strings.Contains(page, "<script>") {
		t.Error("a name or an error reached the page unescaped")
	}
	cases := []struct{ test, what, want string }{
		{"db", "ongoing outage", "down for 2h00m"},
		{"db", "day's outage in the tooltip", "98.26%, down 25m\n00:00–00:25</title>"},
		{"db", "budget", "SLA 99.9%: budget exceeded by"},
		{"db", "link to its page", `<a href="tests/db">`},
		{"db", "chart", `<path d="M0 `},
		{"web", "uptime", "24h 100% · 7d 100% · 30d 100% · 90d 100%"},
		{"web", "streak", "up for 100d0h"},
		{"web", "green day", `class="u5"><title>2026-03-01 100%</title>`},
		{"web", "the stop 40 days ago", ", no data 6h00m"},
		{"new", "grey days", `<rect x="0" class="n"><title>2025-12-03 no data</title>`},
		{"new", "never run", "never run"},
		{"new", "empty chart", "no runs in the last 24 hours"},
		{"&lt;b&gt;x&lt;/b&gt;", "escaped link", `<a href="tests/%3Cb%3Ex%3C%2Fb%3E">`},
	}
	for _, c := range cases {
		if row := rowOf(t, page, c.test); !strings.Contains(row, c.want) {
			t.Errorf("%s: %s: row lacks %q:\n%s", c.test, c.what, c.want, row)
		}
	}
	if !strings.Contains(rowOf(t, page, "db"), "24h 91.66% · 7d 98.56% · 30d 99.66% · 90d 99.88%") {
		t.Errorf("db's uptimes do not show its outages:\n%s", rowOf(t, page, "db"))
	}
}

func TestHistoryOff(t *testing.T) {
	t.Parallel()
	f := newFixture(t, threeTests, nil)
	f.run(t, "web")
	_, _, page := fget(t, f, "/")
	if !strings.Contains(page, `<span id="history-note">history is off`) || strings.Contains(page, `class="bar"`) {
		t.Errorf("page without history does not say so:\n%s", page)
	}
	for _, path := range []string{"/api/v1/tests/web/history", "/api/v1/tests/web/outages", "/api/v1/report"} {
		var e APIError
		if code := call(t, f.srv.Handler(false, ""), "GET", path, "", nil, &e); code != 404 || !strings.Contains(e.Error, "history is off") {
			t.Errorf("GET %s = %d %q, want 404 history is off", path, code, e.Error)
		}
	}
	if code, _, body := fget(t, f, "/tests/web"); code != 200 || !strings.Contains(body, "history is off") {
		t.Errorf("GET /tests/web = %d:\n%s", code, body)
	}
	if code, _, body := fget(t, f, "/badge/web/uptime/30d"); code != 200 || !strings.Contains(body, "history is off") {
		t.Errorf("uptime badge = %d:\n%s", code, body)
	}
}

func TestHistoryReadFails(t *testing.T) {
	t.Parallel()
	f, h := historyFixture(t)
	h.fail = errors.New("database is locked")
	code, _, page := fget(t, f, "/")
	if code != 200 || !strings.Contains(page, "database is locked") || !strings.Contains(page, `id="test-web"`) {
		t.Errorf("GET / with a failing history = %d, want the tests and the error:\n%s", code, page)
	}
	var e APIError
	if code := call(t, f.srv.Handler(false, ""), "GET", "/api/v1/report", "", nil, &e); code != 500 || !strings.Contains(e.Error, "database is locked") {
		t.Errorf("report = %d %q", code, e.Error)
	}
}

func TestHistoryAPI(t *testing.T) {
	t.Parallel()
	f, h := historyFixture(t)
	api := f.srv.Handler(false, "")
	checkHistoryAnswer(t, api, h)
	checkOutages(t, api)
	checkReport(t, api)
	checkAPIErrors(t, api, []apiErrorCase{
		{"GET", "/api/v1/tests/db/history?since=soon", "", 400, "since", "bad since"},
		{"GET", "/api/v1/tests/db/history?step=1s", "", 400, "step", "too fine a step"},
		{"GET", "/api/v1/report?since=-3d", "", 400, "since", "negative since"},
		{"POST", "/api/v1/report", "", 405, "", "POST report"},
		{"GET", "/api/v1/tests/nope/history", "", 404, `"nope"`, "history of an unknown test"},
		{"GET", "/api/v1/tests/nope/outages", "", 404, `"nope"`, "outages of an unknown test"},
		{"GET", "/api/v1/report?test=nope", "", 404, `"nope"`, "report of an unknown test"},
	})
}

// checkHistoryAnswer wants db's 7 days at 5 minutes: the buckets, the
// events with the page's level, and the step asked of the store.
func checkHistoryAnswer(t *testing.T, api http.Handler, h *fakeHistory) {
	t.Helper()
	var hist HistoryAnswer
	if code := call(t, api, "GET", "/api/v1/tests/Test_db/history?since=7d&step=5m", "", nil, &hist); code != 200 {
		t.Fatalf("history = %d", code)
	}
	if hist.Test != "db" || len(hist.Buckets) != chartPoints || hist.StepSeconds != 300 || !(hist.To.Sub(hist.From) == 7*day) {
		t.Errorf("history = %s %d buckets step %v from %v to %v", hist.Test, len(hist.Buckets), hist.StepSeconds, hist.From, hist.To)
	}
	kinds := []string{}
	for _, e := range hist.Events {
		kinds = append(kinds, e.Kind)
	}
	if got := strings.Join(kinds, " "); got != "up down page hold_on up hold_off down" {
		t.Errorf("events = %s", got)
	}
	if hist.Events[2].Level == nil || *hist.Events[2].Level != 1 || hist.Events[1].Level != nil {
		t.Errorf("page event level = %v, down's %v", hist.Events[2].Level, hist.Events[1].Level)
	}
	if last := h.asked[len(h.asked)-1]; last != 5*time.Minute {
		t.Errorf("asked the store for step %v, want 5m", last)
	}
}

// checkOutages wants db's two outages of 30 days, the second ongoing.
func checkOutages(t *testing.T, api http.Handler) {
	t.Helper()
	var out OutagesAnswer
	if code := call(t, api, "GET", "/api/v1/tests/db/outages?since=30d", "", nil, &out); code != 200 || len(out.Outages) != 2 {
		t.Fatalf("outages = %d %+v", code, out)
	}
	if o := out.Outages[0]; o.Ongoing || o.DurationSeconds != 25*60 || o.FirstError == "" || len(o.Paged) != 1 || o.Paged[0] != "oncall" {
		t.Errorf("first outage = %+v", o)
	}
	if o := out.Outages[1]; !o.Ongoing || !o.End.IsZero() || o.DurationSeconds != 2*3600 {
		t.Errorf("ongoing outage = %+v", o)
	}
}

// checkReport wants the 30-day report to list every configured test.
func checkReport(t *testing.T, api http.Handler) {
	t.Helper()
	var rep ReportAnswer
	if code := call(t, api, "GET", "/api/v1/report?since=30d", "", nil, &rep); code != 200 {
		t.Fatalf("report = %d", code)
	}
	rows := map[string]ReportRow{}
	var names []string
	for _, r := range rep.Tests {
		rows[r.Test] = r
		names = append(names, r.Test)
	}
	if got := strings.Join(names, " "); got != "<b>x</b> db mail new web" {
		t.Errorf("report lists %q", got)
	}
	checkReportRows(t, rows)
}

// checkReportRows wants web up all along, new without data and db's
// outages past its budget.
func checkReportRows(t *testing.T, rows map[string]ReportRow) {
	t.Helper()
	if r := rows["web"]; r.Uptime == nil || *r.Uptime != 100 || r.Outages != 0 || r.Target != 0 || r.Met != nil {
		t.Errorf("web = %+v", r)
	}
	if r := rows["new"]; r.Uptime != nil || r.NoDataSeconds != 30*24*3600 {
		t.Errorf("new = %+v", r)
	}
	if r := rows["db"]; r.Outages != 2 || r.DownSeconds != 25*60+2*3600 || r.Target != 99.9 || r.Met == nil || *r.Met || r.BudgetLeftSeconds >= 0 {
		t.Errorf("db = %+v", r)
	}
}

func TestTestPage(t *testing.T) {
	t.Parallel()
	f, _ := historyFixture(t)
	code, ct, page := fget(t, f, "/tests/db")
	if code != 200 || !strings.HasPrefix(ct, "text/html") {
		t.Fatalf("GET /tests/db = %d %s", code, ct)
	}
	for _, want := range []string{
		`<h1 id="name">db · FAIL</h1>`,
		`<a href="../">all tests</a>`,
		`<svg class="bar"`, `<svg class="ch"`,
		`<a href="db">`, // the bar links to this page
		"<td>2026-02-27 00:00:00</td><td>2026-02-27 00:25:00</td><td>25m</td><td class=\"err\">connect 127.0.0.1:5432: connection refused</td><td>oncall</td>",
		"<td>ongoing</td><td>2h00m</td>",
		`<td class="fail">FAIL</td><td>150ms</td><td class="err">down: connection refused</td>`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("test page lacks %q:\n%s", want, page)
		}
	}
	if n := strings.Count(page, "<td class=\"ok\">OK</td>") + strings.Count(page, "<td class=\"fail\">FAIL</td>"); n != RecentRuns {
		t.Errorf("%d runs listed, want the last %d", n, RecentRuns)
	}
	if code, _, page := fget(t, f, "/tests/%3Cb%3Ex%3C%2Fb%3E"); code != 200 || strings.Contains(page, "<b>x</b>") || strings.Contains(page, "<script>") ||
		!strings.Contains(page, "&lt;b&gt;x&lt;/b&gt;") || !strings.Contains(page, "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Errorf("GET the page of <b>x</b> = %d, escaped? %s", code, page)
	}
	if code, _, page := fget(t, f, "/tests/new"); code != 200 || !strings.Contains(page, "No outages.") || !strings.Contains(page, "Not run yet.") {
		t.Errorf("GET /tests/new = %d:\n%s", code, page)
	}
	if code, _, _ := fget(t, f, "/tests/nope"); code != 404 {
		t.Errorf("GET /tests/nope = %d, want 404", code)
	}
}

func TestBadges(t *testing.T) {
	t.Parallel()
	f, _ := historyFixture(t)
	cases := []struct {
		path  string
		code  int
		texts string // label|value
		color string
	}{
		{"/badge/web/status", 200, "web|up", badgeGreen},
		{"/badge/Test_db/status", 200, "db|down", badgeRed},
		{"/badge/new/status", 200, "new|not run yet", badgeGrey},
		{"/badge/mail/status", 200, "mail|down", badgeRed},
		{"/badge/web/uptime/30d", 200, "uptime 30d|100%", badgeGreen},
		{"/badge/db/uptime/24h", 200, "uptime 24h|91.66%", badgeRed},
		{"/badge/web/uptime", 200, "uptime 30d|100%", badgeGreen},
		{"/badge/web/response", 200, "response|0ms", badgeBlue},
		{"/badge/new/response", 200, "response|not run yet", badgeGrey},
		{"/badge/%3Cb%3Ex%3C%2Fb%3E/status", 200, "<b>x</b>|up", badgeGreen},
		{"/badge/nope/status", 404, "nope|no such test", badgeGrey},
		{"/badge/web/uptime/soon", 400, "uptime|want a window such as 30d", badgeGrey},
		{"/badge/web/colour", 404, "badge|want status, uptime/30d or response", badgeGrey},
	}
	for _, c := range cases {
		code, ct, body := fget(t, f, c.path)
		label, value := parseBadge(t, body)
		if code != c.code || ct != "image/svg+xml" || label+"|"+value != c.texts || !strings.Contains(body, `fill="`+c.color+`"`) {
			t.Errorf("GET %s = %d %s %q|%q, want %d %q in %s:\n%s", c.path, code, ct, label, value, c.code, c.texts, c.color, body)
		}
	}
	if code, _, _ := fget(t, f, "/badge/web/status"); code != 200 {
		t.Error("a badge needs a token")
	}
}

// parseBadge reads a badge as XML and returns its two texts.
func parseBadge(t *testing.T, body string) (string, string) {
	t.Helper()
	var svg struct {
		G []struct {
			Text []string `xml:"text"`
		} `xml:"g"`
	}
	if err := xml.Unmarshal([]byte(body), &svg); err != nil {
		t.Fatalf("badge is not XML: %v\n%s", err, body)
	}
	for _, g := range svg.G {
		if len(g.Text) == 2 {
			return g.Text[0], g.Text[1]
		}
	}
	t.Fatalf("badge has no label and value:\n%s", body)
	return "", ""
}

func TestChartPath(t *testing.T) {
	t.Parallel()
	from := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	b := func(i int, ms int) history.Bucket {
		return history.Bucket{Start: from.Add(time.Duration(i) * ChartStep), Step: ChartStep, Mean: time.Duration(ms) * time.Millisecond}
	}
	cases := []struct {
		name    string
		buckets []history.Bucket
		path    string
	}{
		{"a line", []history.Bucket{b(0, 10), b(1, 20), b(2, 5)}, "M0 15l1 -14 1 21"},
		{"a gap breaks it", []history.Bucket{b(0, 20), b(1, 20), b(5, 10), b(6, 20)}, "M0 1l1 0M5 15l1 -14"},
		{"a lone point", []history.Bucket{b(3, 20), b(9, 20), b(10, 10)}, "M3 1M9 1l1 14"},
		{"outside the span", []history.Bucket{b(-1, 20), b(0, 20), b(chartPoints, 20)}, "M0 1"},
	}
	re := regexp.MustCompile(`<path d="([^"]*)"`)
	for _, c := range cases {
		var sb bytes.Buffer
		writeChart(&sb, c.buckets, from)
		m := re.FindStringSubmatch(sb.String())
		if m == nil || m[1] != c.path {
			t.Errorf("%s: %s, want path %q", c.name, sb.String(), c.path)
		}
	}
}

func TestPercent(t *testing.T) {
	t.Parallel()
	for u, want := range map[float64]string{100: "100%", 99.999: "99.99%", 99.9: "99.90%", 0: "0.00%", -1: "–", 50.126: "50.12%"} {
		if got := percent(u); got != want {
			t.Errorf("percent(%v) = %q, want %q", u, got, want)
		}
	}
}

// TestWindowEvents: Compute over windowEvents' part of a ledger equals
// Compute over the whole, for ledgers with silences, maintenance open
// across the window's start, an outage across it, and a clock step back.
func TestWindowEvents(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	h := newFakeHistory()
	seedHistory(h, now)
	ledgers := map[string][]history.Event{"db": h.events["db"], "x": h.events["<b>x</b>"]}
	for v := range 8 {
		ledgers[fmt.Sprint("realistic", v)] = realisticLedger("r", now, v)
	}
	m := []history.Event{
		{At: now.Add(-50 * time.Hour), Kind: history.Up},
		{At: now.Add(-30 * time.Hour), Kind: history.HoldOn, Hold: history.HoldMaintenance, HoldName: "w"},
		{At: now.Add(-26 * time.Hour), Kind: history.Down, Error: "e"},
		{At: now.Add(-20 * time.Hour), Kind: history.HoldOff, Hold: history.HoldMaintenance, HoldName: "w"},
		{At: now.Add(-23 * time.Hour), Kind: history.Up}, // a clock step back
		{At: now.Add(-2 * time.Hour), Kind: history.Down, Error: "e"},
	}
	ledgers["maintenance across the start"] = m
	ledgers["in order"] = append(slices.Clone(m[:3]), m[5])
	for _, acc := range []history.Accounting{{}, {Maintenance: "down"}, {Maintenance: "up"}} {
		for name, evs := range ledgers {
			for _, back := range []time.Duration{time.Hour, 24 * time.Hour, 28 * time.Hour, 7 * day, 30 * day, 90 * day} {
				from := now.Add(-back)
				want := history.Compute("t", evs, h.sessions, from, now, acc)
				got := history.Compute("t", windowEvents(evs, from), h.sessions, from, now, acc)
				if !reflect.DeepEqual(got, want) {
					t.Errorf("%s, %s back, maintenance %q: %+v\nwant %+v", name, back, acc.Maintenance, got, want)
				}
			}
		}
	}
}

// failAfter is a writer that fails from its n-th write on.
type failAfter struct{ n, writes int }

func (f *failAfter) Write(p []byte) (int, error) {
	f.writes++
	if f.writes >= f.n {
		return 0, errors.New("connection reset by peer")
	}
	return len(p), nil
}

// TestRowsInOrderAndStop: the rows come in the tests' order, block after
// block, and a client that goes away stops the writing at once.
func TestRowsInOrderAndStop(t *testing.T) {
	t.Parallel()
	tests := make([]Test, 10*rowBlock+7)
	for i := range tests {
		tests[i] = Test{Name: fmt.Sprintf("t%05d", i), State: StateOK, OK: true}
	}
	rw := rowWriter{now: time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC), loc: time.UTC}
	var b bytes.Buffer
	if err := rw.write(&b, tests); err != nil {
		t.Fatal(err)
	}
	last := -1
	for i := range tests {
		at := strings.Index(b.String(), `id="test-`+tests[i].Name+`"`)
		if at <= last {
			t.Fatalf("row %d at %d, after %d: out of order or missing", i, at, last)
		}
		last = at
	}
	done := make(chan error, 1)
	f := &failAfter{n: 3}
	go func() { done <- rw.write(f, tests) }()
	select {
	case err := <-done:
		if err == nil || f.writes != 3 {
			t.Errorf("write to a client gone = %v after %d writes, want its error after 3", err, f.writes)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the rows hang when the client goes away")
	}
}
