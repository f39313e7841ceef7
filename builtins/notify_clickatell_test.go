package builtins

import (
	"context"
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

	"github.com/monsta/monsta/internal/gsm7"
	"github.com/monsta/monsta/internal/testkit/clickatellfake"
	"github.com/monsta/monsta/runtime"
	"github.com/monsta/monsta/runtime/engine"
)

var testAccount = clickatellfake.Account{User: "monsta", Password: "pw-LEGACY-7", APIID: "3456789",
	APIKey: "key-REST-0123456789=="}

func newClickatellForTest(t *testing.T, raw map[string]string) (*Clickatell, error) {
	t.Helper()
	n, err := newNotifierIn(t, clickatellDescriptor(), "Notification_sms", raw)
	if err != nil {
		return nil, err
	}
	return n.(*Clickatell), nil
}

func legacyOpts(url string) map[string]string {
	return map[string]string{"username": testAccount.User, "password": testAccount.Password,
		"api_id": testAccount.APIID, "api_url": url, "recipient": "27999000001"}
}

func restOpts(url string) map[string]string {
	return map[string]string{"api_key": testAccount.APIKey, "api_url": url, "recipient": "27999000001"}
}

func merge(a, b map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

func TestClickatellNotify(t *testing.T) {
	at := time.Date(2026, 11, 24, 3, 27, 0, 0, time.UTC)
	fail := func(test, err string) runtime.Message {
		return runtime.NewMessage("vm", runtime.TestResult{Test: test, Failures: 3, Time: at,
			Checks: []runtime.CheckResult{{Check: "www", Type: "portconnect", Errors: []string{err}}}},
			runtime.StateFail, false, runtime.Outage{Since: at.Add(-15 * time.Minute), Failures: 3})
	}
	short := fail("web", "connect 127.0.0.1:80: connection refused")
	long := fail("web_frontend", strings.Repeat("connect 127.0.0.1:80: connection refused; ", 12))
	// A hook's short form whose test name and state come too late to survive the cut.
	late := runtime.Message{Test: "db_primary", State: runtime.StateRecovered,
		Short: "monsta on " + strings.Repeat("host-with-a-long-name.", 8) + ": RECOVERED db_primary"}
	unicode := fail("dns", "Prüfung fehlgeschlagen ✗ — 服务器没有回答 in 45µs "+strings.Repeat("Zeitüberschreitung ✗ ", 6))
	const shortText = "FAIL web on vm: www: connect 127.0.0.1:80: connection refused (3 failures since 03:12 UTC)"

	tests := []struct {
		name      string
		opts      func(url string) map[string]string
		msg       runtime.Message
		wantTo    []string
		wantText  func(t *testing.T, text string)
		wantErr   string
		permanent bool
	}{
		{name: "rest: two recipients with sender",
			opts: func(u string) map[string]string {
				return merge(restOpts(u), map[string]string{"recipient": "27999000001 +27999000002", "sender": "27999000999"})
			},
			msg: short, wantTo: []string{"27999000001", "+27999000002"}, wantText: exactText(shortText)},
		{name: "http: two recipients",
			opts: func(u string) map[string]string {
				return merge(legacyOpts(u), map[string]string{"recipient": "27999000001 27999000002"})
			},
			msg: short, wantTo: []string{"27999000001", "27999000002"}, wantText: exactText(shortText)},
		{name: "http: one recipient", opts: legacyOpts, msg: short, wantTo: []string{"27999000001"}},
		{name: "rest: long message cut to one SMS", opts: restOpts, msg: long, wantTo: []string{"27999000001"},
			wantText: cutText("FAIL web_frontend: www: connect 127.0.0.1:80", "... (3x since 03:12 UTC)")},
		{name: "http: long message cut to one SMS", opts: legacyOpts, msg: long, wantTo: []string{"27999000001"},
			wantText: cutText("FAIL web_frontend: www: connect 127.0.0.1:80", "... (3x since 03:12 UTC)")},
		{name: "rest: test name and state kept when a hook's text is long", opts: restOpts, msg: late,
			wantTo: []string{"27999000001"}, wantText: cutText("RECOVERED db_primary: monsta on host", "...")},
		{name: "rest: non-GSM characters transliterated", opts: restOpts, msg: unicode, wantTo: []string{"27999000001"},
			wantText: cutText(`FAIL dns: www: Prüfung fehlgeschlagen x - ??????? in 45us Zeitüberschreitung x`, "... (3x since 03:12 UTC)")},
		{name: "http: non-GSM characters transliterated", opts: legacyOpts, msg: unicode, wantTo: []string{"27999000001"},
			wantText: cutText(`FAIL dns: www: Prüfung fehlgeschlagen x - ??????? in 45us Zeitüberschreitung x`, "... (3x since 03:12 UTC)")},
		{name: "rest: wrong api key",
			opts: func(u string) map[string]string {
				return merge(restOpts(u), map[string]string{"api_key": "wrong-key-42"})
			},
			msg: short, wantErr: ": send: HTTP 401 Unauthorized: Invalid or missing Integration API Key (error 1)",
			permanent: true},
		{name: "http: wrong password",
			opts: func(u string) map[string]string {
				return merge(legacyOpts(u), map[string]string{"password": "wrong-pw-42"})
			},
			msg: short, wantErr: ": send: ERR: 001, Authentication failed", permanent: true},
		{name: "http: wrong api_id",
			opts: func(u string) map[string]string { return merge(legacyOpts(u), map[string]string{"api_id": "1"}) },
			msg:  short, wantErr: ": send: ERR: 108, Invalid or missing api_id", permanent: true},
		{name: "rest: one recipient rejected",
			opts: func(u string) map[string]string {
				return merge(restOpts(u), map[string]string{"recipient": "27999000001 not-a-number"})
			},
			msg: short, wantTo: []string{"27999000001"},
			wantErr: ": send to not-a-number: Invalid recipient address (error 25)", permanent: true},
		{name: "http: one recipient rejected",
			opts: func(u string) map[string]string {
				return merge(legacyOpts(u), map[string]string{"recipient": "27999000001 12"})
			},
			msg: short, wantTo: []string{"27999000001"},
			wantErr: ": send to 12: ERR: 105, Invalid destination address", permanent: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fake := clickatellfake.Start(testAccount)
			defer fake.Close()
			raw := tc.opts(fake.URL)
			n, err := newClickatellForTest(t, raw)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			err = withGuard(t, func() error { return n.Notify(ctx, tc.msg) })
			checkSMSErr(t, err, tc.wantErr, tc.permanent, fake.URL)
			got := fake.Messages()
			var to []string
			for _, m := range got {
				to = append(to, m.To)
				if m.From != raw["sender"] {
					t.Errorf("from = %q, want %q", m.From, raw["sender"])
				}
				t.Logf("SMS to %s (unicode %v): %q", m.To, m.Unicode, m.Text)
				if m.Unicode {
					t.Errorf("SMS %q went as UCS-2, want GSM-7", m.Text)
				}
				if tc.wantText != nil {
					tc.wantText(t, m.Text)
				}
				if !strings.Contains(m.Text, tc.msg.Test) || !strings.Contains(m.Text, string(tc.msg.State)) {
					t.Errorf("text %q lost the test name or state", m.Text)
				}
			}
			if strings.Join(to, " ") != strings.Join(tc.wantTo, " ") {
				t.Errorf("SMS went to %q, want %q", to, tc.wantTo)
			}
		})
	}
}

