package builtins

import (
	"context"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/monsta/monsta/internal/clickatellfake"
	"github.com/monsta/monsta/runtime"
)

var testAccount = clickatellfake.Account{User: "monsta", Password: "pw-LEGACY-7", APIID: "3456789",
	APIKey: "key-REST-0123456789=="}

func newClickatellForTest(t *testing.T, raw map[string]string) (*Clickatell, error) {
	t.Helper()
	reg := runtime.NewRegistry()
	if err := reg.Add(clickatellDescriptor()); err != nil {
		t.Fatal(err)
	}
	d, _ := reg.Lookup(runtime.KindNotifier, "sms")
	o, err := runtime.NewOptions(d, "Notification_sms", raw)
	if err != nil {
		t.Fatal(err)
	}
	n, err := d.NewNotifier(o)
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
	short := runtime.Message{Test: "web", State: runtime.StateFail, Subject: "FAIL web (1 failure)",
		Body: "Check_www: connect 127.0.0.1:80: refused"}
	long := runtime.Message{Test: "web_frontend", State: runtime.StateFail, Subject: "FAIL web_frontend (3 failures)",
		Body: strings.Repeat("Check_www: connect 127.0.0.1:80: connection refused; ", 12)}
	// A subject whose test name and state come too late to survive the cut.
	late := runtime.Message{Test: "db_primary", State: runtime.StateRecovered,
		Subject: "monsta on " + strings.Repeat("host-with-a-long-name.", 8) + ": RECOVERED db_primary",
		Body:    "all checks pass"}
	unicode := runtime.Message{Test: "dns", State: runtime.StateFail, Subject: "FAIL dns (2 failures)",
		Body: "Prüfung fehlgeschlagen ✗ — 服务器没有回答 " + strings.Repeat("Zeitüberschreitung ✗ ", 6)}

	tests := []struct {
		name      string
		opts      func(url string) map[string]string
		msg       runtime.Message
		wantTo    []string
		wantText  func(t *testing.T, text string, unicode bool)
		wantErr   string
		permanent bool
	}{
		{name: "rest: two recipients with sender",
			opts: func(u string) map[string]string {
				return merge(restOpts(u), map[string]string{"recipient": "27999000001 +27999000002", "sender": "27999000999"})
			},
			msg: short, wantTo: []string{"27999000001", "+27999000002"},
			wantText: exactText("FAIL web (1 failure)\nCheck_www: connect 127.0.0.1:80: refused")},
		{name: "http: two recipients",
			opts: func(u string) map[string]string {
				return merge(legacyOpts(u), map[string]string{"recipient": "27999000001 27999000002"})
			},
			msg: short, wantTo: []string{"27999000001", "27999000002"},
			wantText: exactText("FAIL web (1 failure)\nCheck_www: connect 127.0.0.1:80: refused")},
		{name: "http: one recipient", opts: legacyOpts, msg: short, wantTo: []string{"27999000001"}},
		{name: "rest: long message cut to one SMS", opts: restOpts, msg: long, wantTo: []string{"27999000001"},
			wantText: cutText(160, false, "FAIL web_frontend (3 failures)\nCheck_www", "...")},
		{name: "http: long message cut to one SMS", opts: legacyOpts, msg: long, wantTo: []string{"27999000001"},
			wantText: cutText(160, false, "FAIL web_frontend (3 failures)\nCheck_www", "...")},
		{name: "rest: test name and state kept when the subject is long", opts: restOpts, msg: late,
			wantTo: []string{"27999000001"}, wantText: cutText(160, false, "RECOVERED db_primary\nmonsta on host", "...")},
		{name: "rest: unicode", opts: restOpts, msg: unicode, wantTo: []string{"27999000001"},
			wantText: cutText(70, true, "FAIL dns (2 failures)\nPrüfung", "…")},
		{name: "http: unicode", opts: legacyOpts, msg: unicode, wantTo: []string{"27999000001"},
			wantText: cutText(70, true, "FAIL dns (2 failures)\nPrüfung", "…")},
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
				if tc.wantText != nil {
					tc.wantText(t, m.Text, m.Unicode)
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

func exactText(want string) func(*testing.T, string, bool) {
	return func(t *testing.T, text string, unicode bool) {
		t.Helper()
		if text != want || unicode {
			t.Errorf("text = %q (unicode %v), want %q in GSM", text, unicode, want)
		}
	}
}

// cutText wants a text of exactly size characters (within 1 for a two-septet
// character at the end), starting with prefix and ending with ellip.
func cutText(size int, wantUnicode bool, prefix, ellip string) func(*testing.T, string, bool) {
	return func(t *testing.T, text string, unicode bool) {
		t.Helper()
		n := len(utf16.Encode([]rune(text)))
		if !unicode {
			n = smsLen(text)
		}
		if unicode != wantUnicode || n > size || n < size-1 || !strings.HasPrefix(text, prefix) || !strings.HasSuffix(text, ellip) {
			t.Errorf("text = %q: %d characters, unicode %v; want %d, unicode %v, starting %q, ending %q",
				text, n, unicode, size, wantUnicode, prefix, ellip)
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

	msg := runtime.Message{Test: "web", State: runtime.StateFail, Subject: "FAIL web"}
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
	exact := strings.Repeat("x", 160-len("FAIL t\n"))
	for _, tc := range []struct {
		name     string
		m        runtime.Message
		want     string
		wantUCS2 bool
	}{
		{"fits", runtime.Message{Test: "t", State: "FAIL", Subject: "FAIL t", Body: "short"}, "FAIL t\nshort", false},
		{"exactly 160", runtime.Message{Test: "t", State: "FAIL", Subject: "FAIL t", Body: exact}, "FAIL t\n" + exact, false},
		{"161 is cut", runtime.Message{Test: "t", State: "FAIL", Subject: "FAIL t", Body: exact + "y"},
			"FAIL t\n" + exact[:160-len("FAIL t\n")-3] + "...", false},
		{"extension characters count twice", runtime.Message{Test: "t", State: "OK", Subject: "OK t",
			Body: strings.Repeat("{", 80)}, "OK t\n" + strings.Repeat("{", (160-5-3)/2) + "...", false},
		{"ucs-2", runtime.Message{Test: "t", State: "FAIL", Subject: "FAIL t", Body: "✓"}, "FAIL t\n✓", true},
		{"blanks squeezed", runtime.Message{Test: "t", State: "FAIL", Subject: " FAIL  t ", Body: "Test:   t\n\n  Time:\t1 "},
			"FAIL t\nTest: t\nTime: 1", false},
		{"no body", runtime.Message{Test: "t", State: "TEST", Subject: "TEST t"}, "TEST t", false},
	} {
		got, ucs2 := smsText(tc.m)
		if got != tc.want || ucs2 != tc.wantUCS2 {
			t.Errorf("%s: smsText() = %q, %v; want %q, %v", tc.name, got, ucs2, tc.want, tc.wantUCS2)
		}
	}
}

// BenchmarkClickatellNotify measures one REST delivery to the local fake.
func BenchmarkClickatellNotify(b *testing.B) {
	fake := clickatellfake.Start(testAccount)
	defer fake.Close()
	reg := runtime.NewRegistry()
	if err := reg.Add(clickatellDescriptor()); err != nil {
		b.Fatal(err)
	}
	d, _ := reg.Lookup(runtime.KindNotifier, "sms")
	o, err := runtime.NewOptions(d, "Notification_sms", restOpts(fake.URL))
	if err != nil {
		b.Fatal(err)
	}
	n, err := d.NewNotifier(o)
	if err != nil {
		b.Fatal(err)
	}
	m := runtime.Message{Test: "web", State: runtime.StateFail, Subject: "FAIL web", Body: strings.Repeat("down ", 50)}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := n.Notify(context.Background(), m); err != nil {
			b.Fatal(err)
		}
	}
}
