package builtins

import (
	"context"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// fakeDNS is an in-process DNS server on 127.0.0.1, UDP and TCP on one port.
type fakeDNS struct {
	addr     string
	udp, tcp atomic.Int32 // queries received per protocol
}

// dnsHandler answers one query; proto is "udp" or "tcp". A nil reply sends
// nothing.
type dnsHandler func(proto string, q *dns.Msg) *dns.Msg

// startFakeDNS serves h on 127.0.0.1:<free port> over UDP and TCP until the
// test ends.
func startFakeDNS(t testing.TB, h dnsHandler) *fakeDNS {
	t.Helper()
	f := &fakeDNS{}
	var pc net.PacketConn
	var ln net.Listener
	for try := 0; ; try++ {
		var err error
		pc, err = net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("listen udp: %v", err)
		}
		ln, err = net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			break
		}
		pc.Close()
		if try == 20 {
			t.Fatalf("listen tcp on the udp port: %v", err)
		}
	}
	f.addr = pc.LocalAddr().String()
	handler := dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		proto := "tcp"
		if _, ok := w.LocalAddr().(*net.UDPAddr); ok {
			proto = "udp"
			f.udp.Add(1)
		} else {
			f.tcp.Add(1)
		}
		if r := h(proto, q); r != nil {
			_ = w.WriteMsg(r)
		}
	})
	for _, srv := range []*dns.Server{{PacketConn: pc, Handler: handler}, {Listener: ln, Handler: handler}} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go func() { _ = srv.ActivateAndServe() }()
		<-started
		t.Cleanup(func() { _ = srv.Shutdown() })
	}
	return f
}

// zoneHandler answers from records in zone-file syntax: the records of the
// asked name and type; NXDOMAIN for a name without records; answers larger
// than 512 bytes over UDP are truncated (TC set).
func zoneHandler(t testing.TB, records ...string) dnsHandler {
	t.Helper()
	var rrs []dns.RR
	for _, s := range records {
		rr, err := dns.NewRR(s)
		if err != nil {
			t.Fatalf("record %q: %v", s, err)
		}
		rrs = append(rrs, rr)
	}
	return func(proto string, q *dns.Msg) *dns.Msg {
		r := new(dns.Msg)
		r.SetReply(q)
		r.Authoritative = true
		qq := q.Question[0]
		known := false
		for _, rr := range rrs {
			if !strings.EqualFold(rr.Header().Name, qq.Name) {
				continue
			}
			known = true
			if rr.Header().Rrtype == qq.Qtype {
				r.Answer = append(r.Answer, rr)
			}
		}
		if !known {
			r.Rcode = dns.RcodeNameError
		}
		if proto == "udp" {
			r.Truncate(dns.MinMsgSize)
		}
		return r
	}
}

// rcodeHandler answers every query with rcode.
func rcodeHandler(rcode int) dnsHandler {
	return func(_ string, q *dns.Msg) *dns.Msg {
		r := new(dns.Msg)
		r.SetRcode(q, rcode)
		return r
	}
}

// silentUDP returns the address of a UDP socket that reads and never answers.
func silentUDP(t testing.TB) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen udp: %v", err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 2048)
		for {
			if _, _, err := pc.ReadFrom(buf); err != nil {
				return
			}
		}
	}()
	return pc.LocalAddr().String()
}

// closedUDPAddr returns a loopback address where nothing listens (UDP and TCP).
func closedUDPAddr(t testing.TB) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen udp: %v", err)
	}
	addr := pc.LocalAddr().String()
	pc.Close()
	return addr
}

