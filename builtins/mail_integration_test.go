//go:build integration

package builtins

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"mime"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/monsta/monsta/internal/testkit/ittest"
	"github.com/monsta/monsta/runtime"
)

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
	r := guardedFor(t, o.Descriptor().DeadlineFor(o)+5*time.Second, func() result {
		ctx, cancel := context.WithTimeout(context.Background(), o.Descriptor().DeadlineFor(o))
		defer cancel()
		s, err := c.Run(ctx)
		return result{s, err}
	})
	t.Logf("Run() = %v, %v", r.stats, r.err)
	return c, r.stats, r.err
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

// deliver sends msg to rcpt through the real smtpd without the code under
// test's help beyond the dialogue helper.
func deliver(t *testing.T, e ittest.Mail, rcpt string, msg []byte) {
	t.Helper()
	h, p := splitAddr(t, e.SMTP)
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
	e := ittest.MailEnv(t)
	host, port := splitAddr(t, e.SMTP)
	_, subPort := splitAddr(t, e.Submission)
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
			want: "STARTTLS required but not offered by " + e.SMTP},
		{name: "STARTTLS when offered, none on 2525", opts: map[string]string{"starttls": "yes"}},
		{name: "submission: STARTTLS done, RCPT needs AUTH",
			opts: map[string]string{"port": subPort, "starttls": "required", "tls_ca": e.CA},
			want: "RCPT TO <" + e.Users[0] + ">: 554 5.7.1"},
		{name: "submission: AUTH over STARTTLS",
			opts: map[string]string{"port": subPort, "starttls": "required", "tls_ca": e.CA,
				"username": e.Users[1], "password": e.Passwords[1]}},
		{name: "submission: certificate not trusted",
			opts: map[string]string{"port": subPort, "starttls": "required"},
			want: "STARTTLS handshake with " + e.Submission + ": tls: failed to verify certificate: x509: certificate signed by unknown authority"},
		{name: "server down", opts: map[string]string{"host": "127.0.0.1", "port": closed},
			want: "connect 127.0.0.1:" + closed + ": connection refused"},
		{name: "server silent", opts: map[string]string{"host": "127.0.0.1", "port": silent, "timeout": "1"},
			want: "banner: i/o timeout", timeout: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := map[string]string{"host": host, "port": port, "sender": "monsta@monsta.test",
				"recipient": e.Users[0]}
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
	e := ittest.MailEnv(t)
	smtpHost, smtpPort := splitAddr(t, e.SMTP)
	_, subPort := splitAddr(t, e.Submission)
	imapHost, imapPort := splitAddr(t, e.IMAP)
	_, imapsPort := splitAddr(t, e.IMAPS)
	user, pass := e.Users[0], e.Passwords[0]

	tests := []struct {
		name string
		opts map[string]string
		late bool // put a late probe of this check in the INBOX first
		want string
	}{
		{name: "round trip"},
		{name: "late probe of an earlier run is deleted", late: true},
		{name: "submission with AUTH over STARTTLS, IMAPS with CA", opts: map[string]string{
			"smtp_port": subPort, "smtp_starttls": "required", "smtp_username": e.Users[1],
			"smtp_password": e.Passwords[1], "tls_ca": e.CA, "mailbox_port": imapsPort, "mailbox_ssl": "yes"}},
		{name: "IMAP STARTTLS required with CA", opts: map[string]string{"mailbox_starttls": "required",
			"tls_ca": e.CA}},
		{name: "IMAPS without verification", opts: map[string]string{"mailbox_port": imapsPort,
			"mailbox_ssl": "yes", "tls_verify": "no"}},
		{name: "IMAPS certificate not trusted", opts: map[string]string{"mailbox_port": imapsPort,
			"mailbox_ssl": "yes"},
			want: "IMAP TLS handshake with " + e.IMAPS + ": tls: failed to verify certificate: x509: certificate signed by unknown authority"},
		{name: "wrong IMAP password", opts: map[string]string{"mailbox_password": "not-the-password"},
			want: "IMAP login as " + user + ": "},
		{name: "wrong folder", opts: map[string]string{"mailbox_folder": "Nope"},
			want: `IMAP select "Nope": `},
		{name: "SMTP AUTH wrong password", opts: map[string]string{
			"smtp_port": subPort, "smtp_starttls": "required", "smtp_username": e.Users[1],
			"smtp_password": "not-the-password", "tls_ca": e.CA},
			want: "SMTP AUTH PLAIN as " + e.Users[1] + ": 535 5.7.8"},
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
				if len(e.AwaitHeader(t, user, pass, probeHeader, lateID, 10*time.Second)) == 0 {
					t.Fatal("late probe never arrived")
				}
			}
			_, stats, err := itRun(t, mailboxCheckDescriptor(), raw)
			wantErr(t, err, tt.want)
			if err != nil {
				for _, secret := range []string{"not-the-password", pass, e.Passwords[1]} {
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
			if left := e.SearchHeader(t, user, pass, probeHeader, token); len(left) != 0 {
				t.Errorf("%d probes of this check left in INBOX after the run, want none", len(left))
			}
		})
	}
}

func TestIntegrationSMTPNotifier(t *testing.T) {
	e := ittest.MailEnv(t)
	subHost, subPort := splitAddr(t, e.Submission)
	_, smtpPort := splitAddr(t, e.SMTP)
	user, pass := e.Users[1], e.Passwords[1]

	id := make([]byte, 8)
	rand.Read(id)
	tag := hex.EncodeToString(id)
	n := newSMTPTestNotifier(t, map[string]string{"host": subHost, "port": subPort, "sender": user,
		"recipient": user, "username": user, "password": pass, "starttls": "required", "tls_ca": e.CA})
	msg := runtime.Message{Test: "www", State: runtime.StateFail, Failures: 1, Time: time.Now(),
		Short: "FAIL www " + tag + " — Prüfung", Long: "check www failed\nconnect 127.0.0.1:80: connection refused\n"}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := n.Verify(ctx); err != nil {
		t.Fatalf("Verify() error = %v", err)
	}
	if err := n.Notify(ctx, msg); err != nil {
		t.Fatalf("Notify() error = %v", err)
	}
	uids := e.AwaitHeader(t, user, pass, "Subject", tag, 20*time.Second)
	if len(uids) == 0 {
		t.Fatal("notification never arrived in the INBOX")
	}
	raw := e.Fetch(t, user, pass, uids)[0]
	parsed, body := parseMail(t, raw)
	var dec mime.WordDecoder
	if subj, _ := dec.DecodeHeader(parsed.Header.Get("Subject")); subj != msg.Short {
		t.Errorf("Subject = %q, want %q", subj, msg.Short)
	}
	if got := parsed.Header.Get("Auto-Submitted"); got != "auto-generated" {
		t.Errorf("Auto-Submitted = %q", got)
	}
	if body != msg.Long {
		t.Errorf("body = %q, want %q", body, msg.Long)
	}
	e.Delete(t, user, pass, uids)

	// Refusals that retrying cannot fix are permanent.
	bad := newSMTPTestNotifier(t, map[string]string{"host": subHost, "port": subPort, "sender": user,
		"recipient": user, "username": user, "password": "not-the-password", "starttls": "required", "tls_ca": e.CA})
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
