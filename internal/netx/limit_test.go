package netx

import (
	"bufio"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/monsta/monsta/internal/testkit/hostile"
	"github.com/monsta/monsta/internal/testkit/loopback"
)

// greedy reads c the way a library without caps does: everything into
// memory until an error.
func greedy(c net.Conn) error {
	_, err := io.ReadAll(c)
	return err
}

// ehlo says EHLO, then reads greedily.
func ehlo(c net.Conn) error {
	if _, err := io.WriteString(c, "EHLO monsta.local\r\n"); err != nil {
		return err
	}
	return greedy(c)
}

// xmlTokens reads c with encoding/xml, which buffers a whole token.
func xmlTokens(c net.Conn) error {
	dec := xml.NewDecoder(bufio.NewReader(c))
	for {
		if _, err := dec.RawToken(); err != nil {
			return err
		}
	}
}

// TestLimitHostile plays every attack against a LimitedConn read by a
// reader that buffers everything: the run fails with a *TooLongError (the
// trickle with its deadline), and the heap grows by no more than a few
// times the cap.
func TestLimitHostile(t *testing.T) {
	tests := []struct {
		name   string
		script []hostile.Step
		lim    Limits
		read   func(net.Conn) error
		wantN  int64 // the error's N when it is not about the reply's bytes
		cap    int64 // what the heap may grow by, besides slack
		isTime bool  // the run ends at its deadline
		anyErr bool  // a parse error is as good as a cap
	}{
		{name: "endless line", script: []hostile.Step{hostile.EndlessLine("220 ")}, lim: SMTP, read: greedy, cap: SMTP.Reply},
		{name: "endless multi-line reply", script: []hostile.Step{hostile.Send("220 hi\r\n"), hostile.AwaitLine(), hostile.EndlessReply("250-")},
			lim: SMTP, read: ehlo, cap: SMTP.Reply},
		{name: "endless reply, no line cap", script: []hostile.Step{hostile.EndlessReply("250-")},
			lim: Limits{Reply: 256 << 10}, read: greedy, cap: 256 << 10},
		{name: "endless atom", script: []hostile.Step{hostile.EndlessAtom("* OK ")}, lim: IMAP, read: greedy, cap: int64(IMAP.Line)},
		{name: "huge literal", script: []hostile.Step{hostile.HugeLiteral("* 1 FETCH (BODY[] ", 999999999)}, lim: IMAP, read: greedy,
			wantN: 999999999, cap: IMAP.Literal},
		{name: "endless XML attribute", script: []hostile.Step{hostile.EndlessXMLAttr("<stream:stream>")}, lim: XMPP, read: xmlTokens, cap: XMPP.Reply},
		{name: "endless XML element", script: []hostile.Step{hostile.EndlessXMLElement("<stream:stream>")}, lim: XMPP, read: xmlTokens, cap: XMPP.Reply},
		{name: "random bytes", script: []hostile.Step{hostile.Random()}, lim: IMAP, read: greedy, cap: IMAP.Reply},
		{name: "random bytes into XML", script: []hostile.Step{hostile.Send("<a>"), hostile.Random()}, lim: XMPP, read: xmlTokens, cap: XMPP.Reply, anyErr: true},
		{name: "trickle", script: []hostile.Step{hostile.Trickle("220 hello\r\n")}, lim: SMTP, read: greedy, cap: 4096, isTime: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			peer := hostile.Serve(t, tt.script...)
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			raw, err := Dial(ctx, peer.Addr)
			if err != nil {
				t.Fatal(err)
			}
			lc := Limit(Bind(ctx, raw), tt.lim)
			defer lc.Close()
			out := hostile.Run(t, func() error { return tt.read(lc) })
			t.Logf("%s: heap grew by at most %d KiB, peer sent %d KiB", tt.name, out.Peak>>10, peer.Sent()>>10)
			wantLimitOutcome(t, out.Err, lc, tt.anyErr, tt.isTime, tt.wantN)
			// The reader may hold a few copies of what it buffered
			// (io.ReadAll doubles its slice); 2 MiB is the slack of the
			// runtime and the test itself.
			if bound := uint64(4*tt.cap + 2<<20); out.Peak > bound {
				t.Errorf("heap grew by %d bytes, want at most %d", out.Peak, bound)
			}
		})
	}
}

