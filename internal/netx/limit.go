package netx

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
)

// ErrTooLong is what every *TooLongError is (errors.Is): a peer sent more
// than a cap allows.
var ErrTooLong = errors.New("reply too long")

// TooLongError is a reply of a peer that exceeded a cap of Limits (or of
// ReadBody). Its text is always `reply too long (N bytes)`, N being the
// bytes the reply had when reading stopped (at least the cap plus one), or
// the size an IMAP literal or a Content-Length announced.
type TooLongError struct {
	N int64
	// Writes is how many writes of ours came before the reply (0: it was
	// the greeting). A library may read a greeting cut by the cap as
	// complete and write its next command before it sees the error.
	Writes int64
}

// Error implements error.
func (e *TooLongError) Error() string { return fmt.Sprintf("reply too long (%d bytes)", e.N) }

// Is makes errors.Is(err, ErrTooLong) true.
func (e *TooLongError) Is(target error) bool { return target == ErrTooLong }

// Limits caps what a peer may send in one reply: everything it sends
// between two writes of ours (the greeting is the reply before the first
// write). A zero field is no cap.
type Limits struct {
	Reply   int64 // bytes of one reply
	Line    int   // bytes of one line, its "\n" included
	Lines   int   // lines of one reply
	Literal int64 // bytes an IMAP literal ({N} at the end of a line) may announce
	// Total caps the bytes of the whole connection, for a limit below
	// TLS: crypto/tls writes on its own (a KeyUpdate the server asks
	// for), which would start a new reply whenever the server likes.
	Total int64
}

// The caps of monsta's protocol clients; README.md names them.
var (
	// SMTP caps an SMTP reply (a multi-line EHLO reply, say): RFC 5321
	// allows 512 bytes a line, EHLO replies have a dozen lines. The line
	// cap is below go-smtp's own (2000), so that ours trips first.
	SMTP = Limits{Reply: 64 << 10, Line: 1024, Lines: 1000}
	// IMAP caps what an IMAP server sends in answer to one command: the
	// greeting, a line (so an atom), a literal.
	IMAP = Limits{Reply: 1 << 20, Line: 8 << 10, Literal: 64 << 10}
	// XMPP caps one reply of an XMPP stream, which also bounds every XML
	// token, attribute and element the decoder buffers, and the whole
	// stream of a notification (features, SASL, bind, bounces).
	XMPP = Limits{Reply: 256 << 10, Total: 1 << 20}
	// Preamble caps each reply of a STARTTLS preamble (smtp, imap, pop3,
	// xmpp, ldap, postgres) before the TLS handshake.
	Preamble = Limits{Reply: 64 << 10, Line: 4096, Lines: 1000}
)

// HeaderMax caps the header of an HTTP response to a notifier (the
// http check allows 1 MiB).
const HeaderMax = 64 << 10

// BodyMax is the cap of a response body that monsta reads whole (the http
// check's body, the answers of webhook, alertmanager and Clickatell).
const BodyMax = 1 << 20

// LimitedConn is a net.Conn whose reads fail with a *TooLongError once the
// peer exceeds its Limits; every later read fails the same way (Err).
// Writes start a new reply. It buffers nothing: the caps bound what the
// protocol library above it can have buffered. Put it above TLS, so that
// it counts the plaintext.
type LimitedConn struct {
	net.Conn
	lim Limits

	mu     sync.Mutex // Read and Write may run in different goroutines (go-imap)
	reply  int64
	total  int64
	line   int
	lines  int
	skip   int64    // bytes of a literal still to come, not scanned for lines
	tail   [24]byte // the end of the current line, for an IMAP literal's {N}
	ntail  int
	writes int64
	err    error
}

// Limit wraps c with the caps of l.
func Limit(c net.Conn, l Limits) *LimitedConn { return &LimitedConn{Conn: c, lim: l} }

// NetConn returns the wrapped connection (Abort and ResetOnClose see
// through it).
func (c *LimitedConn) NetConn() net.Conn { return c.Conn }

// Err returns the *TooLongError once a cap was exceeded, else nil.
func (c *LimitedConn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Read implements net.Conn. A read that exceeds a cap returns no bytes.
func (c *LimitedConn) Read(p []byte) (int, error) {
	if err := c.Err(); err != nil {
		return 0, err
	}
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.mu.Lock()
		lerr := c.account(p[:n])
		c.mu.Unlock()
		if lerr != nil {
			return 0, lerr
		}
	}
	return n, err
}

