package builtins

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"encoding/xml"
	"errors"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"mellium.im/sasl"
	"mellium.im/xmlstream"
	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"github.com/monsta/monsta/runtime"
)

// xmppCert is a self-signed certificate for monsta.test, localhost and
// 127.0.0.1, with its PEM written to a file for tls_ca.
type xmppCert struct {
	cert   tls.Certificate
	caFile string
}

func newXMPPCert(t testing.TB) xmppCert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "monsta.test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		DNSNames:              []string{"monsta.test", "localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:                  true,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return xmppCert{cert: tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, caFile: caFile}
}

// fakeXMPP is an in-process XMPP server (mellium's server side) on loopback:
// STARTTLS, SASL PLAIN, resource binding; it records chat messages and
// bounces messages to JIDs outside its user list.
type fakeXMPP struct {
	addr  string
	users map[string]string // localpart → password

	mu       sync.Mutex
	messages []xmppBody
	logins   []string // "user:ok" or "user:refused"
}

func startFakeXMPP(t testing.TB, cert xmppCert, offerTLS bool) *fakeXMPP {
	t.Helper()
	f := &fakeXMPP{users: map[string]string{"monsta": "s3cret-pw", "bob": "bobpw"}}
	host, port := fakeTCP(t, "127.0.0.1:0", func(c net.Conn) { f.serve(c, cert, offerTLS) })
	f.addr = net.JoinHostPort(host, port)
	return f
}

func (f *fakeXMPP) serve(c net.Conn, cert xmppCert, offerTLS bool) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	var features []xmpp.StreamFeature
	if offerTLS {
		features = append(features, xmpp.StartTLS(&tls.Config{Certificates: []tls.Certificate{cert.cert}}))
	}
	features = append(features,
		xmpp.SASLServer(func(n *sasl.Negotiator) bool {
			user, pass, _ := n.Credentials()
			ok := f.users[string(user)] == string(pass) && len(pass) > 0
			f.mu.Lock()
			f.logins = append(f.logins, string(user)+":"+map[bool]string{true: "ok", false: "refused"}[ok])
			f.mu.Unlock()
			return ok
		}, sasl.Plain),
		xmpp.BindCustom(func(j jid.JID, _ string) (jid.JID, error) {
			return jid.MustParse("monsta@monsta.test/fake"), nil
		}),
	)
	s, err := xmpp.ReceiveSession(context.Background(), c, 0, xmpp.NewNegotiator(
		func(*xmpp.Session, *xmpp.StreamConfig) xmpp.StreamConfig {
			return xmpp.StreamConfig{Features: features}
		}))
	if err != nil {
		return
	}
	_ = s.Serve(xmpp.HandlerFunc(func(t xmlstream.TokenReadEncoder, start *xml.StartElement) error {
		if start.Name.Local != "message" {
			return nil
		}
		var m xmppBody
		if err := xml.NewTokenDecoder(xmlstream.MultiReader(xmlstream.Token(*start), t)).Decode(&m); err != nil && err != io.EOF {
			return err
		}
		if _, known := f.users[m.To.Localpart()]; !known || m.To.Domainpart() != "monsta.test" {
			bounce := stanza.Message{ID: m.ID, From: m.To, Type: stanza.ErrorMessage}
			_, err := xmlstream.Copy(t, bounce.Wrap(stanza.Error{Type: stanza.Cancel,
				Condition: stanza.ServiceUnavailable}.TokenReader()))
			return err
		}
		f.mu.Lock()
		f.messages = append(f.messages, m)
		f.mu.Unlock()
		return nil
	}))
}

func (f *fakeXMPP) got() ([]xmppBody, []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]xmppBody(nil), f.messages...), append([]string(nil), f.logins...)
}

// newXMPPForTest builds an xmpp notifier from raw options.
func newXMPPForTest(t *testing.T, raw map[string]string) (*XMPP, error) {
	t.Helper()
	n, err := newNotifierIn(t, xmppDescriptor(), "Notification_x", raw)
	if err != nil {
		return nil, err
	}
	return n.(*XMPP), nil
}

// withGuard runs f and fails the test if it hangs for 10 s.
func withGuard(t *testing.T, f func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("hung for 10 s")
		return nil
	}
}

