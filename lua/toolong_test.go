package lua

import (
	"errors"
	"github.com/monsta/monsta/internal/testkit/loopback"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/monsta/monsta/internal/netx"
)

// TestRepliesTooLongAreNetx: a line over 64 KiB (tcp), a body over 1 MiB
// and headers over 64 KiB (http) fail with netx's *TooLongError, so that
// errors.Is(err, netx.ErrTooLong) holds for Lua's modules as for every
// other protocol client, and the text is "reply too long (N bytes)".
func TestRepliesTooLongAreNetx(t *testing.T) {
	endless := func(c net.Conn) {
		chunk := []byte(strings.Repeat("a", 4096))
		for {
			if _, err := c.Write(chunk); err != nil {
				return
			}
		}
	}
	addr := loopback.Serve(t, func(c net.Conn) { endless(c) })
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/header" {
			w.Header().Set("X-Big", strings.Repeat("h", 80<<10))
			return
		}
		chunk := []byte(strings.Repeat("b", 4096))
		for i := 0; i < 1024; i++ { // 4 MiB
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}))
	defer srv.Close()
	var hc httpClients
	hc.init()
	defer hc.close()

	tests := []struct {
		name string
		call func() error
		want string
		n    int64
	}{
		{"receive_line", func() error {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				return err
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(10 * time.Second)) // a guard, not an assertion
			_, err = (&tcpConn{c: conn}).receiveLine()
			return err
		}, "receive: reply too long (65537 bytes)", maxLine + 1},
		{"http body", func() error {
			req, _ := http.NewRequest("GET", srv.URL+"/body", nil)
			_, _, err := doRequest(hc.verify, req, req.URL.String())
			return err
		}, "read GET response: reply too long (1048577 bytes)", maxHTTPBody + 1},
		{"http headers", func() error {
			req, _ := http.NewRequest("GET", srv.URL+"/header", nil)
			_, _, err := doRequest(hc.verify, req, req.URL.String())
			return err
		}, "read GET response: reply too long (65537 bytes)", maxHTTPHeader + 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			var tl *netx.TooLongError
			if !errors.Is(err, netx.ErrTooLong) || !errors.As(err, &tl) || tl.N != tc.n {
				t.Fatalf("error = %v, want a *netx.TooLongError of %d bytes", err, tc.n)
			}
			if err.Error() != tc.want {
				t.Errorf("error = %q, want %q", err, tc.want)
			}
		})
	}
}
