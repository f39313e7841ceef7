package builtins

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/monsta/monsta/runtime"
)

// newTestNotifier registers d in a fresh registry and builds a notifier
// from raw.
func newTestNotifier(t *testing.T, d runtime.Descriptor, raw map[string]string) (runtime.Notifier, error) {
	t.Helper()
	reg := runtime.NewRegistry()
	if err := reg.Add(d); err != nil {
		t.Fatalf("Add(%s) error = %v", d.Name, err)
	}
	desc, _ := reg.Lookup(runtime.KindNotifier, d.Name)
	o, err := runtime.NewOptions(desc, "Notification_test", raw)
	if err != nil {
		return nil, err
	}
	return desc.NewNotifier(o)
}

func TestLogNotifier(t *testing.T) {
	msg := runtime.Message{
		Test: "web", State: runtime.StateFail, Failures: 2, Time: time.Now(),
		Subject: "FAIL web", Body: "connect 127.0.0.1:80: connection refused",
	}
	tests := []struct {
		recipient string
		wantLevel string
	}{
		{"debug", "DEBUG"},
		{"info", "INFO"},
		{"warn", "WARN"},
		{"error", "ERROR"},
		{"Error", "ERROR"},
	}
	for _, tt := range tests {
		t.Run(tt.recipient, func(t *testing.T) {
			var buf bytes.Buffer
			logger := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
			n, err := newTestNotifier(t, logDescriptor(Env{Logger: logger}), map[string]string{"recipient": tt.recipient})
			if err != nil {
				t.Fatalf("NewNotifier() error = %v", err)
			}
			if err := n.Notify(context.Background(), msg); err != nil {
				t.Fatalf("Notify() error = %v", err)
			}
			var got map[string]any
			if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
				t.Fatalf("log output %q: %v", buf.String(), err)
			}
			want := map[string]any{
				"level": tt.wantLevel, "msg": "notification", "test": "web", "state": "FAIL",
				"failures": float64(2), "subject": "FAIL web", "body": "connect 127.0.0.1:80: connection refused",
			}
			for k, v := range want {
				if got[k] != v {
					t.Errorf("log entry %s = %v, want %v (entry %s)", k, got[k], v, buf.String())
				}
			}
		})
	}
}

func TestLogNotifierRecipient(t *testing.T) {
	for _, r := range []string{"", "loud", "warning"} {
		_, err := newTestNotifier(t, logDescriptor(Env{}), map[string]string{"recipient": r})
		if err == nil || !strings.Contains(err.Error(), "recipient: ") {
			t.Errorf("NewNotifier(recipient=%q) error = %v, want a recipient error", r, err)
		}
	}
}

func TestLogNotifierNilLogger(t *testing.T) {
	n, err := newTestNotifier(t, logDescriptor(Env{}), map[string]string{"recipient": "error"})
	if err != nil {
		t.Fatalf("NewNotifier() error = %v", err)
	}
	if err := n.Notify(context.Background(), runtime.Message{Test: "x", State: runtime.StateTest}); err != nil {
		t.Errorf("Notify() with no logger error = %v, want nil", err)
	}
}
