package builtins

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/monsta/monsta/config"
	"github.com/monsta/monsta/internal/testkit/fakeclock"
	"github.com/monsta/monsta/internal/testkit/loopback"
	"github.com/monsta/monsta/runtime"
	"github.com/monsta/monsta/runtime/engine"
)

// fakeAM plays Alertmanager's API v2: it records every POST
// /api/v2/alerts and, when auth is set, wants that Authorization header.
type fakeAM struct {
	*httptest.Server
	auth  string
	mu    sync.Mutex
	posts [][]postableAlert
	got   chan []postableAlert
}

func newFakeAM(t *testing.T, tlsOn bool, auth string) *fakeAM {
	t.Helper()
	f := &fakeAM{auth: auth, got: make(chan []postableAlert, 100)}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f.auth != "" && r.Header.Get("Authorization") != f.auth {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		switch {
		case r.Method == http.MethodGet && r.URL.Path == "/api/v2/status":
			w.Write([]byte(`{"cluster":{"status":"ready"}}`))
		case r.Method == http.MethodPost && r.URL.Path == "/api/v2/alerts":
			var alerts []postableAlert
			if err := json.NewDecoder(r.Body).Decode(&alerts); err != nil || r.Header.Get("Content-Type") != "application/json" {
				http.Error(w, "bad payload", http.StatusBadRequest)
				return
			}
			f.mu.Lock()
			f.posts = append(f.posts, alerts)
			f.mu.Unlock()
			f.got <- alerts
		default:
			http.NotFound(w, r)
		}
	})
	if tlsOn {
		f.Server = httptest.NewTLSServer(h)
	} else {
		f.Server = httptest.NewServer(h)
	}
	t.Cleanup(f.Close)
	return f
}

// next waits for the next post.
func (f *fakeAM) next(t *testing.T) postableAlert {
	t.Helper()
	select {
	case a := <-f.got:
		if len(a) != 1 {
			t.Fatalf("posted %d alerts, want 1", len(a))
		}
		return a[0]
	case <-time.After(10 * time.Second):
		t.Fatal("no alert posted")
	}
	return postableAlert{}
}

func newAlertmanagerForTest(t *testing.T, raw map[string]string) (*Alertmanager, error) {
	t.Helper()
	reg := runtime.NewRegistry()
	if err := reg.Add(alertmanagerDescriptor()); err != nil {
		t.Fatal(err)
	}
	d, _ := reg.Lookup(runtime.KindNotifier, "alertmanager")
	o, err := runtime.NewOptions(d, "Notification_am", raw)
	if err != nil {
		return nil, err
	}
	n, err := d.NewNotifier(o)
	if err != nil {
		return nil, err
	}
	return n.(*Alertmanager), nil
}

func amMessage(state runtime.State, at, since time.Time) runtime.Message {
	checks := []runtime.CheckResult{{Check: "www", Type: "http", Errors: []string{"GET /: 503 Service Unavailable"}},
		{Check: "port", Type: "portconnect", OK: true}}
	if state == runtime.StateRecovered {
		checks = []runtime.CheckResult{{Check: "www", Type: "http", OK: true}, {Check: "port", Type: "portconnect", OK: true}}
	}
	m := runtime.NewMessage("vm1", runtime.TestResult{Test: "web", Failures: 3, Time: at, Checks: checks},
		state, false, runtime.Outage{Since: since, Failures: 3})
	m.Interval, m.CheckNames, m.URL = time.Minute, []string{"www", "port"}, "http://vm1:8080/"
	return m
}

