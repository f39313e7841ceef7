package netx

import (
	"context"
	"errors"
	"net"
	"strconv"
	"testing"

	"github.com/miekg/dns"

	"github.com/monsta/monsta/internal/fdlimit"
	"github.com/monsta/monsta/internal/testkit/loopback"
)

// spend leaves fdlimit.Checks with n descriptors free until the test ends.
// Tests that call it must not be parallel: the budget is the process's.
func spend(t *testing.T, n int) *fdlimit.Budget {
	t.Helper()
	b := fdlimit.Checks()
	old := b.Size()
	b.Resize(b.InUse() + n)
	t.Cleanup(func() { b.Resize(old) })
	return b
}

// TestDialBudget: a dial without a descriptor left fails cleanly, and a
// connection holds one until it is closed.
func TestDialBudget(t *testing.T) {
	addr := loopback.Serve(t, func(c net.Conn) { c.Write([]byte("hi\n")) })
	b := spend(t, 0)
	_, err := Dial(context.Background(), addr)
	if !errors.Is(err, fdlimit.ErrExhausted) {
		t.Fatalf("Dial() with the budget spent error = %v, want %v", err, fdlimit.ErrExhausted)
	}
	if want := "connect " + addr + ": descriptor budget exhausted"; err.Error() != want {
		t.Errorf("Dial() error = %q, want %q", err, want)
	}
	b.Resize(b.InUse() + 1)
	before := b.InUse()
	c, err := Dial(context.Background(), addr)
	if err != nil {
		t.Fatalf("Dial() with one descriptor left error = %v", err)
	}
	if got := b.InUse(); got != before+1 {
		t.Errorf("InUse() with the connection open = %d, want %d", got, before+1)
	}
	if _, err := Dial(context.Background(), addr); !errors.Is(err, fdlimit.ErrExhausted) {
		t.Errorf("second Dial() error = %v, want %v", err, fdlimit.ErrExhausted)
	}
	if err := Abort(c); err != nil {
		t.Errorf("Abort() error = %v", err)
	}
	if got := b.InUse(); got != before {
		t.Errorf("InUse() after Abort = %d, want %d", got, before)
	}
	// A refused dial gives its descriptor back.
	if _, err := Dial(context.Background(), "127.0.0.1:"+strconv.Itoa(loopback.ClosedPort(t))); err == nil {
		t.Fatal("Dial() of port 1 succeeded")
	}
	if got := b.InUse(); got != before {
		t.Errorf("InUse() after a failed dial = %d, want %d", got, before)
	}
}

func TestExchangeDNSBudget(t *testing.T) {
	spend(t, 0)
	m := new(dns.Msg)
	m.SetQuestion("example.org.", dns.TypeA)
	_, err := ExchangeDNS(context.Background(), &dns.Client{Net: "udp"}, m, "127.0.0.1:53")
	if !errors.Is(err, fdlimit.ErrExhausted) {
		t.Fatalf("ExchangeDNS() with the budget spent error = %v, want %v", err, fdlimit.ErrExhausted)
	}
}
