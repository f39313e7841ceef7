package netx

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/monsta/monsta/internal/testkit/loopback"
)

// guard runs f and fails the test if it has not returned within 10 s, so
// that a deadline that does not fire turns into a failure, not a hang.
func guard[T any](t *testing.T, f func() T) T {
	t.Helper()
	done := make(chan T, 1)
	go func() { done <- f() }()
	select {
	case v := <-done:
		return v
	case <-time.After(10 * time.Second):
		t.Fatal("did not return within 10 s")
		panic("unreachable")
	}
}

func TestDial(t *testing.T) {
	t.Parallel()
	open := loopback.Serve(t, func(c net.Conn) { c.Write([]byte("hi\n")) })
	closed := "127.0.0.1:" + strconv.Itoa(loopback.ClosedPort(t))
	silent := loopback.Silent(t)
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name    string
		ctx     context.Context
		addr    string
		wantErr string // the whole text; "" means success
		is      error
	}{
		{name: "open", ctx: context.Background(), addr: open},
		{name: "silent peer still connects", ctx: context.Background(), addr: silent},
		{name: "refused", ctx: context.Background(), addr: closed,
			wantErr: "connect " + closed + ": connection refused", is: syscall.ECONNREFUSED},
		{name: "cancelled", ctx: cancelled, addr: open,
			wantErr: "connect " + open + ": context canceled", is: context.Canceled},
		{name: "bad address", ctx: context.Background(), addr: "127.0.0.1",
			wantErr: "connect 127.0.0.1: address 127.0.0.1: missing port in address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := guard(t, func() error {
				c, err := Dial(tt.ctx, tt.addr)
				if c != nil {
					c.Close()
				}
				return err
			})
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Dial() error = %v, want nil", err)
				}
				return
			}
			if err == nil || err.Error() != tt.wantErr {
				t.Fatalf("Dial() error = %v, want %q", err, tt.wantErr)
			}
			var ne *Error
			if !errors.As(err, &ne) || ne.Op != "connect" || ne.Addr != tt.addr {
				t.Errorf("Dial() error = %#v, want an *Error for connect %s", err, tt.addr)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("Dial() error = %v, want errors.Is %v", err, tt.is)
			}
		})
	}
}

// TestDialResolver checks that a Dialer uses its resolver for host names:
// "localhost" comes from /etc/hosts, never from a DNS server.
func TestDialResolver(t *testing.T) {
	t.Parallel()
	addr := loopback.Serve(t, func(c net.Conn) {})
	asked := false
	d := NewDialer(&net.Resolver{PreferGo: true, Dial: func(context.Context, string, string) (net.Conn, error) {
		asked = true
		return nil, errors.New("no DNS server in tests")
	}})
	c, err := d.Dial(context.Background(), "localhost:"+loopback.PortString(addr))
	if err != nil {
		t.Fatalf("Dial(localhost) error = %v (resolver asked: %v)", err, asked)
	}
	c.Close()
}

func TestCause(t *testing.T) {
	t.Parallel()
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	opTimeout := &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}
	tests := []struct {
		name    string
		ctx     context.Context
		err     error
		want    string
		is      error
		timeout bool
		wantNil bool
	}{
		{name: "nil", ctx: context.Background(), wantNil: true},
		{name: "op and syscall layers", ctx: context.Background(),
			err:  &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)},
			want: "connection refused", is: syscall.ECONNREFUSED},
		{name: "op layer wrapped", ctx: nil, err: fmt.Errorf("handshake: %w", opTimeout),
			want: "i/o timeout", timeout: true},
		{name: "deadline becomes i/o timeout", ctx: nil, err: fmt.Errorf("x: %w", context.DeadlineExceeded),
			want: "i/o timeout", timeout: true},
		{name: "cancelled ctx wins", ctx: cancelled, err: opTimeout, want: "context canceled", is: context.Canceled},
		{name: "plain error kept", ctx: context.Background(), err: errors.New("550 no"), want: "550 no"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Cause(tt.ctx, tt.err)
			if tt.wantNil {
				if got != nil {
					t.Fatalf("Cause() = %v, want nil", got)
				}
				return
			}
			if got.Error() != tt.want {
				t.Errorf("Cause() = %q, want %q", got, tt.want)
			}
			if tt.is != nil && !errors.Is(got, tt.is) {
				t.Errorf("Cause() = %v, want errors.Is %v", got, tt.is)
			}
			var te interface{ Timeout() bool }
			if tt.timeout && !(errors.As(got, &te) && te.Timeout()) {
				t.Errorf("Cause() = %v, want a Timeout()", got)
			}
		})
	}
}