// wantLimitOutcome checks how a read through lc against a hostile peer
// ended: any error (anyErr), its deadline (isTime), or a *TooLongError
// with N wantN (0: any N) that lc reports too.
func wantLimitOutcome(t *testing.T, err error, lc *LimitedConn, anyErr, isTime bool, wantN int64) {
	t.Helper()
	switch {
	case anyErr:
		if err == nil {
			t.Errorf("read error = nil, want one")
		}
	case isTime:
		if !errors.Is(err, os.ErrDeadlineExceeded) || lc.Err() != nil {
			t.Errorf("read error = %v (cap error %v), want the deadline", err, lc.Err())
		}
	default:
		var tl *TooLongError
		if !errors.As(err, &tl) || !errors.Is(err, ErrTooLong) || !errors.Is(err, lc.Err()) {
			t.Fatalf("read error = %v, want a *TooLongError", err)
		}
		if wantN != 0 && tl.N != wantN || wantN == 0 && tl.N <= 0 {
			t.Errorf("TooLongError.N = %d, want %d (or more than the cap)", tl.N, wantN)
		}
		if !strings.HasPrefix(err.Error(), "reply too long (") {
			t.Errorf("error text %q, want `reply too long (N bytes)`", err)
		}
	}
}

// TestLimitCaps feeds exact streams through a LimitedConn: which caps
// trip, and that a write starts a new reply.
func TestLimitCaps(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		lim   Limits
		parts []string // peer's replies; each after a write of ours
		want  int64    // the error's N; 0: no error
	}{
		{name: "under every cap", lim: SMTP, parts: []string{"220 hi\r\n", "250-a\r\n250 b\r\n"}},
		{name: "reply cap", lim: Limits{Reply: 10}, parts: []string{"0123456789", "0123456789x"}, want: 11},
		{name: "total cap across replies", lim: Limits{Reply: 10, Total: 25}, parts: []string{"0123456789", "0123456789", "0123456789"},
			want: 26},
		{name: "write starts a new reply", lim: Limits{Reply: 10}, parts: []string{"0123456789", "0123456789", "0123456789"}},
		{name: "line cap, ending included", lim: Limits{Line: 4}, parts: []string{"abc\n", "abcd\n"}, want: 5},
		{name: "lines cap", lim: Limits{Lines: 2}, parts: []string{"a\nb\n", "a\nb\nc\n"}, want: 6},
		{name: "literal within cap is not scanned for lines", lim: Limits{Line: 10, Literal: 20},
			parts: []string{"* 1 {16}\r\n0123456789abcdef)\r\n"}},
		{name: "the line goes on after a literal", lim: Limits{Line: 10, Literal: 20},
			parts: []string{"* 1 {2}\r\nab0123456789\r\n"}, want: 22},
		{name: "literal too large", lim: Limits{Literal: 20}, parts: []string{"* 1 {21}\r\n"}, want: 21},
		{name: "non-sync literal too large", lim: Limits{Literal: 20}, parts: []string{"a {999999999+}\r\n"}, want: 999999999},
		{name: "literal beyond int64", lim: Limits{Literal: 20}, parts: []string{"a {99999999999999999999}\r\n"}, want: 1<<63 - 1},
		{name: "braces that are no literal", lim: Limits{Literal: 2}, parts: []string{"a {x}\r\n", "b {12} c\r\n", "{}\r\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			client, server := net.Pipe()
			defer client.Close()
			go func() {
				defer server.Close()
				br := bufio.NewReader(server)
				for _, p := range tt.parts {
					if _, err := br.ReadByte(); err != nil { // our write
						return
					}
					for i := 0; i < len(p); i++ { // byte by byte: every split
						if _, err := server.Write([]byte{p[i]}); err != nil {
							return
						}
					}
				}
			}()
			lc := Limit(client, tt.lim)
			var err error
			for _, p := range tt.parts {
				if _, err = lc.Write([]byte{'.'}); err != nil {
					break
				}
				if _, err = io.ReadFull(lc, make([]byte, len(p))); err != nil {
					break
				}
			}
			if tt.want == 0 && lc.Err() != nil {
				t.Fatalf("cap error %v, want none (read error %v)", lc.Err(), err)
			}
			var tl *TooLongError
			if tt.want != 0 && (!errors.As(lc.Err(), &tl) || tl.N != tt.want) {
				t.Fatalf("cap error %v, want reply too long (%d bytes)", lc.Err(), tt.want)
			}
		})
	}
}

