// Package loopback provides small TCP servers on loopback addresses for
// tests: a listener that hands each connection to a function, one that
// accepts and never answers, and a port that nothing listens on.
//
// Every server stops when the test ends: its listener and the connections
// still open are closed in a t.Cleanup.
package loopback

import (
	"net"
	"strconv"
	"sync"
	"testing"
	"time"
)

// Serve listens on 127.0.0.1 on a free port and runs handle for each
// accepted connection in its own goroutine, closing the connection when
// handle returns. It returns the listener's address as host:port.
func Serve(t testing.TB, handle func(net.Conn)) string {
	t.Helper()
	return ServeOn(t, "127.0.0.1:0", handle)
}

// ServeOn is Serve on the given loopback address (such as "[::1]:0" or
// "127.0.0.77:0"); it fails the test if it cannot listen there.
func ServeOn(t testing.TB, addr string, handle func(net.Conn)) string {
	t.Helper()
	addr, _ = start(t, addr, handle)
	return addr
}

// ServeStop is Serve that also returns a function which closes the listener
// and the open connections before the test ends, as when the service goes
// down; calling it more than once is harmless.
func ServeStop(t testing.TB, handle func(net.Conn)) (addr string, stop func()) {
	t.Helper()
	return start(t, "127.0.0.1:0", handle)
}

// start listens on addr and serves like Serve; stop closes the listener and
// the open connections, waits for the accept loop to end and may be called
// more than once. It also runs at t.Cleanup.
func start(t testing.TB, addr string, handle func(net.Conn)) (string, func()) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen %s: %v", addr, err)
	}
	var (
		mu     sync.Mutex
		conns  = map[net.Conn]struct{}{}
		closed bool
		accept = make(chan struct{})
		once   sync.Once
	)
	go func() {
		defer close(accept)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			if closed {
				mu.Unlock()
				c.Close()
				return
			}
			conns[c] = struct{}{}
			mu.Unlock()
			go func() {
				defer func() {
					c.Close()
					mu.Lock()
					delete(conns, c)
					mu.Unlock()
				}()
				handle(c)
			}()
		}
	}()
	stop := func() {
		once.Do(func() {
			ln.Close()
			<-accept
			mu.Lock()
			closed = true
			for c := range conns {
				c.Close()
			}
			mu.Unlock()
		})
	}
	t.Cleanup(stop)
	return ln.Addr().String(), stop
}

// Silent listens on 127.0.0.1 on a free port, accepts connections and never
// reads from or writes to them; they stay open until the test ends. It
// returns the listener's address as host:port.
func Silent(t testing.TB) string {
	t.Helper()
	addr, _ := SilentStop(t)
	return addr
}

// SilentStop is Silent that also returns a function which closes the
// listener and its connections before the test ends, so that the port can
// be taken over; calling it more than once is harmless.
func SilentStop(t testing.TB) (addr string, stop func()) {
	t.Helper()
	done := make(chan struct{})
	var once sync.Once
	release := func() { once.Do(func() { close(done) }) }
	addr, stopServer := start(t, "127.0.0.1:0", func(net.Conn) { <-done })
	// Registered after start's cleanup, so it runs first and lets the
	// handlers return before the connections are closed.
	t.Cleanup(release)
	return addr, func() {
		release()
		stopServer()
	}
}

// ClosedPort returns a port on 127.0.0.1 that nothing listens on right now.
func ClosedPort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}

// Port returns the port of a host:port address as a number, or 0 if addr
// has no valid port.
func Port(addr string) int {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return 0
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		return 0
	}
	return n
}

// PortString returns the port of a host:port address as written, or "" if
// addr is not host:port.
func PortString(addr string) string {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return ""
	}
	return p
}

// Switch is a loopback service a test takes down (its listener closed:
// connection refused) and up again on the same port, logging when it did.
// Connections are accepted and closed at once.
type Switch struct {
	t    testing.TB
	Addr string
	ln   net.Listener
	// Log holds the times it went down and up: down, up, down, up, …
	Log []time.Time
}

// NewSwitch starts a Switch on 127.0.0.1, up; it is closed when the test
// ends.
func NewSwitch(t testing.TB) *Switch {
	t.Helper()
	s := &Switch{t: t}
	s.listen("127.0.0.1:0")
	s.Addr = s.ln.Addr().String()
	t.Cleanup(func() {
		if s.ln != nil {
			s.ln.Close()
		}
	})
	return s
}

func (s *Switch) listen(addr string) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		s.t.Fatalf("listen %s: %v", addr, err)
	}
	s.ln = ln
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
}

// Down closes the listener and logs the time.
func (s *Switch) Down() {
	s.ln.Close()
	s.ln = nil
	s.Log = append(s.Log, time.Now())
}

// Up listens on the same address again and logs the time.
func (s *Switch) Up() {
	s.listen(s.Addr)
	s.Log = append(s.Log, time.Now())
}

// Downtime sums the outages of the log.
func (s *Switch) Downtime() time.Duration {
	var d time.Duration
	for i := 0; i+1 < len(s.Log); i += 2 {
		d += s.Log[i+1].Sub(s.Log[i])
	}
	return d
}