func TestXMPPNotify(t *testing.T) {
	cert := newXMPPCert(t)
	msg := runtime.Message{Test: "web", State: runtime.StateFail,
		Short: "FAIL web (2 failures)", Long: "Check_www: connect 127.0.0.1:80: refused"}
	const password = "s3cret-pw"

	tests := []struct {
		name      string
		noTLS     bool              // the server offers no STARTTLS
		opts      map[string]string // added to / overriding the defaults
		addr      func(*fakeXMPP) string
		wantErr   string // substring; "" = success
		permanent bool
		wantMsgs  []string // recipients that must have received it
		wantLogin []string
	}{
		{name: "two recipients", opts: map[string]string{"recipient": "monsta@monsta.test bob@monsta.test"},
			wantMsgs: []string{"monsta@monsta.test", "bob@monsta.test"}, wantLogin: []string{"monsta:ok"}},
		{name: "jid with resource", opts: map[string]string{"jid": "monsta@monsta.test/pager"},
			wantMsgs: []string{"bob@monsta.test"}, wantLogin: []string{"monsta:ok"}},
		{name: "wrong password", opts: map[string]string{"password": "wrong-pw"},
			wantErr: ": auth as monsta@monsta.test: not-authorized", permanent: true, wantLogin: []string{"monsta:refused"}},
		{name: "unknown recipient bounces", opts: map[string]string{"recipient": "bob@monsta.test nobody@monsta.test"},
			wantErr: ": send to nobody@monsta.test: service-unavailable", permanent: true,
			wantMsgs: []string{"bob@monsta.test"}, wantLogin: []string{"monsta:ok"}},
		{name: "self-signed rejected", opts: map[string]string{"tls_ca": ""},
			wantErr: ": tls: tls: failed to verify certificate"},
		{name: "tls_verify=no accepts", opts: map[string]string{"tls_ca": "", "tls_verify": "no"},
			wantMsgs: []string{"bob@monsta.test"}, wantLogin: []string{"monsta:ok"}},
		{name: "no STARTTLS: no login", noTLS: true, wantErr: ": tls: "},
		{name: "wrong server name", opts: map[string]string{"jid": "monsta@other.test"},
			wantErr: "certificate is valid for monsta.test, localhost, not other.test"},
		{name: "server down", addr: func(*fakeXMPP) string { return "127.0.0.1:" + closedPort(t) },
			wantErr: ": connect: connection refused"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := startFakeXMPP(t, cert, !tc.noTLS)
			addr := f.addr
			if tc.addr != nil {
				addr = tc.addr(f)
			}
			raw := map[string]string{"jid": "monsta@monsta.test", "password": password,
				"recipient": "bob@monsta.test", "server": addr, "tls_ca": cert.caFile}
			for k, v := range tc.opts {
				raw[k] = v
			}
			n, err := newXMPPForTest(t, raw)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			err = withGuard(t, func() error { return n.Notify(ctx, msg) })
			t.Logf("Notify() = %v", err)
			if tc.wantErr == "" && err != nil {
				t.Fatalf("Notify() error = %v, want nil", err)
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Notify() error = %v, want it to contain %q", err, tc.wantErr)
				}
				if !strings.HasPrefix(err.Error(), "xmpp "+addr+": ") {
					t.Errorf("Notify() error = %v, want it to name the server %s", err, addr)
				}
				if strings.Contains(err.Error(), raw["password"]) {
					t.Errorf("Notify() error = %v contains the password", err)
				}
				var pe *runtime.PermanentError
				if errors.As(err, &pe) != tc.permanent {
					t.Errorf("Notify() error = %v, permanent = %v, want %v", err, !tc.permanent, tc.permanent)
				}
			}
			got, logins := f.got()
			var to []string
			for _, m := range got {
				to = append(to, m.To.String())
				if m.Body != msg.Short+"\n\n"+msg.Long || m.Type != stanza.ChatMessage {
					t.Errorf("message to %s = %q (type %s), want %q chat", m.To, m.Body, m.Type, msg.Short+"\n\n"+msg.Long)
				}
			}
			if strings.Join(to, " ") != strings.Join(tc.wantMsgs, " ") {
				t.Errorf("messages went to %q, want %q", to, tc.wantMsgs)
			}
			if strings.Join(logins, " ") != strings.Join(tc.wantLogin, " ") {
				t.Errorf("logins = %q, want %q", logins, tc.wantLogin)
			}
		})
	}
}

func TestXMPPVerify(t *testing.T) {
	cert := newXMPPCert(t)
	f := startFakeXMPP(t, cert, true)
	for _, tc := range []struct {
		password, wantErr string
	}{
		{"s3cret-pw", ""},
		{"bad-pw", "xmpp " + f.addr + ": auth as monsta@monsta.test: not-authorized"},
	} {
		n, err := newXMPPForTest(t, map[string]string{"jid": "monsta@monsta.test", "password": tc.password,
			"recipient": "bob@monsta.test", "server": f.addr, "tls_ca": cert.caFile})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = withGuard(t, func() error { return n.Verify(ctx) })
		cancel()
		if (err == nil) != (tc.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) {
			t.Errorf("Verify(password %s) error = %v, want %q", tc.password, err, tc.wantErr)
		}
	}
	if msgs, _ := f.got(); len(msgs) != 0 {
		t.Errorf("Verify sent %d messages, want none", len(msgs))
	}
}

// TestXMPPSilentPeer: a server that accepts and never speaks costs the
// notifier its deadline and no more.
func TestXMPPSilentPeer(t *testing.T) {
	addr := "127.0.0.1:" + silentListener(t)
	n, err := newXMPPForTest(t, map[string]string{"jid": "monsta@monsta.test", "password": "pw",
		"recipient": "bob@monsta.test", "server": addr})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err = withGuard(t, func() error { return n.Notify(ctx, runtime.Message{Short: "x"}) })
	if !runtime.IsTimeout(err) || !strings.Contains(err.Error(), "xmpp "+addr+": open stream: ") {
		t.Errorf("Notify() error = %v, want a timeout while opening the stream", err)
	}
}

