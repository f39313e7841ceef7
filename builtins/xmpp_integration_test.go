//go:build integration

package builtins

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/xml"
	"errors"
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

	"github.com/monsta/monsta/runtime"
)

// xmppIT holds what .ci/servers.d/xmpp.sh published.
type xmppIT struct {
	addr, domain, ca, jid, password, bobJID, bobPassword string
}

func xmppEnv(t *testing.T) xmppIT {
	t.Helper()
	e := xmppIT{}
	for _, v := range []struct {
		key string
		dst *string
	}{
		{"MONSTA_IT_XMPP", &e.addr}, {"MONSTA_IT_XMPP_DOMAIN", &e.domain}, {"MONSTA_IT_XMPP_CA", &e.ca},
		{"MONSTA_IT_XMPP_JID", &e.jid}, {"MONSTA_IT_XMPP_PASSWORD", &e.password},
		{"MONSTA_IT_XMPP_BOB_JID", &e.bobJID}, {"MONSTA_IT_XMPP_BOB_PASSWORD", &e.bobPassword},
	} {
		*v.dst = os.Getenv(v.key)
		if *v.dst == "" {
			t.Fatalf("%s is not set: run `.ci/servers start xmpp` and load $MONSTA_IT_DIR/env", v.key)
		}
	}
	return e
}

func (e xmppIT) opts(extra map[string]string) map[string]string {
	raw := map[string]string{"jid": e.jid, "password": e.password, "recipient": e.bobJID,
		"server": e.addr, "tls_ca": e.ca}
	for k, v := range extra {
		raw[k] = v
	}
	return raw
}

// bobLogin logs in as bob (without the notifier's code), announces presence
// and returns a channel of the chat message bodies bob receives.
func bobLogin(t *testing.T, e xmppIT) <-chan string {
	t.Helper()
	pem, err := os.ReadFile(e.ca)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	conn, err := net.DialTimeout("tcp", e.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := xmpp.NewClientSession(ctx, jid.MustParse(e.bobJID), conn,
		xmpp.StartTLS(&tls.Config{ServerName: e.domain, RootCAs: pool, MinVersion: tls.VersionTLS12}),
		xmpp.SASL("", e.bobPassword, sasl.ScramSha1, sasl.Plain),
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
			var m xmppBody
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

// waitBody waits (10 s at most) for a body containing want.
func waitBody(t *testing.T, bodies <-chan string, want string) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case b := <-bodies:
			if strings.Contains(b, want) {
				return
			}
		case <-timeout:
			t.Fatalf("bob did not receive a message containing %q within 10 s", want)
		}
	}
}

func itMessage(name string) runtime.Message {
	return runtime.Message{Test: name, State: runtime.StateFail, Failures: 1, Time: time.Now(),
		Subject: "FAIL " + name, Body: "Check_x: connect 127.0.0.1:9: connection refused"}
}

func notifyIT(t *testing.T, raw map[string]string, m runtime.Message) error {
	t.Helper()
	n, err := newXMPPForTest(t, raw)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return withGuard(t, func() error { return n.Notify(ctx, m) })
}

func TestXMPPIntegrationDeliveredOnline(t *testing.T) {
	e := xmppEnv(t)
	bodies := bobLogin(t, e)
	name := fmt.Sprintf("online_%d", time.Now().UnixNano())
	if err := notifyIT(t, e.opts(nil), itMessage(name)); err != nil {
		t.Fatalf("Notify() error = %v", err)
	}
	waitBody(t, bodies, "FAIL "+name)
}

func TestXMPPIntegrationDeliveredOffline(t *testing.T) {
	e := xmppEnv(t)
	name := fmt.Sprintf("offline_%d", time.Now().UnixNano())
	if err := notifyIT(t, e.opts(nil), itMessage(name)); err != nil {
		t.Fatalf("Notify() error = %v", err)
	}
	// Prosody stored it (mod_offline) and hands it over at bob's login.
	waitBody(t, bobLogin(t, e), "FAIL "+name)
}

func TestXMPPIntegrationFailures(t *testing.T) {
	e := xmppEnv(t)
	tests := []struct {
		name      string
		opts      map[string]string
		wantErr   string
		permanent bool
	}{
		{"wrong password", map[string]string{"password": "not-the-password"},
			"xmpp " + e.addr + ": auth as " + e.jid + ": not-authorized", true},
		{"unknown recipient", map[string]string{"recipient": "nobody@" + e.domain},
			"xmpp " + e.addr + ": send to nobody@" + e.domain + ": service-unavailable", true},
		{"server down", map[string]string{"server": "127.0.0.1:" + closedPort(t)}, ": connect: ", false},
		{"self-signed certificate rejected", map[string]string{"tls_ca": ""},
			"xmpp " + e.addr + ": tls: tls: failed to verify certificate: x509: certificate signed by unknown authority", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			raw := e.opts(tc.opts)
			err := notifyIT(t, raw, itMessage(t.Name()))
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Notify() error = %v, want it to contain %q", err, tc.wantErr)
			}
			if strings.Contains(err.Error(), raw["password"]) || strings.Contains(err.Error(), e.password) {
				t.Errorf("Notify() error = %v contains a password", err)
			}
			var pe *runtime.PermanentError
			if errors.As(err, &pe) != tc.permanent {
				t.Errorf("Notify() error = %v: permanent = %v, want %v", err, !tc.permanent, tc.permanent)
			}
		})
	}
}

func TestXMPPIntegrationVerify(t *testing.T) {
	e := xmppEnv(t)
	for _, tc := range []struct {
		password, wantErr string
	}{
		{e.password, ""},
		{"not-the-password", "auth as " + e.jid + ": not-authorized"},
	} {
		n, err := newXMPPForTest(t, e.opts(map[string]string{"password": tc.password}))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err = withGuard(t, func() error { return n.Verify(ctx) })
		cancel()
		if (err == nil) != (tc.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) {
			t.Errorf("Verify() error = %v, want %q", err, tc.wantErr)
		}
	}
}
