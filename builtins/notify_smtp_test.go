package builtins

import (
	"bytes"
	"context"
	"errors"
	"io"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/monsta/monsta/runtime"
)

func newSMTPTestNotifier(t *testing.T, raw map[string]string) *SMTPNotifier {
	t.Helper()
	o := newTestOptions(t, smtpNotifierDescriptor(), "Notification_admin", raw)
	n, err := smtpNotifierDescriptor().NewNotifier(o)
	if err != nil {
		t.Fatal(err)
	}
	return n.(*SMTPNotifier)
}

// parseMail reads a delivered message and decodes its body.
func parseMail(t *testing.T, data []byte) (*mail.Message, string) {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("delivered message does not parse: %v\n%s", err, data)
	}
	var body io.Reader = m.Body
	if strings.EqualFold(m.Header.Get("Content-Transfer-Encoding"), "quoted-printable") {
		body = quotedprintable.NewReader(body)
	}
	b, err := io.ReadAll(body)
	if err != nil {
		t.Fatal(err)
	}
	return m, strings.ReplaceAll(string(b), "\r\n", "\n")
}

func TestSMTPNotifierDelivers(t *testing.T) {
	fake := startFakeSMTP(t, fakeSMTPConfig{starttls: true, users: map[string]string{"monsta": "s3cret"}})
	host, port := fake.hostPort(t)
	n := newSMTPTestNotifier(t, map[string]string{"host": host, "port": port, "sender": "monsta@monsta.test",
		"recipient": "alice@monsta.test, bob@monsta.test", "username": "monsta", "password": "s3cret",
		"starttls": "required", "tls_ca": testCAFile(t)})
	when := time.Date(2026, 11, 24, 7, 30, 0, 0, time.UTC)
	body := strings.Repeat("long line ", 12) + "\nsecond line: Prüfung fehlgeschlagen\n.\nlast\n"
	msg := runtime.Message{Test: "www", State: runtime.StateFail, Failures: 2, Time: when,
		Short: "FAIL: www — Prüfung", Long: body}
	err := guarded(t, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return n.Notify(ctx, msg)
	})
	if err != nil {
		t.Fatalf("Notify() error = %v", err)
	}
	msgs := fake.messages()
	if len(msgs) != 1 {
		t.Fatalf("server saw %d transactions, want 1", len(msgs))
	}
	got := msgs[0]
	if !got.tls || got.user != "monsta" {
		t.Errorf("TLS = %v, AUTH user = %q; want TLS and user monsta", got.tls, got.user)
	}
	host0, _ := os.Hostname()
	if got.helo != host0 {
		t.Errorf("EHLO name = %q, want the host name %q", got.helo, host0)
	}
	if got.from != "monsta@monsta.test" || strings.Join(got.to, " ") != "alice@monsta.test bob@monsta.test" {
		t.Errorf("envelope = %s → %v", got.from, got.to)
	}
	m, text := parseMail(t, got.data)
	var dec mime.WordDecoder
	subj, err := dec.DecodeHeader(m.Header.Get("Subject"))
	if err != nil {
		t.Fatal(err)
	}
	checks := map[string]string{
		"From":           "<monsta@monsta.test>",
		"To":             "<alice@monsta.test>, <bob@monsta.test>",
		"Auto-Submitted": "auto-generated",
		"MIME-Version":   "1.0",
		"Content-Type":   "text/plain; charset=utf-8",
	}
	for k, want := range checks {
		if v := m.Header.Get(k); v != want {
			t.Errorf("header %s = %q, want %q", k, v, want)
		}
	}
	if subj != msg.Short {
		t.Errorf("Subject decodes to %q, want %q", subj, msg.Short)
	}
	if raw := m.Header.Get("Subject"); !strings.HasPrefix(raw, "=?utf-8?") {
		t.Errorf("raw Subject = %q, want an encoded word", raw)
	}
	if d, err := m.Header.Date(); err != nil || !d.Equal(when) {
		t.Errorf("Date = %v (%v), want %v", d, err, when)
	}
	if id := m.Header.Get("Message-ID"); !strings.HasPrefix(id, "<") || !strings.Contains(id, "@") {
		t.Errorf("Message-ID = %q", id)
	}
	if text != body {
		t.Errorf("body = %q, want %q", text, body)
	}
}

