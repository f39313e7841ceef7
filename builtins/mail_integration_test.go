//go:build integration

package builtins

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"io"
	"mime"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap"
	"github.com/emersion/go-imap/client"
	"github.com/monsta/monsta/runtime"
)

// mailIT holds what .ci/servers.d/mail.sh published.
type mailIT struct {
	smtp, submission, imap, imaps string // host:port
	ca                            string // PEM of the servers' self-signed certificate
	users, passwords              [3]string
}

func mailEnv(t *testing.T) mailIT {
	t.Helper()
	get := func(k string) string {
		v := os.Getenv(k)
		if v == "" {
			t.Fatalf("%s is not set: start the real servers with `.ci/servers start mail` and load "+
				"$MONSTA_IT_DIR/env (set -a; . $MONSTA_IT_DIR/env; set +a)", k)
		}
		return v
	}
	e := mailIT{smtp: get("MONSTA_IT_SMTP"), submission: get("MONSTA_IT_SUBMISSION"),
		imap: get("MONSTA_IT_IMAP"), imaps: get("MONSTA_IT_IMAPS"), ca: get("MONSTA_IT_MAIL_CA")}
	for i := range e.users {
		n := string(rune('1' + i))
		e.users[i], e.passwords[i] = get("MONSTA_IT_MAIL_USER"+n), get("MONSTA_IT_MAIL_PASSWORD"+n)
	}
	return e
}

func splitAddr(t *testing.T, addr string) (string, string) {
	t.Helper()
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return h, p
}

// itRun builds a check of type d from raw and runs it under its own deadline.
func itRun(t *testing.T, d runtime.Descriptor, raw map[string]string) (runtime.Check, runtime.Stats, error) {
	t.Helper()
	o := newTestOptions(t, d, "Check_it", raw)
	c, err := d.NewCheck(o)
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		stats runtime.Stats
		err   error
	}
	r := runGuardedFor(t, o.Descriptor().DeadlineFor(o)+5*time.Second, func() result {
		ctx, cancel := context.WithTimeout(context.Background(), o.Descriptor().DeadlineFor(o))
		defer cancel()
		s, err := c.Run(ctx)
		return result{s, err}
	})
	t.Logf("Run() = %v, %v", r.stats, r.err)
	return c, r.stats, r.err
}

// runGuardedFor is guarded with a guard of d.
func runGuardedFor[T any](t *testing.T, d time.Duration, f func() T) T {
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

func wantErr(t *testing.T, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Fatalf("error = %v, want nil", err)
	case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
		t.Fatalf("error = %v, want one containing %q", err, want)
	}
}

// withIMAP runs f in a short IMAP session of the test's own (IMAPS with the
// CA) with INBOX selected.
func withIMAP(t *testing.T, e mailIT, user, pass string, f func(c *client.Client)) {
	t.Helper()
	pem, err := os.ReadFile(e.ca)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := tlsConfigFromPEM(pem)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.DialWithDialerTLS(&net.Dialer{Timeout: 10 * time.Second}, e.imaps, cfg)
	if err != nil {
		t.Fatalf("IMAPS dial: %v", err)
	}
	c.Timeout = 10 * time.Second
	defer c.Logout()
	if err := c.Login(user, pass); err != nil {
		t.Fatalf("IMAP login: %v", err)
	}
	if _, err := c.Select("INBOX", false); err != nil {
		t.Fatalf("IMAP select: %v", err)
	}
	f(c)
}

func tlsConfigFromPEM(pem []byte) (*tls.Config, error) {
	f, err := os.CreateTemp("", "ca*.pem")
	if err != nil {
		return nil, err
	}
	defer os.Remove(f.Name())
	f.Write(pem)
	f.Close()
	reg := runtime.NewRegistry()
	d := smtpCheckDescriptor()
	if err := reg.Add(d); err != nil {
		return nil, err
	}
	dp, _ := reg.Lookup(runtime.KindCheck, "smtp")
	o, err := runtime.NewOptions(dp, "Check_ca", map[string]string{"host": "127.0.0.1", "sender": "a@b",
		"recipient": "c@d", "tls_ca": f.Name()})
	if err != nil {
		return nil, err
	}
	return tlsConfig(o, "127.0.0.1")
}

