package builtins

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/monsta/monsta/runtime"
)

// testCert is a self-signed certificate for localhost and 127.0.0.1, made
// once per test binary.
var testCert = sync.OnceValues(func() (tls.Certificate, []byte) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "monsta test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		panic(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key},
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
})

// testCAFile writes the test certificate as a PEM file for tls_ca.
func testCAFile(t *testing.T) string {
	t.Helper()
	_, p := testCert()
	f := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(f, p, 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// fakeMsg is what the fake SMTP server saw of one transaction.
type fakeMsg struct {
	helo string
	tls  bool
	user string // AUTH PLAIN user, "" without AUTH
	from string
	to   []string
	data []byte // nil when the client never sent DATA
}

// fakeSMTP is an in-process go-smtp server on 127.0.0.1:0.
type fakeSMTP struct {
	addr  string
	users map[string]string // AUTH PLAIN accounts; nil: no AUTH offered
	// reject decides RCPT TO; nil accepts everyone.
	reject func(to string) error
	// deliver, when set, receives each message at the end of DATA.
	deliver func(m fakeMsg)

	mu   sync.Mutex
	msgs []fakeMsg
}

type fakeSMTPConfig struct {
	starttls bool // offer STARTTLS
	implicit bool // TLS from the first byte
	users    map[string]string
	reject   func(to string) error
	deliver  func(m fakeMsg)
}

// startFakeSMTP starts a go-smtp server for the test's lifetime.
func startFakeSMTP(t testing.TB, cfg fakeSMTPConfig) *fakeSMTP {
	t.Helper()
	f := &fakeSMTP{users: cfg.users, reject: cfg.reject, deliver: cfg.deliver}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &fakeSession{f: f, c: c}, nil
	}))
	srv.Domain = "fake.test"
	srv.ErrorLog = log.New(io.Discard, "", 0)
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	cert, _ := testCert()
	tcfg := &tls.Config{Certificates: []tls.Certificate{cert}}
	if cfg.starttls {
		srv.TLSConfig = tcfg
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.implicit {
		l = tls.NewListener(l, tcfg)
	}
	f.addr = l.Addr().String()
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return f
}

// messages returns the transactions seen so far.
func (f *fakeSMTP) messages() []fakeMsg {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]fakeMsg(nil), f.msgs...)
}

func (f *fakeSMTP) hostPort(t *testing.T) (string, string) {
	t.Helper()
	h, p, err := net.SplitHostPort(f.addr)
	if err != nil {
		t.Fatal(err)
	}
	return h, p
}

type fakeSession struct {
	f    *fakeSMTP
	c    *smtp.Conn
	user string
	cur  int // index in f.msgs of the open transaction, -1: none
}

func (s *fakeSession) AuthMechanisms() []string {
	if s.f.users == nil {
		return nil
	}
	return []string{sasl.Plain}
}

func (s *fakeSession) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if want, ok := s.f.users[user]; !ok || want != pass {
			return smtp.ErrAuthFailed
		}
		s.user = user
		return nil
	}), nil
}

// Mail opens a transaction; it is visible to the test before the client
// gets the reply.
func (s *fakeSession) Mail(from string, _ *smtp.MailOptions) error {
	_, isTLS := s.c.TLSConnectionState()
	s.f.mu.Lock()
	defer s.f.mu.Unlock()
	s.f.msgs = append(s.f.msgs, fakeMsg{helo: s.c.Hostname(), tls: isTLS, user: s.user, from: from})
	s.cur = len(s.f.msgs) - 1
	return nil
}

func (s *fakeSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if s.f.reject != nil {
		if err := s.f.reject(to); err != nil {
			return err
		}
	}
	s.f.mu.Lock()
	defer s.f.mu.Unlock()
	s.f.msgs[s.cur].to = append(s.f.msgs[s.cur].to, to)
	return nil
}

func (s *fakeSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.f.mu.Lock()
	s.f.msgs[s.cur].data = b
	m := s.f.msgs[s.cur]
	s.f.mu.Unlock()
	if s.f.deliver != nil {
		s.f.deliver(m)
	}
	return nil
}

func (s *fakeSession) Reset() {}

func (s *fakeSession) Logout() error { return nil }

// silentListener accepts connections and never writes; it returns its port.
func silentListener(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	_, p, _ := net.SplitHostPort(l.Addr().String())
	return p
}

// scriptedSMTP is a loopback server that sends banner, then answers each
// command line by its first word from replies ("" for unknown: 502).
func scriptedSMTP(t *testing.T, banner string, replies map[string]string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				io.WriteString(c, banner+"\r\n")
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					verb := strings.ToUpper(strings.Fields(line + " x")[0])
					rep, ok := replies[verb]
					if !ok {
						rep = "502 5.5.1 unknown command"
					}
					io.WriteString(c, rep+"\r\n")
					if verb == "QUIT" {
						return
					}
				}
			}()
		}
	}()
	_, p, _ := net.SplitHostPort(l.Addr().String())
	return p
}

// newTestOptions registers d in a fresh registry and resolves raw for it.
func newTestOptions(t *testing.T, d runtime.Descriptor, section string, raw map[string]string) *runtime.Options {
	t.Helper()
	reg := runtime.NewRegistry()
	if err := reg.Add(d); err != nil {
		t.Fatal(err)
	}
	dp, ok := reg.Lookup(d.Kind, d.Name)
	if !ok {
		t.Fatalf("type %s not registered", d.Name)
	}
	o, err := runtime.NewOptions(dp, section, raw)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// guarded calls f and fails the test if it has not returned after 10 s.
func guarded[T any](t *testing.T, f func() T) T {
	t.Helper()
	done := make(chan T, 1)
	go func() { done <- f() }()
	select {
	case v := <-done:
		return v
	case <-time.After(10 * time.Second):
		t.Fatal("still running after 10 s: a deadline is not honoured")
	}
	var zero T
	return zero
}

// TestDeadlineConnCapsLibraryDeadlines checks that a deadline a library sets
// (or clears) never reaches past the context's.
func TestDeadlineConnCapsLibraryDeadlines(t *testing.T) {
	port := silentListener(t)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	c, err := dialContext(ctx, "127.0.0.1:"+port)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Time{}) // what go-imap does with Timeout 0
	c.SetReadDeadline(time.Now().Add(time.Hour))
	err = guarded(t, func() error {
		_, err := c.Read(make([]byte, 1))
		return err
	})
	if !runtime.IsTimeout(err) {
		t.Errorf("Read() error = %v, want a timeout", err)
	}
}

// TestDeadlineConnCancel checks that cancelling the context ends a read.
func TestDeadlineConnCancel(t *testing.T) {
	port := silentListener(t)
	ctx, cancel := context.WithCancel(context.Background())
	c, err := dialContext(ctx, "127.0.0.1:"+port)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	go func() { time.Sleep(50 * time.Millisecond); cancel() }()
	err = guarded(t, func() error {
		_, err := c.Read(make([]byte, 1))
		return err
	})
	if err == nil || !errors.Is(netCause(ctx, err), context.Canceled) {
		t.Errorf("Read() error = %v, want context.Canceled as its cause", err)
	}
}
