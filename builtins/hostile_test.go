package builtins

import (
	"context"
	"crypto/tls"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/monsta/monsta/internal/netx"
	"github.com/monsta/monsta/internal/testkit/hostile"
	"github.com/monsta/monsta/internal/testkit/loopback"
	"github.com/monsta/monsta/runtime"
)

// hostileCase is one attack on one client: the client's run against the
// peer at addr under ctx, the error it must end with, and what the heap may
// grow by.
type hostileCase struct {
	name    string
	script  []hostile.Step
	run     func(ctx context.Context, addr string) error
	wantErr string // substring of the error; every cap error reads "reply too long ("
	timeout bool   // the run ends at its deadline instead
	anyErr  bool   // any error will do (random bytes)
	noErr   bool   // the run succeeds (it needs no more than the cap)
	bound   int64  // the heap's growth allowed, besides 2 MiB of slack
}

// runHostile plays each case with a deadline of deadline (the trickle ends
// there, the caps end the others sooner) and checks the outcome and the
// heap's growth. The cases run one after another, not in parallel: the
// heap is measured.
func runHostile(t *testing.T, deadline time.Duration, cases []hostileCase) {
	t.Helper()
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			peer := hostile.Serve(t, tt.script...)
			ctx, cancel := context.WithTimeout(context.Background(), deadline)
			defer cancel()
			out := hostile.Run(t, func() error { return tt.run(ctx, peer.Addr) })
			t.Logf("%s: %v; heap grew by at most %d KiB, peer sent %d KiB", tt.name, out.Err, out.Peak>>10, peer.Sent()>>10)
			switch {
			case tt.noErr:
				if out.Err != nil {
					t.Errorf("run error = %v, want nil", out.Err)
				}
			case out.Err == nil:
				t.Fatalf("run error = nil, want one")
			case tt.timeout:
				if !errors.Is(out.Err, os.ErrDeadlineExceeded) && !errors.Is(out.Err, context.DeadlineExceeded) {
					t.Errorf("run error = %v, want the deadline", out.Err)
				}
			case tt.anyErr:
			default:
				if !errors.Is(out.Err, netx.ErrTooLong) || !strings.Contains(out.Err.Error(), tt.wantErr) {
					t.Errorf("run error = %v, want reply too long and %q", out.Err, tt.wantErr)
				}
			}
			if bound := uint64(tt.bound + 2<<20); out.Peak > bound {
				t.Errorf("heap grew by %d bytes, want at most %d", out.Peak, bound)
			}
		})
	}
}

// smtpAttacks are the attacks on an SMTP client (check, notifier, --lint):
// each one's expected error names the step it hits.
func smtpAttacks(run func(ctx context.Context, addr string) error) []hostileCase {
	greet := hostile.Send("220 hostile.test ESMTP\r\n")
	bound := 4 * netx.SMTP.Reply
	return []hostileCase{
		{name: "endless banner line", script: []hostile.Step{hostile.EndlessLine("220 ")},
			wantErr: "banner: reply too long (", bound: bound},
		{name: "endless multi-line banner", script: []hostile.Step{hostile.EndlessReply("220-")},
			wantErr: "banner: reply too long (", bound: bound},
		{name: "endless multi-line EHLO reply", script: []hostile.Step{greet, hostile.AwaitLine(), hostile.EndlessReply("250-")},
			wantErr: "EHLO monsta.local: reply too long (", bound: bound},
		{name: "endless EHLO line", script: []hostile.Step{greet, hostile.AwaitLine(), hostile.EndlessLine("250 ")},
			wantErr: "EHLO monsta.local: reply too long (", bound: bound},
		{name: "endless STARTTLS reply", script: []hostile.Step{greet, hostile.AwaitLine(),
			hostile.Send("250-hostile.test\r\n250 STARTTLS\r\n"), hostile.AwaitLine(), hostile.EndlessReply("220-")},
			wantErr: "STARTTLS: reply too long (", bound: bound},
		{name: "random bytes", script: []hostile.Step{hostile.Random()}, anyErr: true, bound: bound},
		{name: "trickle", script: []hostile.Step{hostile.Trickle("220 hostile.test ESMTP\r\n")}, timeout: true, bound: bound},
	}
}