// Write implements net.Conn; it starts a new reply.
func (c *LimitedConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.reply, c.lines = 0, 0
	c.writes++
	c.mu.Unlock()
	return c.Conn.Write(p)
}

// account adds b to the current reply and checks the caps.
func (c *LimitedConn) account(b []byte) error {
	c.reply += int64(len(b))
	c.total += int64(len(b))
	switch {
	case c.lim.Reply > 0 && c.reply > c.lim.Reply:
		return c.trip(c.reply)
	case c.lim.Total > 0 && c.total > c.lim.Total:
		return c.trip(c.total)
	}
	for len(b) > 0 {
		if c.skip > 0 {
			k := min(c.skip, int64(len(b)))
			c.skip -= k
			b = b[k:]
			continue
		}
		i := bytes.IndexByte(b, '\n')
		seg := b
		if i >= 0 {
			seg = b[:i+1]
		}
		b = b[len(seg):]
		if err := c.addLine(seg, i >= 0); err != nil {
			return err
		}
	}
	return nil
}

// addLine adds seg, a part of a line, to the current line; ended tells
// whether seg ends it.
func (c *LimitedConn) addLine(seg []byte, ended bool) error {
	c.line += len(seg)
	if c.lim.Line > 0 && c.line > c.lim.Line {
		return c.trip(c.reply)
	}
	if c.lim.Literal > 0 {
		c.keepTail(seg)
	}
	if !ended {
		return nil
	}
	c.lines++
	c.line = 0
	if c.lim.Lines > 0 && c.lines > c.lim.Lines {
		return c.trip(c.reply)
	}
	if c.lim.Literal > 0 {
		n, ok := literalSize(c.tail[:c.ntail])
		c.ntail = 0
		if ok && n > c.lim.Literal {
			return c.trip(n)
		}
		if ok {
			c.skip = n
		}
	}
	return nil
}

// keepTail keeps the last bytes of the current line.
func (c *LimitedConn) keepTail(seg []byte) {
	if len(seg) >= len(c.tail) {
		c.ntail = copy(c.tail[:], seg[len(seg)-len(c.tail):])
		return
	}
	if over := c.ntail + len(seg) - len(c.tail); over > 0 {
		copy(c.tail[:], c.tail[over:c.ntail])
		c.ntail -= over
	}
	c.ntail += copy(c.tail[c.ntail:], seg)
}

// literalSize parses the {N} or {N+} that ends line (with its "\r\n"),
// the announcement of an IMAP literal (RFC 3501 4.3, RFC 7888). A number
// too large for int64 counts as the largest.
func literalSize(line []byte) (int64, bool) {
	line = bytes.TrimSuffix(bytes.TrimSuffix(line, []byte{'\n'}), []byte{'\r'})
	if len(line) < 3 || line[len(line)-1] != '}' {
		return 0, false
	}
	open := bytes.LastIndexByte(line, '{')
	if open < 0 {
		return 0, false
	}
	digits := bytes.TrimSuffix(line[open+1:len(line)-1], []byte{'+'})
	if len(digits) == 0 || bytes.ContainsFunc(digits, func(r rune) bool { return r < '0' || r > '9' }) {
		return 0, false
	}
	n, err := strconv.ParseInt(string(digits), 10, 64)
	if err != nil {
		n = 1<<63 - 1
	}
	return n, true
}

// trip records and returns the cap error of a reply of n bytes.
func (c *LimitedConn) trip(n int64) error {
	c.err = &TooLongError{N: n, Writes: c.writes}
	return c.err
}

// ReadBody reads r whole, at most max bytes; a longer r is a *TooLongError
// (N is max+1: reading stops there). Use it for every response body that
// is read whole.
func ReadBody(r io.Reader, max int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, max+1))
	if int64(len(b)) > max {
		return b[:max], &TooLongError{N: int64(len(b))}
	}
	return b, err
}

// httpHeaderCap is how net/http words a response header over
// MaxResponseHeaderBytes; it has no error value for it.
const httpHeaderCap = "server response headers exceeded "

// HTTPCause returns err, or a *TooLongError when err is net/http refusing
// a response header longer than the transport's MaxResponseHeaderBytes
// (N is that cap plus one).
func HTTPCause(err error) error {
	if err == nil {
		return nil
	}
	_, rest, ok := strings.Cut(err.Error(), httpHeaderCap)
	if !ok {
		return err
	}
	num, _, _ := strings.Cut(rest, " ")
	n, perr := strconv.ParseInt(num, 10, 64)
	if perr != nil {
		return err
	}
	return &TooLongError{N: n + 1}
}