func TestIsTransport(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		err  error
		want bool
	}{
		{io.EOF, true},
		{fmt.Errorf("x: %w", io.ErrUnexpectedEOF), true},
		{&net.OpError{Op: "read", Err: syscall.ECONNRESET}, true},
		{net.ErrClosed, true},
		{context.Canceled, true},
		{os.ErrDeadlineExceeded, true},
		{errors.New("not-authorized"), false},
	} {
		if got := IsTransport(tt.err); got != tt.want {
			t.Errorf("IsTransport(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

// TestConnDeadline checks the three ways a bound connection ends a read on
// a silent peer: ctx's deadline, a cancel, and a library deadline later
// than ctx's (capped) or cleared (zero, capped too).
func TestConnDeadline(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		ctx    func() (context.Context, context.CancelFunc)
		lib    func(c net.Conn) // what a protocol library does before reading
		cancel bool
		is     error
	}{
		{name: "ctx deadline", ctx: short, is: os.ErrDeadlineExceeded},
		{name: "later deadline is capped", ctx: short, is: os.ErrDeadlineExceeded,
			lib: func(c net.Conn) { c.SetDeadline(time.Now().Add(time.Hour)) }},
		{name: "cleared deadline is capped", ctx: short, is: os.ErrDeadlineExceeded,
			lib: func(c net.Conn) { c.SetReadDeadline(time.Time{}) }},
		{name: "cancel", ctx: func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) },
			cancel: true, is: os.ErrDeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := tt.ctx()
			defer cancel()
			c := boundSilent(t, ctx)
			if tt.lib != nil {
				tt.lib(c)
			}
			if tt.cancel {
				time.AfterFunc(20*time.Millisecond, cancel)
			}
			err := guard(t, func() error { _, err := c.Read(make([]byte, 1)); return err })
			if !errors.Is(err, tt.is) {
				t.Fatalf("Read() error = %v, want %v", err, tt.is)
			}
			if _, _, ioErr := c.Activity(); ioErr == nil {
				t.Errorf("Activity() ioErr = nil, want the read error")
			}
			if tt.cancel && !errors.Is(Cause(ctx, err), context.Canceled) {
				t.Errorf("Cause() = %v, want context.Canceled", Cause(ctx, err))
			}
			// After the end of ctx no deadline lifts the expiry.
			c.SetDeadline(time.Now().Add(time.Hour))
			if err := guard(t, func() error { _, err := c.Read(make([]byte, 1)); return err }); err == nil {
				t.Errorf("Read() after ctx ended = nil error")
			}
		})
	}
}

func short() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 50*time.Millisecond)
}