func exactText(want string) func(*testing.T, string) {
	return func(t *testing.T, text string) {
		t.Helper()
		if text != want {
			t.Errorf("text = %q, want %q", text, want)
		}
	}
}

// cutText wants a GSM-7 text of 159 or 160 septets (one less when a
// two-septet character would have crossed the end), starting with prefix
// and ending with suffix.
func cutText(prefix, suffix string) func(*testing.T, string) {
	return func(t *testing.T, text string) {
		t.Helper()
		n := gsm7.Septets(text)
		if n > 160 || n < 159 || !strings.HasPrefix(text, prefix) || !strings.HasSuffix(text, suffix) {
			t.Errorf("text = %q: %d septets; want 160 GSM-7, starting %q, ending %q", text, n, prefix, suffix)
		}
	}
}

func checkSMSErr(t *testing.T, err error, wantErr string, permanent bool, url string) {
	t.Helper()
	t.Logf("Notify() = %v", err)
	if wantErr == "" {
		if err != nil {
			t.Fatalf("Notify() error = %v, want nil", err)
		}
		return
	}
	if err == nil || !strings.Contains(err.Error(), wantErr) {
		t.Fatalf("Notify() error = %v, want it to contain %q", err, wantErr)
	}
	if host := strings.TrimPrefix(strings.TrimPrefix(url, "http://"), "https://"); !strings.HasPrefix(err.Error(), "clickatell "+host+": ") {
		t.Errorf("Notify() error = %v, want it to start with clickatell %s", err, host)
	}
	for _, secret := range []string{testAccount.Password, testAccount.APIKey, "wrong-key-42", "wrong-pw-42"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("Notify() error = %v contains the secret %q", err, secret)
		}
	}
	var pe *runtime.PermanentError
	if errors.As(err, &pe) != permanent {
		t.Errorf("Notify() error = %v: permanent = %v, want %v", err, !permanent, permanent)
	}
}

