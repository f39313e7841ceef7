//go:build integration

package builtins

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/monsta/monsta/internal/testkit/ittest"
	"github.com/monsta/monsta/runtime"
)

// xmppOpts are the notifier's options against Prosody of
// .ci/servers.d/xmpp.sh, sending to bob, with extra on top.
func xmppOpts(e ittest.XMPP, extra map[string]string) map[string]string {
	raw := map[string]string{"jid": e.JID, "password": e.Password, "recipient": e.BobJID,
		"server": e.Addr, "tls_ca": e.CA}
	for k, v := range extra {
		raw[k] = v
	}
	return raw
}

// waitBody waits (10 s at most) for a body containing want.
func waitBody(t *testing.T, bodies <-chan string, want string) {
	t.Helper()
	if !ittest.Await(bodies, 10*time.Second, ittest.Containing(want)) {
		t.Fatalf("bob did not receive a message containing %q within 10 s", want)
	}
}

func itMessage(name string) runtime.Message {
	return runtime.Message{Test: name, State: runtime.StateFail, Failures: 1, Time: time.Now(),
		Short: "FAIL " + name, Long: "Check_x: connect 127.0.0.1:9: connection refused"}
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
	e := ittest.XMPPEnv(t)
	bodies := e.BobInbox(t)
	name := fmt.Sprintf("online_%d", time.Now().UnixNano())
	if err := notifyIT(t, xmppOpts(e, nil), itMessage(name)); err != nil {
		t.Fatalf("Notify() error = %v", err)
	}
	waitBody(t, bodies, "FAIL "+name)
}

func TestXMPPIntegrationDeliveredOffline(t *testing.T) {
	e := ittest.XMPPEnv(t)
	name := fmt.Sprintf("offline_%d", time.Now().UnixNano())
	if err := notifyIT(t, xmppOpts(e, nil), itMessage(name)); err != nil {
		t.Fatalf("Notify() error = %v", err)
	}
	// Prosody stored it (mod_offline) and hands it over at bob's login.
	waitBody(t, e.BobInbox(t), "FAIL "+name)
}

func TestXMPPIntegrationFailures(t *testing.T) {
	e := ittest.XMPPEnv(t)
	tests := []struct {
		name      string
		opts      map[string]string
		wantErr   string
		permanent bool
	}{
		{"wrong password", map[string]string{"password": "not-the-password"},
			"xmpp " + e.Addr + ": auth as " + e.JID + ": not-authorized", true},
		{"unknown recipient", map[string]string{"recipient": "nobody@" + e.Domain},
			"xmpp " + e.Addr + ": send to nobody@" + e.Domain + ": service-unavailable", true},
		{"server down", map[string]string{"server": "127.0.0.1:" + closedPort(t)}, ": connect: ", false},
		{"self-signed certificate rejected", map[string]string{"tls_ca": ""},
			"xmpp " + e.Addr + ": tls: tls: failed to verify certificate: x509: certificate signed by unknown authority", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			raw := xmppOpts(e, tc.opts)
			err := notifyIT(t, raw, itMessage(t.Name()))
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Notify() error = %v, want it to contain %q", err, tc.wantErr)
			}
			if strings.Contains(err.Error(), raw["password"]) || strings.Contains(err.Error(), e.Password) {
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
	e := ittest.XMPPEnv(t)
	for _, tc := range []struct {
		password, wantErr string
	}{
		{e.Password, ""},
		{"not-the-password", "auth as " + e.JID + ": not-authorized"},
	} {
		n, err := newXMPPForTest(t, xmppOpts(e, map[string]string{"password": tc.password}))
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