// searchHeader returns the UIDs of INBOX messages whose header contains value.
func searchHeader(t *testing.T, e mailIT, user, pass, header, value string) (uids []uint32) {
	t.Helper()
	withIMAP(t, e, user, pass, func(c *client.Client) {
		sc := imap.NewSearchCriteria()
		sc.Header.Add(header, value)
		var err error
		if uids, err = c.UidSearch(sc); err != nil {
			t.Fatalf("UID SEARCH: %v", err)
		}
	})
	return uids
}

// deliver sends msg to rcpt through the real smtpd without the code under
// test's help beyond the dialogue helper.
func deliver(t *testing.T, e mailIT, rcpt string, msg []byte) {
	t.Helper()
	h, p := splitAddr(t, e.smtp)
	sp := &smtpParams{host: h, port: atoi(t, p), helo: "it.monsta.test", starttls: starttlsNo}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := smtpOpen(ctx, sp)
	if err != nil {
		t.Fatal(err)
	}
	defer s.quit()
	if err := s.send("it@monsta.test", []string{rcpt}, msg); err != nil {
		t.Fatal(err)
	}
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	v, err := runtime.Port(s)
	if err != nil {
		t.Fatal(err)
	}
	return v.(int)
}

func TestIntegrationSMTPCheck(t *testing.T) {
	e := mailEnv(t)
	host, port := splitAddr(t, e.smtp)
	_, subPort := splitAddr(t, e.submission)
	silent := silentListener(t)
	closed := closedPort(t) // after every listener of the test, so none takes its port
	tests := []struct {
		name    string
		opts    map[string]string
		want    string
		timeout bool
	}{
		{name: "accepted", opts: map[string]string{}},
		{name: "unknown recipient", opts: map[string]string{"recipient": "nobody@monsta.test"},
			want: "RCPT TO <nobody@monsta.test>: 550 5.1.1 <nobody@monsta.test>: Recipient address rejected: User unknown in virtual mailbox table"},
		{name: "STARTTLS required, not offered", opts: map[string]string{"starttls": "required"},
			want: "STARTTLS required but not offered by " + e.smtp},
		{name: "STARTTLS when offered, none on 2525", opts: map[string]string{"starttls": "yes"}},
		{name: "submission: STARTTLS done, RCPT needs AUTH",
			opts: map[string]string{"port": subPort, "starttls": "required", "tls_ca": e.ca},
			want: "RCPT TO <" + e.users[0] + ">: 554 5.7.1"},
		{name: "submission: AUTH over STARTTLS",
			opts: map[string]string{"port": subPort, "starttls": "required", "tls_ca": e.ca,
				"username": e.users[1], "password": e.passwords[1]}},
		{name: "submission: certificate not trusted",
			opts: map[string]string{"port": subPort, "starttls": "required"},
			want: "STARTTLS handshake with " + e.submission + ": tls: failed to verify certificate: x509: certificate signed by unknown authority"},
		{name: "server down", opts: map[string]string{"host": "127.0.0.1", "port": closed},
			want: "connect 127.0.0.1:" + closed + ": connection refused"},
		{name: "server silent", opts: map[string]string{"host": "127.0.0.1", "port": silent, "timeout": "1"},
			want: "banner: i/o timeout", timeout: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := map[string]string{"host": host, "port": port, "sender": "monsta@monsta.test",
				"recipient": e.users[0]}
			for k, v := range tt.opts {
				raw[k] = v
			}
			_, stats, err := itRun(t, smtpCheckDescriptor(), raw)
			wantErr(t, err, tt.want)
			if tt.timeout && !runtime.IsTimeout(err) {
				t.Errorf("error = %v, want a timeout", err)
			}
			if _, ok := stats["total_seconds"]; !ok {
				t.Errorf("stats = %v, want total_seconds", stats)
			}
			if _, ok := stats["banner_seconds"]; !ok && tt.want == "" {
				t.Errorf("stats = %v, want banner_seconds", stats)
			}
		})
	}
}