func TestAlertmanagerPayloads(t *testing.T) {
	t.Parallel()
	am := newFakeAM(t, false, "")
	n, err := newAlertmanagerForTest(t, map[string]string{"url": am.URL, "labels": "severity=page team=ops"})
	if err != nil {
		t.Fatal(err)
	}
	since := time.Date(2026, 11, 24, 3, 12, 0, 0, time.UTC)
	at := since.Add(2 * time.Minute)
	fire := amMessage(runtime.StateFail, at, since)
	if err := n.Notify(context.Background(), fire); err != nil {
		t.Fatal(err)
	}
	f := am.next(t)
	checkFiring(t, f, fire, since, at)

	rec := amMessage(runtime.StateRecovered, at.Add(3*time.Minute), since)
	if err := n.Notify(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	r := am.next(t)
	if !equalMaps(r.Labels, f.Labels) {
		t.Errorf("resolved labels = %v, want the firing ones %v", r.Labels, f.Labels)
	}
	if !r.StartsAt.Equal(since) || !r.EndsAt.Equal(at.Add(3*time.Minute)) {
		t.Errorf("resolved startsAt, endsAt = %v, %v; want %v, %v (the passing run)", r.StartsAt, r.EndsAt, since, at.Add(3*time.Minute))
	}
	if r.Annotations["summary"] != rec.Short {
		t.Errorf("resolved summary = %q, want %q", r.Annotations["summary"], rec.Short)
	}

	// OK and FLAPPING messages mean nothing to Alertmanager.
	for _, st := range []runtime.State{runtime.StateOK, runtime.StateFlapping} {
		if err := n.Notify(context.Background(), runtime.Message{Test: "web", State: st, Time: at}); err != nil {
			t.Errorf("Notify(%s) error = %v", st, err)
		}
	}
	wantNoPost(t, am, "OK/FLAPPING posted")
	if k := n.CoalesceKey(fire); k != "web" || n.CoalesceKey(rec) != k {
		t.Errorf("CoalesceKey = %q/%q, want one key per test", k, n.CoalesceKey(rec))
	}
}

// checkFiring wants f to be the alert of fire, a failure at at of an
// outage since since, from vm1 with the configured labels.
func checkFiring(t *testing.T, f postableAlert, fire runtime.Message, since, at time.Time) {
	t.Helper()
	wantLabels := map[string]string{"alertname": "web", "monsta_check": "www,port", "instance": "vm1", "severity": "page", "team": "ops"}
	if !equalMaps(f.Labels, wantLabels) {
		t.Errorf("firing labels = %v, want %v", f.Labels, wantLabels)
	}
	if !f.StartsAt.Equal(since) || !f.EndsAt.Equal(at.Add(4*time.Minute)) {
		t.Errorf("firing startsAt, endsAt = %v, %v; want %v (first failure), %v (4 intervals ahead)", f.StartsAt, f.EndsAt, since, at.Add(4*time.Minute))
	}
	if f.Annotations["summary"] != fire.Short || f.Annotations["description"] != fire.Long ||
		f.Annotations["failing_checks"] != "www" || f.Annotations["monsta_host"] != "vm1" {
		t.Errorf("firing annotations = %q", f.Annotations)
	}
	if f.GeneratorURL != "http://vm1:8080/" {
		t.Errorf("generatorURL = %q, want the status page", f.GeneratorURL)
	}
}

// wantNoPost fails the test (with what) if the fake Alertmanager has a
// post waiting.
func wantNoPost(t *testing.T, am *fakeAM, what string) {
	t.Helper()
	select {
	case a := <-am.got:
		t.Errorf("%s %v", what, a)
	default:
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestAlertmanagerInstanceLabel(t *testing.T) {
	t.Parallel()
	am := newFakeAM(t, false, "")
	n, err := newAlertmanagerForTest(t, map[string]string{"url": am.URL, "labels": "instance=web-pair"})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if err := n.Notify(context.Background(), amMessage(runtime.StateFail, now, now)); err != nil {
		t.Fatal(err)
	}
	if a := am.next(t); a.Labels["instance"] != "web-pair" {
		t.Errorf("instance = %q, want the configured web-pair", a.Labels["instance"])
	}
}

func TestAlertmanagerOptions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		raw     map[string]string
		wantErr string
	}{
		{map[string]string{"url": "ftp://am:9093"}, "want http(s)://"},
		{map[string]string{"url": "http://bob:s3cret@am:9093"}, "credentials in the URL"},
		{map[string]string{"url": "http://am:9093", "labels": "alertname=x"}, "set by monsta"},
		{map[string]string{"url": "http://am:9093", "labels": "severity"}, "want name=value"},
		{map[string]string{"url": "http://am:9093", "labels": "9x=y"}, "label name must match"},
		{map[string]string{"url": "http://am:9093", "username": "bob"}, "needs password or password_file"},
		{map[string]string{"url": "http://am:9093", "password": "s3cret"}, "needs username"},
		{map[string]string{"url": "http://am:9093", "username": "bob", "password": "s3cret", "bearer_token": "t"}, "either"},
		{map[string]string{"url": "http://am:9093", "bearer_token_file": "/nonexistent/token"}, "bearer_token_file"},
		{map[string]string{"url": "http://am:9093", "expire_intervals": "1"}, "at least 2"},
	}
	for _, tt := range tests {
		_, err := newAlertmanagerForTest(t, tt.raw)
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("options %v: error = %v, want %q", tt.raw, err, tt.wantErr)
		}
		if err != nil && strings.Contains(err.Error(), "s3cret") {
			t.Errorf("error %q shows the password", err)
		}
	}
}

