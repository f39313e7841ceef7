//go:build integration

package main

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/monsta/monsta/internal/testkit/ittest"
)

// The mail types through the binary: `monsta --run SECTION --config FILE`
// and `monsta --lint` against Postfix and Dovecot of .ci/servers.d/mail.sh.
// They use the third account (carol), which no other test reads.

// mailITEnv is the mail servers and the account of carol.
type mailITEnv struct {
	ittest.Mail
	user, pass string
}

func mailITGet(t *testing.T) mailITEnv {
	t.Helper()
	m := ittest.MailEnv(t)
	return mailITEnv{Mail: m, user: m.Users[2], pass: m.Passwords[2]}
}

// expand replaces the placeholders of a configuration with e's values.
func (e mailITEnv) expand(conf string) string {
	port := func(addr string) string { _, p, _ := net.SplitHostPort(addr); return p }
	return strings.NewReplacer(
		"SMTPPORT", port(e.SMTP), "SUBPORT", port(e.Submission), "IMAPPORT", port(e.IMAP),
		"IMAPSPORT", port(e.IMAPS), "CAFILE", e.CA, "USER", e.user, "PASS", e.pass,
	).Replace(conf)
}

const mailITConf = `
[smtp_default]
# one section for the smtp check and the smtp notifier
host=127.0.0.1
port=SUBPORT
starttls=required
tls_ca=CAFILE
username=USER
password=PASS
sender=USER
recipient=USER

[Check_smtp_ok]
type=smtp
port=SMTPPORT
starttls=no
username=

[Check_smtp_submission]
type=smtp

[Check_smtp_unknown]
type=smtp
port=SMTPPORT
starttls=no
username=
recipient=nobody@monsta.test

[Check_smtp_nostarttls]
type=smtp
port=SMTPPORT
username=

[Check_roundtrip]
type=mailbox
smtp_host=127.0.0.1
smtp_port=SUBPORT
smtp_starttls=required
smtp_username=USER
smtp_password=PASS
sender=USER
recipient=USER
mailbox_host=127.0.0.1
mailbox_port=IMAPSPORT
mailbox_ssl=yes
mailbox_username=USER
mailbox_password=PASS
tls_ca=CAFILE
timeout=20

[Check_roundtrip_wrongpw]
` + plainRoundtrip + `mailbox_username=USER
mailbox_password=not-the-password
timeout=20

[Check_roundtrip_folder]
` + plainRoundtrip + `mailbox_starttls=required
tls_ca=CAFILE
mailbox_username=USER
mailbox_password=PASS
mailbox_folder=Nope

[Notification_mail]
type=mail

[Test_mail]
checks=smtp_ok roundtrip
notify=1:mail
`

// plainRoundtrip is a mailbox check of carol's, without TLS on the SMTP
// leg and on the IMAP port.
const plainRoundtrip = `type=mailbox
smtp_host=127.0.0.1
smtp_port=SMTPPORT
sender=USER
recipient=USER
mailbox_host=127.0.0.1
mailbox_port=IMAPPORT
`

