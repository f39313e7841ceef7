package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"
)

// errCheck returns err from every run.
type errCheck struct{ err error }

func (c errCheck) Run(context.Context) (Stats, error) { return nil, c.err }

// panicCheck panics with a secret in its value.
type panicCheck struct{}

func (panicCheck) Run(context.Context) (Stats, error) { panic("boom with s3cr3t-pw") }

// refusal dials a loopback port nobody listens on and returns the error.
func refusal(t *testing.T) error {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	c, err := net.Dial("tcp", addr)
	if err == nil {
		c.Close()
		t.Fatalf("dial %s: connected, want refused", addr)
	}
	return fmt.Errorf("connect %s with password s3cr3t-pw: %w", addr, err)
}

// TestRunCheckKeepsTheErrorChain: a result's errors keep their chain, so a
// timeout and a refusal are told apart with errors.Is, while every text
// (Errors, Err's, the JSON) has the check's secrets redacted and the JSON
// of a result is what it was before Err.
func TestRunCheckKeepsTheErrorChain(t *testing.T) {
	reg := testRegistry(t, nil, nil)
	d, _ := reg.Lookup(KindNotifier, "rec")
	o, err := NewOptions(d, "Notification_x", map[string]string{"recipient": "r", "password": "s3cr3t-pw"})
	if err != nil {
		t.Fatal(err)
	}
	refused := refusal(t)
	timeout := fmt.Errorf("read banner with s3cr3t-pw: %w", context.DeadlineExceeded)
	tests := []struct {
		name        string
		check       Check
		texts       int
		timeout     bool
		refused     bool
		wantInError string
	}{
		{"refused", errCheck{refused}, 1, false, true, "connection refused"},
		{"timeout", errCheck{timeout}, 1, true, false, "read banner"},
		{"joined", errCheck{errors.Join(refused, timeout)}, 2, true, true, "read banner"},
		{"panic", panicCheck{}, 1, false, false, "check panicked: boom"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := RunCheckWithClock(t.Context(), RealClock{}, tc.check, o)
			if r.OK || r.Err == nil || len(r.Errors) != tc.texts {
				t.Fatalf("result = %+v, want a failure with %d error texts and Err", r, tc.texts)
			}
			if got := IsTimeout(r.Err); got != tc.timeout {
				t.Errorf("IsTimeout(Err) = %v, want %v (Err: %v)", got, tc.timeout, r.Err)
			}
			if got := errors.Is(r.Err, syscall.ECONNREFUSED); got != tc.refused {
				t.Errorf("errors.Is(Err, ECONNREFUSED) = %v, want %v", got, tc.refused)
			}
			js, err := json.Marshal(TestState{Checks: []CheckResult{r}}) // as the state file keeps it
			if err != nil {
				t.Fatal(err)
			}
			for _, text := range append([]string{r.Err.Error(), string(js)}, r.Errors...) {
				if strings.Contains(text, "s3cr3t-pw") {
					t.Errorf("secret in %q", text)
				}
			}
			if !strings.Contains(r.Err.Error(), tc.wantInError) || !strings.Contains(r.Errors[0]+r.Errors[len(r.Errors)-1], tc.wantInError) {
				t.Errorf("texts %q / %q lack %q", r.Err.Error(), r.Errors, tc.wantInError)
			}
			var back map[string]any
			if err := json.Unmarshal(js, &back); err != nil {
				t.Fatal(err)
			}
			if _, ok := back["checks"].([]any)[0].(map[string]any)["Err"]; ok {
				t.Errorf("JSON of a result has Err: %s", js)
			}
		})
	}
}

// TestRunCheckEscapesControls: an error that quotes a server's raw bytes
// (as go-smtp's "short response" does) reaches the result with its
// control characters escaped, in Errors and in Err, and the chain holds.
func TestRunCheckEscapesControls(t *testing.T) {
	reg := testRegistry(t, nil, nil)
	d, _ := reg.Lookup(KindNotifier, "rec")
	o, err := NewOptions(d, "Notification_x", map[string]string{"recipient": "r"})
	if err != nil {
		t.Fatal(err)
	}
	raw := fmt.Errorf("banner: short response: \x1b]0;owned\x07\x1b[2J: %w", context.DeadlineExceeded)
	res := RunCheck(context.Background(), errCheck{raw}, o)
	const want = `banner: short response: \x1b]0;owned\x07\x1b[2J: context deadline exceeded`
	if len(res.Errors) != 1 || res.Errors[0] != want {
		t.Errorf("Errors = %q, want [%q]", res.Errors, want)
	}
	if res.Err == nil || res.Err.Error() != want || !errors.Is(res.Err, context.DeadlineExceeded) {
		t.Errorf("Err = %v, want %q wrapping context.DeadlineExceeded", res.Err, want)
	}
}
