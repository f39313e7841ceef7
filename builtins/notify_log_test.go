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

// newNotifierIn registers d in a fresh registry and builds its notifier
// from raw in section; an options error fails the test.
func newNotifierIn(t testing.TB, d runtime.Descriptor, section string, raw map[string]string) (runtime.Notifier, error) {
	t.Helper()
	return d.NewNotifier(newTestOptions(t, d, section, raw))
}

func TestLogNotifier(t *testing.T) {
	msg := runtime.Message{
		Test: "web", State: runtime.StateFail, Failures: 2, Time: time.Now(),
		Short: "FAIL web: www: connect 127.0.0.1:80: connection refused (2 failures since 03:12 UTC)",
		Long:  "Test:     web\nState:    FAIL\n",
	}
	tests := []struct {
		recipient string
		wantLevel string
	}{
		{"info", "INFO"},
		{"warn", "WARN"},
		{"error", "ERROR"},
		{"Error", "ERROR"},
	}
	for _, tt := range tests {
		t.Run(tt.recipient, func(t *testing.T) {
			var buf bytes.Buffer
			logger := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
			n, err := newTestNotifier(t, logDescriptor(Env{Logger: logger}), map[string]string{"recipient": tt.recipient})
			if err != nil {
				t.Fatalf("NewNotifier() error = %v", err)
			}
			if err := n.Notify(context.Background(), msg); err != nil {
				t.Fatalf("Notify() error = %v", err)
			}
			if n := strings.Count(buf.String(), "\n"); n != 1 {
				t.Errorf("log has %d lines, want 1:\n%s", n, buf.String())
			}
			var got map[string]any
			if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
				t.Fatalf("log output %q: %v", buf.String(), err)
			}
			want := map[string]any{
				"level": tt.wantLevel, "msg": "notification", "test": "web", "state": "FAIL",
				"short": msg.Short,
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

func TestLogNotifierLongFormAtDebug(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	n, err := newTestNotifier(t, logDescriptor(Env{Logger: logger}), map[string]string{"recipient": "warn"})
	if err != nil {
		t.Fatal(err)
	}
	m := runtime.Message{Test: "web", State: runtime.StateFail, Short: "FAIL web: www: refused (1 failure)", Long: "Test: web\nState: FAIL\n"}
	if err := n.Notify(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "level=WARN") || !strings.Contains(lines[0], `short="FAIL web: www: refused (1 failure)"`) ||
		!strings.Contains(lines[1], "level=DEBUG") || !strings.Contains(lines[1], `long="Test: web\nState: FAIL\n"`) {
		t.Errorf("log =\n%s\nwant the short form at WARN, then the long form at DEBUG", buf.String())
	}
}