// withRun sets run on every case.
func withRun(cases []hostileCase, run func(ctx context.Context, addr string) error) []hostileCase {
	for i := range cases {
		cases[i].run = run
	}
	return cases
}

func TestSMTPCheckHostile(t *testing.T) {
	run := func(ctx context.Context, addr string) error {
		o := newTestOptions(t, smtpCheckDescriptor(), "Check_mx", map[string]string{
			"host": "127.0.0.1", "port": loopback.PortString(addr), "sender": "monsta@monsta.test",
			"recipient": "alice@monsta.test", "starttls": "yes", "helo": "monsta.local"})
		c, err := smtpCheckDescriptor().NewCheck(o)
		if err != nil {
			return err
		}
		_, err = c.Run(ctx)
		return err
	}
	runHostile(t, 500*time.Millisecond, withRun(smtpAttacks(nil), run))
}

func TestSMTPNotifierHostile(t *testing.T) {
	notifier := func(addr string) *SMTPNotifier {
		return newSMTPTestNotifier(t, map[string]string{"host": "127.0.0.1", "port": loopback.PortString(addr),
			"sender": "monsta@monsta.test", "recipient": "alice@monsta.test", "starttls": "yes", "helo": "monsta.local"})
	}
	t.Run("notify", func(t *testing.T) {
		runHostile(t, 500*time.Millisecond, withRun(smtpAttacks(nil), func(ctx context.Context, addr string) error {
			return notifier(addr).Notify(ctx, runtime.Message{Test: "www", State: runtime.StateFail, Failures: 1})
		}))
	})
	t.Run("lint login", func(t *testing.T) {
		runHostile(t, 500*time.Millisecond, withRun(smtpAttacks(nil), func(ctx context.Context, addr string) error {
			return notifier(addr).Verify(ctx)
		}))
	})
}

// xmppServerHeader opens the server's side of an XMPP stream.
const xmppServerHeader = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' " +
	"xmlns:stream='http://etherx.jabber.org/streams' id='h' from='hostile.test' version='1.0'>"

// TestTLSCheckHostile attacks every STARTTLS dialect of the tls check.
func TestTLSCheckHostile(t *testing.T) {
	run := func(starttls string) func(ctx context.Context, addr string) error {
		return func(ctx context.Context, addr string) error {
			c, err := newTestCheck(t, tlsCheckDescriptor(), map[string]string{"host": "127.0.0.1",
				"port": loopback.PortString(addr), "starttls": starttls})
			if err != nil {
				return err
			}
			_, err = c.Run(ctx)
			return err
		}
	}
	bound := 4 * netx.XMPP.Reply
	smtpGreet := hostile.Send("220 hostile.test ESMTP\r\n")
	cases := []hostileCase{
		{name: "smtp endless multi-line EHLO reply", run: run("smtp"),
			script:  []hostile.Step{smtpGreet, hostile.AwaitLine(), hostile.EndlessReply("250-")},
			wantErr: "read EHLO reply: reply too long (", bound: bound},
		{name: "smtp endless greeting line", run: run("smtp"), script: []hostile.Step{hostile.EndlessLine("220 ")},
			wantErr: "read greeting: reply too long (", bound: bound},
		{name: "imap endless atom", run: run("imap"), script: []hostile.Step{hostile.EndlessAtom("* OK ")},
			wantErr: "read greeting: reply too long (", bound: bound},
		{name: "imap endless untagged lines", run: run("imap"),
			script:  []hostile.Step{hostile.Send("* OK hi\r\n"), hostile.AwaitLine(), hostile.EndlessReply("* ")},
			wantErr: "read STARTTLS reply: reply too long (", bound: bound},
		{name: "pop3 endless line", run: run("pop3"), script: []hostile.Step{hostile.EndlessLine("+OK ")},
			wantErr: "read greeting: reply too long (", bound: bound},
		{name: "xmpp endless attribute", run: run("xmpp"),
			script:  []hostile.Step{hostile.Await(">"), hostile.EndlessXMLAttr(xmppServerHeader)},
			wantErr: "read stream features: reply too long (", bound: bound},
		{name: "xmpp endless element", run: run("xmpp"),
			script:  []hostile.Step{hostile.Await(">"), hostile.EndlessXMLElement(xmppServerHeader)},
			wantErr: "read stream features: reply too long (", bound: bound},
		{name: "xmpp endless bytes before proceed", run: run("xmpp"),
			script: []hostile.Step{hostile.Await(">"), hostile.Send(xmppServerHeader +
				"<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/></stream:features>"),
				hostile.Await("/>"), hostile.EndlessLine("<x a='")},
			wantErr: "read STARTTLS reply: reply too long (", bound: bound},
	}
	for _, st := range []string{"smtp", "imap", "pop3", "xmpp", "ldap", "postgres"} {
		trickle := "0123456789"
		if st == "postgres" { // its reply is one byte; then the handshake
			trickle = "S\x16\x03\x01"
		}
		cases = append(cases,
			hostileCase{name: st + " random bytes", run: run(st), script: []hostile.Step{hostile.Random()}, anyErr: true, bound: bound},
			hostileCase{name: st + " trickle", run: run(st), script: []hostile.Step{hostile.Trickle(trickle)}, timeout: true, bound: bound})
	}
	runHostile(t, 500*time.Millisecond, cases)
}