func TestConnActivity(t *testing.T) {
	t.Parallel()
	addr := loopback.Serve(t, func(c net.Conn) {
		c.Write([]byte("220 hi\r\n"))
		io.Copy(io.Discard, c)
	})
	ctx := context.Background()
	raw, err := Dial(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	c := Bind(ctx, raw)
	defer c.Close()
	if first, wrote, ioErr := c.Activity(); !first.IsZero() || wrote || ioErr != nil {
		t.Fatalf("Activity() before I/O = %v, %v, %v", first, wrote, ioErr)
	}
	c.Read(make([]byte, 64))
	c.Write([]byte("EHLO x\r\n"))
	if first, wrote, ioErr := c.Activity(); first.IsZero() || !wrote || ioErr != nil {
		t.Errorf("Activity() = %v, %v, %v; want a first read, a write, no error", first, wrote, ioErr)
	}
	c.Mark()
	if first, wrote, _ := c.Activity(); !first.IsZero() || wrote {
		t.Errorf("Activity() after Mark = %v, %v; want none", first, wrote)
	}
}

// TestAbort checks that the peer sees a reset, through a *Conn and a
// *tls.Conn as well.
func TestAbort(t *testing.T) {
	t.Parallel()
	wrap := map[string]func(net.Conn) net.Conn{
		"tcp":   func(c net.Conn) net.Conn { return c },
		"bound": func(c net.Conn) net.Conn { return Bind(context.Background(), c) },
		"tls":   func(c net.Conn) net.Conn { return tls.Client(Bind(context.Background(), c), &tls.Config{}) },
	}
	for name, w := range wrap {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			addr, peerErr := readingPeer(t)
			raw, err := Dial(context.Background(), addr)
			if err != nil {
				t.Fatal(err)
			}
			if err := Abort(w(raw)); err != nil {
				t.Fatalf("Abort() error = %v", err)
			}
			wantReset(t, peerErr, "peer read after Abort")
		})
	}
}

func TestReadLine(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 100)
	tests := []struct {
		name    string
		in      string
		max     int
		want    []string // lines in order
		wantErr error    // after the lines
	}{
		{name: "crlf and lf", in: "220 a\r\nb\nc", max: 64, want: []string{"220 a", "b", "c"}, wantErr: io.EOF},
		{name: "empty stream", in: "", max: 64, wantErr: io.EOF},
		{name: "empty line", in: "\r\n", max: 64, want: []string{""}, wantErr: io.EOF},
		{name: "cut at max", in: long + "\n", max: 10, want: nil, wantErr: ErrLineTooLong},
		{name: "longer than buffer", in: long + "\nok\n", max: 200, want: []string{long, "ok"}, wantErr: io.EOF},
		{name: "longer than buffer and max", in: long + long + "\n", max: 150, wantErr: ErrLineTooLong},
		{name: "exactly max", in: long + "\n", max: 100, want: []string{long}, wantErr: io.EOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			addr := loopback.Serve(t, func(c net.Conn) { io.WriteString(c, tt.in) })
			raw, err := Dial(context.Background(), addr)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c := Bind(ctx, raw)
			defer c.Close()
			r := bufio.NewReaderSize(c, 16) // smaller than some lines
			for _, want := range tt.want {
				got, err := ReadLine(r, tt.max)
				if err != nil || string(got) != want {
					t.Fatalf("ReadLine() = %q, %v; want %q, nil", got, err, want)
				}
			}
			got, err := ReadLine(r, tt.max)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("ReadLine() = %q, %v; want error %v", got, err, tt.wantErr)
			}
			if err == ErrLineTooLong && len(got) != tt.max {
				t.Errorf("ReadLine() returned %d bytes with ErrLineTooLong, want %d", len(got), tt.max)
			}
		})
	}
}

// boundSilent dials a silent peer and binds the connection to ctx; it is
// closed when the test ends.
func boundSilent(t *testing.T, ctx context.Context) *Conn {
	t.Helper()
	raw, err := Dial(ctx, loopback.Silent(t))
	if err != nil {
		t.Fatal(err)
	}
	c := Bind(ctx, raw)
	t.Cleanup(func() { c.Close() })
	return c
}

// TestReadLineTimeout reads from a silent peer: the deadline of the bound
// connection ends the read with a timeout.
func TestReadLineTimeout(t *testing.T) {
	t.Parallel()
	ctx, cancel := short()
	defer cancel()
	c := boundSilent(t, ctx)
	err := guard(t, func() error { _, err := ReadLine(bufio.NewReader(c), 64); return err })
	if got := Cause(ctx, err); got == nil || got.Error() != "i/o timeout" {
		t.Errorf("ReadLine() error = %v (cause %v), want i/o timeout", err, got)
	}
}

func TestCloseOnDone(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	c, err := Dial(ctx, loopback.Silent(t))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	stop := CloseOnDone(ctx, c)
	defer stop()
	time.AfterFunc(20*time.Millisecond, cancel)
	err = guard(t, func() error { _, err := c.Read(make([]byte, 1)); return err })
	if !errors.Is(err, net.ErrClosed) {
		t.Errorf("Read() error = %v, want net.ErrClosed", err)
	}
}

