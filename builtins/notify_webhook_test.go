package builtins

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/monsta/monsta/runtime"
	"github.com/monsta/monsta/runtime/engine"
)

// hookServer is an httptest server that answers with the given statuses in
// turn (then 200) and records every request.
type hookServer struct {
	*httptest.Server
	mu       sync.Mutex
	statuses []int
	bodies   []string
	headers  []http.Header
}

func startHookServer(t *testing.T, statuses ...int) *hookServer {
	t.Helper()
	h := &hookServer{statuses: statuses}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		h.bodies = append(h.bodies, string(b))
		h.headers = append(h.headers, r.Header.Clone())
		status := http.StatusOK
		if len(h.statuses) > 0 {
			status, h.statuses = h.statuses[0], h.statuses[1:]
		}
		h.mu.Unlock()
		w.WriteHeader(status)
		io.WriteString(w, "answer "+http.StatusText(status))
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *hookServer) got() ([]string, []http.Header) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.bodies...), append([]http.Header(nil), h.headers...)
}

func newWebhookForTest(t *testing.T, raw map[string]string) (runtime.Notifier, error) {
	t.Helper()
	reg := runtime.NewRegistry()
	if err := reg.Add(webhookDescriptor()); err != nil {
		t.Fatal(err)
	}
	d, _ := reg.Lookup(runtime.KindNotifier, "webhook")
	o, err := runtime.NewOptions(d, "Notification_hook", raw)
	if err != nil {
		return nil, err
	}
	return d.NewNotifier(o)
}

func webhookMessage() runtime.Message {
	at := time.Date(2026, 11, 24, 3, 27, 0, 0, time.UTC)
	return runtime.NewMessage("vm", runtime.TestResult{Test: "web", Failures: 3, Time: at, Checks: []runtime.CheckResult{
		{Check: "www", Type: "portconnect", Errors: []string{"connect 127.0.0.1:80: connection refused"}}}},
		runtime.StateFail, false, runtime.Outage{Since: at.Add(-15 * time.Minute), Failures: 3})
}

func TestWebhookFormats(t *testing.T) {
	m := webhookMessage()
	tests := []struct {
		name  string
		opts  map[string]string
		check func(t *testing.T, m runtime.Message, body map[string]any, h http.Header)
	}{
		{"json", map[string]string{"headers": "X-Team: ops | X-Env: prod", "bearer_token": "tok-secret-1"}, checkJSONHook},
		{"slack", map[string]string{"format": "slack", "username": "monsta", "password": "pw-basic"}, checkSlackHook},
		{"template", map[string]string{"template": `{"summary": {{json .short}}, "n": {{.failures}}, "first": {{range .checks}}{{json .check}}{{end}}}`},
			checkTemplateHook},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := startHookServer(t)
			tc.opts["url"] = srv.URL + "/hooks/abc"
			n, err := newWebhookForTest(t, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if err := withGuard(t, func() error { return n.Notify(context.Background(), m) }); err != nil {
				t.Fatalf("Notify() = %v", err)
			}
			bodies, headers := srv.got()
			var b map[string]any
			if len(bodies) != 1 || json.Unmarshal([]byte(bodies[0]), &b) != nil {
				t.Fatalf("server got %q, want one JSON body", bodies)
			}
			tc.check(t, m, b, headers[0])
		})
	}
}

// checkJSONHook wants the json format's fields of m, its checks' errors,
// the configured headers and the bearer token.
func checkJSONHook(t *testing.T, m runtime.Message, b map[string]any, h http.Header) {
	t.Helper()
	if b["test"] != "web" || b["state"] != "FAIL" || b["host"] != "vm" || b["failures"] != 3.0 ||
		b["since"] != "2026-11-24T03:12:00Z" || b["duration"] != 900.0 || b["short"] != m.Short || b["long"] != m.Long {
		t.Errorf("body = %v", b)
	}
	checks, _ := b["checks"].([]any)
	if len(checks) != 1 || checks[0].(map[string]any)["errors"].([]any)[0] != "connect 127.0.0.1:80: connection refused" {
		t.Errorf("checks = %v", b["checks"])
	}
	if h.Get("X-Team") != "ops" || h.Get("X-Env") != "prod" || h.Get("Authorization") != "Bearer tok-secret-1" ||
		h.Get("Content-Type") != "application/json" {
		t.Errorf("headers = %v", h)
	}
}

