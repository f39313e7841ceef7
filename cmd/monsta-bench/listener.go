package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// banner is what the listener sends in banner mode, as an SMTP server
// greets.
const banner = "220 monsta-bench ESMTP ready\r\n"

// listenArgs configures the listener process.
type listenArgs struct {
	Addrs int // listeners on 127.0.0.1, 127.0.0.2, …
	// Banner: on accept send banner, end the sending side (a FIN, so a
	// client that reads to the end of the stream, as Monit's send/expect
	// does, does not wait for a timeout), and wait for the client to
	// close; otherwise accept and close at once.
	Banner bool
}

// listenReady is the first line the listener process prints.
type listenReady struct {
	Addrs  []string // the targets (banner or accept-and-close)
	Silent string   // accepts and never writes
	Nofile uint64
}

// listenStats are the listener's counts: printed for every line read on
// its stdin, and once more after stdin closes.
type listenStats struct {
	Accepted       int64
	SilentAccepted int64
	AcceptErrors   int64
}

// runListener serves until stdin closes. It lives in its own process so
// that the cost of accepting is not counted against the daemon, the bare
// loop or the peer.
func runListener(a listenArgs, stdin io.Reader, stdout io.Writer) error {
	nofile := raiseNofile(1 << 20)
	if a.Addrs < 1 || a.Addrs > 250 {
		return fmt.Errorf("listener: %d addresses: want 1 to 250", a.Addrs)
	}
	var acceptErrs atomic.Int64
	var accepted, silentAccepted atomic.Int64
	var lns []net.Listener
	ready := listenReady{Nofile: nofile}
	for i := 1; i <= a.Addrs; i++ {
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.%d:0", i))
		if err != nil {
			return fmt.Errorf("listen on 127.0.0.%d: %w", i, err)
		}
		lns = append(lns, ln)
		ready.Addrs = append(ready.Addrs, ln.Addr().String())
	}
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("listen for the silent peer: %w", err)
	}
	ready.Silent = silent.Addr().String()

	var wg, held sync.WaitGroup
	// hold keeps c open until the client closes it, after sending first.
	hold := func(c net.Conn, first []byte) {
		held.Add(1)
		go func() {
			defer held.Done()
			if len(first) > 0 {
				c.Write(first)
				c.(*net.TCPConn).CloseWrite()
			}
			var buf [64]byte
			for {
				if _, err := c.Read(buf[:]); err != nil {
					break
				}
			}
			c.Close()
		}()
	}
	greeting := []byte(banner)
	for _, ln := range lns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			acceptLoop(ln, &acceptErrs, func(c net.Conn) {
				accepted.Add(1)
				if a.Banner {
					hold(c, greeting)
					return
				}
				c.Close()
			})
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		acceptLoop(silent, &acceptErrs, func(c net.Conn) {
			silentAccepted.Add(1)
			hold(c, nil) // never write
		})
	}()

	snapshot := func() listenStats {
		return listenStats{Accepted: accepted.Load(), SilentAccepted: silentAccepted.Load(), AcceptErrors: acceptErrs.Load()}
	}
	enc := json.NewEncoder(stdout)
	if err := enc.Encode(ready); err != nil {
		return fmt.Errorf("listener: write addresses: %w", err)
	}
	sc := bufio.NewScanner(stdin)
	for sc.Scan() {
		if err := enc.Encode(snapshot()); err != nil {
			return fmt.Errorf("listener: write counts: %w", err)
		}
	}
	for _, ln := range append(lns, silent) {
		ln.Close()
	}
	wg.Wait()
	return enc.Encode(snapshot())
}

// acceptLoop accepts until ln is closed; a transient error (out of file
// descriptors) is counted and retried after a short pause.
func acceptLoop(ln net.Listener, errs *atomic.Int64, handle func(net.Conn)) {
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			errs.Add(1)
			time.Sleep(5 * time.Millisecond)
			continue
		}
		handle(c)
	}
}

// listenerMain is the entry point of the listener process.
func listenerMain(a listenArgs) int {
	if err := runListener(a, os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "monsta-bench:", err)
		return 2
	}
	return 0
}
