//go:build integration

package builtins

import (
	"strings"
	"testing"

	"github.com/monsta/monsta/internal/testkit/ittest"
)

// TestTLSCheckRealServers reads the certificates of Postfix (submission,
// STARTTLS), Dovecot (IMAPS and IMAP STARTTLS) and Prosody (XMPP
// STARTTLS). Their certificate is self-signed with SANs monsta.test,
// localhost and 127.0.0.1: trusted through tls_ca it passes; without it the
// chain fails; under another name the name fails.
func TestTLSCheckRealServers(t *testing.T) {
	mail, xmpp := ittest.MailEnv(t), ittest.XMPPEnv(t)
	servers := []struct {
		name, addr, starttls, ca, serverName string
	}{
		{"postfix submission", mail.Submission, "smtp", mail.CA, "localhost"},
		{"dovecot imaps", mail.IMAPS, "", mail.CA, "localhost"},
		{"dovecot imap", mail.IMAP, "imap", mail.CA, "localhost"},
		{"prosody", xmpp.Addr, "xmpp", xmpp.CA, xmpp.Domain},
	}
	for _, s := range servers {
		t.Run(s.name, func(t *testing.T) {
			host, port := splitAddr(t, s.addr)
			base := map[string]string{"host": host, "port": port, "starttls": s.starttls, "server_name": s.serverName,
				"min_days": "1", "timeout": "10"}
			with := func(k, v string) map[string]string {
				m := map[string]string{}
				for a, b := range base {
					m[a] = b
				}
				if k != "" {
					m[k] = v
				}
				return m
			}
			_, stats, err := itRun(t, tlsCheckDescriptor(), with("tls_ca", s.ca))
			if err != nil || stats["days_left"] < 1 {
				t.Fatalf("trusted: Run() = %v, %v; want days_left >= 1 and no error", stats, err)
			}
			if _, _, err := itRun(t, tlsCheckDescriptor(), with("", "")); err == nil ||
				!strings.Contains(err.Error(), "certificate chain does not verify") || !strings.Contains(err.Error(), "CN=monsta.test") {
				t.Errorf("untrusted: Run() error = %v, want the chain refused, naming the subject", err)
			}
			m := with("tls_ca", s.ca)
			m["server_name"] = "other.test"
			if s.starttls == "xmpp" {
				// The XMPP domain is the server name: keep it, check the
				// name against another one only through verification.
				return
			}
			if _, _, err := itRun(t, tlsCheckDescriptor(), m); err == nil || !strings.Contains(err.Error(), "name mismatch") {
				t.Errorf("other name: Run() error = %v, want a name mismatch", err)
			}
			if _, _, err := itRun(t, tlsCheckDescriptor(), with("min_days", "400")); err == nil ||
				!strings.Contains(err.Error(), "less than min_days 400") {
				t.Errorf("min_days 400: Run() error = %v, want the expiry reported", err)
			}
		})
	}
}

// TestPingIntegration pings 127.0.0.1 as the suite's user, which has a raw
// ICMP socket or an allowed ping group.
func TestPingIntegration(t *testing.T) {
	_, stats, err := itRun(t, pingDescriptor(), map[string]string{"host": "127.0.0.1", "count": "3"})
	if err != nil || stats["received"] != 3 {
		t.Fatalf("Run() = %v, %v; want 3 replies", stats, err)
	}
}
