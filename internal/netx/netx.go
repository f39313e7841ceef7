// Package netx holds the network helpers every probe shares, so that the
// built-in checks, the notifiers and the Lua modules behave the same way:
// dialling with the deadline of a context, one cleaner for error causes, a
// connection bound to a context's deadline, closing with a reset, a DNS
// exchange that ends when its context is cancelled, and
// reading one line with a byte cap.
package netx

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"time"

	"github.com/monsta/monsta/internal/fdlimit"
)

// Dialer opens TCP connections. It holds no state beyond its resolver, so
// one Dialer serves any number of checks at once.
type Dialer struct {
	d net.Dialer
}

// NewDialer returns a Dialer that looks host names up with r (nil: the
// system resolver).
func NewDialer(r *net.Resolver) *Dialer { return &Dialer{d: net.Dialer{Resolver: r}} }

// WithoutKeepAlive returns a copy of d that leaves TCP keep-alive off. A
// probe that connects, exchanges a line and closes within its deadline never
// idles long enough for a keep-alive probe, and turning it on costs four
// system calls per connection.
func (d *Dialer) WithoutKeepAlive() *Dialer {
	c := *d
	c.d.KeepAlive = -1
	return &c
}

// std is the Dialer of Dial; it is never modified.
var std Dialer

// Dial is Dialer.Dial with the system resolver.
func Dial(ctx context.Context, addr string) (net.Conn, error) { return std.Dial(ctx, addr) }

// Dial opens a TCP connection to addr ("host:port") within ctx's deadline.
// A failure is an *Error reading `connect ADDR: connection refused`.
//
// It dials with DialContext and never with DialTCP and a zero local
// address: that binds 0.0.0.0:0 before connecting, an extra system call
// and a local port chosen without regard to the destination, so that ports
// in TIME_WAIT run out at a thousand checks a second.
func (d *Dialer) Dial(ctx context.Context, addr string) (net.Conn, error) {
	return d.DialNetwork(ctx, "tcp", addr)
}

// DialNetwork is Dial on network "tcp", "tcp4" or "tcp6" (udp too), for an
// ip_version option or as http.Transport's DialContext. The connection
// holds a descriptor of fdlimit.Checks until it is closed; with none left,
// the error is `connect ADDR: descriptor budget exhausted`.
func (d *Dialer) DialNetwork(ctx context.Context, network, addr string) (net.Conn, error) {
	fds := fdlimit.Checks()
	if err := fds.Acquire(); err != nil {
		return nil, &Error{Op: "connect", Addr: addr, Err: err}
	}
	c, err := d.d.DialContext(ctx, network, addr)
	if err != nil {
		fds.Release()
		return nil, &Error{Op: "connect", Addr: addr, Err: Cause(ctx, err)}
	}
	return fds.Conn(c), nil
}

// DialNetwork is Dialer.DialNetwork with the system resolver; it fits
// http.Transport's DialContext.
func DialNetwork(ctx context.Context, network, addr string) (net.Conn, error) {
	return std.DialNetwork(ctx, network, addr)
}

// Error is a failed step of a dialogue with a peer, e.g. `connect
// 127.0.0.1:80: connection refused` or `read banner from 127.0.0.1:25: i/o
// timeout`. Err is the cleaned cause (see Cause).
type Error struct {
	Op   string // the step: "connect", "read banner from"
	Addr string // the peer as host:port
	Err  error
}

// Error implements error.
func (e *Error) Error() string { return e.Op + " " + e.Addr + ": " + e.Err.Error() }

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Abort closes c with a reset instead of a FIN (SO_LINGER 0), as HAProxy's
// health checks do: the probing side then keeps no socket in TIME_WAIT for
// a minute, which at a thousand checks a second would exhaust the ephemeral
// ports towards one target. Unsent data is dropped. It sees through *Conn
// and *tls.Conn to the TCP connection.
func Abort(c net.Conn) error {
	ResetOnClose(c)
	return c.Close()
}

// ResetOnClose makes a later Close of c send a reset (SO_LINGER 0), as
// Abort does, for a connection that someone else closes (an
// http.Transport without keep-alive).
func ResetOnClose(c net.Conn) {
	if tc := tcpConn(c); tc != nil {
		_ = tc.SetLinger(0)
	}
}

