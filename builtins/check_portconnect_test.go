package builtins

import (
	"context"
	"errors"
	"net"
	goruntime "runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/monsta/monsta/internal/netx"
	"github.com/monsta/monsta/internal/testkit/loopback"
	"github.com/monsta/monsta/runtime"
)

// newTestCheck registers d in a fresh registry and builds a check from raw.
func newTestCheck(t testing.TB, d runtime.Descriptor, raw map[string]string) (runtime.Check, error) {
	t.Helper()
	reg := runtime.NewRegistry()
	if err := reg.Add(d); err != nil {
		t.Fatalf("Add(%s) error = %v", d.Name, err)
	}
	desc, _ := reg.Lookup(runtime.KindCheck, d.Name)
	o, err := runtime.NewOptions(desc, "Check_test", raw)
	if err != nil {
		return nil, err
	}
	return desc.NewCheck(o)
}

// runWantErr runs c with runGuarded under timeout (5 s if 0) and fails the
// test unless Run's error contains wantErr ("": no error).
func runWantErr(t *testing.T, c runtime.Check, timeout time.Duration, wantErr string) (runtime.Stats, error) {
	t.Helper()
	if timeout == 0 {
		timeout = 5 * time.Second
	}
	stats, err := runGuarded(t, c, timeout)
	switch {
	case wantErr == "" && err != nil:
		t.Fatalf("Run() error = %v, want nil", err)
	case wantErr != "" && (err == nil || !strings.Contains(err.Error(), wantErr)):
		t.Fatalf("Run() error = %v, want one containing %q", err, wantErr)
	}
	return stats, err
}

// runGuarded runs c under a ctx of the given timeout and fails the test if
// Run has not returned after 10 s.
func runGuarded(t *testing.T, c runtime.Check, timeout time.Duration) (runtime.Stats, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	type result struct {
		stats runtime.Stats
		err   error
	}
	done := make(chan result, 1)
	go func() {
		s, err := c.Run(ctx)
		done <- result{s, err}
	}()
	select {
	case r := <-done:
		return r.stats, r.err
	case <-time.After(10 * time.Second):
		t.Fatal("Run() did not return within 10 s")
		return nil, nil
	}
}

// fakeTCP listens on addr (loopback) and hands every accepted connection to
// serve in its own goroutine; it returns the host and port.
func fakeTCP(t testing.TB, addr string, serve func(net.Conn)) (string, string) {
	t.Helper()
	host, port, _ := net.SplitHostPort(loopback.ServeOn(t, addr, serve))
	return host, port
}

func sendAndClose(text string) func(net.Conn) {
	return func(c net.Conn) {
		defer c.Close()
		c.Write([]byte(text))
		c.(*net.TCPConn).CloseWrite()
		// Wait for the client to hang up so that the write is not reset.
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		c.Read(make([]byte, 1))
	}
}

// endless sends one line without an end until the client hangs up: the
// check must judge the first 4 KiB and not read on.
func endless(c net.Conn) {
	defer c.Close()
	chunk := []byte(strings.Repeat("x", 1024))
	for {
		if _, err := c.Write(chunk); err != nil {
			return
		}
	}
}

// closedPort returns a loopback port nobody listens on.
func closedPort(t *testing.T) string { return strconv.Itoa(loopback.ClosedPort(t)) }

