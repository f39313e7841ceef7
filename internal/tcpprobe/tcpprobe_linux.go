//go:build linux

package tcpprobe

import (
	"context"
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/monsta/monsta/internal/fdlimit"
	"github.com/monsta/monsta/internal/netx"
)

// Prober runs probes. One Prober serves any number of probes at once; its
// goroutine lives as long as the process (or until Close).
//
// Sockets are reused. A probe ends with connect(2) to AF_UNSPEC, which
// resets the connection as close with SO_LINGER 0 would (no TIME_WAIT) and
// leaves the socket unconnected, still in the epoll set; the next probe of
// the same address family connects it again. That saves creating and
// destroying a socket, and registering it, per probe: a third of the
// kernel's share of a loopback banner probe.
//
// Events only say "look again": a handler asks the socket what it is (its
// TCP state while connecting, read(2) while reading), so an event that
// was queued for an earlier probe of the socket is harmless.
type Prober struct {
	epfd int
	file *os.File        // the epoll instance, as Go's netpoller watches it
	fds  *fdlimit.Budget // every socket holds one descriptor of it

	mu    sync.Mutex // guards slots, idle and empty
	slots []*probe   // a probe's index is its slot, named by its events
	idle  [2][]int32 // slots with an unconnected socket, by family
	empty []int32    // slots without a socket
}

// maxIdle bounds the unconnected sockets kept per address family; a
// slot released beyond it closes its socket.
const maxIdle = 256

// A probe's phase. The probe's mutex guards every move: the loop's on
// events, Probe's after its connect and when its context ends first.
const (
	idle       = iota // no probe, or not yet connecting: events are ignored
	connecting        // connect(2) under way
	reading           // connected, waiting for the line
	finished          // decided, its socket unconnected again; done has a token
)

// probe is one slot: a socket and the state of the probe using it.
type probe struct {
	slot int32
	fam  int             // 0: IPv4, 1: IPv6
	done chan struct{}   // one token when the probe is finished
	fds  *fdlimit.Budget // the Prober's

	mu        sync.Mutex
	fd        int // -1: none
	phase     int
	buf       []byte // the caller's; nil: connect only
	max       int    // longest line
	n         int    // bytes read into buf
	start     time.Time
	connected time.Time
	lineAt    time.Time
	line      []byte
	err       error // of the phase that failed
}

// events every probe socket is watched for, edge-triggered: the connect's
// end (writable or an error), then data or the peer's hang-up.
const events = unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLET

// New returns a Prober with its own epoll instance and starts its
// goroutine.
func New() (*Prober, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("tcpprobe: %w", os.NewSyscallError("epoll_create1", err))
	}
	if err := unix.SetNonblock(epfd, true); err != nil {
		unix.Close(epfd)
		return nil, fmt.Errorf("tcpprobe: %w", os.NewSyscallError("fcntl", err))
	}
	// A non-blocking descriptor is watched by Go's netpoller: the loop
	// parks until the epoll instance has events, on no thread of its own.
	f := os.NewFile(uintptr(epfd), "tcpprobe-epoll")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("tcpprobe: %w", err)
	}
	p := &Prober{epfd: epfd, file: f, fds: fdlimit.Checks()}
	go p.loop(rc)
	return p, nil
}

// Close stops the loop and closes the unconnected sockets. Probes in
// flight end with their contexts.
func (p *Prober) Close() error {
	err := p.file.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for fam := range p.idle {
		for _, s := range p.idle[fam] {
			pr := p.slots[s]
			unix.Close(pr.fd)
			p.fds.Release()
			pr.fd = -1
			p.empty = append(p.empty, s)
		}
		p.idle[fam] = nil
	}
	return err
}

// loop drains the epoll instance whenever the netpoller reports it
// readable, and moves on the probe each event names.
func (p *Prober) loop(rc syscall.RawConn) {
	evs := make([]unix.EpollEvent, 256)
	_ = rc.Read(func(uintptr) bool {
		for {
			n, e := epollPoll(p.epfd, evs)
			if e == unix.EINTR {
				continue
			}
			if e != 0 {
				return true // the instance is closed
			}
			for i := range n {
				p.mu.Lock()
				pr := p.slots[evs[i].Fd]
				p.mu.Unlock()
				pr.mu.Lock()
				pr.advance()
				pr.mu.Unlock()
			}
			if n < len(evs) {
				return false // drained: wait for the next edge
			}
		}
	})
}

// advance asks the socket how far it got, and finishes the probe once it
// is decided. Call it with pr.mu held.
func (pr *probe) advance() {
	if pr.phase == connecting {
		state, err := tcpState(pr.fd)
		switch {
		case err != nil:
			pr.finish(err)
			return
		case state == tcpSynSent:
			return // not yet
		case state == tcpClose:
			errno, e := soError(pr.fd)
			switch {
			case e != 0:
				pr.finish(os.NewSyscallError("getsockopt", e))
			case errno != 0:
				pr.finish(syscall.Errno(errno))
			default:
				pr.finish(syscall.ECONNABORTED)
			}
			return
		}
		pr.connected = time.Now()
		if pr.buf == nil {
			pr.finish(nil)
			return
		}
		pr.phase = reading
	}
	if pr.phase == reading {
		pr.read()
	}
}

