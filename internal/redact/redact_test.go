package redact

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
)

func TestURL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"https://user:pw@example.com/status?token=abc#x", "https://example.com/status?…"},
		{"https://hooks.slack.com/services/T000/B000/XXXX", "https://hooks.slack.com/…"},
		{"https://discord.com/api/webhooks/1/abc", "https://discord.com/…"},
		{"https://acme.webhook.office.com/webhookb2/x", "https://acme.webhook.office.com/…"},
		{"http://127.0.0.1:8065/hooks/xyz", "http://127.0.0.1:8065/…"},
		{"http://127.0.0.1:8080/health", "http://127.0.0.1:8080/health"},
		{"http://[::1]:80/", "http://[::1]:80/"},
		{"::not a url", "(URL)"},
	} {
		if got := URL(tc.in); got != tc.want {
			t.Errorf("URL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestError(t *testing.T) {
	raw := "https://u:secret@hooks.slack.com/services/T/B/TOKEN?x=1"
	err := &url.Error{Op: "Post", URL: raw, Err: context.DeadlineExceeded}
	got := Error(err, raw)
	for _, s := range []string{"secret", "TOKEN", "x=1"} {
		if strings.Contains(got.Error(), s) {
			t.Errorf("Error() = %q, contains %q", got, s)
		}
	}
	if want := `Post "https://hooks.slack.com/…?…": context deadline exceeded`; got.Error() != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if !errors.Is(got, context.DeadlineExceeded) {
		t.Error("the redacted error lost its cause")
	}
}