// TestClickatellTransport covers server down, HTTP errors, a silent server
// and TLS verification.
func TestClickatellTransport(t *testing.T) {
	down := "http://127.0.0.1:" + closedPort(t)
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "upstream exploded", http.StatusBadGateway)
	}))
	defer broken.Close()
	silent := "127.0.0.1:" + silentListener(t)
	secure := clickatellfake.StartTLS(testAccount)
	defer secure.Close()
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: secure.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}

	msg := runtime.Message{Test: "web", State: runtime.StateFail, Short: "FAIL web"}
	tests := []struct {
		name      string
		raw       map[string]string
		timeout   time.Duration
		wantErr   string
		permanent bool
		timedOut  bool
	}{
		{name: "http: server down", raw: legacyOpts(down), wantErr: "connection refused"},
		{name: "rest: server down", raw: restOpts(down), wantErr: "connection refused"},
		{name: "http: 502", raw: legacyOpts(broken.URL), wantErr: ": send: HTTP 502 Bad Gateway: upstream exploded"},
		{name: "rest: 502", raw: restOpts(broken.URL), wantErr: ": send: HTTP 502 Bad Gateway: upstream exploded"},
		{name: "rest: silent server", raw: restOpts("http://" + silent),
			timeout: 200 * time.Millisecond, wantErr: ": send: ", timedOut: true},
		{name: "https: self-signed rejected", raw: restOpts(secure.URL),
			wantErr: "x509: certificate signed by unknown authority"},
		{name: "https: accepted with tls_ca", raw: merge(restOpts(secure.URL), map[string]string{"tls_ca": caFile})},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n, err := newClickatellForTest(t, tc.raw)
			if err != nil {
				t.Fatal(err)
			}
			if tc.timeout == 0 {
				tc.timeout = 5 * time.Second
			}
			ctx, cancel := context.WithTimeout(context.Background(), tc.timeout)
			defer cancel()
			err = withGuard(t, func() error { return n.Notify(ctx, msg) })
			checkSMSErr(t, err, tc.wantErr, tc.permanent, tc.raw["api_url"])
			if tc.timedOut && !runtime.IsTimeout(err) {
				t.Errorf("Notify() error = %v, want a timeout", err)
			}
		})
	}
	if got := secure.Messages(); len(got) != 1 {
		t.Errorf("HTTPS fake got %d messages, want 1", len(got))
	}
}

