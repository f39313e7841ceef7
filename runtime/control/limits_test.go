package control

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// serveLimited serves h on a loopback listener with lim until the test
// ends and returns its address.
func serveLimited(t *testing.T, h http.Handler, lim limits) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, l, h, lim) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve() error = %v", err)
		}
	})
	return l.Addr().String()
}

var okHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })

// dialFrom connects to addr from the loopback address src.
func dialFrom(t *testing.T, src, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 10 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial %s from %s: %v", addr, src, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// get sends one request on c and returns the status line, or the error.
func get(c net.Conn) (string, error) {
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		return "", err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return "", err
	}
	resp.Body.Close()
	return resp.Status, nil
}

// closedByServer tells whether a read on c ends with the server's close
// or reset, not with the guard's deadline of 10 s.
func closedByServer(c net.Conn) error {
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := c.Read(make([]byte, 1))
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return errors.New("still open after 10 s")
	}
	if err == nil {
		return errors.New("read data")
	}
	return nil
}

// closedErr tells whether err is the peer's reset or close.
func closedErr(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.EPIPE)
}

func TestPerSourceLimit(t *testing.T) {
	t.Parallel()
	lim := defaultLimits
	lim.perSource = 2
	addr := serveLimited(t, okHandler, lim)
	a, b := dialFrom(t, "127.0.0.1", addr), dialFrom(t, "127.0.0.1", addr)
	if st, err := get(a); err != nil || st != "200 OK" {
		t.Fatalf("first connection: %q, %v", st, err)
	}
	if st, err := get(b); err != nil || st != "200 OK" {
		t.Fatalf("second connection: %q, %v", st, err)
	}
	third := dialFrom(t, "127.0.0.1", addr)
	if st, err := get(third); err == nil {
		t.Fatalf("third connection from the same source answered %q, want it reset", st)
	} else if !closedErr(err) {
		t.Errorf("third connection from the same source: %v, want a reset", err)
	}
	other := dialFrom(t, "127.0.0.2", addr)
	if st, err := get(other); err != nil || st != "200 OK" {
		t.Errorf("connection from another source: %q, %v; want 200 OK", st, err)
	}
	// A slot comes back when its connection closes.
	a.Close()
	if !servedSoon(t, "127.0.0.1", addr) {
		t.Fatal("no connection from the source served after one of its two closed")
	}
}