// TestLimitSticky wants every read after a tripped cap to fail, and Abort
// to see through a LimitedConn.
func TestLimitSticky(t *testing.T) {
	t.Parallel()
	addr := loopback.Serve(t, func(c net.Conn) { io.WriteString(c, "0123456789abcdef") })
	raw, err := Dial(context.Background(), addr)
	if err != nil {
		t.Fatal(err)
	}
	lc := Limit(raw, Limits{Reply: 4})
	defer Abort(lc)
	if tcpConn(lc) == nil {
		t.Errorf("tcpConn(LimitedConn) = nil, want the TCP connection")
	}
	buf := make([]byte, 16)
	for range 3 {
		if n, err := lc.Read(buf); n != 0 || !errors.Is(err, ErrTooLong) {
			t.Fatalf("Read() = %d, %v; want 0, reply too long", n, err)
		}
	}
}

func TestReadBody(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		max     int64
		want    string
		wantErr string
	}{
		{in: "", max: 4, want: ""},
		{in: "abcd", max: 4, want: "abcd"},
		{in: "abcde", max: 4, want: "abcd", wantErr: "reply too long (5 bytes)"},
	}
	for _, tt := range tests {
		got, err := ReadBody(strings.NewReader(tt.in), tt.max)
		if string(got) != tt.want || (err == nil) != (tt.wantErr == "") || err != nil && err.Error() != tt.wantErr {
			t.Errorf("ReadBody(%q, %d) = %q, %v; want %q, %q", tt.in, tt.max, got, err, tt.want, tt.wantErr)
		}
	}
}

// TestReadBodyEndless reads an endless body: it stops at the cap.
func TestReadBodyEndless(t *testing.T) {
	peer := hostile.Serve(t, hostile.Random())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	raw, err := Dial(ctx, peer.Addr)
	if err != nil {
		t.Fatal(err)
	}
	c := Bind(ctx, raw)
	defer c.Close()
	out := hostile.Run(t, func() error { _, err := ReadBody(c, BodyMax); return err })
	t.Logf("endless body: heap grew by at most %d KiB", out.Peak>>10)
	if !errors.Is(out.Err, ErrTooLong) {
		t.Errorf("ReadBody() error = %v, want reply too long", out.Err)
	}
	if bound := uint64(4*BodyMax + 2<<20); out.Peak > bound {
		t.Errorf("heap grew by %d bytes, want at most %d", out.Peak, bound)
	}
}

func TestHTTPCause(t *testing.T) {
	t.Parallel()
	other := errors.New("net/http: timeout awaiting response headers")
	tests := []struct {
		err  error
		want string
	}{
		{err: nil, want: "<nil>"},
		{err: other, want: other.Error()},
		{err: fmt.Errorf("broken: %w", errors.New("net/http: server response headers exceeded 65536 bytes; aborted")),
			want: "reply too long (65537 bytes)"},
		{err: errors.New("server response headers exceeded lots of bytes"), want: "server response headers exceeded lots of bytes"},
	}
	for _, tt := range tests {
		if got := fmt.Sprint(HTTPCause(tt.err)); got != tt.want {
			t.Errorf("HTTPCause(%v) = %s, want %s", tt.err, got, tt.want)
		}
	}
}
