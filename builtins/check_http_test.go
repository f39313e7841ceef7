package builtins

import (
	"context"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/monsta/monsta/internal/testkit/loopback"
)

// httpTestServer answers a few paths the http check's tests request.
func httpTestHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, "<html>\n<title>All good</title>\n</html>\n")
	})
	mux.HandleFunc("/down", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "maintenance", http.StatusServiceUnavailable)
	})
	mux.HandleFunc("/health", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"status": "ok", "checks": [{"name": "db", "up": true, "lag": 3}], "version": null}`)
	})
	mux.HandleFunc("/old", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/ok", http.StatusFound)
	})
	mux.HandleFunc("/private", func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		if !ok || u != "alice" || p != "s3cret" {
			w.Header().Set("WWW-Authenticate", `Basic realm="x"`)
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		io.WriteString(w, "welcome")
	})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s probe=%s host=%s", r.Method, b, r.Header.Get("X-Probe"), r.Host)
	})
	mux.HandleFunc("/huge", func(w http.ResponseWriter, r *http.Request) {
		w.Write(make([]byte, httpBodyMax))
		io.WriteString(w, "MARKER")
	})
	return mux
}

func TestHTTP(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(httpTestHandler())
	t.Cleanup(srv.Close)
	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		raw     map[string]string
		wantErr []string
		want    map[string]float64
	}{
		{name: "ok", raw: map[string]string{"url": "/ok"}, want: map[string]float64{"status_code": 200}},
		{name: "status", raw: map[string]string{"url": "/down"},
			wantErr: []string{"GET " + srv.URL + "/down: status 503 Service Unavailable, want 200-399"}},
		{name: "status expected", raw: map[string]string{"url": "/down", "expect_status": "200, 503"}},
		{name: "body matches", raw: map[string]string{"url": "/ok", "expect": "^<title>All good</title>$"}},
		{name: "body does not match", raw: map[string]string{"url": "/ok", "expect": "(?i)error"},
			wantErr: []string{`body (39 B read) does not match expect "(?i)error"`}},
		{name: "body read only to 1 MiB", raw: map[string]string{"url": "/huge", "expect": "MARKER"},
			wantErr: []string{"body (1.0 MiB read) does not match"}},
		{name: "header", raw: map[string]string{"url": "/ok", "expect_header": "content-type: ^text/html"}},
		{name: "header mismatch", raw: map[string]string{"url": "/health", "expect_header": "Content-Type: ^text/html"},
			wantErr: []string{`header Content-Type: "application/json" does not match "^text/html"`}},
		{name: "header missing", raw: map[string]string{"url": "/ok", "expect_header": "X-Cache: HIT"},
			wantErr: []string{`no X-Cache header`}},
		{name: "json", raw: map[string]string{"url": "/health", "json_path": "status", "json_expect": "ok"}},
		{name: "json nested", raw: map[string]string{"url": "/health", "json_path": "$.checks[0].up", "json_expect": "true"}},
		{name: "json number", raw: map[string]string{"url": "/health", "json_path": "checks.0.lag", "json_expect": "3"}},
		{name: "json null", raw: map[string]string{"url": "/health", "json_path": "version", "json_expect": "null"}},
		{name: "json exists", raw: map[string]string{"url": "/health", "json_path": "checks.0.name"}},
		{name: "json wrong value", raw: map[string]string{"url": "/health", "json_path": "status", "json_expect": "up"},
			wantErr: []string{"json_path status is ok, want up"}},
		{name: "json missing key", raw: map[string]string{"url": "/health", "json_path": "checks.0.state"},
			wantErr: []string{`json_path checks.0.state: no "state" in checks.0`}},
		{name: "json bad index", raw: map[string]string{"url": "/health", "json_path": "checks.3"},
			wantErr: []string{"no index 3 in the 1-element array checks"}},
		{name: "not json", raw: map[string]string{"url": "/ok", "json_path": "status"},
			wantErr: []string{"body is not JSON"}},
		{name: "redirect followed", raw: map[string]string{"url": "/old", "expect_status": "200", "expect": "All good"}},
		{name: "redirect not followed", raw: map[string]string{"url": "/old", "follow_redirects": "no", "expect_status": "200"},
			wantErr: []string{"GET " + srv.URL + "/old: status 302 Found, want 200"}},
		{name: "redirect itself expected", raw: map[string]string{"url": "/old", "follow_redirects": "no", "expect_status": "301-302"}},
		{name: "basic auth", raw: map[string]string{"url": "/private", "username": "alice", "password": "s3cret", "expect": "welcome"}},
		{name: "basic auth password file", raw: map[string]string{"url": "/private", "username": "alice", "password_file": pwFile}},
		{name: "basic auth wrong", raw: map[string]string{"url": "/private", "username": "alice", "password": "guess"},
			wantErr: []string{"status 401 Unauthorized"}},
		{name: "no credentials", raw: map[string]string{"url": "/private"}, wantErr: []string{"status 401"}},
		{name: "password file missing", raw: map[string]string{"url": "/private", "username": "alice", "password_file": pwFile + ".x"},
			wantErr: []string{"read password_file: open " + pwFile + ".x: no such file"}},
		{name: "method body headers", raw: map[string]string{"url": "/echo", "method": "post", "body": "ping",
			"headers": "X-Probe: monsta | Host: www.example.org", "expect": "^POST ping probe=monsta host=www.example.org$"}},
		{name: "head", raw: map[string]string{"url": "/ok", "method": "HEAD"}},
		{name: "ipv4", raw: map[string]string{"url": "/ok", "ip_version": "4"}},
		{name: "ipv6 only to an IPv4 address", raw: map[string]string{"url": "/ok", "ip_version": "6"},
			wantErr: []string{"GET " + srv.URL + "/ok: 127.0.0.1 has no IPv6 address (ip_version = 6)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			raw := map[string]string{}
			for k, v := range tt.raw {
				raw[k] = v
			}
			raw["url"] = srv.URL + raw["url"]
			c, err := newTestCheck(t, httpDescriptor(), raw)
			if err != nil {
				t.Fatal(err)
			}
			stats, err := runGuarded(t, c, 5*time.Second)
			checkErrs(t, err, tt.wantErr)
			for k, v := range tt.want {
				if stats[k] != v {
					t.Errorf("stats[%s] = %v, want %v", k, stats[k], v)
				}
			}
			if err == nil && (stats["total_seconds"] <= 0 || stats["ttfb_seconds"] <= 0) {
				t.Errorf("stats = %v, want total_seconds and ttfb_seconds", stats)
			}
		})
	}
}

func TestHTTPS(t *testing.T) {
	t.Parallel()
	srv := httptest.NewTLSServer(httpTestHandler())
	t.Cleanup(srv.Close)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	pemData := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(ca, pemData, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		raw     map[string]string
		wantErr string
	}{
		{name: "self-signed with tls_ca", raw: map[string]string{"tls_ca": ca}},
		{name: "untrusted", raw: map[string]string{}, wantErr: "TLS: x509: certificate signed by unknown authority"},
		{name: "not verified", raw: map[string]string{"tls_verify": "no"}},
		{name: "plain http to https", raw: map[string]string{"url": strings.Replace(srv.URL, "https", "http", 1) + "/ok"},
			wantErr: "400 Bad Request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			raw := map[string]string{"url": srv.URL + "/ok"}
			for k, v := range tt.raw {
				raw[k] = v
			}
			c, err := newTestCheck(t, httpDescriptor(), raw)
			if err != nil {
				t.Fatal(err)
			}
			stats, _ := runWantErr(t, c, 0, tt.wantErr)
			if tt.wantErr == "" {
				if d := stats["cert_days_left"]; d <= 0 {
					t.Errorf("cert_days_left = %v, want > 0", d)
				}
			}
		})
	}
}

// TestHTTPSecrets: credentials in the URL and its query never reach the
// error text, whatever fails.
func TestHTTPSecrets(t *testing.T) {
	t.Parallel()
	closed := loopback.ClosedPort(t)
	silent := loopback.Silent(t)
	srv := httptest.NewServer(httpTestHandler())
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	for _, u := range []string{
		fmt.Sprintf("http://bob:hunter2@127.0.0.1:%d/x?token=hunter2", closed),
		"http://bob:hunter2@" + silent + "/x?token=hunter2",
		"http://bob:hunter2@" + host + "/down?token=hunter2",
		"http://bob:hunter2@" + host + "/old?token=hunter2#hunter2",
	} {
		c, err := newTestCheck(t, httpDescriptor(), map[string]string{"url": u, "expect_status": "200", "follow_redirects": "no"})
		if err != nil {
			t.Fatal(err)
		}
		_, err = runGuarded(t, c, 200*time.Millisecond)
		if err == nil || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("Run(%s) error = %v, want an error without the secrets", u, err)
		}
		if !strings.Contains(err.Error(), "/x?…") && !strings.Contains(err.Error(), "?…") {
			t.Errorf("Run(%s) error = %v, want the query marked as left out", u, err)
		}
	}
	_, err := newTestCheck(t, httpDescriptor(), map[string]string{"url": "http://bob:hunter2@h/%zz"})
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("bad URL error = %v, want one without the password", err)
	}
	_, err = newTestCheck(t, httpDescriptor(), map[string]string{"url": "http://h/", "headers": "Authorization Bearer hunter2"})
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("bad headers error = %v, want one without the token", err)
	}
}

func TestHTTPDeadline(t *testing.T) {
	t.Parallel()
	c, err := newTestCheck(t, httpDescriptor(), map[string]string{"url": "http://" + loopback.Silent(t) + "/"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = runGuarded(t, c, 50*time.Millisecond)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Run() error = %v, want context.DeadlineExceeded", err)
	}
}

// TestHTTPKeepalive counts the connections two runs open.
func TestHTTPKeepalive(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		keepalive string
		want      int64
	}{{"no", 2}, {"yes", 1}} {
		var conns atomic.Int64
		srv := httptest.NewUnstartedServer(httpTestHandler())
		srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				conns.Add(1)
			}
		}
		srv.Start()
		c, err := newTestCheck(t, httpDescriptor(), map[string]string{"url": srv.URL + "/ok", "keepalive": tt.keepalive})
		if err != nil {
			t.Fatal(err)
		}
		for range 2 {
			runWantErr(t, c, 0, "")
		}
		if got := conns.Load(); got != tt.want {
			t.Errorf("keepalive=%s: %d connections, want %d", tt.keepalive, got, tt.want)
		}
		srv.Close()
	}
}

func TestHTTPOptions(t *testing.T) {
	t.Parallel()
	d := httpDescriptor()
	for _, tt := range []struct {
		raw  map[string]string
		want string
	}{
		{map[string]string{"url": "ftp://h/"}, "not an http:// or https:// URL"},
		{map[string]string{"url": "http:///x"}, "no host"},
		{map[string]string{"url": "http://h/", "expect_status": "200-99"}, "not a status code"},
		{map[string]string{"url": "http://h/", "expect_status": "abc"}, "not a status code"},
		{map[string]string{"url": "http://h/", "method": "GE T"}, "not an HTTP method"},
		{map[string]string{"url": "http://h/", "expect": "(x"}, "not a regular expression"},
		{map[string]string{"url": "http://h/", "expect_header": "just text"}, "is not Name: regexp"},
		{map[string]string{"url": "http://h/", "password": "x"}, "password: needs username"},
		{map[string]string{"url": "http://h/", "username": "u", "password": "x", "password_file": "/f"}, "set only one"},
		{map[string]string{"url": "http://h/", "json_expect": "ok"}, "json_expect: needs json_path"},
		{map[string]string{"url": "http://h/", "method": "HEAD", "expect": "x"}, "a HEAD answer has no body"},
		// [http_default] may set TLS options for every check, plain http too.
		{map[string]string{"url": "http://h/", "tls_verify": "no"}, ""},
		{map[string]string{"url": "http://h/", "ip_version": "5"}, "not one of any, 4, 6"},
	} {
		wantNewCheckErr(t, d, tt.raw, tt.want)
	}
}

// TestHTTPURLCredentialsEchoed: a server that echoes the Authorization
// header built from the URL's user:password (Basic) into a header and the
// body must not get the password, nor its base64 form, into the error.
func TestHTTPURLCredentialsEchoed(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Echo", r.Header.Get("Authorization"))
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"auth": %q}`, r.Header.Get("Authorization"))
	}))
	t.Cleanup(srv.Close)
	u := "http://bob:Xk7-url-Pw-93q@" + strings.TrimPrefix(srv.URL, "http://") + "/"
	basic := base64.StdEncoding.EncodeToString([]byte("bob:Xk7-url-Pw-93q"))
	for _, extra := range []map[string]string{
		{"expect_header": "X-Echo: ^nothing$"},
		{"json_path": "auth", "json_expect": "nothing"},
	} {
		raw := map[string]string{"url": u}
		for k, v := range extra {
			raw[k] = v
		}
		c, err := newTestCheck(t, httpDescriptor(), raw)
		if err != nil {
			t.Fatal(err)
		}
		_, err = runGuarded(t, c, 5*time.Second)
		if err == nil || !strings.Contains(err.Error(), "[redacted]") {
			t.Fatalf("Run(%v) error = %v, want a mismatch with the credential redacted", extra, err)
		}
		for _, leak := range []string{"Xk7-url-Pw-93q", basic, basic[4:16]} {
			if strings.Contains(err.Error(), leak) {
				t.Errorf("Run(%v) error = %v, holds %q", extra, err, leak)
			}
		}
	}
}
