// Package fdlimit keeps monsta from running out of file descriptors. Raise
// lifts RLIMIT_NOFILE's soft limit to the hard limit at start, and a
// Budget is a counting semaphore of descriptors that the probes take from
// before they open a socket or start a process: the process-wide one,
// Checks, is the limit minus a reserve (Reserve) for state files, the
// outbox, the history database, logs and the control listeners. A probe
// that finds the budget spent fails with ErrExhausted ("descriptor budget
// exhausted"), so that a flood of checks, a Lua check that opens
// connections in a loop, or thousands of peers that never answer cost
// failed checks, and never a state save or a page ("too many open files").
//
// Checks is process-wide, as the limit it divides is.
package fdlimit

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
)

// ErrExhausted is the error of a probe that found no descriptor left in
// its budget.
var ErrExhausted = errors.New("descriptor budget exhausted")

// Budget is a counting semaphore of descriptors. Acquire and Release are
// one atomic add each, without a lock: tcpprobe's and netx's hot paths
// take from it. The zero Budget has no limit.
type Budget struct {
	limit atomic.Int64 // the size plus one; 0: no limit
	used  atomic.Int64
}

// NewBudget returns a Budget of n descriptors (n < 0: no limit).
func NewBudget(n int) *Budget {
	b := &Budget{}
	b.Resize(n)
	return b
}

// Resize sets the budget's size to n (n < 0: no limit). Descriptors in use
// stay counted; when they exceed n, Acquire fails until enough are
// released.
func (b *Budget) Resize(n int) { b.limit.Store(int64(max(n, -1)) + 1) }

// Size returns the budget's size, -1 when it has no limit.
func (b *Budget) Size() int { return int(b.limit.Load()) - 1 }

// InUse returns the descriptors taken and not yet released.
func (b *Budget) InUse() int { return int(b.used.Load()) }

// Acquire takes one descriptor, or returns ErrExhausted when none is left.
// A nil Budget has no limit.
func (b *Budget) Acquire() error { return b.AcquireN(1) }

// AcquireN takes n descriptors at once, or none and ErrExhausted.
func (b *Budget) AcquireN(n int) error {
	if b == nil {
		return nil
	}
	used := b.used.Add(int64(n))
	if limit := b.limit.Load(); limit > 0 && used >= limit {
		b.used.Add(-int64(n))
		return ErrExhausted
	}
	return nil
}

// Release gives back one descriptor taken by Acquire.
func (b *Budget) Release() { b.ReleaseN(1) }

// ReleaseN gives back n descriptors taken by AcquireN.
func (b *Budget) ReleaseN(n int) {
	if b != nil {
		b.used.Add(-int64(n))
	}
}

// Conn returns c, which holds one descriptor of b, wrapped so that its
// first Close releases the descriptor. The wrapper's NetConn returns c, so
// that netx.Abort and the like find the TCP connection below.
func (b *Budget) Conn(c net.Conn) net.Conn { return &conn{Conn: c, b: b} }

// conn is a net.Conn that releases its descriptor on the first Close.
type conn struct {
	net.Conn
	b      *Budget
	closed atomic.Bool
}

// Close implements net.Conn.
func (c *conn) Close() error {
	if c.closed.CompareAndSwap(false, true) {
		defer c.b.Release()
	}
	return c.Conn.Close()
}

// NetConn returns the wrapped connection.
func (c *conn) NetConn() net.Conn { return c.Conn }

// Reserve returns how many of limit descriptors are kept out of the
// checks' budget: a quarter of the limit, at least 64 and at most 1,024.
// The reserve covers the state directory's writes, the outbox, the
// history database, the log, Lua's files, the Go runtime's own
// descriptors and the control listeners, whose connections are capped
// well below it (runtime/control: 256 per listener).
func Reserve(limit int) int { return min(max(limit/4, 64), 1024) }

// checks is the process's budget for probes, sized from RLIMIT_NOFILE on
// first use and again by Raise.
var checks struct {
	once sync.Once
	b    Budget
}

// Checks returns the process's descriptor budget for probes: the soft
// limit of RLIMIT_NOFILE less Reserve. Sockets of checks (netx's dial,
// tcpprobe), and the pipes of the processes of script checks, take from it.
func Checks() *Budget {
	checks.once.Do(func() {
		if soft, _, err := Limit(); err == nil {
			checks.b.Resize(budgetFor(soft))
		}
	})
	return &checks.b
}

// budgetFor is the checks' budget under a soft limit.
func budgetFor(soft uint64) int {
	if soft > 1<<30 {
		soft = 1 << 30 // RLIM_INFINITY, or as good as
	}
	return max(int(soft)-Reserve(int(soft)), 1)
}

// Limit returns RLIMIT_NOFILE's soft and hard limits.
func Limit() (soft, hard uint64, err error) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, 0, err
	}
	return uint64(rl.Cur), uint64(rl.Max), nil
}

// Raise sets RLIMIT_NOFILE's soft limit to the hard limit, sizes Checks
// from it and returns the soft limit now in force. Go raises the soft
// limit itself when a program starts on Linux (and lowers it again for the
// commands it starts); Raise then changes nothing, so that script checks
// keep the limit they would have had.
func Raise() (uint64, error) {
	soft, hard, err := Limit()
	if err != nil {
		return 0, err
	}
	if soft < hard {
		rl := syscall.Rlimit{Cur: hard, Max: hard}
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
			Checks().Resize(budgetFor(soft))
			return soft, err
		}
		soft = hard
	}
	Checks().Resize(budgetFor(soft))
	return soft, nil
}
