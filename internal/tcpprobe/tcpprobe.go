// Package tcpprobe opens a TCP connection and reads the first line the peer
// sends, at the least cost per probe that Go allows: raw non-blocking
// sockets in one epoll instance of the prober's own, which a single
// goroutine drains, itself woken by Go's netpoller. It is the fast path of
// the portconnect check, where connect, banner and close are the whole
// check and the net package's general machinery (a netFD, address
// lookups, four extra system calls, two goroutine wake-ups) costs more
// than the probe.
//
// The caller's context is the only deadline: a probe ends when its
// connection is refused, when its line is complete, or when ctx is done,
// and the socket is always closed with a reset (see netx.Abort).
//
// Only IP addresses are probed; a host name is the caller's to resolve
// (or to dial with netx).
package tcpprobe

import (
	"errors"
	"time"
)

// ErrUnsupported is returned by New where the prober is not built (any
// system but Linux); callers then dial with netx.
var ErrUnsupported = errors.New("tcpprobe: not supported on this system")

// Result is what a probe saw.
type Result struct {
	// Connected tells whether the connection opened; if not, the error is
	// the connect's.
	Connected bool
	// Connect is the time from the start to the connection opening.
	Connect time.Duration
	// Line is the first line the peer sent, without its line ending (see
	// netx.CutLine), a part of the buffer given to Probe.
	Line []byte
	// LineAfter is the time from the connection opening to the line.
	LineAfter time.Duration
}