// TestXMPPNotifierHostile attacks the xmpp notifier's stream, before and
// at STARTTLS.
func TestXMPPNotifierHostile(t *testing.T) {
	run := func(ctx context.Context, addr string) error {
		n, err := newNotifierIn(t, xmppDescriptor(), "Notification_x", map[string]string{"jid": "monsta@hostile.test",
			"password": "s3cret", "recipient": "alice@hostile.test", "server": addr})
		if err != nil {
			return err
		}
		return n.Notify(ctx, runtime.Message{Test: "www", State: runtime.StateFail, Failures: 1, Short: "www FAIL"})
	}
	bound := 4 * netx.XMPP.Reply
	features := hostile.Send(xmppServerHeader +
		"<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features>")
	runHostile(t, 500*time.Millisecond, withRun([]hostileCase{
		{name: "endless attribute", script: []hostile.Step{hostile.Await(">"), hostile.EndlessXMLAttr(xmppServerHeader)},
			wantErr: "open stream: reply too long (", bound: bound},
		{name: "endless element", script: []hostile.Step{hostile.Await(">"), hostile.EndlessXMLElement(xmppServerHeader)},
			wantErr: "open stream: reply too long (", bound: bound},
		{name: "endless bytes before STARTTLS", script: []hostile.Step{hostile.Await(">"), features,
			hostile.Await("/>"), hostile.EndlessLine("<proceed a='")},
			wantErr: "tls: reply too long (", bound: bound},
		{name: "random bytes", script: []hostile.Step{hostile.Await(">"), hostile.Random()}, anyErr: true, bound: bound},
		{name: "trickle", script: []hostile.Step{hostile.Await(">"), hostile.Trickle(xmppServerHeader)}, timeout: true, bound: bound},
	}, run))
}

