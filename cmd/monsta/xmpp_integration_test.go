//go:build integration

package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/xml"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"mellium.im/sasl"
	"mellium.im/xmlstream"
	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"github.com/monsta/monsta/internal/clickatellfake"
)

// The xmpp and sms_clickatell notifiers through the binary:
// `monsta --run Notification_X` against Prosody of .ci/servers.d/xmpp.sh
// and a local Clickatell fake.

func xmppITEnv(t *testing.T, k string) string {
	t.Helper()
	v := os.Getenv(k)
	if v == "" {
		t.Fatalf("%s is not set: run `.ci/servers start xmpp` and load $MONSTA_IT_DIR/env", k)
	}
	return v
}

// bobInbox logs in as bob, announces presence and returns the bodies of the
// chat messages bob receives.
func bobInbox(t *testing.T) <-chan string {
	t.Helper()
	addr, domain := xmppITEnv(t, "MONSTA_IT_XMPP"), xmppITEnv(t, "MONSTA_IT_XMPP_DOMAIN")
	pem, err := os.ReadFile(xmppITEnv(t, "MONSTA_IT_XMPP_CA"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := xmpp.NewClientSession(ctx, jid.MustParse(xmppITEnv(t, "MONSTA_IT_XMPP_BOB_JID")), conn,
		xmpp.StartTLS(&tls.Config{ServerName: domain, RootCAs: pool, MinVersion: tls.VersionTLS12}),
		xmpp.SASL("", xmppITEnv(t, "MONSTA_IT_XMPP_BOB_PASSWORD"), sasl.ScramSha1, sasl.Plain),
		xmpp.BindResource())
	if err != nil {
		t.Fatalf("log in as bob: %v", err)
	}
	bodies := make(chan string, 16)
	go func() {
		_ = s.Serve(xmpp.HandlerFunc(func(r xmlstream.TokenReadEncoder, start *xml.StartElement) error {
			if start.Name.Local != "message" {
				return nil
			}
			var m struct {
				stanza.Message
				Body string `xml:"body"`
			}
			if err := xml.NewTokenDecoder(xmlstream.MultiReader(xmlstream.Token(*start), r)).Decode(&m); err != nil && err != io.EOF {
				return nil
			}
			if m.Body != "" {
				bodies <- m.Body
			}
			return nil
		}))
	}()
	if err := s.Send(ctx, stanza.Presence{Type: stanza.AvailablePresence}.Wrap(nil)); err != nil {
		t.Fatalf("bob's presence: %v", err)
	}
	return bodies
}

func TestITXMPPNotificationRun(t *testing.T) {
	password := xmppITEnv(t, "MONSTA_IT_XMPP_PASSWORD")
	bodies := bobInbox(t)
	// A section name of its own, so that only this run's message matches.
	ok := fmt.Sprintf("Notification_jabber%d", time.Now().UnixNano())
	conf := writeConf(t, map[string]string{"monsta.conf": `
[main]
statedir = STATEDIR

[xmpp_default]
jid = ` + xmppITEnv(t, "MONSTA_IT_XMPP_JID") + `
server = ` + xmppITEnv(t, "MONSTA_IT_XMPP") + `
tls_ca = ` + xmppITEnv(t, "MONSTA_IT_XMPP_CA") + `
recipient = ` + xmppITEnv(t, "MONSTA_IT_XMPP_BOB_JID") + `

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
	timeout := time.After(10 * time.Second)
	for got := false; !got; {
		select {
		case b := <-bodies:
			got = strings.Contains(b, "monsta test message from") && strings.Contains(b, "--run "+ok)
		case <-timeout:
			t.Fatalf("bob received no message from --run %s within 10 s", ok)
		}
	}

	r = monsta(t, "--run", "Notification_wrong_password", "--config", conf)
	out := r.stdout + r.stderr
	t.Logf("--run Notification_wrong_password: exit %d\n%s", r.code, out)
	if r.code != 1 || !strings.Contains(out, ": auth as "+xmppITEnv(t, "MONSTA_IT_XMPP_JID")+": not-authorized") {
		t.Errorf("--run Notification_wrong_password exit = %d, want 1 and not-authorized\n%s", r.code, out)
	}
	if strings.Contains(out, "not-the-password") || strings.Contains(out, password) {
		t.Errorf("output shows a password:\n%s", out)
	}

	// --lint tries both logins (runtime.Verifier) and sends nothing.
	r = monsta(t, "--lint", "--config", conf)
	out = r.stdout + r.stderr
	t.Logf("--lint: exit %d\n%s", r.code, out)
	for _, want := range []string{ok + " (xmpp): login OK",
		"Notification_wrong_password (xmpp): login FAILED: xmpp " + xmppITEnv(t, "MONSTA_IT_XMPP") + ": auth as "} {
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