// read takes what the socket holds until it would block, and finishes the
// probe once the line is complete. Call it with pr.mu held.
func (pr *probe) read() {
	for {
		n, e := read(pr.fd, pr.buf[pr.n:])
		switch {
		case e == unix.EINTR:
			continue
		case e == unix.EAGAIN:
			return // the next edge brings more
		case e != 0:
			pr.finish(e)
			return
		}
		pr.n += n
		line, ok, lerr := netx.CutLine(pr.buf[:pr.n], pr.max, n == 0)
		if ok {
			pr.line, pr.lineAt = line, time.Now()
			pr.finish(lerr)
			return
		}
	}
}

// finish ends the probe with err (nil: it passed), resets its connection
// and signals Probe. Call it with pr.mu held.
func (pr *probe) finish(err error) {
	pr.phase, pr.err = finished, err
	pr.disconnect()
	pr.done <- struct{}{}
}

// disconnect resets the socket's connection, if any, and leaves it ready
// for the next connect; a socket that cannot be reused is closed. Call it
// with pr.mu held.
func (pr *probe) disconnect() {
	var unspec unix.RawSockaddrInet6 // Family 0: AF_UNSPEC
	_, _, e := unix.RawSyscall(unix.SYS_CONNECT, uintptr(pr.fd), uintptr(unsafe.Pointer(&unspec)), unsafe.Sizeof(unspec))
	if e == 0 {
		// The reset leaves ECONNRESET pending on the socket; reading it
		// clears it, so the next connect does not report it.
		_, e = soError(pr.fd)
	}
	if e != 0 {
		abort(pr.fd)
		pr.fds.Release()
		pr.fd = -1
	}
}

// Probe connects to addr and, when buf is not nil, reads the first line
// the peer sends into buf, cut to len(buf)-2 bytes (see netx.CutLine). It
// returns when the line is complete, the connection fails or ctx is done;
// the error then is the cause, cleaned as netx.Cause does (a ctx deadline
// is os.ErrDeadlineExceeded), of the step Result.Connected names, or io.EOF
// when the peer closed before sending a byte. The line's cut is
// netx.ErrLineTooLong, with Result.Line set. The connection is reset
// before Probe returns.
func (p *Prober) Probe(ctx context.Context, addr netip.AddrPort, buf []byte) (Result, error) {
	if buf != nil && len(buf) < 3 {
		return Result{}, fmt.Errorf("tcpprobe: buffer of %d bytes, want at least 3", len(buf))
	}
	if err := ctx.Err(); err != nil {
		return Result{}, netx.Cause(ctx, err)
	}
	pr, err := p.acquire(family(addr))
	if err != nil {
		return Result{}, err
	}
	defer p.release(pr)
	pr.mu.Lock()
	pr.buf, pr.max, pr.n, pr.err = buf, max(len(buf)-2, 0), 0, nil
	pr.connected, pr.lineAt, pr.line = time.Time{}, time.Time{}, nil
	pr.start = time.Now()
	fd := pr.fd
	pr.mu.Unlock()
	// Events of the socket are ignored until the phase says connecting;
	// advance then asks the socket itself, so none is missed.
	cerr := connect(fd, addr)
	pr.mu.Lock()
	if cerr != nil && cerr != unix.EINPROGRESS {
		pr.finish(cerr)
	} else {
		pr.phase = connecting
		pr.advance()
	}
	pr.mu.Unlock()
	select {
	case <-pr.done:
	case <-ctx.Done():
		pr.mu.Lock()
		if pr.phase == finished {
			<-pr.done // decided meanwhile: take its result
		} else {
			pr.phase, pr.err = finished, netx.Cause(ctx, ctx.Err())
			pr.disconnect()
		}
		pr.mu.Unlock()
	}
	return pr.result()
}

// result reads a finished probe out. Only Probe's goroutine touches it now.
func (pr *probe) result() (Result, error) {
	r := Result{Connected: !pr.connected.IsZero(), Line: pr.line}
	if r.Connected {
		r.Connect = pr.connected.Sub(pr.start)
	}
	if !pr.lineAt.IsZero() {
		r.LineAfter = pr.lineAt.Sub(pr.connected)
	}
	return r, pr.err
}

// acquire takes a slot with an unconnected socket of the family (0: IPv4,
// 1: IPv6), opening one if no idle slot has one.
func (p *Prober) acquire(fam int) (*probe, error) {
	p.mu.Lock()
	if n := len(p.idle[fam]); n > 0 {
		pr := p.slots[p.idle[fam][n-1]]
		p.idle[fam] = p.idle[fam][:n-1]
		p.mu.Unlock()
		return pr, nil
	}
	var pr *probe
	if n := len(p.empty); n > 0 {
		pr = p.slots[p.empty[n-1]]
		p.empty = p.empty[:n-1]
	} else {
		pr = &probe{slot: int32(len(p.slots)), fd: -1, done: make(chan struct{}, 1), fds: p.fds}
		p.slots = append(p.slots, pr)
	}
	p.mu.Unlock()
	if err := p.open(pr, fam); err != nil {
		p.mu.Lock()
		p.empty = append(p.empty, pr.slot)
		p.mu.Unlock()
		return nil, err
	}
	return pr, nil
}