func TestClickatellOptions(t *testing.T) {
	for _, tc := range []struct {
		raw     map[string]string
		wantErr string
	}{
		{map[string]string{}, "missing: api_key or username, password, api_id"},
		{map[string]string{"username": "u", "api_id": "1"}, "missing: api_key or password"},
		{map[string]string{"api_key": "k", "api_url": "ftp://x"}, `api_url "ftp://x": want http(s)://host[:port]`},
		{map[string]string{"api_key": "k", "api_url": "http://x?user=a"}, `want http(s)://host[:port]`},
	} {
		_, err := newClickatellForTest(t, merge(map[string]string{"recipient": "27999000001"}, tc.raw))
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("NewNotifier(%v) error = %v, want %q", tc.raw, err, tc.wantErr)
		}
	}
	for _, tc := range []struct {
		raw      map[string]string
		wantBase string
		wantREST bool
	}{
		{map[string]string{"api_key": "k"}, clickatellRESTURL, true},
		{map[string]string{"username": "u", "password": "p", "api_id": "1"}, clickatellHTTPURL, false},
		{map[string]string{"api_key": "k", "api_url": "http://127.0.0.1:8080/"}, "http://127.0.0.1:8080", true},
	} {
		c, err := newClickatellForTest(t, merge(map[string]string{"recipient": "27999000001"}, tc.raw))
		if err != nil || c.base != tc.wantBase || c.rest != tc.wantREST {
			t.Errorf("NewNotifier(%v) = base %q rest %v, %v; want %q, %v", tc.raw, c.base, c.rest, err, tc.wantBase, tc.wantREST)
		}
	}
}

func TestSMSText(t *testing.T) {
	exact := strings.Repeat("x", 160-len("FAIL t: "))
	for _, tc := range []struct {
		name string
		m    runtime.Message
		want string
	}{
		{"fits", runtime.Message{Test: "t", State: "FAIL", Short: "FAIL t: short"}, "FAIL t: short"},
		{"exactly 160", runtime.Message{Test: "t", State: "FAIL", Short: "FAIL t: " + exact}, "FAIL t: " + exact},
		{"161 is cut", runtime.Message{Test: "t", State: "FAIL", Short: "FAIL t: " + exact + "y"},
			"FAIL t: " + exact[:160-len("FAIL t: ")-3] + "..."},
		{"extension characters count twice", runtime.Message{Test: "t", State: "OK", Short: "OK t: " + strings.Repeat("{", 80)},
			"OK t: " + strings.Repeat("{", (160-6-3)/2) + "..."},
		{"symbol transliterated, not UCS-2", runtime.Message{Test: "t", State: "FAIL", Short: "FAIL t: ✓ in 45µs"}, "FAIL t: v in 45us"},
		{"line breaks folded", runtime.Message{Test: "t", State: "FAIL", Short: " FAIL  t:\nTest:   t\n\n  Time:\t1 "},
			"FAIL t: Test: t Time: 1"},
		{"only a long form (Lua monsta.notify)", runtime.Message{Test: "t", State: "TEST", Long: "TEST t\nhello"}, "TEST t hello"},
	} {
		got := smsText(tc.m)
		if got != tc.want {
			t.Errorf("%s: smsText() = %q; want %q", tc.name, got, tc.want)
		}
		if n := gsm7.Septets(got); n < 0 || n > 160 {
			t.Errorf("%s: smsText() = %q: %d septets", tc.name, got, n)
		}
	}
}

// BenchmarkClickatellNotify measures one REST delivery to the local fake.
func BenchmarkClickatellNotify(b *testing.B) {
	fake := clickatellfake.Start(testAccount)
	defer fake.Close()
	n, err := newNotifierIn(b, clickatellDescriptor(), "Notification_sms", restOpts(fake.URL))
	if err != nil {
		b.Fatal(err)
	}
	m := runtime.Message{Test: "web", State: runtime.StateFail, Short: "FAIL web: " + strings.Repeat("down ", 50)}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := n.Notify(context.Background(), m); err != nil {
			b.Fatal(err)
		}
	}
}