// TestWithoutKeepAlive wants a dialer without keep-alive to connect, and
// its connection bound to a context to time out at its deadline.
func TestWithoutKeepAlive(t *testing.T) {
	t.Parallel()
	ctx, cancel := short()
	defer cancel()
	d := NewDialer(nil).WithoutKeepAlive()
	c, err := d.Dial(ctx, loopback.Silent(t))
	if err != nil {
		t.Fatal(err)
	}
	bc := Bind(ctx, c)
	defer bc.Close()
	err = guard(t, func() error { _, err := bc.Read(make([]byte, 1)); return err })
	if got := Cause(ctx, err); got == nil || got.Error() != "i/o timeout" {
		t.Errorf("Read() error = %v (cause %v), want i/o timeout", err, got)
	}
}

func TestDialNetwork(t *testing.T) {
	t.Parallel()
	v4 := loopback.Serve(t, func(net.Conn) {})
	tests := []struct {
		network, addr string
		wantErr       string
	}{
		{network: "tcp4", addr: v4},
		{network: "tcp", addr: v4},
		{network: "tcp6", addr: v4, wantErr: "connect " + v4 + ": address " + strings.TrimSuffix(v4, ":"+loopback.PortString(v4)) + ": no suitable address found"},
	}
	for _, tt := range tests {
		c, err := DialNetwork(context.Background(), tt.network, tt.addr)
		if c != nil {
			c.Close()
		}
		if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || err.Error() != tt.wantErr) {
			t.Errorf("DialNetwork(%s, %s) error = %v, want %q", tt.network, tt.addr, err, tt.wantErr)
		}
	}
}

// TestResetOnClose checks that a Close by someone else sends a reset.
func TestResetOnClose(t *testing.T) {
	t.Parallel()
	addr, peerErr := readingPeer(t)
	c, err := Dial(context.Background(), addr)
	if err != nil {
		t.Fatal(err)
	}
	ResetOnClose(c)
	c.Close()
	wantReset(t, peerErr, "peer read after Close")
}

// readingPeer serves a listener that reads one byte of its first
// connection, for at most 10 s, and passes the read's error on.
func readingPeer(t *testing.T) (string, chan error) {
	got := make(chan error, 1)
	addr := loopback.Serve(t, func(c net.Conn) {
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, err := c.Read(make([]byte, 1))
		got <- err
	})
	return addr, got
}

// wantReset wants the peer's read (what) to have ended with a reset.
func wantReset(t *testing.T, peerErr chan error, what string) {
	t.Helper()
	if err := guard(t, func() error { return <-peerErr }); !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("%s = %v, want connection reset", what, err)
	}
}

// TestCutLine checks that CutLine, fed a stream a byte at a time, finds the
// same first line and error as ReadLine does, and no sooner than it can.
func TestCutLine(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 40)
	for _, in := range []string{"", "\n", "\r\n", "220 a\r\nb\n", "220", "a\rb\n", long + "\n", long + long,
		long[:10] + "\r\n", long[:11] + "\n", long[:12] + "\n", long[:11] + "\r\n", long[:12], long[:13]} {
		const max = 10
		want, wantErr := ReadLine(bufio.NewReaderSize(strings.NewReader(in), max+2), max)
		var got []byte
		var gotErr error
		found := false
		for n := 0; n <= len(in) && !found; n++ {
			got, found, gotErr = CutLine([]byte(in[:n]), max, n == len(in))
			if found && n < len(in) && !strings.Contains(in[:n], "\n") && n < max+2 {
				t.Errorf("CutLine(%q) decided after %d bytes, before a line ending or %d bytes", in, n, max+2)
			}
		}
		if !found || string(got) != string(want) || !errors.Is(gotErr, wantErr) && gotErr != wantErr {
			t.Errorf("CutLine(%q) = %q, %v, %v; ReadLine = %q, %v", in, got, found, gotErr, want, wantErr)
		}
	}
}