// checkSlackHook wants only Slack's text field and basic auth.
func checkSlackHook(t *testing.T, m runtime.Message, b map[string]any, h http.Header) {
	t.Helper()
	want := "*" + m.Short + "*\n```\n" + strings.TrimRight(m.Long, "\n") + "\n```"
	if len(b) != 1 || b["text"] != want {
		t.Errorf("body = %v, want only text %q", b, want)
	}
	if u, p, ok := (&http.Request{Header: h}).BasicAuth(); !ok || u != "monsta" || p != "pw-basic" {
		t.Errorf("basic auth = %q %q %v", u, p, ok)
	}
}

// checkTemplateHook wants the body the template writes.
func checkTemplateHook(t *testing.T, m runtime.Message, b map[string]any, _ http.Header) {
	t.Helper()
	if b["summary"] != m.Short || b["n"] != 3.0 || b["first"] != "www" {
		t.Errorf("body = %v", b)
	}
}

// TestWebhookRetries delivers through the dispatcher: 503 and 429 are
// retried until a 2xx; 404 is final and the next message goes at once.
func TestWebhookRetries(t *testing.T) {
	for _, format := range []string{"json", "slack"} {
		t.Run(format, func(t *testing.T) {
			t.Parallel()
			srv := startHookServer(t, 503, 429, 200, 404, 200)
			n, err := newWebhookForTest(t, map[string]string{"url": srv.URL + "/hooks/secret-path-42", "format": format})
			if err != nil {
				t.Fatal(err)
			}
			spec := &runtime.NotificationSpec{Name: "hook", Notifier: n, Desc: &runtime.Descriptor{Kind: runtime.KindNotifier, Name: "webhook"}}
			box := &memOutbox{failed: map[string]string{}}
			d := engine.NewDispatcher(map[string]*runtime.NotificationSpec{"hook": spec},
				engine.DispatcherOptions{Outbox: box, Retry: runtime.RetryPolicy{First: time.Millisecond, Max: time.Millisecond, MaxAge: time.Hour}})
			defer d.Stop()
			for _, test := range []string{"a", "b", "c"} {
				m := webhookMessage()
				m.Test, m.Short, m.Time = test, "FAIL "+test, time.Now()
				if err := d.Enqueue("hook", m); err != nil {
					t.Fatal(err)
				}
			}
			waitFor(t, func() bool { b, _ := srv.got(); return len(b) == 5 })
			bodies, _ := srv.got()
			for i, want := range []string{"FAIL a", "FAIL a", "FAIL a", "FAIL b", "FAIL c"} {
				if !strings.Contains(bodies[i], want) {
					t.Errorf("request %d = %s, want %q", i+1, bodies[i], want)
				}
			}
			waitFor(t, func() bool { box.mu.Lock(); defer box.mu.Unlock(); return len(box.failed) == 1 })
			box.mu.Lock()
			reason := box.failed["2"]
			box.mu.Unlock()
			if !strings.Contains(reason, "HTTP 404 Not Found") || strings.Contains(reason, "secret-path-42") {
				t.Errorf("failed reason = %q, want the 404 without the URL's path", reason)
			}
		})
	}
}

func TestWebhookErrors(t *testing.T) {
	if _, err := newWebhookForTest(t, map[string]string{"url": "ftp://x/y"}); err == nil || !strings.Contains(err.Error(), "url: want http(s)") {
		t.Errorf("ftp url: error = %v", err)
	}
	if _, err := newWebhookForTest(t, map[string]string{"url": "http://127.0.0.1/x", "template": `{"a": {{.nope}}}`}); err == nil ||
		!strings.Contains(err.Error(), "template: ") {
		t.Errorf("template with an unknown field: error = %v", err)
	}
	n, err := newWebhookForTest(t, map[string]string{"url": "http://127.0.0.1:" + closedPort(t) + "/hooks/tok-in-path"})
	if err != nil {
		t.Fatal(err)
	}
	err = withGuard(t, func() error { return n.Notify(context.Background(), webhookMessage()) })
	var pe *runtime.PermanentError
	if err == nil || errors.As(err, &pe) || !strings.Contains(err.Error(), "connection refused") || strings.Contains(err.Error(), "tok-in-path") {
		t.Errorf("Notify() to a closed port = %v, want a temporary refusal without the URL's path", err)
	}
	if err := n.(runtime.Verifier).Verify(context.Background()); !errors.Is(err, runtime.ErrCannotVerify) {
		t.Errorf("Verify() = %v, want ErrCannotVerify", err)
	}
}