func TestIntegrationMailbox(t *testing.T) {
	e := mailEnv(t)
	smtpHost, smtpPort := splitAddr(t, e.smtp)
	_, subPort := splitAddr(t, e.submission)
	imapHost, imapPort := splitAddr(t, e.imap)
	_, imapsPort := splitAddr(t, e.imaps)
	user, pass := e.users[0], e.passwords[0]

	tests := []struct {
		name string
		opts map[string]string
		late bool // put a late probe of this check in the INBOX first
		want string
	}{
		{name: "round trip"},
		{name: "late probe of an earlier run is deleted", late: true},
		{name: "submission with AUTH over STARTTLS, IMAPS with CA", opts: map[string]string{
			"smtp_port": subPort, "smtp_starttls": "required", "smtp_username": e.users[1],
			"smtp_password": e.passwords[1], "tls_ca": e.ca, "mailbox_port": imapsPort, "mailbox_ssl": "yes"}},
		{name: "IMAP STARTTLS required with CA", opts: map[string]string{"mailbox_starttls": "required",
			"tls_ca": e.ca}},
		{name: "IMAPS without verification", opts: map[string]string{"mailbox_port": imapsPort,
			"mailbox_ssl": "yes", "tls_verify": "no"}},
		{name: "IMAPS certificate not trusted", opts: map[string]string{"mailbox_port": imapsPort,
			"mailbox_ssl": "yes"},
			want: "IMAP TLS handshake with " + e.imaps + ": tls: failed to verify certificate: x509: certificate signed by unknown authority"},
		{name: "wrong IMAP password", opts: map[string]string{"mailbox_password": "not-the-password"},
			want: "IMAP login as " + user + ": "},
		{name: "wrong folder", opts: map[string]string{"mailbox_folder": "Nope"},
			want: `IMAP select "Nope": `},
		{name: "SMTP AUTH wrong password", opts: map[string]string{
			"smtp_port": subPort, "smtp_starttls": "required", "smtp_username": e.users[1],
			"smtp_password": "not-the-password", "tls_ca": e.ca},
			want: "SMTP AUTH PLAIN as " + e.users[1] + ": 535 5.7.8"},
		{name: "recipient unknown", opts: map[string]string{"recipient": "nobody@monsta.test"},
			want: "SMTP RCPT TO <nobody@monsta.test>: 550 5.1.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := map[string]string{"smtp_host": smtpHost, "smtp_port": smtpPort, "sender": "monsta@monsta.test",
				"recipient": user, "mailbox_host": imapHost, "mailbox_port": imapPort,
				"mailbox_username": user, "mailbox_password": pass, "timeout": "20", "smtp_timeout": "10"}
			for k, v := range tt.opts {
				raw[k] = v
			}
			o := newTestOptions(t, mailboxCheckDescriptor(), "Check_it", raw)
			c0, err := mailboxCheckDescriptor().NewCheck(o)
			if err != nil {
				t.Fatal(err)
			}
			token := c0.(*MailboxCheck).token
			var lateID string
			if tt.late {
				id := make([]byte, 8)
				rand.Read(id)
				lateID = token + "-" + hex.EncodeToString(id)
				deliver(t, e, user, probeMessage(lateID))
				deadline := time.Now().Add(10 * time.Second)
				for len(searchHeader(t, e, user, pass, probeHeader, lateID)) == 0 {
					if time.Now().After(deadline) {
						t.Fatal("late probe never arrived")
					}
					time.Sleep(100 * time.Millisecond)
				}
			}
			_, stats, err := itRun(t, mailboxCheckDescriptor(), raw)
			wantErr(t, err, tt.want)
			if err != nil {
				for _, secret := range []string{"not-the-password", pass, e.passwords[1]} {
					if strings.Contains(err.Error(), secret) {
						t.Errorf("error %q shows a password", err)
					}
				}
				return
			}
			for _, k := range []string{"smtp_seconds", "mailbox_seconds"} {
				if _, ok := stats[k]; !ok {
					t.Errorf("stats = %v, want %s", stats, k)
				}
			}
			if left := searchHeader(t, e, user, pass, probeHeader, token); len(left) != 0 {
				t.Errorf("%d probes of this check left in INBOX after the run, want none", len(left))
			}
		})
	}
}

