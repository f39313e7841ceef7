package control

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/monsta/monsta/config"
	"github.com/monsta/monsta/runtime"
	"github.com/monsta/monsta/runtime/engine"
	"github.com/monsta/monsta/runtime/metrics"
	"github.com/monsta/monsta/runtime/silence"
)

// fixedClock is a clock that moves only when told; the scheduler is not
// used here, so timers never fire.
type fixedClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fixedClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}
func (c *fixedClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}
func (c *fixedClock) NewTimer(time.Duration) runtime.Timer { return stoppedTimer{} }

type stoppedTimer struct{}

func (stoppedTimer) C() <-chan time.Time   { return nil }
func (stoppedTimer) Reset(d time.Duration) {}
func (stoppedTimer) Stop()                 {}

// checkFunc is a check whose outcome a test sets by its host option.
type outcomes struct {
	mu  sync.Mutex
	err map[string]error
}

type fakeCheck struct {
	o    *outcomes
	host string
}

func (c fakeCheck) Run(ctx context.Context) (runtime.Stats, error) {
	c.o.mu.Lock()
	defer c.o.mu.Unlock()
	return runtime.Stats{"answer_seconds": 0.01}, c.o.err[c.host]
}

type nopNotifier struct{}

func (nopNotifier) Notify(ctx context.Context, m runtime.Message) error { return nil }

// fixture is a running Server over an engine built from conf, with its
// clock, silences and check outcomes.
type fixture struct {
	srv *Server
	eng *engine.Engine
	clk *fixedClock
	sil *silence.Store
	out *outcomes
}

func newFixture(t testing.TB, conf string, outcome map[string]error) *fixture {
	t.Helper()
	out := &outcomes{err: outcome}
	reg := runtime.NewRegistry()
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(reg.Add(runtime.Descriptor{Kind: runtime.KindCheck, Name: "fake", Description: "scripted",
		Options:  []runtime.Option{{Name: "host", Required: true, Help: "Which outcome."}},
		NewCheck: func(o *runtime.Options) (runtime.Check, error) { return fakeCheck{out, o.String("host")}, nil },
	}))
	must(reg.Add(runtime.Descriptor{Kind: runtime.KindNotifier, Name: "nop", Description: "drops messages",
		Options:     []runtime.Option{{Name: "recipient", Required: true, Help: "Ignored."}},
		NewNotifier: func(*runtime.Options) (runtime.Notifier, error) { return nopNotifier{}, nil },
	}))
	reg.Freeze()
	dir := t.TempDir()
	f := filepath.Join(dir, "monsta.conf")
	must(os.WriteFile(f, []byte(conf), 0o644))
	cfg, err := config.Load(f, filepath.Join(dir, "conf.d"))
	must(err)
	plan, _, err := runtime.NewResolver(cfg).Resolve(reg)
	must(err)
	clk := &fixedClock{now: time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)}
	sil, err := silence.Open(dir, clk.Now)
	must(err)
	eng, err := engine.New(plan, engine.Options{Clock: clk, Gate: runtime.Gates{sil, plan.Maintenance}})
	must(err)
	t.Cleanup(func() { eng.Close(context.Background()) })
	srv := New(Options{Engine: func() *engine.Engine { return eng }, Silences: sil, Host: "mon1"})
	return &fixture{srv: srv, eng: eng, clk: clk, sil: sil, out: out}
}

func (f *fixture) run(t testing.TB, tests ...string) {
	t.Helper()
	for _, n := range tests {
		if _, err := f.eng.RunTestOnce(context.Background(), n); err != nil {
			t.Fatal(err)
		}
	}
}

const threeTests = `
[Check_up]
type=fake
host=up
[Check_down]
type=fake
host=down
[Notification_n]
type=nop
recipient=x
[Test_web]
checks=up
[Test_db]
checks=down
notify=1:n
[Test_mail]
checks=down
[Test_new]
checks=up
`

// call sends a request to h and decodes a JSON answer into out.
func call(t *testing.T, h http.Handler, method, path, body string, header map[string]string, out any) int {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	for k, v := range header {
		req.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	data, _ := io.ReadAll(w.Result().Body)
	if out != nil {
		if ct := w.Header().Get("Content-Type"); ct != "application/json" {
			t.Fatalf("%s %s: Content-Type %q, want JSON; body %s", method, path, ct, data)
		}
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, path, err, data)
		}
	}
	return w.Code
}