// TestClickatellClassification checks the documented error codes: the
// legacy API's ERR 113, 001 and 105 and the REST API's errorCode 100 are
// permanent; HTTP 503, ERR 901 and REST 19 are retried.
func TestClickatellClassification(t *testing.T) {
	msg := runtime.Message{Test: "web", State: runtime.StateFail, Short: "FAIL web: www: refused"}
	tests := []struct {
		name      string
		opts      func(string) map[string]string
		answer    clickatellfake.Answer
		permanent bool
	}{
		{"legacy 113 max parts", legacyOpts, clickatellfake.Answer{Body: "ERR: 113, Max message parts exceeded"}, true},
		{"legacy 001 authentication", legacyOpts, clickatellfake.Answer{Body: "ERR: 001, Authentication failed"}, true},
		{"legacy 105 destination", legacyOpts, clickatellfake.Answer{Body: "ERR: 105, Invalid destination address"}, true},
		{"legacy 114 cannot route", legacyOpts, clickatellfake.Answer{Body: "ERR: 114, Cannot route message"}, true},
		{"legacy 301 no credit", legacyOpts, clickatellfake.Answer{Body: "ERR: 301, No credit left"}, false},
		{"legacy 901 internal", legacyOpts, clickatellfake.Answer{Body: "ERR: 901, Internal error - please retry"}, false},
		{"legacy 503", legacyOpts, clickatellfake.Answer{Status: 503, Body: "try later"}, false},
		{"rest 503", restOpts, clickatellfake.Answer{Status: 503, Body: "try later"}, false},
		{"rest 429", restOpts, clickatellfake.Answer{Status: 429, Body: "slow down"}, false},
		{"rest 100 max parts", restOpts, clickatellfake.Answer{Status: 400,
			Body: `{"messages":[],"errorCode":100,"error":"Maximum message parts exceeded"}`}, true},
		{"rest 19 retry", restOpts, clickatellfake.Answer{Status: 503,
			Body: `{"messages":[],"errorCode":19,"error":"Internal error, please retry"}`}, false},
		{"rest 43 rate limit", restOpts, clickatellfake.Answer{Status: 400,
			Body: `{"messages":[],"errorCode":43,"error":"Rate limit"}`}, false},
		{"rest 26 opted out", restOpts, clickatellfake.Answer{Status: 202,
			Body: `{"messages":[{"apiMessageId":null,"accepted":false,"to":"27999000001","errorCode":26,"error":"Recipient opted out"}]}`}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fake := clickatellfake.Start(testAccount)
			defer fake.Close()
			fake.Script(tc.answer)
			n, err := newClickatellForTest(t, tc.opts(fake.URL))
			if err != nil {
				t.Fatal(err)
			}
			err = withGuard(t, func() error { return n.Notify(context.Background(), msg) })
			var pe *runtime.PermanentError
			if err == nil || errors.As(err, &pe) != tc.permanent {
				t.Errorf("Notify() = %v, want an error with permanent = %v", err, tc.permanent)
			}
		})
	}
}

