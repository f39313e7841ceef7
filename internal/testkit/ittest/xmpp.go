package ittest

import (
	"context"
	"crypto/tls"
	"encoding/xml"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"mellium.im/sasl"
	"mellium.im/xmlstream"
	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"
)

// XMPP is Prosody of .ci/servers.d/xmpp.sh.
type XMPP struct {
	Addr, Domain, CA    string // host:port, the XMPP domain, PEM file of its certificate
	JID, Password       string // the account the notifier logs in as
	BobJID, BobPassword string // the recipient's account
}

// XMPPEnv reads what .ci/servers.d/xmpp.sh published.
func XMPPEnv(t testing.TB) XMPP {
	t.Helper()
	return XMPP{Addr: Env(t, "MONSTA_IT_XMPP"), Domain: Env(t, "MONSTA_IT_XMPP_DOMAIN"), CA: Env(t, "MONSTA_IT_XMPP_CA"),
		JID: Env(t, "MONSTA_IT_XMPP_JID"), Password: Env(t, "MONSTA_IT_XMPP_PASSWORD"),
		BobJID: Env(t, "MONSTA_IT_XMPP_BOB_JID"), BobPassword: Env(t, "MONSTA_IT_XMPP_BOB_PASSWORD")}
}

// BobInbox is Inbox of bob, the recipient.
func (e XMPP) BobInbox(t testing.TB) <-chan string {
	t.Helper()
	return e.Inbox(t, e.BobJID, e.BobPassword)
}

// Inbox logs in as user (STARTTLS verified against CA, SASL), announces
// presence and returns the bodies of the messages user receives from then on,
// offline ones included. The session ends with the test.
func (e XMPP) Inbox(t testing.TB, user, password string) <-chan string {
	t.Helper()
	conn, err := net.DialTimeout("tcp", e.Addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := xmpp.NewClientSession(ctx, jid.MustParse(user), conn,
		xmpp.StartTLS(&tls.Config{ServerName: e.Domain, RootCAs: caPool(t, e.CA), MinVersion: tls.VersionTLS12}),
		xmpp.SASL("", password, sasl.ScramSha1, sasl.Plain),
		xmpp.BindResource())
	if err != nil {
		t.Fatalf("log in as %s: %v", jid.MustParse(user).Localpart(), err)
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
		t.Fatalf("%s's presence: %v", jid.MustParse(user).Localpart(), err)
	}
	return bodies
}

// Await reads bodies until one satisfies match (true) or within has passed
// (false).
func Await(bodies <-chan string, within time.Duration, match func(body string) bool) bool {
	timeout := time.After(within)
	for {
		select {
		case b := <-bodies:
			if match(b) {
				return true
			}
		case <-timeout:
			return false
		}
	}
}

// Containing matches a body that contains every one of parts.
func Containing(parts ...string) func(string) bool {
	return func(body string) bool {
		for _, p := range parts {
			if !strings.Contains(body, p) {
				return false
			}
		}
		return true
	}
}