func TestPortconnect(t *testing.T) {
	silentDone := make(chan struct{})
	t.Cleanup(func() { close(silentDone) })
	silent := func(c net.Conn) {
		defer c.Close()
		<-silentDone
	}
	tests := []struct {
		name      string
		serve     func(net.Conn)
		refused   bool
		expect    string
		timeout   time.Duration
		wantErr   string // substring of the error; "" means pass
		wantStats []string
		timedOut  bool
	}{
		{name: "connect only", serve: silent, wantStats: []string{"connect_seconds"}},
		{name: "expect in first line", serve: sendAndClose("220 mail.example ESMTP\r\n"), expect: "220",
			wantStats: []string{"connect_seconds", "banner_seconds"}},
		{name: "first line without newline then close", serve: sendAndClose("SSH-2.0-OpenSSH"), expect: "SSH-2.0"},
		{name: "expect only on second line", serve: sendAndClose("hello\r\n220 ready\r\n"), expect: "220",
			wantErr: `banner "hello" does not contain "220"`, wantStats: []string{"connect_seconds", "banner_seconds"}},
		{name: "wrong banner", serve: sendAndClose("SSH-2.0-x\n"), expect: "220",
			wantErr: `banner "SSH-2.0-x" does not contain "220"`},
		{name: "closed without a line", serve: func(c net.Conn) { c.Close() }, expect: "220",
			wantErr: "read banner from 127.0.0.1:"},
		{name: "endless line", serve: endless, expect: "220",
			wantErr: `banner "` + strings.Repeat("x", 200) + `" does not contain "220"`, wantStats: []string{"connect_seconds", "banner_seconds"}},
		{name: "refused", refused: true, wantErr: "connect 127.0.0.1:"},
		{name: "silent peer times out", serve: silent, expect: "220", timeout: 200 * time.Millisecond,
			wantErr: "read banner from 127.0.0.1:", timedOut: true},
	}
	for _, tt := range tests {
		for _, path := range []string{"probe", "dial"} {
			t.Run(tt.name+"/"+path, func(t *testing.T) {
				var port string
				if tt.refused {
					port = closedPort(t)
				} else {
					_, port = fakeTCP(t, "127.0.0.1:0", tt.serve)
				}
				c, err := newTestCheck(t, portconnectDescriptor(), map[string]string{
					"host": "127.0.0.1", "port": port, "expect": tt.expect})
				if err != nil {
					t.Fatalf("NewCheck() error = %v", err)
				}
				usePath(t, c, path)
				stats, err := runWantErr(t, c, tt.timeout, tt.wantErr)
				if tt.refused && err.Error() != "connect 127.0.0.1:"+port+": connection refused" {
					t.Errorf("Run() error = %q, want connect 127.0.0.1:%s: connection refused", err, port)
				}
				if tt.timedOut {
					if !runtime.IsTimeout(err) {
						t.Errorf("Run() error = %v, want a timeout", err)
					}
					if !strings.HasSuffix(err.Error(), ": i/o timeout") {
						t.Errorf("Run() error = %q, want it to end in \": i/o timeout\"", err)
					}
				}
				for _, k := range tt.wantStats {
					if _, ok := stats[k]; !ok {
						t.Errorf("Run() stats = %v, want key %q", stats, k)
					}
				}
			})
		}
	}
}

// usePath makes the portconnect check c probe (the default for an IP
// address, where the system has a prober) or dial.
func usePath(t *testing.T, c runtime.Check, path string) {
	t.Helper()
	pc := c.(*Portconnect)
	switch {
	case path == "dial":
		pc.prober = nil
	case pc.prober == nil && goruntime.GOOS == "linux":
		t.Fatal("a portconnect check of an IP address has no prober on Linux")
	case pc.prober == nil:
		t.Skip("no prober on " + goruntime.GOOS)
	}
}

func TestPortconnectIPv6(t *testing.T) {
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Fatalf("this host has no IPv6 loopback (needed for the IPv6 literal test): %v", err)
	}
	ln.Close()
	_, port := fakeTCP(t, "[::1]:0", sendAndClose("+OK ready\r\n"))
	c, err := newTestCheck(t, portconnectDescriptor(), map[string]string{"host": "::1", "port": port, "expect": "+OK"})
	if err != nil {
		t.Fatalf("NewCheck() error = %v", err)
	}
	if _, err := runGuarded(t, c, 5*time.Second); err != nil {
		t.Fatalf("Run() error = %v, want nil", err)
	}
	if got, want := c.(*Portconnect).addr, net.JoinHostPort("::1", port); got != want {
		t.Errorf("addr = %q, want %q", got, want)
	}
}

