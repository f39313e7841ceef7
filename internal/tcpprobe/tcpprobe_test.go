//go:build linux

package tcpprobe

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/monsta/monsta/internal/fdlimit"
	"github.com/monsta/monsta/internal/netx"
	"github.com/monsta/monsta/internal/testkit/loopback"
)

func newProber(t *testing.T) *Prober {
	t.Helper()
	p, err := New()
	if err != nil {
		t.Fatalf("New() error = %v", err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// send writes the parts with a pause between them (so that they arrive as
// separate edges), then waits for the prober's reset.
func send(parts ...string) func(net.Conn) {
	return func(c net.Conn) {
		defer c.Close()
		for i, s := range parts {
			if i > 0 {
				time.Sleep(20 * time.Millisecond)
			}
			if _, err := io.WriteString(c, s); err != nil {
				return
			}
		}
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		c.Read(make([]byte, 1))
	}
}

func sendAndClose(s string) func(net.Conn) {
	return func(c net.Conn) {
		io.WriteString(c, s)
		c.Close()
	}
}

func addrPort(t *testing.T, addr string) netip.AddrPort {
	t.Helper()
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return ap
}

func TestProbe(t *testing.T) {
	t.Parallel()
	p := newProber(t)
	long := strings.Repeat("x", 100)
	tests := []struct {
		name     string
		serve    func(net.Conn) // nil: a silent peer
		addr     string         // instead of serve
		bufSize  int            // 0: connect only
		timeout  time.Duration
		cancel   bool
		want     string // the line
		wantErr  error
		wantConn bool
	}{
		{name: "crlf line", serve: send("220 mail ESMTP\r\n"), bufSize: 66, want: "220 mail ESMTP", wantConn: true},
		{name: "line in fragments", serve: send("22", "0 ready", "\n"), bufSize: 66, want: "220 ready", wantConn: true},
		{name: "first of two lines", serve: send("hello\r\n220\r\n"), bufSize: 66, want: "hello", wantConn: true},
		{name: "line then close, no ending", serve: sendAndClose("SSH-2.0-x"), bufSize: 66, want: "SSH-2.0-x", wantConn: true},
		{name: "closed before a byte", serve: sendAndClose(""), bufSize: 66, wantErr: io.EOF, wantConn: true},
		{name: "line too long", serve: send(long + "\n"), bufSize: 12, want: long[:10], wantErr: netx.ErrLineTooLong, wantConn: true},
		{name: "connect only", bufSize: 0, wantConn: true},
		{name: "refused", addr: closedAddr(t), wantErr: syscall.ECONNREFUSED},
		{name: "silent peer", bufSize: 66, timeout: 100 * time.Millisecond, wantErr: os.ErrDeadlineExceeded, wantConn: true},
		{name: "cancelled", bufSize: 66, cancel: true, wantErr: context.Canceled, wantConn: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			addr := tt.addr
			switch {
			case addr != "":
			case tt.serve == nil:
				addr = loopback.Silent(t)
			default:
				addr = loopback.Serve(t, tt.serve)
			}
			timeout := tt.timeout
			if timeout == 0 {
				timeout = 10 * time.Second
			}
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			if tt.cancel {
				time.AfterFunc(50*time.Millisecond, cancel)
			}
			var buf []byte
			if tt.bufSize > 0 {
				buf = make([]byte, tt.bufSize)
			}
			r, err := p.Probe(ctx, addrPort(t, addr), buf)
			if !errors.Is(err, tt.wantErr) || (err != nil) != (tt.wantErr != nil) {
				t.Fatalf("Probe() error = %v, want %v", err, tt.wantErr)
			}
			if string(r.Line) != tt.want {
				t.Errorf("Probe() line = %q, want %q", r.Line, tt.want)
			}
			if r.Connected != tt.wantConn {
				t.Errorf("Probe() connected = %v, want %v", r.Connected, tt.wantConn)
			}
			if tt.want != "" && (r.LineAfter <= 0 || r.Connect <= 0) {
				t.Errorf("Probe() = %+v, want positive connect and line times", r)
			}
		})
	}
}

// closedAddr returns a loopback address nobody listens on.
func closedAddr(t *testing.T) string { return "127.0.0.1:" + strconv.Itoa(loopback.ClosedPort(t)) }

func TestProbeIPv6(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Fatalf("this host has no IPv6 loopback: %v", err)
	}
	ln.Close()
	p := newProber(t)
	addr := loopback.ServeOn(t, "[::1]:0", send("+OK\r\n"))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := p.Probe(ctx, addrPort(t, addr), make([]byte, 66))
	if err != nil || string(r.Line) != "+OK" {
		t.Fatalf("Probe(%s) = %q, %v; want +OK, nil", addr, r.Line, err)
	}
}

// TestProbeMany runs probes of every outcome at once, so that slots are
// reused while events of their earlier probes may still arrive, and checks
// each outcome and that no descriptor is left open.
func TestProbeMany(t *testing.T) {
	p := newProber(t)
	refused := closedAddr(t)
	before := openFDs(t)
	banner, stopBanner := loopback.ServeStop(t, send("220 ok\r\n"))
	silent, stopSilent := loopback.SilentStop(t)
	var wg sync.WaitGroup
	errs := make(chan error, 1000)
	for i := range 600 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 66)
			var addr string
			timeout := 10 * time.Second
			switch i % 3 {
			case 0:
				addr = banner
			case 1:
				addr, timeout = silent, time.Duration(i%7)*time.Millisecond
			case 2:
				addr = refused
			}
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			r, err := p.Probe(ctx, addrPort(t, addr), buf)
			switch {
			case i%3 == 0 && (err != nil || string(r.Line) != "220 ok"):
				errs <- errors.New("banner: " + string(r.Line) + ": " + errString(err))
			case i%3 == 1 && !errors.Is(err, os.ErrDeadlineExceeded):
				errs <- errors.New("silent: " + errString(err))
			case i%3 == 2 && !errors.Is(err, syscall.ECONNREFUSED):
				errs <- errors.New("refused: " + errString(err))
			}
		}()
	}
	wg.Wait()
	stopBanner()
	stopSilent()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	p.Close() // and its idle sockets
	if after := openFDs(t); after > before {
		t.Errorf("open descriptors: %d before, %d after", before, after)
	}
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// TestProbeResets checks that the prober closes with a reset, as
// netx.Abort does, so that no socket waits in TIME_WAIT.
func TestProbeResets(t *testing.T) {
	t.Parallel()
	p := newProber(t)
	peerErr := make(chan error, 1)
	addr := loopback.Serve(t, func(c net.Conn) {
		defer c.Close()
		io.WriteString(c, "220\r\n")
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, err := c.Read(make([]byte, 1))
		peerErr <- err
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := p.Probe(ctx, addrPort(t, addr), make([]byte, 66)); err != nil {
		t.Fatalf("Probe() error = %v", err)
	}
	if err := <-peerErr; !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("peer's read after the probe = %v, want connection reset", err)
	}
}

// TestProbeReuse runs probes of every outcome one after the other, so that
// each reuses the socket the one before left, and checks each outcome.
func TestProbeReuse(t *testing.T) {
	t.Parallel()
	p := newProber(t)
	banner := loopback.Serve(t, send("220 ok\r\n"))
	closer := loopback.Serve(t, sendAndClose(""))
	silent := loopback.Silent(t)
	refused := closedAddr(t)
	type step struct {
		addr    string
		buf     bool
		timeout time.Duration
		want    string
		wantErr error
	}
	steps := []step{
		{addr: banner, buf: true, want: "220 ok"},
		{addr: silent, buf: true, timeout: 30 * time.Millisecond, wantErr: os.ErrDeadlineExceeded},
		{addr: banner, buf: true, want: "220 ok"},
		{addr: refused, buf: true, wantErr: syscall.ECONNREFUSED},
		{addr: banner, buf: false},
		{addr: closer, buf: true, wantErr: io.EOF},
		{addr: silent, buf: false},
		{addr: refused, buf: false, wantErr: syscall.ECONNREFUSED},
		{addr: banner, buf: true, want: "220 ok"},
	}
	for round := range 3 {
		for i, s := range steps {
			timeout := s.timeout
			if timeout == 0 {
				timeout = 10 * time.Second
			}
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			var buf []byte
			if s.buf {
				buf = make([]byte, 66)
			}
			r, err := p.Probe(ctx, addrPort(t, s.addr), buf)
			cancel()
			if !errors.Is(err, s.wantErr) || (err != nil) != (s.wantErr != nil) || string(r.Line) != s.want {
				t.Errorf("round %d step %d (%s): Probe() = %q, %v; want %q, %v", round, i, s.addr, r.Line, err, s.want, s.wantErr)
			}
		}
	}
	if n := len(p.slots); n != 1 {
		t.Errorf("%d sockets used for probes one after the other, want 1", n)
	}
}

// TestProbeBudget: a probe that needs a new socket and finds the budget
// spent fails with fdlimit.ErrExhausted; a socket holds its descriptor
// while the prober keeps it, and gives it back when closed.
func TestProbeBudget(t *testing.T) {
	t.Parallel()
	p := newProber(t)
	b := fdlimit.NewBudget(1)
	p.fds = b
	if err := b.Acquire(); err != nil {
		t.Fatal(err)
	}
	banner := addrPort(t, loopback.Serve(t, send("220 ok\r\n")))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := p.Probe(ctx, banner, make([]byte, 66)); !errors.Is(err, fdlimit.ErrExhausted) {
		t.Fatalf("Probe() with the budget spent error = %v, want %v", err, fdlimit.ErrExhausted)
	}
	b.Release()
	for i := range 3 {
		r, err := p.Probe(ctx, banner, make([]byte, 66))
		if err != nil || string(r.Line) != "220 ok" {
			t.Fatalf("Probe() #%d = %q, %v; want \"220 ok\", nil", i+1, r.Line, err)
		}
		if got := b.InUse(); got != 1 {
			t.Errorf("InUse() after probe #%d = %d, want 1 (the idle socket)", i+1, got)
		}
	}
	p.Close()
	if got := b.InUse(); got != 0 {
		t.Errorf("InUse() after Close = %d, want 0", got)
	}
}
