package builtins

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/monsta/monsta/internal/netx"
	"github.com/monsta/monsta/runtime"
)

// The values of the starttls options.
const (
	starttlsNo       = "no"
	starttlsYes      = "yes" // use STARTTLS when the server offers it
	starttlsRequired = "required"
)

// parseStarttls parses a starttls option: no, yes (when offered) or required.
var parseStarttls = runtime.OneOf(starttlsNo, starttlsYes, starttlsRequired)

// dialContext opens a TCP connection to addr bounded by ctx and binds it to
// ctx (netx.Conn: go-smtp's and go-imap's own deadlines are capped at ctx's).
// The error reads `connect ADDR: connection refused`.
func dialContext(ctx context.Context, addr string) (*netx.Conn, error) {
	c, err := netx.Dial(ctx, addr)
	if err != nil {
		return nil, err
	}
	return netx.Bind(ctx, c), nil
}

// smtpReply is a server reply that refused a command. Its text is
// `550 5.1.1 <x@y>: Recipient address rejected: ...`.
type smtpReply struct{ err *smtp.SMTPError }

func (r *smtpReply) Error() string {
	var b strings.Builder
	b.WriteString(strconv.Itoa(r.err.Code))
	if e := r.err.EnhancedCode; e != smtp.EnhancedCodeNotSet && e != smtp.NoEnhancedCode {
		fmt.Fprintf(&b, " %d.%d.%d", e[0], e[1], e[2])
	}
	if m := strings.TrimSpace(strings.ReplaceAll(r.err.Message, "\n", " ")); m != "" {
		b.WriteString(" " + m)
	}
	return b.String()
}

func (r *smtpReply) Unwrap() error { return r.err }

// permanent tells whether the server refused for good (a 5xx reply).
func (r *smtpReply) permanent() bool { return r.err.Code >= 500 && r.err.Code < 600 }

// isPermanentSMTP tells whether err carries a 5xx reply.
func isPermanentSMTP(err error) bool {
	var r *smtpReply
	return errors.As(err, &r) && r.permanent()
}

// smtpParams are the connection settings shared by the smtp check, the
// mailbox check's sending leg and the smtp notifier.
type smtpParams struct {
	host     string
	port     int
	helo     string
	starttls string      // starttlsNo, starttlsYes or starttlsRequired
	ssl      bool        // implicit TLS from the first byte
	tls      *tls.Config // for ssl and STARTTLS
	username string      // AUTH PLAIN when set
	password string
}

func (p *smtpParams) addr() string { return net.JoinHostPort(p.host, strconv.Itoa(p.port)) }

// smtpSession is an SMTP dialogue past the greeting: connected, EHLO (or
// HELO) done, STARTTLS and AUTH done when configured.
type smtpSession struct {
	ctx    context.Context
	conn   *netx.Conn
	lim    *netx.LimitedConn // below go-smtp, above TLS: netx.SMTP caps every reply
	c      *smtp.Client
	addr   string
	start  time.Time     // when the connect began
	banner time.Duration // connect start → first byte of the banner
	tls    bool
}

// smtpOpen connects and runs the dialogue up to and including AUTH. Errors
// name the step: `connect ADDR: ...`, `banner: i/o timeout`, `EHLO
// monsta.local: 554 ...`, `STARTTLS required but not offered by ADDR`,
// `AUTH PLAIN as USER: 535 5.7.8 ...`. The session is never nil (its banner
// time is set when a banner came); on success the caller must call quit, on
// an error the connection is already closed.
func smtpOpen(ctx context.Context, p *smtpParams) (*smtpSession, error) {
	s := &smtpSession{ctx: ctx, addr: p.addr(), start: time.Now()}
	conn, err := dialContext(ctx, s.addr)
	if err != nil {
		return s, err
	}
	s.conn = conn
	var nc net.Conn = conn
	if p.ssl {
		tc := tls.Client(conn, p.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return s, fmt.Errorf("TLS handshake with %s: %w", s.addr, netx.Cause(ctx, err))
		}
		nc, s.tls = tc, true
	}
	s.lim = netx.Limit(nc, netx.SMTP)
	s.c = smtp.NewClient(s.lim)
	conn.Mark()
	if err := s.step(s.c.Hello(p.helo)); err != nil {
		first, wrote, _ := conn.Activity()
		s.setBanner(first)
		conn.Close()
		var tl *netx.TooLongError
		if !wrote || errors.As(s.lim.Err(), &tl) && tl.Writes == 0 {
			return s, fmt.Errorf("banner: %w", s.cause(err))
		}
		return s, fmt.Errorf("EHLO %s: %w", p.helo, s.cause(err))
	}
	first, _, _ := conn.Activity()
	s.setBanner(first)
	if !s.tls && p.starttls != starttlsNo {
		if err := s.startTLS(p); err != nil {
			s.c.Close()
			return s, err
		}
	}
	if p.username != "" {
		if err := s.auth(p); err != nil {
			s.quit()
			return s, err
		}
	}
	return s, nil
}

func (s *smtpSession) setBanner(first time.Time) {
	if !first.IsZero() {
		s.banner = first.Sub(s.start)
	}
}

