//go:build integration

package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/monsta/monsta/internal/testkit/clickatellfake"
	"github.com/monsta/monsta/internal/testkit/ittest"
)

// The xmpp and sms_clickatell notifiers through the binary:
// `monsta --run Notification_X` against Prosody of .ci/servers.d/xmpp.sh
// and a local Clickatell fake.

func TestITXMPPNotificationRun(t *testing.T) {
	e := ittest.XMPPEnv(t)
	password := e.Password
	bodies := e.BobInbox(t)
	// A section name of its own, so that only this run's message matches.
	ok := fmt.Sprintf("Notification_jabber%d", time.Now().UnixNano())
	conf := writeConf(t, map[string]string{"monsta.conf": `
[main]
statedir = STATEDIR

[xmpp_default]
jid = ` + e.JID + `
server = ` + e.Addr + `
tls_ca = ` + e.CA + `
recipient = ` + e.BobJID + `

[` + ok + `]
type = jabber
password = ` + password + `

[Notification_wrong_password]
type = xmpp
password = not-the-password
`})
	r := monsta(t, "--run", ok, "--config", conf)
	if r.code != 0 || !strings.Contains(r.stdout, ok+": OK (test message sent)") {
		t.Fatalf("--run %s exit = %d, want 0 and OK\n%s%s", ok, r.code, r.stdout, r.stderr)
	}
	if !ittest.Await(bodies, 10*time.Second, ittest.Containing("monsta test message from", "--run "+ok)) {
		t.Fatalf("bob received no message from --run %s within 10 s", ok)
	}

	r = monsta(t, "--run", "Notification_wrong_password", "--config", conf)
	out := r.stdout + r.stderr
	t.Logf("--run Notification_wrong_password: exit %d\n%s", r.code, out)
	if r.code != 1 || !strings.Contains(out, ": auth as "+e.JID+": not-authorized") {
		t.Errorf("--run Notification_wrong_password exit = %d, want 1 and not-authorized\n%s", r.code, out)
	}
	if strings.Contains(out, "not-the-password") || strings.Contains(out, password) {
		t.Errorf("output shows a password:\n%s", out)
	}

	// --lint tries both logins (runtime.Verifier) and sends nothing.
	r = monsta(t, "--lint", "--config", conf)
	out = r.stdout + r.stderr
	t.Logf("--lint: exit %d\n%s", r.code, out)
	for _, want := range []string{ok + " (xmpp): verified",
		"Notification_wrong_password (xmpp): FAILED: xmpp " + e.Addr + ": auth as "} {
		if !strings.Contains(out, want) {
			t.Errorf("--lint output lacks %q:\n%s", want, out)
		}
	}
	if r.code != 1 || strings.Contains(out, "not-the-password") || strings.Contains(out, password) {
		t.Errorf("--lint exit = %d, want 1 and no password in the output", r.code)
	}
	select {
	case b := <-bodies:
		t.Errorf("bob received %q after --lint, want nothing", b)
	case <-time.After(500 * time.Millisecond):
	}
}

func TestITClickatellNotificationRun(t *testing.T) {
	acct := clickatellfake.Account{User: "monsta", Password: "legacy-pw-9", APIID: "12345", APIKey: "rest-key-9=="}
	fake := clickatellfake.Start(acct)
	defer fake.Close()
	conf := writeConf(t, map[string]string{"monsta.conf": `
[main]
statedir = STATEDIR

[sms_clickatell_default]
api_url = ` + fake.URL + `

[Notification_sms_rest]
type = sms
api_key = ` + acct.APIKey + `
recipient = 27999000001
sender = 27999000999

[Notification_sms_http]
type = sms_clickatell
username = ` + acct.User + `
password = ` + acct.Password + `
api_id = ` + acct.APIID + `
recipient = 27999000002 27999000003

[Notification_sms_bad_key]
type = sms
api_key = wrong-key-1
recipient = 27999000001
`})
	for _, tc := range []struct {
		section string
		to      []string
	}{
		{"Notification_sms_rest", []string{"27999000001"}},
		{"Notification_sms_http", []string{"27999000002", "27999000003"}},
	} {
		before := len(fake.Messages())
		r := monsta(t, "--run", tc.section, "--config", conf)
		if r.code != 0 || !strings.Contains(r.stdout, tc.section+": OK (test message sent)") {
			t.Fatalf("--run %s exit = %d, want 0 and OK\n%s%s", tc.section, r.code, r.stdout, r.stderr)
		}
		got := fake.Messages()[before:]
		var to []string
		for _, m := range got {
			to = append(to, m.To)
			t.Logf("%s: SMS to %s: %q", tc.section, m.To, m.Text)
			if !strings.Contains(m.Text, "monsta test message from") {
				t.Errorf("%s: SMS text = %q, want the test message", tc.section, m.Text)
			}
		}
		if strings.Join(to, " ") != strings.Join(tc.to, " ") {
			t.Errorf("%s: SMS went to %q, want %q", tc.section, to, tc.to)
		}
	}
	r := monsta(t, "--run", "Notification_sms_bad_key", "--config", conf)
	out := r.stdout + r.stderr
	t.Logf("--run Notification_sms_bad_key: exit %d\n%s", r.code, out)
	if r.code != 1 || !strings.Contains(out, "HTTP 401 Unauthorized: Invalid or missing Integration API Key") {
		t.Errorf("--run Notification_sms_bad_key exit = %d, want 1 and the API's answer\n%s", r.code, out)
	}
	if strings.Contains(out, "wrong-key-1") {
		t.Errorf("output shows the API key:\n%s", out)
	}
}
