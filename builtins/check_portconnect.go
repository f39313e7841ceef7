package builtins

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/monsta/monsta/internal/netx"
	"github.com/monsta/monsta/internal/tcpprobe"
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
			{Name: "timeout", Default: "10", Parse: runtime.PositiveSeconds, Help: "Seconds (or 90s, 5m, 2h, 1d) before the check fails."},
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
	dialer *netx.Dialer // the system resolver; tests set their own
	// An IP address (without a zone) is probed by the prober, when there
	// is one, instead of dialled: a third less CPU per check.
	ip     netip.AddrPort
	prober *tcpprobe.Prober
}

// systemDialer is shared by every portconnect check: it holds no state, and
// one per check would cost memory at 10,000 checks. The check closes within
// its deadline, so keep-alive would only cost system calls.
var systemDialer = netx.NewDialer(nil).WithoutKeepAlive()

// sharedProber is the prober of every portconnect check, started by the
// first check of an IP address; nil where the system has none.
var sharedProber = sync.OnceValue(func() *tcpprobe.Prober {
	p, err := tcpprobe.New()
	if err != nil {
		return nil
	}
	return p
})

func newPortconnect(o *runtime.Options) (runtime.Check, error) {
	host := o.String("host")
	if host == "" {
		return nil, errors.New("host: must not be empty")
	}
	c := &Portconnect{addr: net.JoinHostPort(host, strconv.Itoa(o.Int("port"))), dialer: systemDialer}
	if e := o.String("expect"); e != "" {
		c.expect = []byte(e)
	}
	if ip, err := netip.ParseAddr(host); err == nil && ip.Zone() == "" {
		c.ip, c.prober = netip.AddrPortFrom(ip, uint16(o.Int("port"))), sharedProber()
	}
	return c, nil
}

// bannerReaders hold the read buffers of banner checks, so that a run costs
// no 4 KiB allocation and an idle check holds no buffer. Their size lets
// netx.ReadLine return a line of bannerMax bytes without copying it.
var bannerReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, bannerMax+2) }}

// bannerBufs hold the prober's read buffers, for the same reasons.
var bannerBufs = sync.Pool{New: func() any { b := make([]byte, bannerMax+2); return &b }}

// Run implements runtime.Check.
func (c *Portconnect) Run(ctx context.Context) (runtime.Stats, error) {
	if c.prober != nil {
		return c.probe(ctx)
	}
	start := time.Now()
	conn, err := c.dialer.Dial(ctx, c.addr)
	if err != nil {
		return nil, err
	}
	connected := time.Now()
	stats := runtime.Stats{"connect_seconds": connected.Sub(start).Seconds()}
	if c.expect == nil {
		netx.Abort(conn)
		return stats, nil
	}
	bc := netx.Bind(ctx, conn)
	defer netx.Abort(bc)
	r := bannerReaders.Get().(*bufio.Reader)
	r.Reset(bc)
	defer func() {
		r.Reset(nil)
		bannerReaders.Put(r)
	}()
	line, err := netx.ReadLine(r, bannerMax)
	return c.judge(ctx, stats, line, time.Since(connected), err)
}

// probe is Run by the prober.
func (c *Portconnect) probe(ctx context.Context) (runtime.Stats, error) {
	var buf []byte
	if c.expect != nil {
		bp := bannerBufs.Get().(*[]byte)
		defer bannerBufs.Put(bp)
		buf = *bp
	}
	r, err := c.prober.Probe(ctx, c.ip, buf)
	if !r.Connected {
		return nil, &netx.Error{Op: "connect", Addr: c.addr, Err: err}
	}
	stats := runtime.Stats{"connect_seconds": r.Connect.Seconds()}
	if c.expect == nil {
		return stats, nil
	}
	return c.judge(ctx, stats, r.Line, r.LineAfter, err)
}

// judge checks the banner line read after the connect (err: the read's)
// against expect. A banner longer than bannerMax is judged by its first
// bannerMax bytes.
func (c *Portconnect) judge(ctx context.Context, stats runtime.Stats, line []byte, after time.Duration, err error) (runtime.Stats, error) {
	switch {
	case err == io.EOF:
		return stats, &netx.Error{Op: "read banner from", Addr: c.addr,
			Err: errors.New("connection closed before the server sent a line")}
	case err != nil && err != netx.ErrLineTooLong:
		return stats, &netx.Error{Op: "read banner from", Addr: c.addr, Err: netx.Cause(ctx, err)}
	}
	stats["banner_seconds"] = after.Seconds()
	if !bytes.Contains(line, c.expect) {
		return stats, fmt.Errorf("banner %q does not contain %q", clip(line, 200), c.expect)
	}
	return stats, nil
}

// clip shortens b to at most n bytes for an error message.
func clip(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}
