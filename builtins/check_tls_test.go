package builtins

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/monsta/monsta/internal/testkit/loopback"
	"github.com/monsta/monsta/internal/testkit/smtpfake"
)

// testCA is a CA the tls check's tests issue certificates from.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	file string // PEM for tls_ca
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Monsta Test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(365 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	file := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	return &testCA{cert: cert, key: key, file: file}
}

// issue returns a server certificate for localhost and 127.0.0.1 that
// expires after validFor (negative: expired that long ago).
func (ca *testCA) issue(t *testing.T, cn string, validFor time.Duration) tls.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-400 * 24 * time.Hour), NotAfter: time.Now().Add(validFor),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames: []string{"localhost", cn}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// tlsServer serves TLS with cert on loopback after running preamble (the
// server's side of a STARTTLS dialogue; nil for implicit TLS).
func tlsServer(t *testing.T, cert tls.Certificate, preamble func(net.Conn, *bufio.Reader) bool) string {
	t.Helper()
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}}
	return loopback.Serve(t, func(c net.Conn) {
		c.SetDeadline(time.Now().Add(10 * time.Second))
		br := bufio.NewReader(c)
		if preamble != nil && !preamble(c, br) {
			return
		}
		tc := tls.Server(c, cfg)
		if tc.Handshake() == nil {
			io.Copy(io.Discard, tc)
		}
	})
}

// lineServer returns a preamble that sends greeting, then answers each
// line read with the reply of the first prefix it starts with; a reply
// "TLS" answers with ok and starts the handshake.
func lineServer(greeting string, replies [][2]string) func(net.Conn, *bufio.Reader) bool {
	return func(c net.Conn, br *bufio.Reader) bool {
		io.WriteString(c, greeting)
		for {
			l, err := br.ReadString('\n')
			if err != nil {
				return false
			}
			for _, r := range replies {
				if strings.HasPrefix(l, r[0]) {
					reply, tlsNow := strings.CutSuffix(r[1], "TLS")
					io.WriteString(c, reply)
					if tlsNow {
						return true
					}
					break
				}
			}
		}
	}
}

