// Package hostile is a loopback peer that misbehaves on purpose, for the
// hostile-peer tests of every protocol client: it plays a short script (a
// greeting, waiting for the client's commands) and then one attack, such as
// an endless line or a literal of a gigabyte, until the client hangs up or
// the test ends.
//
// An attack writes as fast as the client reads (TCP flow control paces it),
// except Trickle, which sends one byte a second.
package hostile

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	goruntime "runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/monsta/monsta/internal/testkit/loopback"
)

// Step is one move of a script: it reads from r (the client's bytes) or
// writes to c. An error ends the connection.
type Step func(c net.Conn, r *bufio.Reader) error

// Send writes s.
func Send(s string) Step {
	return func(c net.Conn, _ *bufio.Reader) error {
		_, err := io.WriteString(c, s)
		return err
	}
}

// AwaitLine reads one line the client sends (a command) and ignores it.
func AwaitLine() Step {
	return func(_ net.Conn, r *bufio.Reader) error {
		_, err := r.ReadSlice('\n')
		return err
	}
}

// Await reads what the client sends until s has been seen (the end of an
// XML stream header, say).
func Await(s string) Step {
	return func(_ net.Conn, r *bufio.Reader) error {
		var seen []byte
		for !bytes.Contains(seen, []byte(s)) {
			b, err := r.ReadByte()
			if err != nil {
				return err
			}
			seen = append(seen, b)
			if len(seen) > 64<<10 {
				seen = seen[len(seen)-len(s):]
			}
		}
		return nil
	}
}

// StartTLS performs a TLS handshake as the server with cfg and plays then
// over the TLS connection: an attack after STARTTLS.
func StartTLS(cfg *tls.Config, then ...Step) Step {
	return func(c net.Conn, r *bufio.Reader) error {
		if r.Buffered() > 0 {
			return errors.New("client sent data before the TLS handshake")
		}
		tc := tls.Server(c, cfg)
		if err := tc.Handshake(); err != nil {
			return err
		}
		tr := bufio.NewReader(tc)
		for _, step := range then {
			if err := step(tc, tr); err != nil {
				return err
			}
		}
		_, err := io.Copy(io.Discard, tr)
		return err
	}
}

// chunk is the size of one write of an attack.
const chunk = 32 << 10

// repeat writes prefix, then unit over and over.
func repeat(prefix, unit string) Step {
	return func(c net.Conn, _ *bufio.Reader) error {
		if _, err := io.WriteString(c, prefix); err != nil {
			return err
		}
		buf := bytes.Repeat([]byte(unit), max(1, chunk/len(unit)))
		for {
			if _, err := c.Write(buf); err != nil {
				return err
			}
		}
	}
}

// EndlessLine writes prefix and then a line that never ends.
func EndlessLine(prefix string) Step { return repeat(prefix, "x") }

// EndlessReply writes lines that each start with prefix ("250-") forever:
// one multi-line reply that never ends.
func EndlessReply(prefix string) Step { return repeat("", prefix+"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n") }

// EndlessAtom writes prefix ("* OK ") and then one atom that never ends.
func EndlessAtom(prefix string) Step { return repeat(prefix, "a") }

// HugeLiteral writes prefix ("* 1 FETCH (BODY[] ") and the announcement of
// an IMAP literal of n bytes, then sends bytes of it forever.
func HugeLiteral(prefix string, n int64) Step {
	return repeat(prefix+"{"+strconv.FormatInt(n, 10)+"}\r\n", "x")
}

// EndlessXMLAttr writes prefix (an XML stream header, say), then an
// element whose attribute value never ends.
func EndlessXMLAttr(prefix string) Step { return repeat(prefix+"<stream:features a='", "x") }

// EndlessXMLElement writes prefix and then an element whose start tag (its
// name) never ends.
func EndlessXMLElement(prefix string) Step { return repeat(prefix+"<", "x") }

// Trickle writes s one byte a second, then keeps the connection open.
func Trickle(s string) Step {
	return func(c net.Conn, r *bufio.Reader) error {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for i := 0; i < len(s); i++ {
			if _, err := c.Write([]byte{s[i]}); err != nil {
				return err
			}
			<-t.C
		}
		_, err := io.Copy(io.Discard, r)
		return err
	}
}

// Random writes random bytes forever (from a fixed seed, so that a failure
// can be replayed).
func Random() Step {
	return func(c net.Conn, _ *bufio.Reader) error {
		rng := rand.NewChaCha8([32]byte{'m', 'o', 'n', 's', 't', 'a'})
		buf := make([]byte, chunk)
		for {
			_, _ = rng.Read(buf)
			if _, err := c.Write(buf); err != nil {
				return err
			}
		}
	}
}

// Peer is a running hostile server.
type Peer struct {
	// Addr is the listener's host:port on 127.0.0.1.
	Addr string
	sent atomic.Int64
}

// Sent returns how many bytes the peer has written in all its connections.
func (p *Peer) Sent() int64 { return p.sent.Load() }

// Serve starts a peer on 127.0.0.1 that plays script on every connection;
// it stops when the test ends.
func Serve(t testing.TB, script ...Step) *Peer {
	t.Helper()
	p := &Peer{}
	p.Addr = loopback.Serve(t, func(c net.Conn) {
		cc := &counting{Conn: c, n: &p.sent}
		r := bufio.NewReader(c)
		for _, step := range script {
			if step(cc, r) != nil {
				return
			}
		}
		_, _ = io.Copy(io.Discard, r) // the script is over: hold the line
	})
	return p
}

// counting counts the bytes written to its connection.
type counting struct {
	net.Conn
	n *atomic.Int64
}

func (c *counting) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.n.Add(int64(n))
	return n, err
}

// Outcome is what Run observed of one run against a hostile peer.
type Outcome struct {
	Err error
	// Peak is the largest growth of the heap (HeapAlloc, as
	// runtime.ReadMemStats reports it) over its value before the run,
	// sampled every millisecond while the run lasted.
	Peak uint64
}

// Run runs f, which talks to a hostile peer and must end by its own
// deadline, and measures the heap while it runs. A run that has not ended
// after 10 s fails the test (a guard against hangs, not a timing
// assertion). Tests that call Run should not run in parallel with others,
// which would add their own allocations to Peak.
func Run(t testing.TB, f func() error) Outcome {
	t.Helper()
	goruntime.GC()
	var ms goruntime.MemStats
	goruntime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	done := make(chan error, 1)
	go func() { done <- f() }()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	guard := time.NewTimer(10 * time.Second)
	defer guard.Stop()
	var out Outcome
	sample := func() {
		goruntime.ReadMemStats(&ms)
		if ms.HeapAlloc > base && ms.HeapAlloc-base > out.Peak {
			out.Peak = ms.HeapAlloc - base
		}
	}
	for {
		select {
		case out.Err = <-done:
			sample()
			return out
		case <-tick.C:
			sample()
		case <-guard.C:
			t.Fatal("the run against the hostile peer did not end within 10 s")
			return out
		}
	}
}