// servedSoon tells whether a new connection from src is served within
// 100 tries, 10 ms apart.
func servedSoon(t *testing.T, src, addr string) bool {
	t.Helper()
	for range 100 {
		c := dialFrom(t, src, addr)
		if st, err := get(c); err == nil && st == "200 OK" {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return false
}

// TestTotalLimit: past MaxConns a connection waits (in the accept queue)
// until one closes.
func TestTotalLimit(t *testing.T) {
	t.Parallel()
	lim := defaultLimits
	lim.conns = 3
	addr := serveLimited(t, okHandler, lim)
	var held []net.Conn
	for i, src := range []string{"127.0.0.1", "127.0.0.2", "127.0.0.3"} {
		c := dialFrom(t, src, addr)
		if st, err := get(c); err != nil || st != "200 OK" {
			t.Fatalf("connection %d: %q, %v", i+1, st, err)
		}
		held = append(held, c)
	}
	fourth := dialFrom(t, "127.0.0.4", addr)
	io.WriteString(fourth, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	// Not answered while the three are open. (A broken limit answers at
	// once; this can pass wrongly on a stalled machine, never fail.)
	fourth.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if n, err := fourth.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("fourth connection read %d bytes, %v; want no answer while three are open", n, err)
	}
	held[0].Close()
	fourth.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(fourth), nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("fourth connection after one closed: %v, %v; want 200", resp, err)
	}
}

func TestListenerTimeouts(t *testing.T) {
	t.Parallel()
	lim := defaultLimits
	lim.readHeader, lim.idle = 50*time.Millisecond, 50*time.Millisecond
	addr := serveLimited(t, okHandler, lim)
	t.Run("silent", func(t *testing.T) {
		t.Parallel()
		if err := closedByServer(dialFrom(t, "127.0.0.1", addr)); err != nil {
			t.Errorf("a connection that sends nothing: %v, want it closed by ReadHeaderTimeout", err)
		}
	})
	t.Run("half a header", func(t *testing.T) {
		t.Parallel()
		c := dialFrom(t, "127.0.0.1", addr)
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n")
		if err := closedByServer(c); err != nil {
			t.Errorf("a connection stuck in its header: %v, want it closed by ReadHeaderTimeout", err)
		}
	})
	t.Run("idle keep-alive", func(t *testing.T) {
		t.Parallel()
		c := dialFrom(t, "127.0.0.1", addr)
		br := bufio.NewReader(c)
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		c.SetDeadline(time.Now().Add(10 * time.Second))
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		if _, err := br.ReadByte(); errors.Is(err, os.ErrDeadlineExceeded) || err == nil {
			t.Errorf("an idle keep-alive connection: %v, want it closed by IdleTimeout", err)
		}
	})
}

func TestBodyLimit(t *testing.T) {
	t.Parallel()
	var read int64
	var readErr error
	h := limitBody(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		read, readErr = io.Copy(io.Discard, r.Body)
	}))
	addr := serveLimited(t, h, defaultLimits)
	body := strings.NewReader(strings.Repeat("x", 16<<20))
	resp, err := http.Post("http://"+addr+"/api/v1/silences", "application/json", body)
	if err == nil {
		resp.Body.Close()
	}
	var mbe *http.MaxBytesError
	if !errors.As(readErr, &mbe) || read > MaxBodyBytes {
		t.Errorf("handler read %d bytes, %v; want at most %d and a *http.MaxBytesError", read, readErr, MaxBodyBytes)
	}
	// Handler applies the cap too: an oversized silence is refused.
	f := newFixture(t, threeTests, nil)
	var e APIError
	big := `{"pattern":"web","duration":"1h","reason":"` + strings.Repeat("x", MaxBodyBytes) + `"}`
	if code := call(t, f.srv.Handler(false, ""), "POST", "/api/v1/silences", big, nil, &e); code != 400 || !strings.Contains(e.Error, "too large") {
		t.Errorf("POST of %d bytes = %d %q, want 400 and \"too large\"", len(big), code, e.Error)
	}
}

func TestSource(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"127.0.0.1", "127.0.0.1"},
		{"::ffff:10.1.2.3", "10.1.2.3"},
		{"2001:db8:1:2:aaaa::1", "2001:db8:1:2::"},
		{"2001:db8:1:2:bbbb::9", "2001:db8:1:2::"},
		{"::1", "::"},
	} {
		if got := source(netip.MustParseAddr(tc.in)); got.String() != tc.want {
			t.Errorf("source(%s) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestPagesAtRisk(t *testing.T) {
	t.Parallel()
	f := newFixture(t, threeTests, nil)
	n, risk := 0, error(nil)
	f.srv.o.AtRisk = func() (int, error) { return n, risk }
	h := f.srv.Handler(false, "")
	var list TestList
	if call(t, h, "GET", "/api/v1/tests", "", nil, &list); list.PagesAtRisk != 0 || list.PagesAtRiskError != "" {
		t.Errorf("no page at risk: pages_at_risk = %d %q, want 0", list.PagesAtRisk, list.PagesAtRiskError)
	}
	n, risk = 3, syscall.ENOSPC
	var raw map[string]any
	call(t, h, "GET", "/api/v1/tests", "", nil, &raw)
	if raw["pages_at_risk"] != 3.0 || raw["pages_at_risk_error"] != "no space left on device" {
		t.Errorf("three pages at risk: body %v, want pages_at_risk 3 and the error", raw)
	}
}
