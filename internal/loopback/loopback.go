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
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen %s: %v", addr, err)
	}
	var (
		mu     sync.Mutex
		conns  = map[net.Conn]struct{}{}
		closed bool
		accept = make(chan struct{})
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
	t.Cleanup(func() {
		ln.Close()
		<-accept
		mu.Lock()
		closed = true
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	return ln.Addr().String()
}

// Silent listens on 127.0.0.1 on a free port, accepts connections and never
// reads from or writes to them; they stay open until the test ends. It
// returns the listener's address as host:port.
func Silent(t testing.TB) string {
	t.Helper()
	done := make(chan struct{})
	addr := Serve(t, func(net.Conn) { <-done })
	// Registered after Serve's cleanup, so it runs first and lets the
	// handlers return before the connections are closed.
	t.Cleanup(func() { close(done) })
	return addr
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