// TestMailboxCheckHostile attacks the mailbox check's IMAP client: in the
// cleartext start monsta speaks itself, in go-imap's session, and after
// STARTTLS (where the caps must sit above TLS to see a literal).
func TestMailboxCheckHostile(t *testing.T) {
	run := func(starttls string) func(ctx context.Context, addr string) error {
		return func(ctx context.Context, addr string) error {
			o := newTestOptions(t, mailboxCheckDescriptor(), "Check_roundtrip", map[string]string{
				"sender": "monsta@monsta.test", "recipient": "alice@monsta.test", "mailbox_host": "127.0.0.1",
				"mailbox_port": loopback.PortString(addr), "mailbox_username": "alice", "mailbox_password": "pw",
				"mailbox_starttls": starttls})
			c, err := mailboxCheckDescriptor().NewCheck(o)
			if err != nil {
				return err
			}
			_, err = c.Run(ctx)
			return err
		}
	}
	cert := newTestCA(t).issue(t, "127.0.0.1", time.Hour)
	tlsCfg := &tls.Config{Certificates: []tls.Certificate{cert}}
	ok := hostile.Send("* OK [CAPABILITY IMAP4rev1] hostile.test ready\r\n")
	offer := []hostile.Step{ok, hostile.AwaitLine(), hostile.Send("* CAPABILITY IMAP4rev1 STARTTLS\r\nm1 OK done\r\n"),
		hostile.AwaitLine(), hostile.Send("m2 OK begin TLS\r\n")}
	literal := "* 1 FETCH (BODY[] "
	// go-imap parses what the cap lets in into fields it then drops: the
	// heap shows several times a reply's cap of garbage (up to 6 MiB seen).
	bound := 8 * netx.IMAP.Reply
	cases := []hostileCase{
		{name: "endless atom in the greeting", run: run("yes"), script: []hostile.Step{hostile.EndlessAtom("* OK ")},
			wantErr: "IMAP greeting: reply too long (", bound: bound},
		{name: "endless atom in the greeting, go-imap", run: run("no"), script: []hostile.Step{hostile.EndlessAtom("* OK ")},
			wantErr: "IMAP greeting: reply too long (", bound: bound},
		{name: "huge literal before STARTTLS", run: run("yes"),
			script:  []hostile.Step{ok, hostile.AwaitLine(), hostile.HugeLiteral(literal, 999999999)},
			wantErr: "IMAP CAPABILITY: reply too long (999999999 bytes)", bound: bound},
		{name: "huge literal, go-imap", run: run("no"),
			script:  []hostile.Step{ok, hostile.AwaitLine(), hostile.HugeLiteral(literal, 999999999)},
			wantErr: "IMAP login as alice: reply too long (999999999 bytes)", bound: bound},
		{name: "huge literal after STARTTLS", run: run("yes"),
			script:  append(offer, hostile.StartTLS(tlsCfg, hostile.AwaitLine(), hostile.HugeLiteral(literal, 999999999))),
			wantErr: "IMAP login as alice: reply too long (999999999 bytes)", bound: bound},
		// go-imap builds an atom a character at a time (atom += c): an atom
		// of n bytes leaves n²/2 bytes of garbage, which the line cap
		// bounds (32 MiB at 8 KiB); what the heap shows of it depends on
		// when the collector runs (3-13 MiB seen).
		{name: "endless atom after STARTTLS", run: run("yes"),
			script:  append(offer, hostile.StartTLS(tlsCfg, hostile.AwaitLine(), hostile.EndlessAtom("* 1 EXISTS "))),
			wantErr: "IMAP login as alice: reply too long (", bound: int64(netx.IMAP.Line) * int64(netx.IMAP.Line) / 2},
		{name: "endless untagged replies", run: run("no"),
			script:  []hostile.Step{ok, hostile.AwaitLine(), hostile.EndlessReply("* 1 EXISTS ")},
			wantErr: "IMAP login as alice: reply too long (", bound: bound},
		{name: "endless STARTTLS reply", run: run("yes"),
			script: []hostile.Step{ok, hostile.AwaitLine(), hostile.Send("* CAPABILITY IMAP4rev1 STARTTLS\r\nm1 OK done\r\n"),
				hostile.AwaitLine(), hostile.EndlessReply("* x")},
			wantErr: "IMAP STARTTLS with 127.0.0.1:", bound: bound},
	}
	for _, st := range []string{"yes", "no"} {
		cases = append(cases,
			hostileCase{name: "random bytes, starttls " + st, run: run(st), script: []hostile.Step{hostile.Random()}, anyErr: true, bound: bound},
			hostileCase{name: "trickle, starttls " + st, run: run(st), script: []hostile.Step{hostile.Trickle("* OK hi\r\n")}, timeout: true, bound: bound})
	}
	runHostile(t, time.Second, cases)
}

// httpHead is the start of an answer whose body ends only when the
// connection does.
const httpHead = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n"

