package builtins

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/monsta/monsta/runtime"
)

func rejectUnknown(to string) error {
	if strings.HasPrefix(to, "nobody@") {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1},
			Message: "<" + to + ">: Recipient address rejected: User unknown in virtual mailbox table"}
	}
	return nil
}

func TestSMTPCheck(t *testing.T) {
	plain := startFakeSMTP(t, fakeSMTPConfig{reject: rejectUnknown})
	withTLS := startFakeSMTP(t, fakeSMTPConfig{starttls: true, users: map[string]string{"monsta": "s3cret"}})
	implicit := startFakeSMTP(t, fakeSMTPConfig{implicit: true})
	ca := testCAFile(t)
	silent := silentListener(t)
	heloOnly := scriptedSMTP(t, "220 old.test ESMTP", map[string]string{
		"EHLO": "500 5.5.1 what?", "HELO": "250 old.test", "MAIL": "250 ok", "RCPT": "250 ok", "QUIT": "221 bye"})
	badBanner := scriptedSMTP(t, "554 5.3.2 go away", map[string]string{"QUIT": "221 bye"})
	closed := closedPort(t) // after every listener of the test, so none takes its port

	_, plainPort := plain.hostPort(t)
	_, tlsPort := withTLS.hostPort(t)
	_, implicitPort := implicit.hostPort(t)

	tests := []struct {
		name     string
		opts     map[string]string
		wantErr  string // substring; "" passes
		timeout  bool   // the error must be a timeout
		fake     *fakeSMTP
		wantTLS  bool
		wantUser string
		wantTo   string // space-separated; "" means alice@monsta.test
	}{
		{name: "accepted", opts: map[string]string{"port": plainPort}, fake: plain},
		{name: "recipient rejected", opts: map[string]string{"port": plainPort, "recipient": "nobody@monsta.test"},
			wantErr: "RCPT TO <nobody@monsta.test>: 550 5.1.1 <nobody@monsta.test>: Recipient address rejected: User unknown"},
		{name: "starttls required, not offered", opts: map[string]string{"port": plainPort, "starttls": "required"},
			wantErr: "STARTTLS required but not offered by 127.0.0.1:" + plainPort},
		{name: "starttls yes, not offered: plain", opts: map[string]string{"port": plainPort, "starttls": "yes"},
			fake: plain},
		{name: "starttls required with CA", opts: map[string]string{"port": tlsPort, "starttls": "required", "tls_ca": ca},
			fake: withTLS, wantTLS: true},
		{name: "starttls yes without verify", opts: map[string]string{"port": tlsPort, "starttls": "yes", "tls_verify": "no"},
			fake: withTLS, wantTLS: true},
		{name: "starttls unknown CA", opts: map[string]string{"port": tlsPort, "starttls": "required"},
			wantErr: "STARTTLS handshake with 127.0.0.1:" + tlsPort + ": tls: failed to verify certificate"},
		{name: "AUTH after STARTTLS", opts: map[string]string{"port": tlsPort, "starttls": "required", "tls_ca": ca,
			"username": "monsta", "password": "s3cret"}, fake: withTLS, wantTLS: true, wantUser: "monsta"},
		{name: "AUTH refused", opts: map[string]string{"port": tlsPort, "starttls": "yes", "tls_ca": ca,
			"username": "monsta", "password": "wrong"}, wantErr: "AUTH PLAIN as monsta: 535 5.7.8 Authentication failed"},
		{name: "AUTH never without TLS", opts: map[string]string{"port": plainPort, "starttls": "yes",
			"username": "monsta", "password": "s3cret"}, wantErr: "AUTH PLAIN as monsta: refusing to send the password"},
		{name: "two recipients", opts: map[string]string{"port": plainPort, "recipient": "alice@monsta.test, bob@monsta.test"},
			fake: plain, wantTo: "alice@monsta.test bob@monsta.test"},
		{name: "second recipient rejected", opts: map[string]string{"port": plainPort,
			"recipient": "alice@monsta.test nobody@monsta.test"}, wantErr: "RCPT TO <nobody@monsta.test>: 550 5.1.1"},
		{name: "implicit TLS", opts: map[string]string{"port": implicitPort, "ssl": "yes", "tls_ca": ca},
			fake: implicit, wantTLS: true},
		{name: "HELO fallback", opts: map[string]string{"port": heloOnly}},
		{name: "banner refused", opts: map[string]string{"port": badBanner}, wantErr: "banner: 554 5.3.2 go away"},
		{name: "refused", opts: map[string]string{"port": closed},
			wantErr: "connect 127.0.0.1:" + closed + ": connection refused"},
		{name: "silent", opts: map[string]string{"port": silent, "timeout": "0.2"}, wantErr: "banner: i/o timeout",
			timeout: true},
		{name: "silent after TLS", opts: map[string]string{"port": silent, "timeout": "0.2", "ssl": "yes"},
			wantErr: "TLS handshake with 127.0.0.1:" + silent + ": i/o timeout", timeout: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := map[string]string{"host": "127.0.0.1", "sender": "monsta@monsta.test",
				"recipient": "alice@monsta.test", "helo": "probe.monsta.test"}
			for k, v := range tt.opts {
				raw[k] = v
			}
			o := newTestOptions(t, smtpCheckDescriptor(), "Check_mx", raw)
			c, err := smtpCheckDescriptor().NewCheck(o)
			if err != nil {
				t.Fatal(err)
			}
			before := 0
			if tt.fake != nil {
				before = len(tt.fake.messages())
			}
			r := runUnderDeadline(t, c, o)
			wantRunError(t, r.err, tt.wantErr)
			if tt.timeout && !runtime.IsTimeout(r.err) {
				t.Errorf("Run() error = %v, want a timeout", r.err)
			}
			wantStats(t, r.stats, "total_seconds")
			if tt.wantErr == "" {
				wantStats(t, r.stats, "banner_seconds")
			}
			if tt.fake == nil {
				return
			}
			msgs := tt.fake.messages()[before:]
			if len(msgs) != 1 {
				t.Fatalf("server saw %d transactions, want 1", len(msgs))
			}
			wantTo := tt.wantTo
			if wantTo == "" {
				wantTo = "alice@monsta.test"
			}
			checkProbeTransaction(t, msgs[0], wantTo, tt.wantUser, tt.wantTLS)
		})
	}
}