// tcpConn finds the *net.TCPConn below c's wrappers, or nil.
func tcpConn(c net.Conn) *net.TCPConn {
	for {
		switch x := c.(type) {
		case *net.TCPConn:
			return x
		case *Conn:
			c = x.Conn
		case interface{ NetConn() net.Conn }: // *tls.Conn
			c = x.NetConn()
		default:
			return nil
		}
	}
}

// expired is a deadline in the past: setting it ends pending reads and
// writes at once.
var expired = time.Unix(1, 0)

// Conn is a net.Conn bound to a context: ctx's deadline is set on it at
// once, deadlines set later (by a protocol library such as go-smtp,
// go-imap or mellium, which set and clear their own) are capped at it, and
// once ctx is done every pending and later read and write fails at once.
// It is the one deadline mechanism of monsta's probes.
//
// It also records what a dialogue needs to name the step that failed: when
// the first byte arrived and whether anything was written since Mark, and
// the first I/O error.
type Conn struct {
	net.Conn
	limit time.Time // ctx's deadline; zero: none
	stop  func() bool

	mu        sync.Mutex
	done      bool      // ctx ended: every deadline is in the past
	firstRead time.Time // first byte read since Mark
	written   int64     // bytes written since Mark
	ioErr     error
}

// Bind wraps c for ctx and applies ctx's deadline. Close releases the
// watch on ctx.
func Bind(ctx context.Context, c net.Conn) *Conn {
	bc := &Conn{Conn: c}
	bc.limit, _ = ctx.Deadline()
	if !bc.limit.IsZero() {
		_ = c.SetDeadline(bc.limit)
	}
	bc.stop = context.AfterFunc(ctx, func() {
		bc.mu.Lock()
		defer bc.mu.Unlock()
		bc.done = true
		_ = bc.Conn.SetDeadline(expired)
	})
	return bc
}

// CloseOnDone sets ctx's deadline on c and closes c once ctx is done, which
// ends pending reads and writes at once, without wrapping c: for
// connections whose concrete type a library needs (miekg/dns reads UDP
// only from a *net.UDPConn) and that the library sets deadlines on itself.
// Prefer Bind. stop releases the watch on ctx.
func CloseOnDone(ctx context.Context, c net.Conn) (stop func() bool) {
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	return context.AfterFunc(ctx, func() { _ = c.Close() })
}

// set applies t, capped at the limit, with f. The lock is held across f so
// that a deadline set concurrently with the end of ctx cannot lift the
// expiry.
func (c *Conn) set(f func(time.Time) error, t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.done:
		t = expired
	case c.limit.IsZero():
	case t.IsZero() || t.After(c.limit):
		t = c.limit
	}
	return f(t)
}

// SetDeadline implements net.Conn, capped at the context's deadline.
func (c *Conn) SetDeadline(t time.Time) error { return c.set(c.Conn.SetDeadline, t) }

// SetReadDeadline implements net.Conn, capped at the context's deadline.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.set(c.Conn.SetReadDeadline, t) }

// SetWriteDeadline implements net.Conn, capped at the context's deadline.
func (c *Conn) SetWriteDeadline(t time.Time) error { return c.set(c.Conn.SetWriteDeadline, t) }

// Read implements net.Conn and records the first byte's arrival and the
// first error other than the end of the stream.
func (c *Conn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 || err != nil {
		c.mu.Lock()
		if n > 0 && c.firstRead.IsZero() {
			c.firstRead = time.Now()
		}
		if err != nil && c.ioErr == nil && !errors.Is(err, io.EOF) {
			c.ioErr = err
		}
		c.mu.Unlock()
	}
	return n, err
}

// Write implements net.Conn and records that the client spoke.
func (c *Conn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.mu.Lock()
	c.written += int64(n)
	if err != nil && c.ioErr == nil {
		c.ioErr = err
	}
	c.mu.Unlock()
	return n, err
}

// Close implements net.Conn and stops watching the context.
func (c *Conn) Close() error {
	c.stop()
	return c.Conn.Close()
}

// Mark starts a new step (the greeting after a TLS handshake, say):
// Activity reports reads and writes from here on.
func (c *Conn) Mark() {
	c.mu.Lock()
	c.firstRead, c.written = time.Time{}, 0
	c.mu.Unlock()
}

// Activity returns when the first byte since Mark arrived (zero: none),
// whether anything was written since Mark, and the first I/O error of the
// connection.
func (c *Conn) Activity() (first time.Time, wrote bool, ioErr error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.firstRead, c.written > 0, c.ioErr
}