var (
	imapPreamble = lineServer("* OK [CAPABILITY IMAP4rev1 STARTTLS] ready\r\n",
		[][2]string{{"m1 STARTTLS", "m1 OK Begin TLS negotiation now\r\nTLS"}})
	pop3Preamble = lineServer("+OK POP3 ready\r\n", [][2]string{{"STLS", "+OK Begin TLS\r\nTLS"}})
	ldapPreamble = func(c net.Conn, br *bufio.Reader) bool {
		req := make([]byte, len(ldapStartTLS))
		if _, err := io.ReadFull(br, req); err != nil || string(req) != string(ldapStartTLS) {
			return false
		}
		// LDAPMessage{1, ExtendedResponse{success, "", ""}}
		c.Write([]byte{0x30, 0x0c, 0x02, 0x01, 0x01, 0x78, 0x07, 0x0a, 0x01, 0x00, 0x04, 0x00, 0x04, 0x00})
		return true
	}
	ldapRefuse = func(c net.Conn, br *bufio.Reader) bool {
		io.ReadFull(br, make([]byte, len(ldapStartTLS)))
		c.Write([]byte{0x30, 0x0f, 0x02, 0x01, 0x01, 0x78, 0x0a, 0x0a, 0x01, 0x34, 0x04, 0x00, 0x04, 0x03, 'n', 'o', '!'})
		return false
	}
	pgPreamble = func(c net.Conn, br *bufio.Reader) bool {
		req := make([]byte, 8)
		if _, err := io.ReadFull(br, req); err != nil || string(req) != "\x00\x00\x00\x08\x04\xd2\x16\x2f" {
			return false
		}
		c.Write([]byte("S"))
		return true
	}
	xmppPreamble = func(c net.Conn, br *bufio.Reader) bool {
		if _, err := br.ReadString('>'); err != nil { // <?xml ...?>
			return false
		}
		head, err := br.ReadString('>')
		if err != nil || !strings.Contains(head, "to='localhost'") {
			return false
		}
		io.WriteString(c, "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' "+
			"id='1' from='localhost' version='1.0'><stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls>"+
			"<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></stream:features>")
		if l, err := br.ReadString('>'); err != nil || !strings.HasPrefix(l, "<starttls") {
			return false
		}
		io.WriteString(c, "<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
		return true
	}
)

func TestTLSCheck(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t)
	good := ca.issue(t, "good.test", 60*24*time.Hour)
	soon := ca.issue(t, "soon.test", 10*24*time.Hour)
	gone := ca.issue(t, "gone.test", -3*24*time.Hour)
	smtpSrv := smtpfake.Start(t, smtpfake.Config{STARTTLS: true})
	smtpPlain := smtpfake.Start(t, smtpfake.Config{})
	tests := []struct {
		name    string
		addr    string
		raw     map[string]string
		wantErr []string
	}{
		{name: "valid", addr: tlsServer(t, good, nil), raw: map[string]string{"tls_ca": ca.file}},
		{name: "expiring", addr: tlsServer(t, soon, nil), raw: map[string]string{"tls_ca": ca.file},
			wantErr: []string{"certificate expires in 10.0 days, less than min_days 14: " +
				`subject "CN=soon.test", issuer "CN=Monsta Test CA", notAfter `}},
		{name: "expiring but under min_days", addr: tlsServer(t, soon, nil), raw: map[string]string{"tls_ca": ca.file, "min_days": "7"}},
		{name: "expired", addr: tlsServer(t, gone, nil), raw: map[string]string{"tls_ca": ca.file},
			wantErr: []string{`certificate expired 3.0 days ago: subject "CN=gone.test"`}},
		{name: "name mismatch", addr: tlsServer(t, good, nil), raw: map[string]string{"tls_ca": ca.file, "server_name": "www.example.org"},
			wantErr: []string{"name mismatch: certificate is not valid for www.example.org (it covers localhost, good.test, 127.0.0.1): " +
				`subject "CN=good.test", issuer "CN=Monsta Test CA"`}},
		{name: "untrusted chain", addr: tlsServer(t, good, nil),
			wantErr: []string{"certificate chain does not verify (x509: certificate signed by unknown authority", `subject "CN=good.test"`}},
		{name: "untrusted, not verified", addr: tlsServer(t, good, nil), raw: map[string]string{"tls_verify": "no"}},
		{name: "expired, not verified", addr: tlsServer(t, gone, nil), raw: map[string]string{"tls_verify": "no"},
			wantErr: []string{"certificate expired"}},
		{name: "handshake failure", addr: loopback.Serve(t, func(c net.Conn) { io.WriteString(c, "220 hello\r\n") }),
			wantErr: []string{"TLS handshake with 127.0.0.1:"}},
		{name: "smtp starttls", addr: smtpSrv.Addr, raw: map[string]string{"starttls": "smtp", "tls_ca": smtpfake.CAFile(t), "min_days": "0"}},
		{name: "smtp without starttls", addr: smtpPlain.Addr, raw: map[string]string{"starttls": "smtp"},
			wantErr: []string{"STARTTLS (smtp) with 127.0.0.1:", "the server does not offer STARTTLS"}},
		{name: "imap starttls", addr: tlsServer(t, good, imapPreamble), raw: map[string]string{"starttls": "imap", "tls_ca": ca.file}},
		{name: "imap starttls refused", addr: tlsServer(t, good, lineServer("* OK hi\r\n", [][2]string{{"m1", "m1 BAD no\r\n"}})),
			raw: map[string]string{"starttls": "imap"}, wantErr: []string{`STARTTLS refused: "m1 BAD no"`}},
		{name: "imap injection", addr: tlsServer(t, good, lineServer("* OK hi\r\n", [][2]string{{"m1", "m1 OK go\r\n* OK injected\r\n"}})),
			raw: map[string]string{"starttls": "imap"}, wantErr: []string{"the server sent data after agreeing to STARTTLS"}},
		{name: "pop3 starttls", addr: tlsServer(t, good, pop3Preamble), raw: map[string]string{"starttls": "pop3", "tls_ca": ca.file}},
		{name: "xmpp starttls", addr: tlsServer(t, good, xmppPreamble), raw: map[string]string{"starttls": "xmpp", "tls_ca": ca.file, "server_name": "localhost"}},
		{name: "ldap starttls", addr: tlsServer(t, good, ldapPreamble), raw: map[string]string{"starttls": "ldap", "tls_ca": ca.file}},
		{name: "ldap refused", addr: tlsServer(t, good, ldapRefuse), raw: map[string]string{"starttls": "ldap"},
			wantErr: []string{`StartTLS refused: resultCode 52 "no!"`}},
		{name: "postgres starttls", addr: tlsServer(t, good, pgPreamble), raw: map[string]string{"starttls": "postgres", "tls_ca": ca.file}},
		{name: "postgres without ssl", addr: loopback.Serve(t, func(c net.Conn) { io.ReadFull(c, make([]byte, 8)); c.Write([]byte("N")) }),
			raw: map[string]string{"starttls": "postgres"}, wantErr: []string{"the server does not support SSL"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			host, port, _ := net.SplitHostPort(tt.addr)
			raw := map[string]string{"host": host, "port": port}
			for k, v := range tt.raw {
				raw[k] = v
			}
			c, err := newTestCheck(t, tlsCheckDescriptor(), raw)
			if err != nil {
				t.Fatal(err)
			}
			stats, err := runGuarded(t, c, 5*time.Second)
			checkErrs(t, err, tt.wantErr)
			if err == nil && stats["days_left"] == 0 {
				t.Errorf("stats = %v, want days_left", stats)
			}
		})
	}
}

func TestTLSCheckDeadline(t *testing.T) {
	t.Parallel()
	host, port, _ := net.SplitHostPort(loopback.Silent(t))
	for _, st := range []string{"", "smtp", "xmpp", "ldap"} {
		c, err := newTestCheck(t, tlsCheckDescriptor(), map[string]string{"host": host, "port": port, "starttls": st})
		if err != nil {
			t.Fatal(err)
		}
		_, err = runGuarded(t, c, 50*time.Millisecond)
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("starttls=%q: Run() error = %v, want a deadline", st, err)
		}
	}
}

func TestTLSCheckOptions(t *testing.T) {
	t.Parallel()
	d := tlsCheckDescriptor()
	wantNewCheckErr(t, d, map[string]string{"host": "h", "starttls": "ftp"}, "not one of")
	wantNewCheckErr(t, d, map[string]string{"host": ""}, "host: must not be empty")
	wantNewCheckErr(t, d, map[string]string{"host": "h", "tls_ca": "/nonexistent/ca.pem"}, "read tls_ca")
	c, err := newTestCheck(t, d, map[string]string{"host": "h", "starttls": "imap"})
	if err != nil || c.(*TLSCheck).addr != "h:143" {
		t.Errorf("default port for imap: %v, %v", c, err)
	}
}