// checkProbeTransaction wants m to be the smtp check's transaction: the
// envelope from monsta@monsta.test to wantTo (space-separated), AUTH as
// wantUser ("": none), TLS or not as wantTLS, no DATA.
func checkProbeTransaction(t *testing.T, m fakeMsg, wantTo, wantUser string, wantTLS bool) {
	t.Helper()
	if got := strings.Join(m.to, " "); m.from != "monsta@monsta.test" || got != wantTo {
		t.Errorf("envelope = %s → %s, want monsta@monsta.test → %s", m.from, got, wantTo)
	}
	if m.user != wantUser {
		t.Errorf("AUTH user = %q, want %q", m.user, wantUser)
	}
	if m.data != nil {
		t.Errorf("client sent DATA (%d bytes); the smtp check must stop at RCPT TO", len(m.data))
	}
	if m.tls != wantTLS {
		t.Errorf("TLS = %v, want %v", m.tls, wantTLS)
	}
	if m.helo != "probe.monsta.test" {
		t.Errorf("EHLO name = %q, want probe.monsta.test", m.helo)
	}
}

// BenchmarkSMTPCheck measures one smtp check run (connect, banner, EHLO,
// MAIL FROM, RCPT TO, QUIT) against the in-process go-smtp server.
func BenchmarkSMTPCheck(b *testing.B) {
	fake := startFakeSMTP(b, fakeSMTPConfig{})
	_, port, _ := net.SplitHostPort(fake.addr)
	reg := runtime.NewRegistry()
	if err := reg.Add(smtpCheckDescriptor()); err != nil {
		b.Fatal(err)
	}
	d, _ := reg.Lookup(runtime.KindCheck, "smtp")
	o, err := runtime.NewOptions(d, "Check_bench", map[string]string{"host": "127.0.0.1", "port": port,
		"sender": "monsta@monsta.test", "recipient": "alice@monsta.test"})
	if err != nil {
		b.Fatal(err)
	}
	c, err := d.NewCheck(o)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if _, err := c.Run(ctx); err != nil {
			b.Fatal(err)
		}
		cancel()
	}
}
