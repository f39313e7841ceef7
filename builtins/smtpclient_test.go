package builtins

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/monsta/monsta/internal/netx"
	"github.com/monsta/monsta/internal/testkit/loopback"
	"github.com/monsta/monsta/internal/testkit/smtpfake"
	"github.com/monsta/monsta/runtime"
)

// testCert is the shared self-signed test certificate and its PEM.
var testCert = smtpfake.Cert

// testCAFile writes the test certificate as a PEM file for tls_ca.
func testCAFile(t *testing.T) string { return smtpfake.CAFile(t) }

// fakeMsg is what the fake SMTP server saw of one transaction.
type fakeMsg struct {
	helo string
	tls  bool
	user string // AUTH PLAIN user, "" without AUTH
	from string
	to   []string
	data []byte // nil when the client never sent DATA
}

func toFakeMsg(m smtpfake.Msg) fakeMsg {
	return fakeMsg{helo: m.Helo, tls: m.TLS, user: m.User, from: m.From, to: m.To, data: m.Data}
}

// fakeSMTP is an in-process go-smtp server on 127.0.0.1:0
// (internal/testkit/smtpfake, shared with cmd/monsta's tests).
type fakeSMTP struct {
	*smtpfake.Server
	addr string
}

type fakeSMTPConfig struct {
	starttls bool // offer STARTTLS
	implicit bool // TLS from the first byte
	users    map[string]string
	reject   func(to string) error
	deliver  func(m fakeMsg)
}

// startFakeSMTP starts a go-smtp server for the test's lifetime.
func startFakeSMTP(t testing.TB, cfg fakeSMTPConfig) *fakeSMTP {
	t.Helper()
	c := smtpfake.Config{STARTTLS: cfg.starttls, Implicit: cfg.implicit, Users: cfg.users, Reject: cfg.reject}
	if cfg.deliver != nil {
		c.Deliver = func(m smtpfake.Msg) { cfg.deliver(toFakeMsg(m)) }
	}
	s := smtpfake.Start(t, c)
	return &fakeSMTP{Server: s, addr: s.Addr}
}

// messages returns the transactions seen so far.
func (f *fakeSMTP) messages() []fakeMsg {
	var out []fakeMsg
	for _, m := range f.Messages() {
		out = append(out, toFakeMsg(m))
	}
	return out
}

func (f *fakeSMTP) hostPort(t *testing.T) (string, string) { return f.HostPort(t) }

// silentListener accepts connections and never writes; it returns its port.
func silentListener(t *testing.T) string { return loopback.PortString(loopback.Silent(t)) }

// scriptedSMTP is a loopback server that sends banner, then answers each
// command line by its first word from replies ("" for unknown: 502).
func scriptedSMTP(t *testing.T, banner string, replies map[string]string) string {
	t.Helper()
	return loopback.PortString(loopback.Serve(t, func(c net.Conn) {
		c.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(c, banner+"\r\n")
		r := bufio.NewReader(c)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			verb := strings.ToUpper(strings.Fields(line + " x")[0])
			rep, ok := replies[verb]
			if !ok {
				rep = "502 5.5.1 unknown command"
			}
			io.WriteString(c, rep+"\r\n")
			if verb == "QUIT" {
				return
			}
		}
	}))
}

// newTestOptions registers d in a fresh registry and resolves raw for it.
func newTestOptions(t testing.TB, d runtime.Descriptor, section string, raw map[string]string) *runtime.Options {
	t.Helper()
	reg := runtime.NewRegistry()
	if err := reg.Add(d); err != nil {
		t.Fatal(err)
	}
	dp, ok := reg.Lookup(d.Kind, d.Name)
	if !ok {
		t.Fatalf("type %s not registered", d.Name)
	}
	o, err := runtime.NewOptions(dp, section, raw)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// runResult is what one Check.Run returned.
type runResult struct {
	stats runtime.Stats
	err   error
}

// runUnderDeadline runs c under the deadline the runtime gives it for o
// (DeadlineFor), with guarded's guard against a hang.
func runUnderDeadline(t *testing.T, c runtime.Check, o *runtime.Options) runResult {
	t.Helper()
	return guarded(t, func() runResult {
		ctx, cancel := context.WithTimeout(context.Background(), o.Descriptor().DeadlineFor(o))
		defer cancel()
		s, err := c.Run(ctx)
		return runResult{s, err}
	})
}

// wantRunError fails the test unless err is nil when want is "", or
// contains want.
func wantRunError(t *testing.T, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Fatalf("Run() error = %v, want nil", err)
	case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
		t.Fatalf("Run() error = %v, want one containing %q", err, want)
	}
}

// wantStats wants each of keys in a run's stats.
func wantStats(t *testing.T, stats runtime.Stats, keys ...string) {
	t.Helper()
	for _, k := range keys {
		if _, ok := stats[k]; !ok {
			t.Errorf("stats = %v, want %s", stats, k)
		}
	}
}

// guarded calls f and fails the test if it has not returned after 10 s.
func guarded[T any](t *testing.T, f func() T) T {
	t.Helper()
	return guardedFor(t, 10*time.Second, f)
}

// guardedFor calls f and fails the test if it has not returned after d.
func guardedFor[T any](t *testing.T, d time.Duration, f func() T) T {
	t.Helper()
	done := make(chan T, 1)
	go func() { done <- f() }()
	select {
	case v := <-done:
		return v
	case <-time.After(d):
		t.Fatalf("still running after %v: a deadline is not honoured", d)
	}
	var zero T
	return zero
}

// TestDeadlineConnCapsLibraryDeadlines checks that a deadline a library sets
// (or clears) never reaches past the context's.
func TestDeadlineConnCapsLibraryDeadlines(t *testing.T) {
	port := silentListener(t)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	c, err := dialContext(ctx, "127.0.0.1:"+port)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Time{}) // what go-imap does with Timeout 0
	c.SetReadDeadline(time.Now().Add(time.Hour))
	err = guarded(t, func() error {
		_, err := c.Read(make([]byte, 1))
		return err
	})
	if !runtime.IsTimeout(err) {
		t.Errorf("Read() error = %v, want a timeout", err)
	}
}

// TestDeadlineConnCancel checks that cancelling the context ends a read.
func TestDeadlineConnCancel(t *testing.T) {
	port := silentListener(t)
	ctx, cancel := context.WithCancel(context.Background())
	c, err := dialContext(ctx, "127.0.0.1:"+port)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	go func() { time.Sleep(50 * time.Millisecond); cancel() }()
	err = guarded(t, func() error {
		_, err := c.Read(make([]byte, 1))
		return err
	})
	if err == nil || !errors.Is(netx.Cause(ctx, err), context.Canceled) {
		t.Errorf("Read() error = %v, want context.Canceled as its cause", err)
	}
}