func TestAPI(t *testing.T) {
	t.Parallel()
	f := newFixture(t, threeTests, map[string]error{"down": errors.New("connection refused")})
	if _, err := f.sil.Add("mail", time.Hour, "known"); err != nil {
		t.Fatal(err)
	}
	f.run(t, "web", "db", "mail")
	h := f.srv.Handler(false, "")

	checkStates(t, h, map[string]string{"web": "OK", "db": "FAIL", "mail": "SILENCED", "new": "PENDING"})
	var db Test
	if code := call(t, h, "GET", "/api/v1/tests/Test_db", "", nil, &db); code != 200 {
		t.Fatalf("GET one = %d", code)
	}
	if db.Failures != 1 || db.Since.IsZero() || len(db.Checks) != 1 || db.Checks[0].Errors[0] != "connection refused" || db.FirstError() != "down: connection refused" {
		t.Errorf("db = %+v", db)
	}
	checkAPIErrors(t, h, []apiErrorCase{
		{"GET", "/api/v1/tests/nope", "", 404, `"nope"`, "GET unknown test"},
		{"DELETE", "/api/v1/tests", "", 405, "", "DELETE /api/v1/tests"},
		{"GET", "/api/v1/nothing", "", 404, anyError, "GET unknown endpoint"},
	})

	// Run now counts like any run.
	var ran Test
	if code := call(t, h, "POST", "/api/v1/tests/db/run", "", nil, &ran); code != 200 || ran.Failures != 2 {
		t.Errorf("POST run = %d, failures %d; want 200 and 2", code, ran.Failures)
	}

	checkSilenceAPI(t, h, f.clk.Now())

	var ob Outbox
	if code := call(t, h, "GET", "/api/v1/outbox", "", nil, &ob); code != 200 || ob.Queued == nil || ob.Failed == nil {
		t.Errorf("GET outbox = %d %+v", code, ob)
	}
}

// checkStates wants GET /api/v1/tests to list each test of want in its
// state.
func checkStates(t *testing.T, h http.Handler, want map[string]string) {
	t.Helper()
	var list TestList
	if code := call(t, h, "GET", "/api/v1/tests", "", nil, &list); code != 200 {
		t.Fatalf("GET /api/v1/tests = %d", code)
	}
	states := map[string]string{}
	for _, x := range list.Tests {
		states[x.Name] = x.State
	}
	for n, s := range want {
		if states[n] != s {
			t.Errorf("state of %s = %q, want %q (all: %v)", n, states[n], s, states)
		}
	}
}

// anyError in an apiErrorCase takes any error text, even none.
const anyError = "\x00any"

// apiErrorCase is a request the API refuses: the status it answers and a
// text its JSON error contains ("": any text but an empty one).
type apiErrorCase struct {
	method, path, body string
	code               int
	errHas             string
	what               string
}

// checkAPIErrors sends each refused request and wants its status and a
// JSON error.
func checkAPIErrors(t *testing.T, h http.Handler, cases []apiErrorCase) {
	t.Helper()
	for _, c := range cases {
		var e APIError
		code := call(t, h, c.method, c.path, c.body, nil, &e)
		switch {
		case code != c.code:
		case c.errHas == anyError:
			continue
		case c.errHas == "" && e.Error != "", c.errHas != "" && strings.Contains(e.Error, c.errHas):
			continue
		}
		t.Errorf("%s = %d %q, want a JSON %d", c.what, code, e.Error, c.code)
	}
}

// checkSilenceAPI adds a silence of Test_d* (which matches db), lists the
// silences (that one and mail's), and removes them by id and by pattern.
func checkSilenceAPI(t *testing.T, h http.Handler, now time.Time) {
	t.Helper()
	var added SilenceAdded
	if code := call(t, h, "POST", "/api/v1/silences", `{"pattern":"Test_d*","duration":"90m","reason":"deploy"}`, nil, &added); code != 201 {
		t.Fatalf("POST silence = %d", code)
	}
	if added.Silence.Pattern != "d*" || len(added.Tests) != 1 || added.Tests[0] != "db" || !added.Silence.End.Equal(now.Add(90*time.Minute)) {
		t.Errorf("added = %+v", added)
	}
	var db Test
	if call(t, h, "GET", "/api/v1/tests/db", "", nil, &db); db.State != "SILENCED" || db.Hold.Detail != "deploy" {
		t.Errorf("db after silence = %s %+v", db.State, db.Hold)
	}
	var bad []apiErrorCase
	for _, body := range []string{`{"pattern":"x","duration":"soon"}`, `{"pattern":"[","duration":"1h"}`, `{"pattern":"x"`, `{"pattern":"x","duration":"1h","bogus":1}`} {
		bad = append(bad, apiErrorCase{"POST", "/api/v1/silences", body, 400, "", "POST silence " + body})
	}
	checkAPIErrors(t, h, bad)
	var sl SilenceList
	if call(t, h, "GET", "/api/v1/silences", "", nil, &sl); len(sl.Silences) != 2 {
		t.Errorf("silences = %+v, want 2", sl)
	}
	var gone SilenceRemoved
	if code := call(t, h, "DELETE", "/api/v1/silences/"+added.Silence.ID, "", nil, &gone); code != 200 || len(gone.Removed) != 1 {
		t.Errorf("DELETE by id = %d %+v", code, gone)
	}
	gone = SilenceRemoved{}
	if code := call(t, h, "DELETE", "/api/v1/silences?match=mail", "", nil, &gone); code != 200 || len(gone.Removed) != 1 {
		t.Errorf("DELETE by pattern = %d %+v", code, gone)
	}
	checkAPIErrors(t, h, []apiErrorCase{{"DELETE", "/api/v1/silences?match=mail", "", 404, anyError, "DELETE again"}})
}

