//go:build linux

package tcpprobe

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/monsta/monsta/internal/netx"
)

// Prober runs probes. One Prober serves any number of probes at once; its
// goroutine lives as long as the process (or until Close).
type Prober struct {
	epfd int
	file *os.File // the epoll instance, as Go's netpoller watches it

	mu    sync.Mutex // guards slots and free
	slots []*probe   // a probe's index is its slot, named by its events
	free  []int32
}

// A probe's phase. The probe's mutex guards the move out of connecting or
// reading: the loop moves it on events, Probe when its context ends first.
const (
	connecting = iota
	reading
	finished  // by the loop, which then signals done
	abandoned // by Probe, whose context ended
)

// probe is one slot: the state of a probe in flight, reused by the next
// probe in the slot. gen tells events of an earlier probe from this one's.
type probe struct {
	slot int32
	done chan struct{} // one token when the loop finishes the probe

	mu        sync.Mutex
	gen       int32
	phase     int
	fd        int
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
	p := &Prober{epfd: epfd, file: f}
	go p.loop(rc)
	return p, nil
}

// Close stops the loop. Probes in flight end with their contexts.
func (p *Prober) Close() error { return p.file.Close() }

// loop drains the epoll instance whenever the netpoller reports it
// readable, and handles each event.
func (p *Prober) loop(rc syscall.RawConn) {
	evs := make([]unix.EpollEvent, 256)
	_ = rc.Read(func(uintptr) bool {
		for {
			n, err := unix.EpollWait(p.epfd, evs, 0)
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				return true // the instance is closed
			}
			for i := range n {
				p.handle(evs[i])
			}
			if n < len(evs) {
				return false // drained: wait for the next edge
			}
		}
	})
}

// handle moves the probe an event names on.
func (p *Prober) handle(ev unix.EpollEvent) {
	p.mu.Lock()
	if int(ev.Fd) >= len(p.slots) {
		p.mu.Unlock()
		return
	}
	pr := p.slots[ev.Fd]
	p.mu.Unlock()

	pr.mu.Lock()
	defer pr.mu.Unlock()
	if pr.gen != ev.Pad || pr.phase >= finished {
		return // an earlier probe's, or one already decided
	}
	if pr.phase == connecting {
		if !pr.connect(ev.Events) {
			return
		}
	}
	if pr.phase == reading && ev.Events&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
		pr.read()
	}
}

// connect judges the end of the connect; it reports whether the probe
// goes on to read. Call it with pr.mu held.
func (pr *probe) connect(events uint32) bool {
	switch {
	case events&unix.EPOLLERR != 0:
		errno, err := unix.GetsockoptInt(pr.fd, unix.SOL_SOCKET, unix.SO_ERROR)
		switch {
		case err != nil:
			pr.finish(err)
		case errno != 0:
			pr.finish(syscall.Errno(errno))
		default:
			pr.finish(syscall.ECONNRESET)
		}
		return false
	case events&unix.EPOLLOUT == 0:
		return false // not yet
	}
	pr.connected = time.Now()
	if pr.buf == nil {
		pr.finish(nil)
		return false
	}
	pr.phase = reading
	return true
}

// read takes what the socket holds until it would block, and finishes the
// probe once the line is complete. Call it with pr.mu held.
func (pr *probe) read() {
	for {
		n, err := unix.Read(pr.fd, pr.buf[pr.n:])
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			return // the next edge brings more
		case err != nil:
			pr.finish(err)
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

// finish ends the probe with err (nil: it passed) and signals Probe. Call
// it with pr.mu held.
func (pr *probe) finish(err error) {
	pr.phase, pr.err = finished, err
	pr.done <- struct{}{}
}

// Probe connects to addr and, when buf is not nil, reads the first line
// the peer sends into buf, cut to len(buf)-2 bytes (see netx.CutLine). It
// returns when the line is complete, the connection fails or ctx is done;
// the error then is the cause, cleaned as netx.Cause does (a ctx deadline
// is os.ErrDeadlineExceeded), of the step Result.Connected names, or io.EOF
// when the peer closed before sending a byte. The line's cut is
// netx.ErrLineTooLong, with Result.Line set. The socket is closed with a
// reset before Probe returns.
func (p *Prober) Probe(ctx context.Context, addr netip.AddrPort, buf []byte) (Result, error) {
	if buf != nil && len(buf) < 3 {
		return Result{}, fmt.Errorf("tcpprobe: buffer of %d bytes, want at least 3", len(buf))
	}
	if err := ctx.Err(); err != nil {
		return Result{}, netx.Cause(ctx, err)
	}
	sa, family := sockaddr(addr)
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return Result{}, os.NewSyscallError("socket", err)
	}
	pr := p.acquire(fd, buf)
	defer p.release(pr)
	pr.start = time.Now()
	if err := unix.Connect(fd, sa); err != nil && err != unix.EINPROGRESS {
		abort(fd)
		return Result{}, err
	}
	ev := unix.EpollEvent{Events: events, Fd: pr.slot, Pad: pr.gen}
	if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		abort(fd)
		return Result{}, os.NewSyscallError("epoll_ctl", err)
	}
	select {
	case <-pr.done:
	case <-ctx.Done():
		pr.mu.Lock()
		if pr.phase == finished {
			<-pr.done // the loop was first: take its result
		} else {
			pr.phase, pr.err = abandoned, netx.Cause(ctx, ctx.Err())
		}
		pr.mu.Unlock()
	}
	abort(fd) // also ends the epoll registration
	return pr.result()
}

// result reads a finished or abandoned probe out. No event touches it any
// more.
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

// acquire takes a free slot (or a new one) for a probe of fd, with a new
// generation.
func (p *Prober) acquire(fd int, buf []byte) *probe {
	p.mu.Lock()
	var pr *probe
	if n := len(p.free); n > 0 {
		pr = p.slots[p.free[n-1]]
		p.free = p.free[:n-1]
	} else {
		pr = &probe{slot: int32(len(p.slots)), done: make(chan struct{}, 1)}
		p.slots = append(p.slots, pr)
	}
	p.mu.Unlock()
	pr.mu.Lock()
	pr.gen++
	pr.phase, pr.fd, pr.buf, pr.n, pr.err = connecting, fd, buf, 0, nil
	pr.max = max(len(buf)-2, 0)
	pr.connected, pr.lineAt, pr.line = time.Time{}, time.Time{}, nil
	pr.mu.Unlock()
	return pr
}

// release returns pr's slot; it keeps no reference to the caller's buffer.
func (p *Prober) release(pr *probe) {
	pr.mu.Lock()
	pr.buf, pr.line, pr.fd = nil, nil, -1
	pr.phase = abandoned // stale events of this generation are ignored
	pr.mu.Unlock()
	p.mu.Lock()
	p.free = append(p.free, pr.slot)
	p.mu.Unlock()
}

// abort closes fd with a reset (SO_LINGER 0), as netx.Abort does.
func abort(fd int) {
	_ = unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
	_ = unix.Close(fd)
}

// sockaddr converts addr for connect(2).
func sockaddr(addr netip.AddrPort) (unix.Sockaddr, int) {
	ip := addr.Addr()
	if ip.Is4() || ip.Is4In6() {
		return &unix.SockaddrInet4{Port: int(addr.Port()), Addr: ip.Unmap().As4()}, unix.AF_INET
	}
	return &unix.SockaddrInet6{Port: int(addr.Port()), Addr: ip.As16()}, unix.AF_INET6
}