func TestParseDNSServer(t *testing.T) {
	tests := []struct {
		in, addr, key, err string
	}{
		{in: "127.0.0.2:5353", addr: "127.0.0.2:5353", key: "127_0_0_2_5353"},
		{in: "127.0.0.2", addr: "127.0.0.2:53", key: "127_0_0_2_53"},
		{in: "::1", addr: "[::1]:53", key: "1_53"},
		{in: "[::1]:5353", addr: "[::1]:5353", key: "1_5353"},
		{in: "[2001:DB8::1]", addr: "[2001:DB8::1]:53", key: "2001_db8_1_53"},
		{in: "fe80::1%eth0", addr: "[fe80::1%eth0]:53", key: "fe80_1_eth0_53"},
		{in: "ns1.Example.org", addr: "ns1.Example.org:53", key: "ns1_example_org_53"},
		{in: "ns1.example.org:5300", addr: "ns1.example.org:5300", key: "ns1_example_org_5300"},
		{in: "ns1:0", err: `"0" is not a port number`},
		{in: "ns1:dns", err: `"dns" is not a port number`},
		{in: "[::1", err: "missing ']'"},
		{in: "[nohost]:53", err: "is not an IPv6 address"},
		{in: ":53", err: "no host"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseDNSServers([]string{tt.in}, "53")
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("parseDNSServers(%q) error = %v, want %q", tt.in, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseDNSServers(%q) error = %v", tt.in, err)
			}
			if got[0].addr != tt.addr || got[0].label != tt.addr || got[0].key != tt.key {
				t.Errorf("parseDNSServers(%q) = %+v, want addr/label %q key %q", tt.in, got[0], tt.addr, tt.key)
			}
		})
	}
}

// joinServers returns field of each server, space-separated.
func joinServers(srvs []dnsServer, field func(dnsServer) string) string {
	var out []string
	for _, s := range srvs {
		out = append(out, field(s))
	}
	return strings.Join(out, " ")
}

func TestStatsKeysAreDistinct(t *testing.T) {
	srvs, err := parseDNSServers([]string{"127.0.0.1:53", "127.0.0.1", "127-0-0-1:53"}, "53")
	if err != nil {
		t.Fatalf("parseDNSServers() error = %v", err)
	}
	if got, want := joinServers(srvs, func(s dnsServer) string { return s.key }), "127_0_0_1_53 127_0_0_1_53_2 127_0_0_1_53_3"; got != want {
		t.Errorf("keys = %v, want %s", got, want)
	}
}

func TestResolvConfServers(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := dir + "/" + name
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.conf", "# test\nsearch example.org\nnameserver 127.0.0.1\nnameserver ::1\nnameserver 127.0.0.1:5300\noptions ndots:2\n")
	srvs, err := resolvConfServers(good)
	if err != nil {
		t.Fatalf("resolvConfServers() error = %v", err)
	}
	if got, want := joinServers(srvs, func(s dnsServer) string { return s.addr }), "127.0.0.1:53 [::1]:53 127.0.0.1:5300"; got != want {
		t.Errorf("servers = %v, want %s", got, want)
	}
	if _, err := resolvConfServers(write("none.conf", "search example.org\n")); err == nil ||
		!strings.Contains(err.Error(), "no nameserver line") {
		t.Errorf("resolvConfServers(no nameserver) error = %v, want no nameserver line", err)
	}
	if _, err := resolvConfServers(dir + "/missing.conf"); err == nil ||
		!strings.Contains(err.Error(), "read resolver configuration") {
		t.Errorf("resolvConfServers(missing) error = %v, want read resolver configuration", err)
	}
}

func TestExchangeCancel(t *testing.T) {
	srv := dnsServer{addr: silentUDP(t), label: "silent"}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan dnsReply, 1)
	go func() { done <- dnsExchange(ctx, srv, "www.monsta.test.", dns.TypeA, "udp") }()
	cancel()
	select {
	case r := <-done:
		if r.err == nil || !strings.Contains(r.err.Error(), "context canceled") {
			t.Errorf("dnsExchange() error = %v, want context canceled", r.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("dnsExchange() ignored the cancellation")
	}
}

func TestRcodeError(t *testing.T) {
	for rc, want := range map[int]string{dns.RcodeNameError: "NXDOMAIN", dns.RcodeServerFailure: "SERVFAIL",
		dns.RcodeRefused: "REFUSED", 3841: "RCODE3841"} {
		m := &dns.Msg{}
		m.Rcode = rc
		if err := rcodeError(m); err == nil || err.Error() != want {
			t.Errorf("rcodeError(%d) = %v, want %s", rc, err, want)
		}
	}
	if err := rcodeError(&dns.Msg{}); err != nil {
		t.Errorf("rcodeError(NOERROR) = %v, want nil", err)
	}
}