// TestTCPNeedsToken: over TCP reading works without a token, changes get
// 401 without the right one, and with no token_file at all.
func TestTCPNeedsToken(t *testing.T) {
	t.Parallel()
	f := newFixture(t, threeTests, nil)
	h := f.srv.Handler(true, "s3cret")
	var e APIError
	for _, path := range []string{"/api/v1/tests", "/api/v1/silences", "/api/v1/outbox"} {
		if code := call(t, h, "GET", path, "", nil, nil); code != 200 {
			t.Errorf("GET %s without token = %d, want 200", path, code)
		}
	}
	body := `{"pattern":"web","duration":"1h"}`
	for _, hdr := range []map[string]string{nil, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret"}} {
		if code := call(t, h, "POST", "/api/v1/silences", body, hdr, &e); code != 401 || e.Error == "" {
			t.Errorf("POST with %v = %d %q, want a JSON 401", hdr, code, e.Error)
		}
		if code := call(t, h, "POST", "/api/v1/tests/web/run", "", hdr, &e); code != 401 {
			t.Errorf("POST run with %v = %d, want 401", hdr, code)
		}
	}
	if len(f.sil.List()) != 0 {
		t.Fatal("a refused request added a silence")
	}
	if code := call(t, h, "POST", "/api/v1/silences", body, map[string]string{"Authorization": "Bearer s3cret"}, nil); code != 201 {
		t.Errorf("POST with the token = %d, want 201", code)
	}
	ro := f.srv.Handler(true, "")
	if code := call(t, ro, "DELETE", "/api/v1/silences?match=web", "", map[string]string{"Authorization": "Bearer "}, &e); code != 401 || !strings.Contains(e.Error, "token_file") {
		t.Errorf("DELETE without token_file = %d %q, want 401 naming token_file", code, e.Error)
	}
}

func TestStatusPage(t *testing.T) {
	t.Parallel()
	f := newFixture(t, threeTests+"[Maintenance_m]\ntests=new\nstart=2026-03-02 09:00\nend=2026-03-02 11:00\ntimezone=UTC\n",
		map[string]error{"down": errors.New("connect 127.0.0.1:25: <refused>")})
	f.sil.Add("mail", time.Hour, "")
	f.run(t, "web", "db", "mail", "new")
	req := httptest.NewRequest("GET", "/", nil)
	w := httptest.NewRecorder()
	f.srv.Handler(false, "").ServeHTTP(w, req)
	page := w.Body.String()
	if w.Code != 200 || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/html") {
		t.Fatalf("GET / = %d %s", w.Code, w.Header().Get("Content-Type"))
	}
	order := []string{`id="test-db"`, `id="test-mail"`, `id="test-new"`, `id="test-web"`}
	last := -1
	for _, id := range order {
		i := strings.Index(page, id)
		if i < last {
			t.Errorf("%s out of order (want failing, silenced, maintenance, passing)", id)
		}
		last = i
	}
	for _, want := range []string{
		`<meta http-equiv="refresh"`,
		`down: connect 127.0.0.1:25: &lt;refused&gt;`, // the first error, escaped
		`failing since 2026-03-02 10:00:00`,
		`class="MAINTENANCE"`,
		"<details",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	for _, bad := range []string{"<script", "src=", "href=\"http", "@import"} {
		if strings.Contains(page, bad) {
			t.Errorf("page has %q; it must need no script or outside asset", bad)
		}
	}
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	f := newFixture(t, threeTests, map[string]error{"down": errors.New("refused")})
	f.sil.Add("mail", time.Hour, "")
	m := metrics.New(f.srv.Engine, "1.2.3")
	m.ObserveLateness(3 * time.Millisecond)
	f.run(t, "web", "db", "mail")
	srv := New(Options{Engine: f.srv.Engine, Silences: f.sil, Metrics: m})
	problems, err := testutil.GatherAndLint(m.Registry())
	if err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %+v", err, problems)
	}
	w := httptest.NewRecorder()
	srv.Handler(true, "").ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	body := w.Body.String()
	for _, want := range []string{
		`monsta_test_up{test="web"} 1`,
		`monsta_test_up{test="db"} 0`,
		`monsta_test_failures{test="db"} 1`,
		`monsta_check_success{check="down",test="db",type="fake"} 0`,
		`monsta_tests_held{reason="SILENCED"} 1`,
		`monsta_test_held{reason="SILENCED",test="mail"} 1`,
		`monsta_notifications_total{notification="n",result="sent"}`,
		`monsta_outbox_messages{notification="n"}`,
		`monsta_scheduler_overruns_total 0`,
		`monsta_check_start_lateness_seconds_bucket{le="0.005"} 1`,
		`monsta_build_info{goversion=`,
		`monsta_test_last_run_timestamp_seconds{test="web"} 1.7724456e+09`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if strings.Contains(body, `test="new"} 1`) && strings.Contains(body, `monsta_test_up{test="new"}`) {
		t.Error("a test that never ran has monsta_test_up")
	}
}