// TestClickatellDispatchNeverBlocks queues SMS behind a permanent failure
// and behind a 503 through the real dispatcher and outbox: the permanent
// one is set aside at once and the next is delivered without waiting for a
// retry (the retry wait is an hour, so waiting would hang the test); the
// 503 is retried and delivered, in order.
func TestClickatellDispatchNeverBlocks(t *testing.T) {
	fake := clickatellfake.Start(testAccount)
	defer fake.Close()
	n, err := newClickatellForTest(t, legacyOpts(fake.URL))
	if err != nil {
		t.Fatal(err)
	}
	spec := &runtime.NotificationSpec{Name: "sms_bob", Notifier: n, Desc: &runtime.Descriptor{Kind: runtime.KindNotifier, Name: "sms_clickatell"}}
	box := &memOutbox{failed: map[string]string{}}
	fake.Script(clickatellfake.Answer{Body: "ERR: 113, Max message parts exceeded"},
		clickatellfake.Answer{Body: "ERR: 001, Authentication failed"},
		clickatellfake.Answer{Body: "ERR: 105, Invalid destination address"})
	d := engine.NewDispatcher(map[string]*runtime.NotificationSpec{"sms_bob": spec},
		engine.DispatcherOptions{Outbox: box, Retry: runtime.RetryPolicy{First: time.Hour, Max: time.Hour, MaxAge: 48 * time.Hour}})
	now := time.Now()
	for _, test := range []string{"a", "b", "c", "d"} {
		if err := d.Enqueue("sms_bob", runtime.Message{Test: test, State: runtime.StateFail, Time: now, Short: "FAIL " + test + ": x: down"}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, func() bool { return len(fake.Messages()) == 1 })
	if got := fake.Messages()[0].Text; got != "FAIL d: x: down" {
		t.Errorf("delivered %q, want the fourth message", got)
	}
	box.mu.Lock()
	if len(box.failed) != 3 || !strings.Contains(box.failed["1"], "ERR: 113") || !strings.Contains(box.failed["2"], "ERR: 001") ||
		!strings.Contains(box.failed["3"], "ERR: 105") {
		t.Errorf("failed/ = %v, want messages 1-3 with their reasons", box.failed)
	}
	box.mu.Unlock()
	d.Stop()

	// A 503 is temporary: retried, and the next message waits behind it.
	fake2 := clickatellfake.Start(testAccount)
	defer fake2.Close()
	n2, _ := newClickatellForTest(t, legacyOpts(fake2.URL))
	spec2 := &runtime.NotificationSpec{Name: "sms_bob", Notifier: n2, Desc: spec.Desc}
	fake2.Script(clickatellfake.Answer{Status: 503, Body: "maintenance"}, clickatellfake.Answer{Status: 503, Body: "maintenance"})
	d2 := engine.NewDispatcher(map[string]*runtime.NotificationSpec{"sms_bob": spec2},
		engine.DispatcherOptions{Retry: runtime.RetryPolicy{First: time.Millisecond, Max: time.Millisecond, MaxAge: time.Hour}})
	defer d2.Stop()
	for _, test := range []string{"e", "f"} {
		if err := d2.Enqueue("sms_bob", runtime.Message{Test: test, State: runtime.StateFail, Time: now, Short: "FAIL " + test + ": x: down"}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, func() bool { return len(fake2.Messages()) == 2 })
	if m := fake2.Messages(); m[0].Text != "FAIL e: x: down" || m[1].Text != "FAIL f: x: down" || fake2.Requests() != 4 {
		t.Errorf("after two 503s: %d requests, delivered %+v; want e then f in 4 requests", fake2.Requests(), m)
	}
}

// memOutbox is a runtime.Outbox in memory that records failed messages.
type memOutbox struct {
	mu     sync.Mutex
	n      int
	failed map[string]string // id → reason
}

func (o *memOutbox) Put(string, runtime.Message) (string, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.n++
	return strconv.Itoa(o.n), nil
}
func (o *memOutbox) Delete(string, string) error { return nil }
func (o *memOutbox) Fail(_, id, reason string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.failed[id] = reason
	return nil
}

// waitFor polls cond until it holds, failing the test after 10 s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestClickatellVerifyREST(t *testing.T) {
	tests := []struct {
		name       string
		key        string
		script     []clickatellfake.Answer
		wantErr    string // "" passes
		cannot     bool   // wraps runtime.ErrCannotVerify
		notContain string
	}{
		{name: "right key", key: testAccount.APIKey},
		{name: "wrong key", key: "key-WRONG-0000000000", wantErr: "balance: HTTP 401"},
		{name: "no balance endpoint", key: testAccount.APIKey, cannot: true,
			script:  []clickatellfake.Answer{{Status: http.StatusNotFound, Body: "404 page not found"}},
			wantErr: "answered HTTP 404 Not Found, so the API key cannot be checked on this server: cannot verify without sending"},
		{name: "no balance endpoint, wrong key", key: "key-WRONG-0000000000", cannot: true,
			script:  []clickatellfake.Answer{{Status: http.StatusNotFound, Body: "404 page not found"}},
			wantErr: "cannot be checked", notContain: "key-WRONG"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fake := clickatellfake.Start(testAccount)
			defer fake.Close()
			fake.Script(tc.script...)
			c, err := newClickatellForTest(t, merge(restOpts(fake.URL), map[string]string{"api_key": tc.key}))
			if err != nil {
				t.Fatal(err)
			}
			err = c.Verify(context.Background())
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("Verify() error = %v, want nil", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("Verify() error = %v, want one containing %q", err, tc.wantErr)
			}
			if got := errors.Is(err, runtime.ErrCannotVerify); got != tc.cannot {
				t.Errorf("errors.Is(err, ErrCannotVerify) = %v, want %v (err %v)", got, tc.cannot, err)
			}
			if tc.notContain != "" && err != nil && strings.Contains(err.Error(), tc.notContain) {
				t.Errorf("Verify() error = %v, must not contain %q", err, tc.notContain)
			}
		})
	}
}
