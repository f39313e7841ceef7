package builtins

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	probing "github.com/prometheus-community/pro-bing"
)

// rangeFile writes a ping_group_range of the test's own.
func rangeFile(t *testing.T, content string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "ping_group_range")
	if err := os.WriteFile(f, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

// canPing tells whether this process can open some ICMP socket.
func canPing(t *testing.T) bool {
	raw, _ := needRawSocket(pingGroupRange)
	return !raw || os.Geteuid() == 0
}

func TestPingLoopback(t *testing.T) {
	t.Parallel()
	if !canPing(t) {
		t.Skip("neither an unprivileged ICMP socket nor CAP_NET_RAW; the integration suite runs this as root")
	}
	for _, tt := range []struct {
		raw     map[string]string
		wantErr string
	}{
		{raw: map[string]string{"count": "2"}},
		// Any real round trip is longer than a nanosecond.
		{raw: map[string]string{"count": "1", "max_rtt": "1ns"}, wantErr: "ping 127.0.0.1: average round trip"},
	} {
		tt.raw["host"] = "127.0.0.1"
		c, err := newTestCheck(t, pingDescriptor(), tt.raw)
		if err != nil {
			t.Fatal(err)
		}
		stats, _ := runWantErr(t, c, 5*time.Second, tt.wantErr)
		if stats["received"] != stats["sent"] || stats["sent"] < 1 || stats["loss_percent"] != 0 {
			t.Errorf("stats = %v, want every request answered", stats)
		}
	}
}

func TestPingSocketErrors(t *testing.T) {
	t.Parallel()
	denied := func(*probing.Pinger, context.Context) error {
		return &net.OpError{Op: "listen", Net: "ip4:icmp", Err: os.NewSyscallError("socket", syscall.EPERM)}
	}
	for _, tt := range []struct {
		name, groupRange string
		wantErr          []string
	}{
		{"neither", "1\t0\n", []string{`ping 127.0.0.1: unprivileged ICMP sockets are not allowed (net.ipv4.ping_group_range is "1 0", which includes none of monsta's groups`,
			"a raw ICMP socket needs CAP_NET_RAW, which monsta lacks: operation not permitted"}},
		{"datagram refused", "0 2147483647\n", []string{"the unprivileged ICMP socket was refused although net.ipv4.ping_group_range allows it: operation not permitted"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := newTestCheck(t, pingDescriptor(), map[string]string{"host": "127.0.0.1"})
			if err != nil {
				t.Fatal(err)
			}
			p := c.(*Ping)
			p.rangeFile = rangeFile(t, tt.groupRange)
			p.run = denied
			_, err = runGuarded(t, c, 5*time.Second)
			checkErrs(t, err, tt.wantErr)
		})
	}
}

func TestNeedRawSocket(t *testing.T) {
	t.Parallel()
	for content, want := range map[string]bool{"0 2147483647\n": false, "1 0\n": true, "garbage": true} {
		if got, why := needRawSocket(rangeFile(t, content)); got != want || (got && why == "") {
			t.Errorf("needRawSocket(%q) = %v, %q; want %v", content, got, why, want)
		}
	}
	if got, why := needRawSocket(filepath.Join(t.TempDir(), "none")); !got || !strings.Contains(why, "unreadable") {
		t.Errorf("needRawSocket(missing) = %v, %q", got, why)
	}
}

func TestPingOptions(t *testing.T) {
	t.Parallel()
	d := pingDescriptor()
	wantNewCheckErr(t, d, map[string]string{"host": "h", "count": "0"}, "not a count from 1 to 100")
	wantNewCheckErr(t, d, map[string]string{"host": "h", "max_loss": "120"}, "from 0 to 100")
	wantNewCheckErr(t, d, map[string]string{"host": "h", "count": "50", "timeout": "5"}, "do not fit in timeout 5s")
}