func TestAlertmanagerAuthAndTLS(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	pw := write("pw", "pa55word\n")
	tok := write("tok", "tok-123\n")
	wrong := write("wrong", "nope\n")
	basic := newFakeAM(t, true, "Basic Ym9iOnBhNTV3b3Jk") // bob:pa55word
	bearer := newFakeAM(t, true, "Bearer tok-123")
	caFile := write("ca.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: basic.Certificate().Raw})))
	caFile2 := write("ca2.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: bearer.Certificate().Raw})))
	now := time.Now()
	msg := amMessage(runtime.StateFail, now, now)
	tests := []struct {
		name      string
		raw       map[string]string
		wantErr   string
		permanent bool
	}{
		{"basic with CA", map[string]string{"url": basic.URL, "username": "bob", "password_file": pw, "tls_ca": caFile}, "", false},
		{"bearer with CA", map[string]string{"url": bearer.URL, "bearer_token_file": tok, "tls_ca": caFile2}, "", false},
		{"no CA", map[string]string{"url": basic.URL, "username": "bob", "password_file": pw}, "certificate", false},
		{"no verify", map[string]string{"url": basic.URL, "username": "bob", "password_file": pw, "tls_verify": "no"}, "", false},
		{"wrong password", map[string]string{"url": basic.URL, "username": "bob", "password_file": wrong, "tls_ca": caFile}, "401", true},
		{"inline password", map[string]string{"url": basic.URL, "username": "bob", "password": "pa55word", "tls_ca": caFile}, "", false},
		{"no credentials", map[string]string{"url": bearer.URL, "tls_ca": caFile2}, "401", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := newAlertmanagerForTest(t, tt.raw)
			if err != nil {
				t.Fatal(err)
			}
			err = n.Notify(context.Background(), msg)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Notify() error = %v", err)
				}
				if err := n.Verify(context.Background()); err != nil {
					t.Errorf("Verify() error = %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Notify() error = %v, want %q", err, tt.wantErr)
			}
			var p *runtime.PermanentError
			if errors.As(err, &p) != tt.permanent {
				t.Errorf("Notify() error %v: permanent = %v, want %v", err, !tt.permanent, tt.permanent)
			}
			for _, secret := range []string{"pa55word", "tok-123"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q shows a secret", err)
				}
			}
		})
	}
}