// TestXMPPDiscovery: without server, the SRV record of the JID's domain
// names the server (a fake DNS server on loopback answers).
func TestXMPPDiscovery(t *testing.T) {
	cert := newXMPPCert(t)
	f := startFakeXMPP(t, cert, true)
	_, portStr, _ := net.SplitHostPort(f.addr)
	port, _ := strconv.Atoi(portStr)

	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		switch q := r.Question[0]; {
		case q.Qtype == dns.TypeSRV && q.Name == "_xmpp-client._tcp.monsta.test.":
			m.Answer = append(m.Answer, &dns.SRV{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeSRV,
				Class: dns.ClassINET, Ttl: 60}, Priority: 0, Weight: 5, Port: uint16(port), Target: "xmpp.monsta.test."})
		case q.Qtype == dns.TypeA && q.Name == "xmpp.monsta.test.":
			m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA,
				Class: dns.ClassINET, Ttl: 60}, A: net.IPv4(127, 0, 0, 1)})
		case q.Name == "xmpp.monsta.test.":
		default:
			m.Rcode = dns.RcodeNameError
		}
		_ = w.WriteMsg(m)
	})}
	go func() { _ = srv.ActivateAndServe() }()
	defer srv.Shutdown()

	n, err := newXMPPForTest(t, map[string]string{"jid": "monsta@monsta.test", "password": "s3cret-pw",
		"recipient": "bob@monsta.test", "tls_ca": cert.caFile})
	if err != nil {
		t.Fatal(err)
	}
	n.resolver = &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", pc.LocalAddr().String())
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := withGuard(t, func() error { return n.Notify(ctx, runtime.Message{Short: "TEST web"}) }); err != nil {
		t.Fatalf("Notify() error = %v", err)
	}
	if msgs, _ := f.got(); len(msgs) != 1 || msgs[0].Body != "TEST web" {
		t.Errorf("messages = %+v, want one with body %q", msgs, "TEST web")
	}
}

func TestXMPPOptions(t *testing.T) {
	for _, tc := range []struct {
		raw     map[string]string
		wantErr string
	}{
		{map[string]string{"jid": "monsta.test"}, `jid "monsta.test": needs a user part`},
		{map[string]string{"jid": "a@b@c"}, `jid "a@b@c": `},
		{map[string]string{"recipient": "bob@x @y"}, `recipient "@y": `},
		{map[string]string{"server": "host:port"}, `server "host:port": not host:port`},
		{map[string]string{"tls_ca": "/nonexistent/ca.pem"}, "read tls_ca: "},
	} {
		raw := map[string]string{"jid": "monsta@monsta.test", "password": "pw", "recipient": "bob@monsta.test"}
		for k, v := range tc.raw {
			raw[k] = v
		}
		_, err := newXMPPForTest(t, raw)
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("NewNotifier(%v) error = %v, want %q", tc.raw, err, tc.wantErr)
		}
	}
	n, err := newXMPPForTest(t, map[string]string{"jid": "monsta@monsta.test", "password": "pw",
		"recipient": "bob@monsta.test", "server": "xmpp.monsta.test"})
	if err != nil || n.server != "xmpp.monsta.test:5222" {
		t.Errorf("server without port = %q, %v; want xmpp.monsta.test:5222", n.server, err)
	}
}

// TestXMPPCancel: cancelling ctx (no deadline) ends a session that hangs.
func TestXMPPCancel(t *testing.T) {
	addr := "127.0.0.1:" + silentListener(t)
	n, err := newXMPPForTest(t, map[string]string{"jid": "monsta@monsta.test", "password": "pw",
		"recipient": "bob@monsta.test", "server": addr})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	err = withGuard(t, func() error { return n.Notify(ctx, runtime.Message{Short: "x"}) })
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Notify() error = %v, want context.Canceled", err)
	}
}

// BenchmarkXMPPNotify measures one delivery (connect, STARTTLS, PLAIN,
// bind, send, close) to the in-process server on loopback.
func BenchmarkXMPPNotify(b *testing.B) {
	cert := newXMPPCert(b)
	f := startFakeXMPP(b, cert, true)
	n, err := newNotifierIn(b, xmppDescriptor(), "Notification_x", map[string]string{"jid": "monsta@monsta.test",
		"password": "s3cret-pw", "recipient": "bob@monsta.test", "server": f.addr, "tls_ca": cert.caFile})
	if err != nil {
		b.Fatal(err)
	}
	m := runtime.Message{Test: "web", State: runtime.StateFail, Short: "FAIL web", Long: "down"}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := n.Notify(ctx, m); err != nil {
			b.Fatal(err)
		}
		cancel()
	}
}