func TestPortconnectCancel(t *testing.T) {
	for _, path := range []string{"probe", "dial"} {
		t.Run(path, func(t *testing.T) {
			done := make(chan struct{})
			defer close(done)
			_, port := fakeTCP(t, "127.0.0.1:0", func(c net.Conn) { defer c.Close(); <-done })
			c, err := newTestCheck(t, portconnectDescriptor(), map[string]string{"host": "127.0.0.1", "port": port, "expect": "x"})
			if err != nil {
				t.Fatal(err)
			}
			usePath(t, c, path)
			ctx, cancel := context.WithCancel(context.Background())
			res := make(chan error, 1)
			go func() { _, err := c.Run(ctx); res <- err }()
			time.AfterFunc(50*time.Millisecond, cancel)
			select {
			case err := <-res:
				if !errors.Is(err, context.Canceled) {
					t.Errorf("Run() error = %v, want context.Canceled", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Run() did not return within 10 s of the cancel")
			}
		})
	}
}

func TestPortconnectOptions(t *testing.T) {
	tests := []struct {
		name    string
		raw     map[string]string
		wantErr string
	}{
		{name: "no host", raw: map[string]string{"port": "80"}, wantErr: "host: required option missing"},
		{name: "empty host", raw: map[string]string{"host": "", "port": "80"}, wantErr: "host: must not be empty"},
		{name: "bad port", raw: map[string]string{"host": "127.0.0.1", "port": "80x"}, wantErr: `port: "80x" is not a port number`},
		{name: "bad timeout", raw: map[string]string{"host": "127.0.0.1", "port": "80", "timeout": "soon"}, wantErr: "timeout:"},
		{name: "ok", raw: map[string]string{"host": "localhost", "port": "80"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := newTestCheck(t, portconnectDescriptor(), tt.raw)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("NewCheck() error = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("NewCheck() error = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func benchmarkPortconnect(b *testing.B, banner string, expect string) {
	_, port := fakeTCP(b, "127.0.0.1:0", func(c net.Conn) {
		if banner != "" {
			c.Write([]byte(banner))
		}
		// Wait for the client's FIN, then reset instead of answering with
		// a FIN: no side keeps the connection in TIME_WAIT, so the benchmark
		// does not run out of loopback ports.
		c.Read(make([]byte, 1))
		c.(*net.TCPConn).SetLinger(0)
		c.Close()
	})
	c, err := newTestCheck(b, portconnectDescriptor(), map[string]string{"host": "127.0.0.1", "port": port, "expect": expect})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	start := cpuTime()
	for b.Loop() {
		// A deadline per run, as the scheduler gives it.
		ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
		_, err := c.Run(ctx)
		cancel()
		if err != nil {
			b.Fatal(err)
		}
	}
	// The in-process server's share is included.
	b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
}

// BenchmarkPortconnect measures one connect+close against a loopback
// listener that accepts and closes.
func BenchmarkPortconnect(b *testing.B) { benchmarkPortconnect(b, "", "") }

// BenchmarkPortconnectBanner measures connect, first line, close.
func BenchmarkPortconnectBanner(b *testing.B) { benchmarkPortconnect(b, "220 ready\r\n", "220") }

// TestPortconnectHostName covers the resolver path with "localhost" from
// /etc/hosts; the resolver cannot reach any DNS server.
func TestPortconnectHostName(t *testing.T) {
	_, port := fakeTCP(t, "127.0.0.1:0", sendAndClose("220 hi\r\n"))
	c, err := newTestCheck(t, portconnectDescriptor(), map[string]string{"host": "localhost", "port": port, "expect": "220"})
	if err != nil {
		t.Fatalf("NewCheck() error = %v", err)
	}
	pc := c.(*Portconnect)
	pc.dialer = netx.NewDialer(&net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, address string) (net.Conn, error) {
		return nil, errors.New("no DNS server in tests: localhost must come from /etc/hosts")
	}})
	if _, err := runGuarded(t, c, 5*time.Second); err != nil {
		t.Fatalf("Run() error = %v, want nil", err)
	}
}

// TestPortconnectResetsOnClose wants the check to close with a reset, so
// that no socket of the probing side waits in TIME_WAIT.
func TestPortconnectResetsOnClose(t *testing.T) {
	for _, expect := range []string{"", "220"} {
		t.Run("expect="+expect, func(t *testing.T) {
			got := make(chan error, 1)
			_, port := fakeTCP(t, "127.0.0.1:0", func(c net.Conn) {
				defer c.Close()
				// The first call to see the reset reports it; later ones
				// see the end of the stream.
				if _, err := c.Write([]byte("220 hi\r\n")); err != nil {
					got <- err
					return
				}
				c.SetReadDeadline(time.Now().Add(10 * time.Second))
				_, err := c.Read(make([]byte, 1))
				got <- err
			})
			c, err := newTestCheck(t, portconnectDescriptor(), map[string]string{"host": "127.0.0.1", "port": port, "expect": expect})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := runGuarded(t, c, 5*time.Second); err != nil {
				t.Fatalf("Run() error = %v", err)
			}
			select {
			case err := <-got:
				if !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, syscall.EPIPE) {
					t.Errorf("server write/read after the check closed: %v, want connection reset", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("server saw no close within 10 s")
			}
		})
	}
}
