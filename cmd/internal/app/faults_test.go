package app

import (
	"fmt"
	"github.com/monsta/monsta/internal/testkit/testconf"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/monsta/monsta/internal/testkit/loopback"
	"github.com/monsta/monsta/internal/testkit/smtpfake"
)

// These ran the binary on one-second intervals and waited for its
// schedule in real time; on the fake clock they wait for nothing but the
// order of events. The binary keeps the smoke runs and what is about the
// process (kill -9, signals, pid files) in cmd/monsta.

// advance moves the clock on by d, a second at a time, letting the runs
// and deliveries that become due happen.
func (f *fixture) advance(d time.Duration) {
	for range int(d / time.Second) {
		f.clk.Advance(time.Second)
		time.Sleep(2 * time.Millisecond)
	}
}

// TestNotifierDownThenBackDeliversOnce: a page for a mail server that is
// down waits in the outbox and is retried; when the server comes up it is
// delivered once, and not again on later retries' slots.
func TestNotifierDownThenBackDeliversOnce(t *testing.T) {
	t.Parallel()
	port := loopback.ClosedPort(t)
	f := newFixture(t, testconf.MailDown(port, ""))
	a := f.start()
	defer a.Close()
	f.runUntil(`msg="notification failed, will retry"`)
	outbox := filepath.Join(f.dir, "state", "outbox", "page", "*.json")
	if files, _ := filepath.Glob(outbox); len(files) != 1 {
		t.Fatalf("outbox holds %d messages while the server is down, want 1", len(files))
	}
	mail := smtpfake.Start(t, smtpfake.Config{Addr: fmt.Sprintf("127.0.0.1:%d", port)})
	f.runUntil(`msg="notification sent" notification=page`)
	f.advance(10 * time.Second) // ten retry slots: room for a wrong second delivery
	if n := len(mail.Messages()); n != 1 {
		t.Errorf("server got %d messages, want exactly 1", n)
	}
	if files, _ := filepath.Glob(outbox); len(files) != 0 {
		t.Errorf("outbox still holds %v after delivery", files)
	}
}

// TestTruncatedStateFileIsSetAside: a state file cut short (a crash in
// the middle of a write on a file system without atomic renames) is moved
// aside and the test starts over.
func TestTruncatedStateFileIsSetAside(t *testing.T) {
	t.Parallel()
	f := newFixture(t, failingConf)
	state := filepath.Join(f.dir, "state", "state")
	os.MkdirAll(state, 0o750)
	os.WriteFile(filepath.Join(state, "down.json"), []byte(`{"fingerprint":"x","failu`), 0o600)
	a := f.start()
	defer a.Close()
	f.runUntil(`msg="unreadable state file moved aside; starting without it"`)
	f.runUntil(`msg="test failed" test=down failures=1`)
	if m, _ := filepath.Glob(filepath.Join(state, "down.json.corrupt-*")); len(m) != 1 {
		t.Errorf("corrupt file not kept aside: %v", m)
	}
}

// TestSwitchDownOneMail: 40 services behind a switch (all on one loopback
// listener, as they are all behind it); the listener closes: one mail, for
// the switch; it comes back: one RECOVERED mail.
func TestSwitchDownOneMail(t *testing.T) {
	t.Parallel()
	mail := smtpfake.Start(t, smtpfake.Config{})
	host, mport := mail.HostPort(t)
	banner := func(c net.Conn) { c.Write([]byte("220 ready\r\n")) }
	addr, stop := loopback.ServeStop(t, banner)
	var b strings.Builder
	fmt.Fprintf(&b, "[main]\nstatedir = STATEDIR\n[Notification_mail]\ntype = smtp\nhost = %s\nport = %s\nsender = monsta@example.org\nrecipient = ops@example.org\n", host, mport)
	fmt.Fprintf(&b, "[Check_port]\ntype = portconnect\nhost = 127.0.0.1\nport = %d\ntimeout = 2\n", loopback.Port(addr))
	b.WriteString("[Test_switch]\nchecks = port\ninterval = 1\nnotify = 1:mail\n")
	for i := range 40 {
		fmt.Fprintf(&b, "[Test_web%d]\nchecks = port\ninterval = 1\nnotify = 1:mail\ndepends = switch\n", i+1)
	}
	f := newFixture(t, b.String())
	a := f.start()
	f.advanceUntil("every test ran", func() bool {
		for _, st := range a.Engine().State() {
			if st.LastRun.IsZero() || !st.LastOK {
				return false
			}
		}
		return true
	})
	stop()
	f.runUntilN(`msg="notifications held" test=web`, 40)
	loopback.ServeOn(t, addr, banner)
	f.runUntilN(`msg="notifications released" test=web`, 40)
	f.advanceUntil("sent the RECOVERED mail", func() bool { return len(mail.Messages()) >= 2 })
	a.Close()
	got := mail.Subjects()
	if len(got) != 2 || !strings.HasPrefix(got[0], "FAIL switch") || !strings.HasPrefix(got[1], "RECOVERED switch") {
		t.Errorf("mails = %q, want one FAIL switch and one RECOVERED switch", got)
	}
}

// advanceUntil advances the clock a second at a time until ok holds; the
// bound only turns a hang into a failure.
func (f *fixture) advanceUntil(what string, ok func() bool) {
	f.t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !ok(); f.advance(time.Second) {
		if time.Now().After(deadline) {
			f.t.Fatalf("never %s", what)
		}
	}
}

// runUntilN is runUntil for n occurrences of want.
func (f *fixture) runUntilN(want string, n int) string {
	f.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if s := f.logText(); strings.Count(s, want) >= n {
			return s
		}
		f.advance(time.Second)
	}
	f.t.Fatalf("log never showed %q %d times:\n%s", want, n, f.logText())
	return ""
}