func TestITMailCommandLine(t *testing.T) {
	e := mailITGet(t)
	conf := writeConf(t, map[string]string{"monsta.conf": e.expand(mailITConf)})
	tests := []struct {
		section string
		code    int
		want    []string // lines or parts of lines of stdout
	}{
		{"Check_smtp_ok", exitOK, []string{"Check_smtp_ok: OK", "Check smtp_ok (smtp): OK", "  banner_seconds: ", "  total_seconds: "}},
		{"Check_smtp_submission", exitOK, []string{"Check_smtp_submission: OK", "  banner_seconds: "}},
		{"Check_smtp_unknown", exitFail, []string{"Check_smtp_unknown: FAIL",
			"  error: RCPT TO <nobody@monsta.test>: 550 5.1.1 <nobody@monsta.test>: Recipient address rejected: User unknown in virtual mailbox table",
			"  total_seconds: "}},
		{"Check_smtp_nostarttls", exitFail, []string{"  error: STARTTLS required but not offered by " + e.SMTP}},
		{"Check_roundtrip", exitOK, []string{"Check_roundtrip: OK", "  mailbox_seconds: ", "  smtp_seconds: "}},
		{"Check_roundtrip_wrongpw", exitFail, []string{"Check_roundtrip_wrongpw: FAIL", "  error: IMAP login as " + e.user + ": "}},
		{"Check_roundtrip_folder", exitFail, []string{`  error: IMAP select "Nope": `}},
		{"Test_mail", exitOK, []string{"Test_mail: OK (2 of 2 checks passed, requires=all)"}},
	}
	for _, tt := range tests {
		t.Run(tt.section, func(t *testing.T) {
			r := monsta(t, "--run", tt.section, "--config", conf)
			t.Logf("monsta --run %s: exit %d\n%s%s", tt.section, r.code, r.stdout, r.stderr)
			if r.code != tt.code {
				t.Errorf("exit status = %d, want %d", r.code, tt.code)
			}
			for _, w := range tt.want {
				if !strings.Contains(r.stdout, w) {
					t.Errorf("stdout lacks %q", w)
				}
			}
			if strings.Contains(r.stdout+r.stderr, "not-the-password") || strings.Contains(r.stdout+r.stderr, e.pass) {
				t.Errorf("output shows a password")
			}
		})
	}
	if left := e.SearchHeader(t, e.user, e.pass, "X-Monsta-Probe", ""); len(left) != 0 {
		t.Errorf("%d probe messages left in %s's INBOX, want none", len(left), e.user)
	}
}

func TestITMailNotificationCommandLine(t *testing.T) {
	e := mailITGet(t)
	conf := writeConf(t, map[string]string{"monsta.conf": e.expand(mailITConf)})
	r := monsta(t, "--run", "Notification_mail", "--config", conf)
	t.Logf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	if r.code != exitOK || !strings.Contains(r.stdout, "Notification_mail: OK (test message sent)") {
		t.Fatalf("--run Notification_mail = %d %q, want OK", r.code, r.stdout)
	}
	uids := e.AwaitHeader(t, e.user, e.pass, "Subject", "monsta test message", 20*time.Second)
	if len(uids) == 0 {
		t.Fatal("test message never arrived")
	}
	e.Delete(t, e.user, e.pass, uids)

	// --lint tries the notifier's login: a wrong password fails it.
	r = monsta(t, "--lint", "--config", conf)
	if r.code != exitOK || !strings.Contains(r.stdout, "Notification_mail (smtp): verified") {
		t.Errorf("--lint = %d %q, want verified", r.code, r.stdout)
	}
	bad := writeConf(t, map[string]string{"monsta.conf": strings.Replace(e.expand(mailITConf),
		"password="+e.pass, "password=not-the-password", 1)})
	r = monsta(t, "--lint", "--config", bad)
	t.Logf("--lint with a wrong password: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	if r.code != exitFail || !strings.Contains(r.stdout, "Notification_mail (smtp): FAILED: AUTH PLAIN as "+e.user+": 535") {
		t.Errorf("--lint = %d %q, want FAILED with 535", r.code, r.stdout)
	}
	if strings.Contains(r.stdout+r.stderr, "not-the-password") {
		t.Errorf("--lint output shows the password")
	}
	if strings.Contains(r.stdout, "configuration OK") {
		t.Errorf("--lint printed configuration OK although a notification failed:\n%s", r.stdout)
	}
	// A recipient the server rejects at RCPT TO fails --lint without
	// sending anything.
	rcpt := writeConf(t, map[string]string{"monsta.conf": e.expand(mailITConf) + `
[Notification_nobody]
type=smtp
recipient=nobody@monsta.test
`})
	r = monsta(t, "--lint", "--config", rcpt)
	t.Logf("--lint with a rejected recipient: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	if r.code != exitFail || !strings.Contains(r.stdout, "Notification_nobody (smtp): FAILED: RCPT TO <nobody@monsta.test>: 550") ||
		strings.Contains(r.stdout, "configuration OK") {
		t.Errorf("--lint = %d %q, want exit 1, the RCPT TO refusal and no configuration OK", r.code, r.stdout)
	}
}