func TestSMTPNotifierFailures(t *testing.T) {
	users := map[string]string{"monsta": "s3cret"}
	withTLS := startFakeSMTP(t, fakeSMTPConfig{starttls: true, users: users, reject: rejectUnknown})
	plain := startFakeSMTP(t, fakeSMTPConfig{users: users})
	_, tlsPort := withTLS.hostPort(t)
	_, plainPort := plain.hostPort(t)
	closed := closedPort(t)
	tests := []struct {
		name      string
		opts      map[string]string
		wantErr   string
		permanent bool
		verifyErr string // Verify's error; "" passes
	}{
		{name: "recipient rejected", opts: map[string]string{"port": tlsPort, "recipient": "nobody@monsta.test"},
			wantErr: "RCPT TO <nobody@monsta.test>: 550 5.1.1", permanent: true,
			verifyErr: "RCPT TO <nobody@monsta.test>: 550 5.1.1"},
		{name: "wrong password", opts: map[string]string{"port": tlsPort, "password": "wrong"},
			wantErr: "AUTH PLAIN as monsta: 535 5.7.8 Authentication failed", permanent: true,
			verifyErr: "AUTH PLAIN as monsta: 535 5.7.8"},
		{name: "password without TLS", opts: map[string]string{"port": plainPort, "starttls": "yes"},
			wantErr: "AUTH PLAIN as monsta: refusing to send the password without TLS", permanent: true,
			verifyErr: "refusing to send the password"},
		{name: "server down", opts: map[string]string{"port": closed},
			wantErr: "connect 127.0.0.1:" + closed + ": connection refused", verifyErr: "connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := map[string]string{"host": "127.0.0.1", "sender": "monsta@monsta.test",
				"recipient": "alice@monsta.test", "username": "monsta", "password": "s3cret",
				"starttls": "required", "tls_verify": "no"}
			for k, v := range tt.opts {
				raw[k] = v
			}
			n := newSMTPTestNotifier(t, raw)
			err := guarded(t, func() error {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				return n.Notify(ctx, runtime.Message{Short: "s", Long: "b"})
			})
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Notify() error = %v, want one containing %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "wrong") {
				t.Errorf("Notify() error %q shows the password", err)
			}
			var perm *runtime.PermanentError
			if errors.As(err, &perm) != tt.permanent {
				t.Errorf("Notify() error permanent = %v, want %v", !tt.permanent, tt.permanent)
			}
			verr := guarded(t, func() error {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				return n.Verify(ctx)
			})
			switch {
			case tt.verifyErr == "" && verr != nil:
				t.Errorf("Verify() error = %v, want nil", verr)
			case tt.verifyErr != "" && (verr == nil || !strings.Contains(verr.Error(), tt.verifyErr)):
				t.Errorf("Verify() error = %v, want one containing %q", verr, tt.verifyErr)
			}
		})
	}
}

// TestSMTPNotifierVerifySendsNothing: Verify tries MAIL FROM and RCPT TO
// but never DATA.
func TestSMTPNotifierVerifySendsNothing(t *testing.T) {
	fake := startFakeSMTP(t, fakeSMTPConfig{starttls: true, users: map[string]string{"monsta": "s3cret"}})
	host, port := fake.hostPort(t)
	n := newSMTPTestNotifier(t, map[string]string{"host": host, "port": port, "sender": "monsta@monsta.test",
		"recipient": "alice@monsta.test", "username": "monsta", "password": "s3cret", "starttls": "yes",
		"tls_verify": "no"})
	err := guarded(t, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return n.Verify(ctx)
	})
	if err != nil {
		t.Fatalf("Verify() error = %v", err)
	}
	msgs := fake.Messages()
	if len(msgs) != 1 || strings.Join(msgs[0].To, " ") != "alice@monsta.test" {
		t.Errorf("Verify() made transactions %+v, want one envelope to alice@monsta.test", msgs)
	}
	for _, m := range msgs {
		if m.Data != nil {
			t.Errorf("Verify() sent DATA: %q", m.Data)
		}
	}
}

func TestParseAddressList(t *testing.T) {
	for in, want := range map[string]string{
		"a@x":             "a@x",
		"a@x b@y":         "a@x|b@y",
		"a@x, b@y,c@z":    "a@x|b@y|c@z",
		" a@x ,\tb@y ,, ": "a@x|b@y",
	} {
		v, err := parseAddressList(in)
		if err != nil {
			t.Errorf("parseAddressList(%q) error = %v", in, err)
			continue
		}
		if got := strings.Join(v.([]string), "|"); got != want {
			t.Errorf("parseAddressList(%q) = %s, want %s", in, got, want)
		}
	}
	if _, err := parseAddressList(" , "); err == nil {
		t.Error("parseAddressList(\" , \") error = nil, want an error")
	}
}