// open gives the slot a new socket of the family, in the epoll set. The
// socket takes a descriptor from the budget (one atomic add; a reused
// socket takes none), and without one the probe fails with
// fdlimit.ErrExhausted.
func (p *Prober) open(pr *probe, fam int) error {
	domain := unix.AF_INET
	if fam == 1 {
		domain = unix.AF_INET6
	}
	if err := p.fds.Acquire(); err != nil {
		return err
	}
	fd, err := unix.Socket(domain, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		p.fds.Release()
		return os.NewSyscallError("socket", err)
	}
	ev := unix.EpollEvent{Events: events, Fd: pr.slot}
	if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		unix.Close(fd)
		p.fds.Release()
		return os.NewSyscallError("epoll_ctl", err)
	}
	pr.mu.Lock()
	pr.fd, pr.fam, pr.phase = fd, fam, idle
	pr.mu.Unlock()
	return nil
}

// release returns pr's slot, with its socket when it still has one and
// fewer than maxIdle wait; it keeps no reference to the caller's buffer.
func (p *Prober) release(pr *probe) {
	pr.mu.Lock()
	pr.buf, pr.line, pr.phase = nil, nil, idle
	fd := pr.fd
	p.mu.Lock()
	switch {
	case fd < 0:
		p.empty = append(p.empty, pr.slot)
	case len(p.idle[pr.fam]) >= maxIdle:
		unix.Close(fd)
		p.fds.Release()
		pr.fd = -1
		p.empty = append(p.empty, pr.slot)
	default:
		p.idle[pr.fam] = append(p.idle[pr.fam], pr.slot)
	}
	p.mu.Unlock()
	pr.mu.Unlock()
}

// TCP states (include/net/tcp_states.h) that advance tells apart.
const (
	tcpSynSent = 2
	tcpClose   = 7
)

// The system calls of a probe never block (its socket is non-blocking,
// and epoll_wait is called with a zero timeout), so they are made raw:
// without telling the scheduler, which would otherwise hand the P over
// for a call that takes microseconds.

// read is read(2).
func read(fd int, b []byte) (int, syscall.Errno) {
	n, _, e := unix.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)))
	return int(n), e
}

// epollPoll is epoll_pwait(2) with a zero timeout and no signal mask.
func epollPoll(epfd int, evs []unix.EpollEvent) (int, syscall.Errno) {
	n, _, e := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(epfd), uintptr(unsafe.Pointer(unsafe.SliceData(evs))), uintptr(len(evs)), 0, 0, 0)
	return int(n), e
}

// tcpState returns the socket's TCP state: the first byte of TCP_INFO.
func tcpState(fd int) (uint8, error) {
	var state uint8
	size := uint32(1)
	_, _, e := unix.RawSyscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.IPPROTO_TCP, unix.TCP_INFO,
		uintptr(unsafe.Pointer(&state)), uintptr(unsafe.Pointer(&size)), 0)
	if e != 0 {
		return 0, os.NewSyscallError("getsockopt", e)
	}
	return state, nil
}

// soError reads and clears the socket's pending error.
func soError(fd int) (int32, syscall.Errno) {
	var v int32
	size := uint32(4)
	_, _, e := unix.RawSyscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_SOCKET, unix.SO_ERROR,
		uintptr(unsafe.Pointer(&v)), uintptr(unsafe.Pointer(&size)), 0)
	return v, e
}

// connect starts connecting fd to addr; EINPROGRESS means under way.
func connect(fd int, addr netip.AddrPort) error {
	ip := addr.Addr()
	var e syscall.Errno
	if ip.Is4() || ip.Is4In6() {
		sa := unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: ip.Unmap().As4()}
		binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:], addr.Port())
		_, _, e = unix.RawSyscall(unix.SYS_CONNECT, uintptr(fd), uintptr(unsafe.Pointer(&sa)), unsafe.Sizeof(sa))
	} else {
		sa := unix.RawSockaddrInet6{Family: unix.AF_INET6, Addr: ip.As16()}
		binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:], addr.Port())
		_, _, e = unix.RawSyscall(unix.SYS_CONNECT, uintptr(fd), uintptr(unsafe.Pointer(&sa)), unsafe.Sizeof(sa))
	}
	if e != 0 {
		return e
	}
	return nil
}

// family returns 0 for an IPv4 address (also one mapped into IPv6), 1
// for IPv6.
func family(addr netip.AddrPort) int {
	if ip := addr.Addr(); ip.Is4() || ip.Is4In6() {
		return 0
	}
	return 1
}

// abort closes fd with a reset (SO_LINGER 0), as netx.Abort does.
func abort(fd int) {
	_ = unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
	_ = unix.Close(fd)
}
