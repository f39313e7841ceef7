package main

import (
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

// listenArgs configures the listener process.
type listenArgs struct {
	Addrs int // listeners on 127.0.0.1, 127.0.0.2, … that accept and close
}

// listenReady is the first line the listener process prints.
type listenReady struct {
	Addrs  []string // accept and close at once
	Silent string   // accepts and never writes
	Nofile uint64
}

// listenStats is the last line the listener process prints, after its
// stdin closes.
type listenStats struct {
	Accepted       int64
	SilentAccepted int64
	AcceptErrors   int64
}

// runListener serves until stdin closes. It lives in its own process so
// that the cost of accepting is not counted against the daemon or the bare
// loop.
func runListener(a listenArgs, stdin io.Reader, stdout io.Writer) error {
	nofile := raiseNofile(1 << 20)
	if a.Addrs < 1 || a.Addrs > 250 {
		return fmt.Errorf("listener: %d addresses: want 1 to 250", a.Addrs)
	}
	var st listenStats
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

	var wg sync.WaitGroup
	for _, ln := range lns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			acceptLoop(ln, &acceptErrs, func(c net.Conn) {
				accepted.Add(1)
				c.Close()
			})
		}()
	}
	var held sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		acceptLoop(silent, &acceptErrs, func(c net.Conn) {
			silentAccepted.Add(1)
			held.Add(1)
			go func() {
				// Never write; hold the connection until the peer gives up.
				defer held.Done()
				io.Copy(io.Discard, c)
				c.Close()
			}()
		})
	}()

	enc := json.NewEncoder(stdout)
	if err := enc.Encode(ready); err != nil {
		return fmt.Errorf("listener: write addresses: %w", err)
	}
	io.Copy(io.Discard, stdin)
	for _, ln := range append(lns, silent) {
		ln.Close()
	}
	wg.Wait()
	st.Accepted, st.SilentAccepted, st.AcceptErrors = accepted.Load(), silentAccepted.Load(), acceptErrs.Load()
	return enc.Encode(st)
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
