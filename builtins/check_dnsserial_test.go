package builtins

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/monsta/monsta/config"
	"github.com/monsta/monsta/runtime"
)

// soaZone serves monsta.test's SOA with serial; authoritative tells whether
// the AA flag is set.
func soaZone(t *testing.T, serial uint32, authoritative bool) *fakeDNS {
	t.Helper()
	h := zoneHandler(t, fmt.Sprintf("monsta.test. 300 IN SOA ns1.monsta.test. hostmaster.monsta.test. %d 3600 600 86400 300", serial),
		"www.monsta.test. 300 IN A 127.0.0.1")
	return startFakeDNS(t, func(proto string, q *dns.Msg) *dns.Msg {
		r := h(proto, q)
		r.Authoritative = authoritative
		return r
	})
}

func TestDNSSerialOptions(t *testing.T) {
	tests := []struct {
		name string
		raw  map[string]string
		err  string
	}{
		{"good", map[string]string{"hosts": "127.0.0.2:5353 [::1]:5353", "zone": "monsta.test"}, ""},
		{"no hosts", map[string]string{"hosts": " ", "zone": "monsta.test"}, "hosts: no server given"},
		{"bad host", map[string]string{"hosts": "[::1]:x", "zone": "monsta.test"}, `"x" is not a port number`},
		{"bad zone", map[string]string{"hosts": "127.0.0.1", "zone": "a..b"}, `zone: "a..b" is not a domain name`},
		{"missing zone", map[string]string{"hosts": "127.0.0.1"}, "zone: required option missing"},
		{"bad protocol", map[string]string{"hosts": "127.0.0.1", "zone": "x", "protocol": "dot"}, `"dot" is not one of`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantNewCheckErr(t, dnsserialDescriptor(), tt.raw, tt.err)
		})
	}
}

func TestDNSSerial(t *testing.T) {
	a := soaZone(t, 2026112401, true)
	b := soaZone(t, 2026112401, true)
	lag := soaZone(t, 2026112300, true)
	notAuth := soaZone(t, 2026112401, false)
	refused := startFakeDNS(t, rcodeHandler(dns.RcodeRefused))
	silent := silentUDP(t)
	closed := closedUDPAddr(t)
	tests := []struct {
		name    string
		hosts   []string
		zone    string
		timeout time.Duration
		want    []string // messages; nil for a pass
	}{
		{name: "in sync", hosts: []string{a.addr, b.addr}},
		{name: "one server", hosts: []string{lag.addr}},
		{name: "lagging", hosts: []string{a.addr, b.addr, lag.addr}, want: []string{
			fmt.Sprintf("serials differ: %s=2026112401 %s=2026112401 %s=2026112300", a.addr, b.addr, lag.addr)}},
		{name: "not authoritative", hosts: []string{a.addr, notAuth.addr}, want: []string{
			notAuth.addr + ": monsta.test SOA: answer is not authoritative (AA flag not set)"}},
		{name: "not an apex", hosts: []string{a.addr}, zone: "www.monsta.test", want: []string{
			a.addr + ": www.monsta.test SOA: no SOA record of the zone in the answer (not a zone apex?)"}},
		{name: "unknown zone", hosts: []string{a.addr}, zone: "other.test", want: []string{
			a.addr + ": other.test SOA: NXDOMAIN"}},
		{name: "refused and lagging", hosts: []string{a.addr, refused.addr, lag.addr}, want: []string{
			refused.addr + ": monsta.test SOA: REFUSED",
			fmt.Sprintf("serials differ: %s=2026112401 %s=REFUSED %s=2026112300", a.addr, refused.addr, lag.addr)}},
		{name: "timeout and down", hosts: []string{a.addr, silent, closed}, timeout: time.Second, want: []string{
			silent + ": monsta.test SOA: timeout: no reply over udp: context deadline exceeded",
			closed + ": monsta.test SOA: query over udp: read udp "}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			zone := tt.zone
			if zone == "" {
				zone = "monsta.test"
			}
			c, err := newTestCheck(t, dnsserialDescriptor(), map[string]string{"hosts": strings.Join(tt.hosts, " "), "zone": zone})
			if err != nil {
				t.Fatalf("NewCheck() error = %v", err)
			}
			timeout := tt.timeout
			if timeout == 0 {
				timeout = 5 * time.Second
			}
			st, err := runGuarded(t, c, timeout)
			msgs := runtime.ErrorMessages(err)
			if len(msgs) != len(tt.want) {
				t.Fatalf("Run() messages = %q, want %q", msgs, tt.want)
			}
			for i := range msgs {
				if !strings.HasPrefix(msgs[i], tt.want[i]) {
					t.Errorf("message %d = %q, want %q", i, msgs[i], tt.want[i])
				}
			}
			if tt.want == nil {
				for _, h := range tt.hosts {
					k := statsKey(h)
					if st[k+"_serial"] < 2026112300 || st[k+"_seconds"] <= 0 {
						t.Errorf("stats = %v, want %s_serial and %s_seconds", st, k, k)
					}
				}
				if st["max_seconds"] <= 0 {
					t.Errorf("stats = %v, want max_seconds", st)
				}
			}
		})
	}
}

func TestDNSSerialStats(t *testing.T) {
	a := soaZone(t, 7, true)
	lag := soaZone(t, 6, true)
	c, err := newTestCheck(t, dnsserialDescriptor(), map[string]string{"hosts": a.addr + " " + lag.addr,
		"zone": "Monsta.Test.", "protocol": "tcp"})
	if err != nil {
		t.Fatalf("NewCheck() error = %v", err)
	}
	st, err := runGuarded(t, c, 5*time.Second)
	if err == nil {
		t.Fatal("Run() error = nil, want serials differ")
	}
	if st[statsKey(a.addr)+"_serial"] != 7 || st[statsKey(lag.addr)+"_serial"] != 6 {
		t.Errorf("stats = %v, want serials 7 and 6", st)
	}
	if a.tcp.Load() != 1 || a.udp.Load() != 0 {
		t.Errorf("queries udp=%d tcp=%d, want tcp only", a.udp.Load(), a.tcp.Load())
	}
}

// TestDNSExamples builds a check from each DNS descriptor's Example.
func TestDNSExamples(t *testing.T) {
	for _, d := range []runtime.Descriptor{dnslookupDescriptor(), dnsserialDescriptor()} {
		t.Run(d.Name, func(t *testing.T) {
			if strings.Contains(d.Example, "\n ") || strings.Contains(d.Example, "\n\t") {
				t.Errorf("Example has indented lines:\n%s", d.Example)
			}
			secs, _, err := config.Parse(d.Name+".example", []byte(d.Example))
			if err != nil || len(secs) != 1 {
				t.Fatalf("Parse(Example) = %d sections, error %v; want 1 section", len(secs), err)
			}
			raw := map[string]string{}
			for _, k := range secs[0].Keys() {
				raw[k.Name] = k.Value
			}
			if raw["type"] != d.Name {
				t.Errorf("Example type = %q, want %q", raw["type"], d.Name)
			}
			delete(raw, "type")
			if _, err := newTestCheck(t, d, raw); err != nil {
				t.Errorf("NewCheck(Example) error = %v", err)
			}
		})
	}
}