// TestAlertmanagerSendsToAll: like Prometheus, every Alertmanager gets the
// alert, and one accepting it is a success.
func TestAlertmanagerSendsToAll(t *testing.T) {
	t.Parallel()
	a, b := newFakeAM(t, false, ""), newFakeAM(t, false, "")
	closed := "http://127.0.0.1:" + strconv.Itoa(loopback.ClosedPort(t))
	now := time.Now()
	msg := amMessage(runtime.StateFail, now, now)
	n, err := newAlertmanagerForTest(t, map[string]string{"url": a.URL + " " + closed + " " + b.URL})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Notify(context.Background(), msg); err != nil {
		t.Fatalf("Notify() with one of three down: %v, want success", err)
	}
	a.next(t)
	b.next(t)
	n, err = newAlertmanagerForTest(t, map[string]string{"url": closed})
	if err != nil {
		t.Fatal(err)
	}
	err = n.Notify(context.Background(), msg)
	var p *runtime.PermanentError
	if err == nil || errors.As(err, &p) {
		t.Errorf("Notify() with every one down: %v, want a transient error", err)
	}
}

// amClock is a Clock whose time moves only when the test says so; each
// timer Reset is announced on resets, so a test knows the engine is idle.
type amClock struct {
	*fakeclock.Clock
	resets <-chan time.Time
}

func newAMClock(start time.Time) *amClock {
	c := fakeclock.New(start)
	return &amClock{Clock: c, resets: c.AnnounceResets(100)}
}

// outageCheck fails while its clock is within [from, to).
type outageCheck struct {
	clk      runtime.Clock
	from, to time.Time
}

func (c *outageCheck) Run(context.Context) (runtime.Stats, error) {
	if now := c.clk.Now(); !now.Before(c.from) && now.Before(c.to) {
		return nil, errors.New("connection refused")
	}
	return nil, nil
}

// doneHook reports the end of each run.
type doneHook chan runtime.TestResult

func (doneHook) BeforeNotify(context.Context, *runtime.NotifyEvent) error { return nil }
func (h doneHook) AfterResult(_ context.Context, r runtime.TestResult)    { h <- r }

