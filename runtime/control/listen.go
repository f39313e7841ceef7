package control

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/netutil"
)

// SocketName is the control socket's name in the state directory.
const SocketName = "monsta.sock"

// SocketPath returns the control socket of a state directory.
func SocketPath(stateDir string) string { return filepath.Join(stateDir, SocketName) }

// ListenSocket listens on the unix socket at path, mode 0660, owned by the
// calling process's user and group (the daemon's, after it dropped
// privileges). A socket left by a dead daemon is replaced; one that still
// answers is an error.
func ListenSocket(path string) (net.Listener, error) {
	if _, err := os.Lstat(path); err == nil {
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("control socket %s: another monsta is answering on it", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("control socket: remove stale %s: %w", path, err)
		}
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if err := os.Chmod(path, 0o660); err != nil {
		l.Close()
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if err := os.Lchown(path, os.Getuid(), os.Getgid()); err != nil {
		l.Close()
		return nil, fmt.Errorf("control socket: %w", err)
	}
	return l, nil
}

// ReadToken reads a bearer token from a file: its first line, trimmed. An
// empty token is an error.
func ReadToken(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("token_file: %w", err)
	}
	tok, _, _ := strings.Cut(string(data), "\n")
	tok = strings.TrimSpace(tok)
	if tok == "" {
		return "", fmt.Errorf("token_file %s: empty", path)
	}
	return tok, nil
}

// Limits of every listener Serve serves (the unix socket and [main]
// listen each have their own): anyone who can reach a listener can hold at
// most MaxConns of the daemon's descriptors through it, and a connection
// that sends nothing is closed after ReadHeaderTimeout, one that idles
// between requests after IdleTimeout.
const (
	// MaxConns caps a listener's open connections; when they are all
	// taken, the next waits in the kernel's accept queue, holding no
	// descriptor of the daemon's.
	MaxConns = 256
	// MaxConnsPerSource caps the connections from one IP address (an
	// IPv6 /64) on a TCP listener; one more is reset at once.
	MaxConnsPerSource = 32
	// ReadHeaderTimeout bounds the time to send a request's header.
	ReadHeaderTimeout = 5 * time.Second
	// ReadTimeout bounds the time to send a whole request.
	ReadTimeout = 30 * time.Second
	// IdleTimeout closes a keep-alive connection idle that long.
	IdleTimeout = 30 * time.Second
	// MaxHeaderBytes caps a request's header.
	MaxHeaderBytes = 32 << 10
	// MaxBodyBytes caps a request's body; reading past it fails (413).
	MaxBodyBytes = 64 << 10
)

// limits are the listener limits, which tests shrink.
type limits struct {
	conns, perSource       int
	readHeader, read, idle time.Duration
	headerBytes            int
}

var defaultLimits = limits{conns: MaxConns, perSource: MaxConnsPerSource,
	readHeader: ReadHeaderTimeout, read: ReadTimeout, idle: IdleTimeout, headerBytes: MaxHeaderBytes}

// Serve serves h on l until ctx ends, then shuts down within a few
// seconds. It applies the listener limits (MaxConns, MaxConnsPerSource,
// the timeouts and MaxHeaderBytes); Handler applies MaxBodyBytes.
func Serve(ctx context.Context, l net.Listener, h http.Handler) error {
	return serve(ctx, l, h, defaultLimits)
}

func serve(ctx context.Context, l net.Listener, h http.Handler, lim limits) error {
	l = limitListener(l, lim)
	srv := &http.Server{Handler: h, ReadHeaderTimeout: lim.readHeader, ReadTimeout: lim.read,
		IdleTimeout: lim.idle, MaxHeaderBytes: lim.headerBytes}
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	err := srv.Serve(l)
	if errors.Is(err, http.ErrServerClosed) {
		<-done
		return nil
	}
	return err
}

// limitListener caps l's open connections in total (x/net's
// LimitListener: Accept waits for a free slot) and per source IP address.
func limitListener(l net.Listener, lim limits) net.Listener {
	return &sourceLimit{Listener: netutil.LimitListener(l, lim.conns), max: lim.perSource, open: map[netip.Addr]int{}}
}

// sourceLimit resets a connection from an IP address that holds max
// already; connections without an IP address (the unix socket) pass.
type sourceLimit struct {
	net.Listener
	max  int
	mu   sync.Mutex
	open map[netip.Addr]int // guarded by mu
}

// Accept implements net.Listener.
func (l *sourceLimit) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ta, ok := c.RemoteAddr().(*net.TCPAddr)
		if !ok {
			return c, nil
		}
		ip := source(ta.AddrPort().Addr())
		l.mu.Lock()
		full := l.open[ip] >= l.max
		if !full {
			l.open[ip]++
		}
		l.mu.Unlock()
		if !full {
			return &sourceConn{Conn: c, l: l, ip: ip}, nil
		}
		reset(c)
	}
}

// source is the key of an address for MaxConnsPerSource: an IPv4 address,
// or the /64 of an IPv6 address (what one host is given).
func source(ip netip.Addr) netip.Addr {
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.Addr()
	}
	return ip
}

// reset closes c with a reset (SO_LINGER 0): the refused peer gets an
// error at once, and the daemon keeps no socket in TIME_WAIT for it.
func reset(c net.Conn) {
	var nc net.Conn = c
	for {
		u, ok := nc.(interface{ NetConn() net.Conn })
		if !ok {
			break
		}
		nc = u.NetConn()
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}

// sourceConn gives its source's slot back on the first Close.
type sourceConn struct {
	net.Conn
	l      *sourceLimit
	ip     netip.Addr
	closed atomic.Bool
}

// Close implements net.Conn.
func (c *sourceConn) Close() error {
	if c.closed.CompareAndSwap(false, true) {
		c.l.mu.Lock()
		if c.l.open[c.ip]--; c.l.open[c.ip] <= 0 {
			delete(c.l.open, c.ip)
		}
		c.l.mu.Unlock()
	}
	return c.Conn.Close()
}

// NetConn returns the wrapped connection.
func (c *sourceConn) NetConn() net.Conn { return c.Conn }

// limitBody caps every request's body at MaxBodyBytes.
func limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
		}
		next.ServeHTTP(w, r)
	})
}
