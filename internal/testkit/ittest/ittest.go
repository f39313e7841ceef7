// Package ittest holds what the integration tests of builtins and cmd/monsta
// share: the addresses and accounts that .ci/servers.d/*.sh publish in
// $MONSTA_IT_DIR/env, an XMPP receiver and IMAP helpers to read back what a
// notifier or check sent. It is an ordinary package (no build tag) so that
// test files of both packages can import it; only tests do.
package ittest

import (
	"crypto/x509"
	"os"
	"strings"
	"testing"
)

// Env returns the environment variable key, or fails the test with a hint to
// start the real servers when it is not set (integration tests never skip).
func Env(t testing.TB, key string) string {
	t.Helper()
	v := os.Getenv(key)
	if v == "" {
		t.Fatalf("%s is not set: run `.ci/servers start %s` and load $MONSTA_IT_DIR/env "+
			"(set -a; . $MONSTA_IT_DIR/env; set +a)", key, family(key))
	}
	return v
}

// family is the .ci/servers.d script that publishes key.
func family(key string) string {
	switch k := strings.TrimPrefix(key, "MONSTA_IT_"); {
	case strings.HasPrefix(k, "XMPP"):
		return "xmpp"
	case strings.HasPrefix(k, "DNS"):
		return "dns"
	case strings.HasPrefix(k, "PLUGINS"):
		return "plugins"
	case strings.HasPrefix(k, "SMTP"), strings.HasPrefix(k, "SUBMISSION"), strings.HasPrefix(k, "IMAP"),
		strings.HasPrefix(k, "MAIL"):
		return "mail"
	}
	return "NAME"
}

// DNS are the NSD servers of .ci/servers.d/dns.sh (host:port each).
type DNS struct {
	DNS1, DNS2 string // in sync, IPv4
	Lag        string // an older serial and different answers
	DNS6       string // in sync, IPv6
	Down       string // nothing listens
	Zone       string // the zone all serve
	Serial     string // SOA serial of the servers in sync
	LagSerial  string // SOA serial of Lag
}

// DNSEnv reads what .ci/servers.d/dns.sh published.
func DNSEnv(t testing.TB) DNS {
	t.Helper()
	return DNS{DNS1: Env(t, "MONSTA_IT_DNS1"), DNS2: Env(t, "MONSTA_IT_DNS2"), Lag: Env(t, "MONSTA_IT_DNS_LAG"),
		DNS6: Env(t, "MONSTA_IT_DNS6"), Down: Env(t, "MONSTA_IT_DNS_DOWN"), Zone: Env(t, "MONSTA_IT_DNS_ZONE"),
		Serial: Env(t, "MONSTA_IT_DNS_SERIAL"), LagSerial: Env(t, "MONSTA_IT_DNS_LAG_SERIAL")}
}

// caPool is a pool of the certificates in the PEM file of a server script.
func caPool(t testing.TB, file string) *x509.CertPool {
	t.Helper()
	pem, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("%s: no PEM certificate", file)
	}
	return pool
}