func TestIntegrationSMTPNotifier(t *testing.T) {
	e := mailEnv(t)
	subHost, subPort := splitAddr(t, e.submission)
	_, smtpPort := splitAddr(t, e.smtp)
	user, pass := e.users[1], e.passwords[1]

	id := make([]byte, 8)
	rand.Read(id)
	tag := hex.EncodeToString(id)
	n := newSMTPTestNotifier(t, map[string]string{"host": subHost, "port": subPort, "sender": user,
		"recipient": user, "username": user, "password": pass, "starttls": "required", "tls_ca": e.ca})
	msg := runtime.Message{Test: "www", State: runtime.StateFail, Failures: 1, Time: time.Now(),
		Subject: "FAIL www " + tag + " — Prüfung", Body: "check www failed\nconnect 127.0.0.1:80: connection refused\n"}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := n.Verify(ctx); err != nil {
		t.Fatalf("Verify() error = %v", err)
	}
	if err := n.Notify(ctx, msg); err != nil {
		t.Fatalf("Notify() error = %v", err)
	}
	var uids []uint32
	deadline := time.Now().Add(20 * time.Second)
	for uids = searchHeader(t, e, user, pass, "Subject", tag); len(uids) == 0; uids = searchHeader(t, e, user, pass, "Subject", tag) {
		if time.Now().After(deadline) {
			t.Fatal("notification never arrived in the INBOX")
		}
		time.Sleep(100 * time.Millisecond)
	}
	withIMAP(t, e, user, pass, func(own *client.Client) {
		set := new(imap.SeqSet)
		set.AddNum(uids...)
		section := &imap.BodySectionName{}
		ch := make(chan *imap.Message, len(uids))
		if err := own.UidFetch(set, []imap.FetchItem{section.FetchItem()}, ch); err != nil {
			t.Fatal(err)
		}
		m := <-ch
		raw, _ := io.ReadAll(m.GetBody(section))
		parsed, body := parseMail(t, raw)
		var dec mime.WordDecoder
		if subj, _ := dec.DecodeHeader(parsed.Header.Get("Subject")); subj != msg.Subject {
			t.Errorf("Subject = %q, want %q", subj, msg.Subject)
		}
		if got := parsed.Header.Get("Auto-Submitted"); got != "auto-generated" {
			t.Errorf("Auto-Submitted = %q", got)
		}
		if body != msg.Body {
			t.Errorf("body = %q, want %q", body, msg.Body)
		}
		if err := own.UidStore(set, imap.FormatFlagsOp(imap.AddFlags, true), []interface{}{imap.DeletedFlag}, nil); err != nil {
			t.Fatal(err)
		}
		if err := own.Expunge(nil); err != nil {
			t.Fatal(err)
		}
	})

	// Refusals that retrying cannot fix are permanent.
	bad := newSMTPTestNotifier(t, map[string]string{"host": subHost, "port": subPort, "sender": user,
		"recipient": user, "username": user, "password": "not-the-password", "starttls": "required", "tls_ca": e.ca})
	err := bad.Verify(ctx)
	var perm *runtime.PermanentError
	if err == nil || !errors.As(err, &perm) || !strings.Contains(err.Error(), "AUTH PLAIN as "+user+": 535") {
		t.Errorf("Verify() with a wrong password = %v, want a permanent 535", err)
	}
	unknown := newSMTPTestNotifier(t, map[string]string{"host": subHost, "port": smtpPort, "sender": user,
		"recipient": "nobody@monsta.test"})
	err = unknown.Notify(ctx, msg)
	if err == nil || !errors.As(err, &perm) || !strings.Contains(err.Error(), "RCPT TO <nobody@monsta.test>: 550 5.1.1") {
		t.Errorf("Notify() to an unknown recipient = %v, want a permanent 550", err)
	}
}