// startTLS upgrades the connection when the server offers STARTTLS.
//
// go-smtp (v0.25) has no StartTLS on a connected Client: its STARTTLS only
// comes with a fresh connection whose pre-TLS EHLO name cannot be set, and it
// gives up when the server does not offer it. So the session says EHLO with
// go-smtp, sends the one STARTTLS line itself, and hands the TLS connection
// to a new go-smtp Client that skips the greeting (there is none after
// STARTTLS) and says EHLO again, as RFC 3207 requires.
func (s *smtpSession) startTLS(p *smtpParams) error {
	if ok, _ := s.c.Extension("STARTTLS"); !ok {
		if p.starttls == starttlsRequired {
			_ = s.c.Quit() // the dialogue itself is fine: leave politely
			return fmt.Errorf("STARTTLS required but not offered by %s", s.addr)
		}
		return nil
	}
	if _, err := io.WriteString(s.lim, "STARTTLS\r\n"); err != nil {
		return fmt.Errorf("STARTTLS: %w", s.cause(err))
	}
	// The server says nothing after its 220 until the TLS handshake, so
	// this reader cannot swallow TLS bytes.
	_, _, err := textproto.NewReader(bufio.NewReaderSize(s.lim, 512)).ReadResponse(220)
	if lerr := s.lim.Err(); lerr != nil {
		return fmt.Errorf("STARTTLS: %w", lerr)
	}
	if err != nil {
		var te *textproto.Error
		if errors.As(err, &te) {
			return fmt.Errorf("STARTTLS: %w", &smtpReply{&smtp.SMTPError{Code: te.Code, Message: te.Msg}})
		}
		return fmt.Errorf("STARTTLS: %w", s.cause(err))
	}
	tc := tls.Client(s.conn, p.tls)
	if err := tc.HandshakeContext(s.ctx); err != nil {
		return fmt.Errorf("STARTTLS handshake with %s: %w", s.addr, netx.Cause(s.ctx, err))
	}
	s.lim = netx.Limit(tc, netx.SMTP)
	s.c = smtp.NewClient(&greetedConn{Conn: s.lim, rest: []byte("220 resumed after STARTTLS\r\n")})
	s.tls = true
	if err := s.step(s.c.Hello(p.helo)); err != nil {
		return fmt.Errorf("EHLO %s after STARTTLS: %w", p.helo, err)
	}
	return nil
}

// errCleartextAuth refuses AUTH on a connection without TLS.
var errCleartextAuth = errors.New("refusing to send the password without TLS (set starttls or ssl)")

// auth logs in with AUTH PLAIN, which sends the password in the clear, so
// only over TLS.
func (s *smtpSession) auth(p *smtpParams) error {
	if !s.tls {
		return fmt.Errorf("AUTH PLAIN as %s: %w", p.username, errCleartextAuth)
	}
	if err := s.step(s.c.Auth(sasl.NewPlainClient("", p.username, p.password))); err != nil {
		return fmt.Errorf("AUTH PLAIN as %s: %w", p.username, err)
	}
	return nil
}

// envelope sends MAIL FROM and one RCPT TO per recipient; each must be
// accepted.
func (s *smtpSession) envelope(from string, to []string) error {
	if err := s.step(s.c.Mail(from, nil)); err != nil {
		return fmt.Errorf("MAIL FROM <%s>: %w", from, err)
	}
	for _, r := range to {
		if err := s.step(s.c.Rcpt(r, nil)); err != nil {
			return fmt.Errorf("RCPT TO <%s>: %w", r, err)
		}
	}
	return nil
}

// send runs a whole transaction: envelope, DATA with msg, and the server's
// acceptance of the message.
func (s *smtpSession) send(from string, to []string, msg []byte) error {
	if err := s.envelope(from, to); err != nil {
		return err
	}
	w, err := s.c.Data()
	if err != nil {
		return fmt.Errorf("DATA: %w", s.cause(err))
	}
	if _, err := w.Write(msg); err != nil {
		w.Close()
		return fmt.Errorf("DATA: %w", s.cause(err))
	}
	if err := s.step(w.Close()); err != nil {
		return fmt.Errorf("DATA (end of message): %w", err)
	}
	return nil
}

// quit says QUIT when the connection still works, and closes it. A failed
// QUIT changes nothing about the outcome of what came before.
func (s *smtpSession) quit() {
	if _, _, ioErr := s.conn.Activity(); ioErr == nil && s.lim.Err() == nil && s.ctx.Err() == nil {
		if s.c.Quit() == nil {
			return
		}
	}
	s.c.Close()
}

// step is the outcome of one command: cause(err), or, when go-smtp took a
// reply cut by a cap for a whole one, the cap's error.
func (s *smtpSession) step(err error) error {
	if err == nil {
		return s.lim.Err()
	}
	return s.cause(err)
}

// cause turns a go-smtp error into the server's reply or the underlying
// network error (a timeout stays a timeout); a reply beyond a cap is
// `reply too long (N bytes)`.
func (s *smtpSession) cause(err error) error {
	if lerr := s.lim.Err(); lerr != nil {
		return lerr
	}
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return &smtpReply{se}
	}
	if _, _, ioErr := s.conn.Activity(); ioErr != nil {
		return netx.Cause(s.ctx, ioErr)
	}
	return netx.Cause(s.ctx, err)
}

// greetedConn hands a protocol library a connection on which the greeting
// has already happened (before STARTTLS): its first reads return rest, a
// synthetic greeting and any bytes read ahead, then the connection's own
// bytes.
type greetedConn struct {
	net.Conn
	rest []byte
}

func (g *greetedConn) Read(p []byte) (int, error) {
	if len(g.rest) > 0 {
		n := copy(p, g.rest)
		g.rest = g.rest[n:]
		return n, nil
	}
	return g.Conn.Read(p)
}
