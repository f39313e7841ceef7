package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"time"
)

// bareArgs configures the bare-loop process.
type bareArgs struct {
	Addrs   []string
	Banner  bool          // read the banner line before closing
	Rate    float64       // dials per second of the paced loop
	Warmup  time.Duration // paced, not measured
	Window  time.Duration // paced, measured
	Spawned time.Duration // paced, a goroutine per dial, measured
	Unpaced time.Duration // back to back, measured
	// ListenerPID is the listener process, whose CPU is measured apart.
	ListenerPID int
	CPUProfile  string // file for a CPU profile of the paced window; empty: none
}

// loopResult is one measured loop: CPU of the whole process over the
// window divided by the dials made in it.
type loopResult struct {
	Dials      int64
	Errors     int64
	FirstError string `json:",omitempty"`
	windowResult
	CPUPerDialUS float64
	Rate         float64 // dials per second achieved
}

// bareResult is what the bare-loop process reports.
type bareResult struct {
	Paced loopResult
	// Spawned is the paced loop with what every scheduled check needs at
	// the least: a goroutine per dial and a context with a timeout.
	Spawned loopResult
	Unpaced loopResult
}

// bareLoop is the yardstick: a Go loop doing net.Dialer.DialContext, in
// banner mode reading up to the end of the first line, and closing with a
// reset as monsta does (netx.Abort), nothing else.
type bareLoop struct {
	addrs  []string
	banner bool
	lpid   int
	dialer net.Dialer
	n      int
	res    *loopResult
	buf    [512]byte
}

// probe dials addr, reads the banner in banner mode, and closes.
func (b *bareLoop) probe(ctx context.Context, addr string, buf []byte) error {
	c, err := b.dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer abortConn(c)
	if !b.banner {
		return nil
	}
	return readLine(c, buf)
}

// readLine reads from c until a newline arrives.
func readLine(c net.Conn, buf []byte) error {
	n := 0
	for {
		m, err := c.Read(buf[n:])
		if bytes.IndexByte(buf[n:n+m], '\n') >= 0 {
			return nil
		}
		n += m
		switch {
		case err != nil:
			return err
		case n == len(buf):
			return errors.New("no line end in the banner")
		}
	}
}

// abortConn closes c with a reset, as netx.Abort does.
func abortConn(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	c.Close()
}

func (b *bareLoop) dial(ctx context.Context) {
	addr := b.addrs[b.n%len(b.addrs)]
	b.n++
	err := b.probe(ctx, addr, b.buf[:])
	if b.res == nil {
		return
	}
	b.res.Dials++
	if err != nil {
		b.res.Errors++
		if b.res.FirstError == "" {
			b.res.FirstError = err.Error()
		}
	}
}

// paced dials at rate per second until d has passed, on a fixed schedule
// (a late dial does not shift the ones after it).
func (b *bareLoop) paced(ctx context.Context, rate float64, d time.Duration) {
	pace(rate, d, func() { b.dial(ctx) })
}

// pace calls fn rate times per second until d has passed, on a fixed
// schedule: a late call does not shift the ones after it.
func pace(rate float64, d time.Duration, fn func()) {
	period := time.Duration(float64(time.Second) / rate)
	next := time.Now()
	end := next.Add(d)
	for {
		now := time.Now()
		if !now.Before(end) {
			return
		}
		if w := next.Sub(now); w > 0 {
			time.Sleep(w)
		}
		fn()
		next = next.Add(period)
	}
}

// spawned is paced, but each dial runs in its own goroutine under a
// context with a timeout, as a scheduler must run them.
func (b *bareLoop) spawned(rate float64, d time.Duration) {
	var wg sync.WaitGroup
	var dials, errs atomic.Int64
	var mu sync.Mutex
	first := ""
	pace(rate, d, func() {
		addr := b.addrs[b.n%len(b.addrs)]
		b.n++
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			dials.Add(1)
			var buf [512]byte
			if err := b.probe(ctx, addr, buf[:]); err != nil {
				errs.Add(1)
				mu.Lock()
				if first == "" {
					first = err.Error()
				}
				mu.Unlock()
			}
		}()
	})
	wg.Wait()
	b.res.Dials, b.res.Errors, b.res.FirstError = dials.Load(), errs.Load(), first
}

// unpaced dials back to back until d has passed.
func (b *bareLoop) unpaced(ctx context.Context, d time.Duration) {
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		for range 64 {
			b.dial(ctx)
		}
	}
}

// measure runs loop with res recording and fills in its CPU and rate.
func (b *bareLoop) measure(res *loopResult, loop func()) {
	b.res = res
	w := startWindow(b.lpid)
	loop()
	res.windowResult = w.end()
	b.res = nil
	if res.Dials > 0 {
		res.CPUPerDialUS = res.CPUSeconds * 1e6 / float64(res.Dials)
		res.Rate = float64(res.Dials) / res.WindowSeconds
	}
}

// runBare runs the paced loop (warm-up, then the measured window) and then
// the unpaced one.
func runBare(a bareArgs) (bareResult, error) {
	raiseNofile(1 << 20)
	ctx := context.Background()
	b := &bareLoop{addrs: a.Addrs, banner: a.Banner, lpid: a.ListenerPID}
	var r bareResult
	b.paced(ctx, a.Rate, a.Warmup)
	if a.CPUProfile != "" {
		f, err := os.Create(a.CPUProfile)
		if err != nil {
			return r, fmt.Errorf("create CPU profile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return r, fmt.Errorf("start CPU profile: %w", err)
		}
	}
	b.measure(&r.Paced, func() { b.paced(ctx, a.Rate, a.Window) })
	if a.CPUProfile != "" {
		pprof.StopCPUProfile()
	}
	if a.Spawned > 0 {
		b.measure(&r.Spawned, func() { b.spawned(a.Rate, a.Spawned) })
	}
	if a.Unpaced > 0 {
		b.measure(&r.Unpaced, func() { b.unpaced(ctx, a.Unpaced) })
	}
	return r, nil
}
