// Package smtpfake is an in-process SMTP server on loopback for tests:
// go-smtp with optional STARTTLS, implicit TLS and AUTH PLAIN, recording
// every transaction.
package smtpfake

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log"
	"math/big"
	"mime"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Cert returns a self-signed certificate for localhost and 127.0.0.1 and
// its PEM, made once per test binary.
var Cert = sync.OnceValues(func() (tls.Certificate, []byte) {
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

// CAFile writes Cert's PEM to a file for tls_ca options.
func CAFile(t testing.TB) string {
	t.Helper()
	_, p := Cert()
	f := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(f, p, 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// Msg is what the server saw of one transaction.
type Msg struct {
	Helo string
	TLS  bool
	User string // AUTH PLAIN user, "" without AUTH
	From string
	To   []string
	Data []byte // nil when the client never sent DATA
}

// Config chooses what the server offers.
type Config struct {
	Addr     string // listen address; "" is 127.0.0.1:0
	STARTTLS bool   // offer STARTTLS
	Implicit bool   // TLS from the first byte
	Users    map[string]string
	Reject   func(to string) error // decides RCPT TO; nil accepts everyone
	Deliver  func(m Msg)           // called at the end of each DATA
}

// Server is a running fake.
type Server struct {
	Addr string
	cfg  Config
	srv  *smtp.Server
	mu   sync.Mutex
	msgs []Msg
}

// Start starts a server that stops when the test ends.
func Start(t testing.TB, cfg Config) *Server {
	t.Helper()
	f := &Server{cfg: cfg}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &session{f: f, c: c}, nil
	}))
	srv.Domain = "fake.test"
	srv.ErrorLog = log.New(io.Discard, "", 0)
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	cert, _ := Cert()
	tcfg := &tls.Config{Certificates: []tls.Certificate{cert}}
	if cfg.STARTTLS {
		srv.TLSConfig = tcfg
	}
	addr := cfg.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Implicit {
		l = tls.NewListener(l, tcfg)
	}
	f.Addr = l.Addr().String()
	f.srv = srv
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return f
}

// Close stops the server early.
func (f *Server) Close() { f.srv.Close() }

// Messages returns the transactions seen so far.
func (f *Server) Messages() []Msg {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Msg(nil), f.msgs...)
}

// Subjects returns the (MIME-decoded) Subject of every message received,
// in order.
func (f *Server) Subjects() []string {
	var out []string
	for _, m := range f.Messages() {
		for _, l := range strings.Split(string(m.Data), "\n") {
			if s, ok := strings.CutPrefix(l, "Subject: "); ok {
				if dec, err := new(mime.WordDecoder).DecodeHeader(strings.TrimSpace(s)); err == nil {
					s = dec
				}
				out = append(out, strings.TrimSpace(s))
			}
		}
	}
	return out
}

// HostPort splits Addr.
func (f *Server) HostPort(t testing.TB) (string, string) {
	t.Helper()
	h, p, err := net.SplitHostPort(f.Addr)
	if err != nil {
		t.Fatal(err)
	}
	return h, p
}

type session struct {
	f    *Server
	c    *smtp.Conn
	user string
	cur  int
}

func (s *session) AuthMechanisms() []string {
	if s.f.cfg.Users == nil {
		return nil
	}
	return []string{sasl.Plain}
}

func (s *session) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if want, ok := s.f.cfg.Users[user]; !ok || want != pass {
			return smtp.ErrAuthFailed
		}
		s.user = user
		return nil
	}), nil
}

// Mail opens a transaction; it is visible to the test before the client
// gets the reply.
func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	_, isTLS := s.c.TLSConnectionState()
	s.f.mu.Lock()
	defer s.f.mu.Unlock()
	s.f.msgs = append(s.f.msgs, Msg{Helo: s.c.Hostname(), TLS: isTLS, User: s.user, From: from})
	s.cur = len(s.f.msgs) - 1
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if s.f.cfg.Reject != nil {
		if err := s.f.cfg.Reject(to); err != nil {
			return err
		}
	}
	s.f.mu.Lock()
	defer s.f.mu.Unlock()
	s.f.msgs[s.cur].To = append(s.f.msgs[s.cur].To, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.f.mu.Lock()
	s.f.msgs[s.cur].Data = b
	m := s.f.msgs[s.cur]
	s.f.mu.Unlock()
	if s.f.cfg.Deliver != nil {
		s.f.cfg.Deliver(m)
	}
	return nil
}

func (s *session) Reset() {}

func (s *session) Logout() error { return nil }