// TestHTTPHostile attacks the http check and the HTTP notifiers with
// endless answers: a body parsed whole fails with reply too long, one
// read for an error message is clipped, and the heap stays bounded.
func TestHTTPHostile(t *testing.T) {
	check := func(extra map[string]string) func(ctx context.Context, addr string) error {
		return func(ctx context.Context, addr string) error {
			raw := map[string]string{"url": "http://" + addr + "/"}
			for k, v := range extra {
				raw[k] = v
			}
			c, err := newTestCheck(t, httpDescriptor(), raw)
			if err != nil {
				return err
			}
			_, err = c.Run(ctx)
			return err
		}
	}
	webhook := func(ctx context.Context, addr string) error {
		n, err := newWebhookForTest(t, map[string]string{"url": "http://" + addr + "/hook"})
		if err != nil {
			return err
		}
		return n.Notify(ctx, webhookMessage())
	}
	alertmanager := func(ctx context.Context, addr string) error {
		n, err := newAlertmanagerForTest(t, map[string]string{"url": "http://" + addr})
		if err != nil {
			return err
		}
		return n.Notify(ctx, webhookMessage())
	}
	clickatell := func(ctx context.Context, addr string) error {
		n, err := newClickatellForTest(t, restOpts("http://"+addr))
		if err != nil {
			return err
		}
		return n.Notify(ctx, runtime.Message{Test: "www", State: runtime.StateFail, Failures: 1, Short: "www FAIL"})
	}
	request := hostile.Await("\r\n\r\n")
	endless := []hostile.Step{request, hostile.EndlessLine(httpHead)}
	failing := []hostile.Step{request, hostile.EndlessLine(strings.Replace(httpHead, "200 OK", "500 Oops", 1))}
	// net/http parses a header of up to 1 MiB (the check's cap) into
	// garbage it then drops: up to 6 MiB seen.
	bound := int64(8 * netx.BodyMax)
	runHostile(t, time.Second, []hostileCase{
		{name: "check, endless body for json_path", run: check(map[string]string{"json_path": "a", "json_expect": "1"}),
			script: endless, wantErr: "read body: reply too long (", bound: bound},
		{name: "check, endless body for expect", run: check(map[string]string{"expect": "x{100}"}),
			script: endless, noErr: true, bound: bound},
		{name: "check, endless header", run: check(nil),
			script:  []hostile.Step{request, hostile.EndlessLine("HTTP/1.1 200 OK\r\nX-Endless: ")},
			wantErr: "GET http://127.0.0.1:", bound: bound},
		{name: "check, trickle", run: check(nil), script: []hostile.Step{request, hostile.Trickle(httpHead)}, timeout: true, bound: bound},
		{name: "check, random bytes", run: check(nil), script: []hostile.Step{request, hostile.Random()}, anyErr: true, bound: bound},
		{name: "webhook, endless body", run: webhook, script: endless, noErr: true, bound: bound},
		{name: "webhook, endless error page", run: webhook, script: failing, anyErr: true, bound: bound},
		{name: "webhook, endless header", run: webhook, script: []hostile.Step{request, hostile.EndlessLine("HTTP/1.1 200 OK\r\nX-Endless: ")},
			wantErr: "POST: reply too long (65537 bytes)", bound: bound},
		{name: "alertmanager, endless header", run: alertmanager,
			script:  []hostile.Step{request, hostile.EndlessLine("HTTP/1.1 200 OK\r\nX-Endless: ")},
			wantErr: "reply too long (65537 bytes)", bound: bound},
		{name: "clickatell, endless header", run: clickatell,
			script:  []hostile.Step{request, hostile.EndlessLine("HTTP/1.1 200 OK\r\nX-Endless: ")},
			wantErr: "reply too long (65537 bytes)", bound: bound},
		{name: "alertmanager, endless body", run: alertmanager, script: endless, noErr: true, bound: bound},
		{name: "alertmanager, endless error page", run: alertmanager, script: failing, anyErr: true, bound: bound},
		{name: "clickatell, endless answer", run: clickatell, script: endless, wantErr: "read answer: reply too long (", bound: bound},
	})
}

// TestDNSHostile attacks the DNS client over TCP, where a message is
// length-prefixed: miekg/dns reads at most 65535 bytes for one, so every
// attack ends in an error with the heap bounded by that.
func TestDNSHostile(t *testing.T) {
	run := func(ctx context.Context, addr string) error {
		c, err := newTestCheck(t, dnslookupDescriptor(), map[string]string{"hosts": addr, "record": "example.org",
			"requiredanswers": "127.0.0.1", "protocol": "tcp"})
		if err != nil {
			return err
		}
		_, err = c.Run(ctx)
		return err
	}
	bound := int64(4 * 65535)
	runHostile(t, 500*time.Millisecond, withRun([]hostileCase{
		{name: "largest message, endless garbage", script: []hostile.Step{hostile.Send("\xff\xff"), hostile.EndlessLine("")},
			anyErr: true, bound: bound},
		{name: "random bytes", script: []hostile.Step{hostile.Random()}, anyErr: true, bound: bound},
		{name: "trickle", script: []hostile.Step{hostile.Trickle("\x00\x20")}, timeout: true, bound: bound},
	}, run))
}
