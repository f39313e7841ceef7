package builtins

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/monsta/monsta/runtime"
)

// bannerMax caps the first line portconnect reads from the server.
const bannerMax = 4096

func portconnectDescriptor() runtime.Descriptor {
	return runtime.Descriptor{
		Kind:        runtime.KindCheck,
		Name:        "portconnect",
		Description: "open a TCP connection, optionally expecting a banner",
		Options: []runtime.Option{
			{Name: "host", Required: true, Help: "Host name or address to connect to."},
			{Name: "port", Required: true, Parse: runtime.Port, Help: "TCP port to connect to."},
			{Name: "timeout", Default: "10", Parse: runtime.PositiveSeconds, Help: "Seconds before the check fails."},
			{Name: "expect", Help: "Substring required in the first line (at most 4 KiB) the server sends; empty: the connect suffices."},
		},
		Example: `[Check_ssh]
type = portconnect
host = 127.0.0.1
port = 22
expect = SSH-2.0
`,
		NewCheck: newPortconnect,
	}
}

// Portconnect passes when a TCP connection opens and, if expect is set, the
// first line the server sends contains it.
type Portconnect struct {
	addr   string // host:port, bracketed for IPv6 literals
	expect []byte
	dialer *net.Dialer // tcpDialer; tests set their own
}

// tcpDialer is shared by every portconnect check: a zero net.Dialer holds no
// state, and one per check would cost memory at 10,000 checks.
var tcpDialer net.Dialer

func newPortconnect(o *runtime.Options) (runtime.Check, error) {
	host := o.String("host")
	if host == "" {
		return nil, errors.New("host: must not be empty")
	}
	c := &Portconnect{addr: net.JoinHostPort(host, strconv.Itoa(o.Int("port"))), dialer: &tcpDialer}
	if e := o.String("expect"); e != "" {
		c.expect = []byte(e)
	}
	return c, nil
}

// bannerBufs holds the read buffers of banner checks, so that a run costs no
// 4 KiB allocation and an idle check holds no buffer.
var bannerBufs = sync.Pool{New: func() any { return new([bannerMax]byte) }}

// Run implements runtime.Check.
func (c *Portconnect) Run(ctx context.Context) (runtime.Stats, error) {
	start := time.Now()
	// DialContext, not DialTCP with a zero local address: that binds
	// 0.0.0.0:0 before connecting, a system call and a local port chosen
	// without regard to the destination (ports in TIME_WAIT run out).
	conn, err := c.dialer.DialContext(ctx, "tcp", c.addr)
	if err != nil {
		return nil, &stepError{step: "connect", addr: c.addr, err: err}
	}
	defer abortClose(conn)
	connected := time.Now()
	stats := runtime.Stats{"connect_seconds": connected.Sub(start).Seconds()}
	if c.expect == nil {
		return stats, nil
	}
	if dl, ok := ctx.Deadline(); ok {
		if err := conn.SetDeadline(dl); err != nil {
			return stats, &stepError{step: "set deadline on", addr: c.addr, err: err}
		}
	}
	// A cancel (as opposed to the deadline) also interrupts the read.
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	buf := bannerBufs.Get().(*[bannerMax]byte)
	defer bannerBufs.Put(buf)
	line, err := readLine(conn, buf[:])
	if err != nil {
		if errors.Is(ctx.Err(), context.Canceled) {
			err = context.Canceled
		}
		return stats, &stepError{step: "read banner from", addr: c.addr, err: err}
	}
	stats["banner_seconds"] = time.Since(connected).Seconds()
	if !bytes.Contains(line, c.expect) {
		return stats, fmt.Errorf("banner %q does not contain %q", clip(line, 200), c.expect)
	}
	return stats, nil
}

// abortClose closes conn with a reset instead of a FIN, as HAProxy's health
// checks do: the probing side then keeps no socket in TIME_WAIT for a
// minute, which at a thousand checks a second would exhaust the ephemeral
// ports towards one target.
func abortClose(conn net.Conn) {
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	conn.Close()
}

// readLine reads until the first newline, the end of buf or the end of the
// stream and returns the line without its line ending. A stream that ends
// before any byte is an error.
func readLine(r io.Reader, buf []byte) ([]byte, error) {
	n := 0
	for n < len(buf) {
		m, err := r.Read(buf[n:])
		if i := bytes.IndexByte(buf[n:n+m], '\n'); i >= 0 {
			n += i
			break
		}
		n += m
		if err != nil {
			if err == io.EOF && n > 0 {
				break
			}
			if err == io.EOF {
				return nil, errors.New("connection closed before the server sent a line")
			}
			return nil, err
		}
	}
	return bytes.TrimRight(buf[:n], "\r"), nil
}

// clip shortens b to at most n bytes for an error message.
func clip(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}

// stepError names the step of a network dialogue that failed and the peer,
// e.g. "connect 127.0.0.1:80: connection refused". Its text leaves out the
// layers of net.OpError and os.SyscallError that repeat the address and the
// system call; Unwrap still reaches them.
type stepError struct {
	step string // e.g. "connect"
	addr string
	err  error
}

func (e *stepError) Error() string { return e.step + " " + e.addr + ": " + causeText(e.err) }

func (e *stepError) Unwrap() error { return e.err }

// causeText returns the text of err without the net.OpError and
// os.SyscallError wrappers around its cause.
func causeText(err error) string {
	for {
		switch e := err.(type) {
		case *net.OpError:
			if e.Err == nil {
				return e.Error()
			}
			err = e.Err
		case *os.SyscallError:
			if e.Err == nil {
				return e.Error()
			}
			err = e.Err
		default:
			return err.Error()
		}
	}
}