// amEngine builds an engine of conf whose check "toggle" is chk, on clk;
// each run's result goes to done.
func amEngine(t *testing.T, conf string, chk runtime.Check, clk *amClock, done doneHook) *engine.Engine {
	t.Helper()
	reg := runtime.NewRegistry()
	if err := reg.Add(alertmanagerDescriptor()); err != nil {
		t.Fatal(err)
	}
	err := reg.Add(runtime.Descriptor{Kind: runtime.KindCheck, Name: "toggle", Description: "fails on demand",
		NewCheck: func(*runtime.Options) (runtime.Check, error) { return chk, nil }})
	if err != nil {
		t.Fatal(err)
	}
	reg.Freeze()
	f := filepath.Join(t.TempDir(), "monsta.conf")
	if err := os.WriteFile(f, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(f, "")
	if err != nil {
		t.Fatal(err)
	}
	plan, _, err := runtime.NewResolver(cfg).Resolve(reg)
	if err != nil {
		t.Fatal(err)
	}
	e, err := engine.New(plan, engine.Options{Clock: clk, Hooks: done})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { e.Run(ctx); close(stopped) }()
	t.Cleanup(func() {
		cancel()
		<-stopped
		e.Close(context.Background())
	})
	return e
}

// step lets the engine on clk reach its next run, waits for the run to
// end, and returns the run's time.
func step(t *testing.T, clk *amClock, done doneHook) time.Time {
	t.Helper()
	var w time.Time
	select {
	case w = <-clk.resets:
		clk.AdvanceTo(w)
	case <-time.After(10 * time.Second):
		t.Fatal("scheduler never went idle")
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("run never ended")
	}
	return w
}

// TestAlertmanagerTwoEnginesOneOutage: two instances with the same
// configuration, started at different times, report one outage with the
// same startsAt; each failing run re-sends the alert from level 2 on
// (notify=2:am), and the recovery ends it.
func TestAlertmanagerTwoEnginesOneOutage(t *testing.T) {
	t.Parallel()
	am := newFakeAM(t, false, "")
	conf := `[main]
hostname = HOST
listen = 127.0.0.1:8080
[Check_c]
type = toggle
[Test_web]
checks = c
interval = 60
notify = 2:am
[Notification_am]
type = alertmanager
url = ` + am.URL + `
labels = instance=pair
`
	base := time.Date(2026, 11, 24, 3, 0, 0, 0, time.UTC)
	from, to := base.Add(130*time.Second), base.Add(430*time.Second)
	var starts []time.Time
	for i, offset := range []time.Duration{1300 * time.Millisecond, 47 * time.Second} {
		host := []string{"a", "b"}[i]
		o := &amOutage{t: t, host: host}
		o.run(am, strings.Replace(conf, "HOST", host, 1), base.Add(offset), from, to)
		starts = append(starts, o.startsAt)
	}
	if !starts[0].Equal(starts[1]) {
		t.Errorf("startsAt differs between the instances: %v and %v", starts[0], starts[1])
	}
	wantNoPost(t, am, "extra post")
}

// amOutage follows one engine of TestAlertmanagerTwoEnginesOneOutage
// through the outage.
type amOutage struct {
	t        *testing.T
	host     string
	first    time.Time     // the first failing run
	alert    postableAlert // the first alert posted
	startsAt time.Time     // its startsAt
	sent     int
}

// run starts an engine on conf at start, steps its clock run by run from
// before the outage (from..to) to the recovery, and checks each post.
func (o *amOutage) run(am *fakeAM, conf string, start, from, to time.Time) {
	t := o.t
	clk := newAMClock(start)
	done := make(doneHook, 10)
	e := amEngine(t, conf, &outageCheck{clk: clk, from: from, to: to}, clk, done)
	for {
		at := step(t, clk, done)
		down := !at.Before(from) && at.Before(to)
		if down && o.first.IsZero() {
			o.first = at
			continue // failure 1: below level 2, nothing sent
		}
		if o.first.IsZero() {
			continue
		}
		if o.post(am.next(t), at, down) {
			break
		}
	}
	// Five failing runs (the first below level 2), one recovery.
	if o.sent != 5 {
		t.Errorf("engine %s: %d posts, want 4 firing (one per failing run from level 2) and 1 resolved", o.host, o.sent)
	}
	if n := e.Overruns(); n != 0 {
		t.Errorf("engine %s: %d runs skipped", o.host, n)
	}
}

// post checks a, posted after the run at at (down: a failing one), and
// tells whether it ended the outage.
func (o *amOutage) post(a postableAlert, at time.Time, down bool) bool {
	t, host := o.t, o.host
	o.sent++
	if !down {
		if !a.EndsAt.Equal(at) || !a.StartsAt.Equal(o.first) || !equalMaps(a.Labels, o.alert.Labels) {
			t.Errorf("engine %s: recovery %v..%v %v, want %v..%v %v", host, a.StartsAt, a.EndsAt, a.Labels, o.first, at, o.alert.Labels)
		}
		return true
	}
	if o.sent == 1 {
		o.alert, o.startsAt = a, a.StartsAt
		if a.Annotations["monsta_host"] != host || a.Labels["instance"] != "pair" || a.GeneratorURL != "http://127.0.0.1:8080/" {
			t.Errorf("engine %s: labels %v, annotations %v, generatorURL %q", host, a.Labels, a.Annotations, a.GeneratorURL)
		}
	}
	if !a.StartsAt.Equal(o.first) || !a.EndsAt.Equal(at.Add(4*time.Minute)) || !equalMaps(a.Labels, o.alert.Labels) {
		t.Errorf("engine %s, run at %v: sent %v..%v %v; want %v..%v %v", host, at, a.StartsAt, a.EndsAt, a.Labels, o.first, at.Add(4*time.Minute), o.alert.Labels)
	}
	return false
}
