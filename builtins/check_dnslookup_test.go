package builtins

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/monsta/monsta/config"
	"github.com/monsta/monsta/internal/testkit/loopback"
	"github.com/monsta/monsta/runtime"
)

// testZone is the fake servers' data, in zone-file syntax.
var testZone = []string{
	"www.monsta.test. 300 IN A 127.0.0.1",
	"www.monsta.test. 300 IN A 127.0.0.5",
	"www.monsta.test. 300 IN AAAA fd00::10",
	"www.monsta.test. 300 IN AAAA ::1",
	"monsta.test. 300 IN MX 10 mx1.monsta.test.",
	"monsta.test. 300 IN MX 20 mx2.monsta.test.",
	"monsta.test. 300 IN NS ns1.monsta.test.",
	"monsta.test. 300 IN NS ns2.monsta.test.",
	`monsta.test. 300 IN TXT "v=spf1 mx -all"`,
	`monsta.test. 300 IN CAA 0 issue "ca.monsta.test"`,
	"monsta.test. 300 IN SOA ns1.monsta.test. hostmaster.monsta.test. 2026112401 3600 600 86400 300",
	`multi.monsta.test. 300 IN TXT "first part " "second part"`,
	"alias.monsta.test. 300 IN CNAME www.monsta.test.",
	"1.0.0.127.in-addr.arpa. 300 IN PTR www.monsta.test.",
	"_sip._tcp.monsta.test. 300 IN SRV 10 5 5060 sip.monsta.test.",
	"onlyv4.monsta.test. 300 IN A 127.0.0.9",
}

// bigTXT is a TXT RRset far larger than a 512-byte UDP answer.
func bigTXT() []string {
	var out []string
	for i := range 12 {
		out = append(out, fmt.Sprintf(`big.monsta.test. 300 IN TXT "%02d-%s"`, i+1, strings.Repeat("x", 97)))
	}
	return out
}

// TestDNSAnswerMatching pins the comparison rules per record type: a value
// written as dig +short shows it matches the record.
func TestDNSAnswerMatching(t *testing.T) {
	tests := []struct {
		name, rr, qtype, want string
		match                 bool
	}{
		{"A", "x. IN A 127.0.0.1", "A", "127.0.0.1", true},
		{"A other", "x. IN A 127.0.0.1", "A", "127.0.0.2", false},
		{"AAAA canonical", "x. IN AAAA 2001:db8::10", "AAAA", "2001:DB8:0:0:0:0:0:10", true},
		{"AAAA zeros", "x. IN AAAA 2001:db8::10", "AAAA", "2001:db8:0::010", true},
		{"AAAA other", "x. IN AAAA 2001:db8::10", "AAAA", "2001:db8::11", false},
		{"CNAME in A answer", "x. IN CNAME www.Example.org.", "A", "www.example.org", true},
		{"NS trailing dot", "x. IN NS ns1.example.org.", "NS", "ns1.example.org.", true},
		{"NS no dot, case", "x. IN NS ns1.example.org.", "NS", "NS1.Example.Org", true},
		{"CNAME", "x. IN CNAME www.example.org.", "CNAME", "www.example.org", true},
		{"PTR", "x. IN PTR host.example.org.", "PTR", "HOST.example.org.", true},
		{"MX exchange", "x. IN MX 10 mx.example.org.", "MX", "mx.example.org", true},
		{"MX pref and exchange", "x. IN MX 10 mx.example.org.", "MX", "10 mx.example.org.", true},
		{"MX pref quoted", "x. IN MX 10 mx.example.org.", "MX", `"10 mx.example.org"`, true},
		{"MX wrong pref", "x. IN MX 10 mx.example.org.", "MX", "20 mx.example.org", false},
		{"MX other host", "x. IN MX 10 mx.example.org.", "MX", "mx2.example.org", false},
		{"TXT quoted", `x. IN TXT "v=spf1 mx -all"`, "TXT", `"v=spf1 mx -all"`, true},
		{"TXT single quotes", `x. IN TXT "v=spf1 mx -all"`, "TXT", `'v=spf1 mx -all'`, true},
		{"TXT bare word", `x. IN TXT "token123"`, "TXT", `token123`, true},
		{"TXT case matters", `x. IN TXT "Token"`, "TXT", `token`, false},
		{"TXT joined", `x. IN TXT "first part " "second part"`, "TXT", `"first part second part"`, true},
		{"TXT one string of several", `x. IN TXT "first part " "second part"`, "TXT", `"second part"`, true},
		{"TXT partial", `x. IN TXT "v=spf1 mx -all"`, "TXT", `v=spf1`, false},
		{"SRV target", "x. IN SRV 10 5 5060 sip.example.org.", "SRV", "sip.example.org", true},
		{"SRV full", "x. IN SRV 10 5 5060 sip.example.org.", "SRV", "10 5 5060 sip.example.org.", true},
		{"SRV full quoted", "x. IN SRV 10 5 5060 sip.example.org.", "SRV", `"10 5 5060 sip.example.org"`, true},
		{"SRV wrong port", "x. IN SRV 10 5 5060 sip.example.org.", "SRV", "10 5 5061 sip.example.org", false},
		{"SOA mname", "x. IN SOA ns1.example.org. host.example.org. 7 3600 600 86400 300", "SOA", "NS1.example.org.", true},
		{"SOA serial", "x. IN SOA ns1.example.org. host.example.org. 7 3600 600 86400 300", "SOA", "7", true},
		{"SOA other serial", "x. IN SOA ns1.example.org. host.example.org. 7 3600 600 86400 300", "SOA", "8", false},
		{"SOA dig line", "x. IN SOA ns1.example.org. host.example.org. 7 3600 600 86400 300", "SOA",
			"ns1.example.org. host.example.org. 7 3600 600 86400 300", true},
		{"CAA dig form", `x. IN CAA 0 issue "ca.example"`, "CAA", `0 issue "ca.example"`, true},
		{"CAA single-quoted", `x. IN CAA 0 issue "ca.example"`, "CAA", `'0 issue "ca.example"'`, true},
		{"CAA unquoted value", `x. IN CAA 0 issue "ca.example"`, "CAA", `0 ISSUE ca.example`, true},
		{"CAA value alone", `x. IN CAA 0 issue "ca.example"`, "CAA", `ca.example`, true},
		{"CAA other tag", `x. IN CAA 0 issue "ca.example"`, "CAA", `0 issuewild "ca.example"`, false},
		{"DS generic", "x. IN DS 60485 5 1 2BB183AF5F22588179A53B0A98631FAD1A292118", "DS",
			`"60485 5 1 2bb183af5f22588179a53b0a98631fad1a292118"`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rr, err := dns.NewRR(tt.rr)
			if err != nil {
				t.Fatalf("NewRR(%q) error = %v", tt.rr, err)
			}
			want, err := parseWanted(tt.want, dns.StringToType[tt.qtype])
			if err != nil {
				t.Fatalf("parseWanted(%q) error = %v", tt.want, err)
			}
			if len(want) != 1 {
				t.Fatalf("parseWanted(%q) = %d values %+v, want 1", tt.want, len(want), want)
			}
			got := false
			for _, k := range answerKeys(rr) {
				got = got || k == want[0].key
			}
			if got != tt.match {
				t.Errorf("%q matches %q = %v, want %v (key %q, answer keys %q)", tt.want, tt.rr, got, tt.match,
					want[0].key, answerKeys(rr))
			}
		})
	}
}

// TestParseWantedGrouping checks how requiredanswers splits into values.
func TestParseWantedGrouping(t *testing.T) {
	tests := []struct {
		qtype, in string
		want      []string // texts
		err       string
	}{
		{"A", "127.0.0.1 127.0.0.5", []string{"127.0.0.1", "127.0.0.5"}, ""},
		{"MX", "10 mx1.example.org. 20 mx2.example.org. mx3.example.org",
			[]string{"10 mx1.example.org.", "20 mx2.example.org.", "mx3.example.org"}, ""},
		{"SRV", "10 5 5060 sip.example.org sip2.example.org",
			[]string{"10 5 5060 sip.example.org", "sip2.example.org"}, ""},
		{"CAA", `0 issue "ca.example" 0 iodef "mailto:x@example.org"`,
			[]string{`0 issue "ca.example"`, `0 iodef "mailto:x@example.org"`}, ""},
		{"TXT", `"v=spf1 mx -all" 'a "quoted" word' plain`,
			[]string{"v=spf1 mx -all", `a "quoted" word`, "plain"}, ""},
		{"TXT", `"escaped \" quote"`, []string{`escaped " quote`}, ""},
		{"SOA", "ns1.example.org. host.example.org. 7 3600 600 86400 300 8",
			[]string{"ns1.example.org. host.example.org. 7 3600 600 86400 300", "8"}, ""},
		{"TXT", `"open`, nil, "unterminated"},
		{"MX", `"10 mx1.example.org 20 mx2.example.org"`, nil, "is not one MX value"},
		{"A", "  ", nil, "no value given"},
	}
	for _, tt := range tests {
		t.Run(tt.qtype+" "+tt.in, func(t *testing.T) {
			got, err := parseWanted(tt.in, dns.StringToType[tt.qtype])
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("parseWanted() error = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseWanted() error = %v", err)
			}
			var texts []string
			for _, w := range got {
				texts = append(texts, w.text)
			}
			if strings.Join(texts, "|") != strings.Join(tt.want, "|") {
				t.Errorf("parseWanted() = %q, want %q", texts, tt.want)
			}
		})
	}
}

func TestDNSLookupOptions(t *testing.T) {
	base := func(kv ...string) map[string]string {
		m := map[string]string{"hosts": "127.0.0.1:5353", "record": "www.monsta.test", "requiredanswers": "127.0.0.1"}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	tests := []struct {
		name string
		raw  map[string]string
		err  string
	}{
		{"defaults", base(), ""},
		{"lower-case type", base("recordtype", "mx", "requiredanswers", "mx1.monsta.test"), ""},
		{"unknown type", base("recordtype", "AXFR"), `"AXFR" is not a supported record type`},
		{"bad protocol", base("protocol", "quic"), `"quic" is not one of udp, tcp`},
		{"bad host", base("hosts", "127.0.0.1:99999"), `hosts: server "127.0.0.1:99999"`},
		{"bad record", base("record", "www..monsta.test"), `record: "www..monsta.test" is not a domain name`},
		{"no answers", base("requiredanswers", ""), "requiredanswers: no value given"},
		{"zero timeout", base("timeout", "0"), "timeout"},
		{"missing record", map[string]string{"requiredanswers": "x"}, "record: required option missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantNewCheckErr(t, dnslookupDescriptor(), tt.raw, tt.err)
		})
	}
}

// wantNewCheckErr fails the test unless NewCheck of d with raw fails with an
// error containing want ("": succeeds).
func wantNewCheckErr(t *testing.T, d runtime.Descriptor, raw map[string]string, want string) {
	t.Helper()
	_, err := newTestCheck(t, d, raw)
	if want == "" {
		if err != nil {
			t.Fatalf("NewCheck() error = %v", err)
		}
		return
	}
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("NewCheck() error = %v, want %q", err, want)
	}
}

// TestDNSLookup runs the check against in-process servers.
func TestDNSLookup(t *testing.T) {
	zone := startFakeDNS(t, zoneHandler(t, testZone...))
	tests := []struct {
		name, record, qtype, want string
		err                       string // "" for a pass
	}{
		{"A all present", "www.monsta.test", "A", "127.0.0.1 127.0.0.5", ""},
		{"A name case and dot", "WWW.Monsta.Test.", "A", "127.0.0.5", ""},
		{"AAAA canonical", "www.monsta.test", "AAAA", "FD00:0::10 0:0:0:0:0:0:0:1", ""},
		{"MX", "monsta.test", "MX", "mx1.monsta.test. 20 mx2.monsta.test", ""},
		{"NS", "monsta.test", "NS", "NS1.monsta.test ns2.monsta.test.", ""},
		{"TXT", "monsta.test", "TXT", `"v=spf1 mx -all"`, ""},
		{"TXT joined", "multi.monsta.test", "TXT", `"first part second part"`, ""},
		{"CNAME", "alias.monsta.test", "CNAME", "www.monsta.test.", ""},
		{"SOA", "monsta.test", "SOA", "ns1.monsta.test 2026112401", ""},
		{"PTR by address", "127.0.0.1", "PTR", "www.monsta.test", ""},
		{"SRV", "_sip._tcp.monsta.test", "SRV", "10 5 5060 sip.monsta.test.", ""},
		{"CAA", "monsta.test", "CAA", `0 issue "ca.monsta.test"`, ""},
		{"missing value", "www.monsta.test", "A", "127.0.0.1 127.0.0.77",
			zone.addr + ": www.monsta.test A: missing 127.0.0.77 (got 127.0.0.1, 127.0.0.5)"},
		{"missing MX", "monsta.test", "MX", "30 mx3.monsta.test",
			zone.addr + ": monsta.test MX: missing 30 mx3.monsta.test (got 10 mx1.monsta.test., 20 mx2.monsta.test.)"},
		{"NXDOMAIN", "nope.monsta.test", "A", "127.0.0.1", zone.addr + ": nope.monsta.test A: NXDOMAIN"},
		{"empty answer", "onlyv4.monsta.test", "AAAA", "::1",
			zone.addr + ": onlyv4.monsta.test AAAA: empty answer (NOERROR, no records)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := newTestCheck(t, dnslookupDescriptor(), map[string]string{"hosts": zone.addr, "record": tt.record,
				"recordtype": tt.qtype, "requiredanswers": tt.want})
			if err != nil {
				t.Fatalf("NewCheck() error = %v", err)
			}
			st, err := runGuarded(t, c, 5*time.Second)
			if tt.err == "" && err != nil {
				t.Fatalf("Run() error = %v, want nil", err)
			}
			if tt.err != "" && (err == nil || err.Error() != tt.err) {
				t.Fatalf("Run() error = %v, want %s", err, tt.err)
			}
			key := statsKey(zone.addr) + "_seconds"
			if st[key] <= 0 || st["max_seconds"] != st[key] {
				t.Errorf("Run() stats = %v, want %s > 0 and max_seconds equal to it", st, key)
			}
		})
	}
}

// TestDNSLookupServerErrors covers every way a server can fail, each
// reported by name, for several servers at once.
func TestDNSLookupServerErrors(t *testing.T) {
	good := startFakeDNS(t, zoneHandler(t, testZone...))
	servfail := startFakeDNS(t, rcodeHandler(dns.RcodeServerFailure))
	refused := startFakeDNS(t, rcodeHandler(dns.RcodeRefused))
	silent := silentUDP(t)
	closed := closedUDPAddr(t)
	c, err := newTestCheck(t, dnslookupDescriptor(), map[string]string{
		"hosts":  strings.Join([]string{good.addr, servfail.addr, refused.addr, silent, closed}, " "),
		"record": "www.monsta.test", "requiredanswers": "127.0.0.1"})
	if err != nil {
		t.Fatalf("NewCheck() error = %v", err)
	}
	st, err := runGuarded(t, c, time.Second)
	msgs := runtime.ErrorMessages(err)
	want := []string{
		servfail.addr + ": www.monsta.test A: SERVFAIL",
		refused.addr + ": www.monsta.test A: REFUSED",
		silent + ": www.monsta.test A: timeout: no reply over udp: context deadline exceeded",
		closed + ": www.monsta.test A: query over udp: read udp ",
	}
	if len(msgs) != len(want) {
		t.Fatalf("Run() messages = %q, want %d like %q", msgs, len(want), want)
	}
	for i := range want {
		if !strings.HasPrefix(msgs[i], want[i]) {
			t.Errorf("message %d = %q, want prefix %q", i, msgs[i], want[i])
		}
	}
	if !strings.HasSuffix(msgs[3], "connection refused") {
		t.Errorf("message 3 = %q, want connection refused", msgs[3])
	}
	if !errors.Is(err, context.DeadlineExceeded) || !runtime.IsTimeout(err) {
		t.Errorf("Run() error = %v, want it to wrap context.DeadlineExceeded", err)
	}
	for _, k := range []string{good.addr, servfail.addr, refused.addr} {
		if st[statsKey(k)+"_seconds"] <= 0 {
			t.Errorf("stats = %v, want %s_seconds", st, statsKey(k))
		}
	}
	if _, ok := st[statsKey(silent)+"_seconds"]; ok {
		t.Errorf("stats = %v, want no time for the silent server", st)
	}
}

func TestDNSLookupClosedTCP(t *testing.T) {
	closed := closedUDPAddr(t)
	c, err := newTestCheck(t, dnslookupDescriptor(), map[string]string{"hosts": closed, "protocol": "tcp",
		"record": "www.monsta.test", "requiredanswers": "127.0.0.1"})
	if err != nil {
		t.Fatalf("NewCheck() error = %v", err)
	}
	_, err = runGuarded(t, c, 5*time.Second)
	want := closed + ": www.monsta.test A: query over tcp: dial tcp " + closed + ": connect: connection refused"
	if err == nil || err.Error() != want {
		t.Errorf("Run() error = %v, want %s", err, want)
	}
}

func TestDNSLookupTruncatedRetriesTCP(t *testing.T) {
	srv := startFakeDNS(t, zoneHandler(t, bigTXT()...))
	c, err := newTestCheck(t, dnslookupDescriptor(), map[string]string{"hosts": srv.addr, "record": "big.monsta.test",
		"recordtype": "TXT", "requiredanswers": `"01-` + strings.Repeat("x", 97) + `" "12-` + strings.Repeat("x", 97) + `"`})
	if err != nil {
		t.Fatalf("NewCheck() error = %v", err)
	}
	if _, err := runGuarded(t, c, 5*time.Second); err != nil {
		t.Fatalf("Run() error = %v, want nil", err)
	}
	if u, tc := srv.udp.Load(), srv.tcp.Load(); u != 1 || tc != 1 {
		t.Errorf("queries udp=%d tcp=%d, want 1 and 1 (truncated, then tcp)", u, tc)
	}
}

func TestDNSLookupProtocolTCP(t *testing.T) {
	srv := startFakeDNS(t, zoneHandler(t, testZone...))
	c, err := newTestCheck(t, dnslookupDescriptor(), map[string]string{"hosts": srv.addr, "protocol": "TCP",
		"record": "www.monsta.test", "requiredanswers": "127.0.0.1"})
	if err != nil {
		t.Fatalf("NewCheck() error = %v", err)
	}
	if _, err := runGuarded(t, c, 5*time.Second); err != nil {
		t.Fatalf("Run() error = %v, want nil", err)
	}
	if u, tc := srv.udp.Load(), srv.tcp.Load(); u != 0 || tc != 1 {
		t.Errorf("queries udp=%d tcp=%d, want 0 and 1", u, tc)
	}
}

// TestDNSLookupResolvConf uses the servers of a resolv.conf file when hosts
// is empty, and never the machine's own.
func TestDNSLookupResolvConf(t *testing.T) {
	a := startFakeDNS(t, zoneHandler(t, testZone...))
	b := startFakeDNS(t, zoneHandler(t, "www.monsta.test. 300 IN A 127.0.0.1"))
	dir := t.TempDir()
	conf := filepath.Join(dir, "resolv.conf")
	text := "search monsta.test\nnameserver " + a.addr + "\nnameserver " + b.addr + "\noptions timeout:1\n"
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := newTestCheck(t, dnslookupDescriptor(), map[string]string{"resolv_conf": conf,
		"record": "www.monsta.test", "requiredanswers": "127.0.0.5"})
	if err != nil {
		t.Fatalf("NewCheck() error = %v", err)
	}
	st, err := runGuarded(t, c, 5*time.Second)
	want := b.addr + ": www.monsta.test A: missing 127.0.0.5 (got 127.0.0.1)"
	if err == nil || err.Error() != want {
		t.Errorf("Run() error = %v, want %s", err, want)
	}
	if a.udp.Load() != 1 || b.udp.Load() != 1 {
		t.Errorf("queries a=%d b=%d, want one each", a.udp.Load(), b.udp.Load())
	}
	if len(st) != 3 {
		t.Errorf("stats = %v, want two servers and max_seconds", st)
	}

	c, err = newTestCheck(t, dnslookupDescriptor(), map[string]string{"resolv_conf": filepath.Join(dir, "none"),
		"record": "www.monsta.test", "requiredanswers": "127.0.0.5"})
	if err != nil {
		t.Fatalf("NewCheck() error = %v", err)
	}
	if _, err := runGuarded(t, c, 5*time.Second); err == nil || !strings.Contains(err.Error(), "read resolver configuration") {
		t.Errorf("Run() error = %v, want read resolver configuration", err)
	}
}

// TestDNSLookupSilentTCP: a TCP peer that accepts and never answers makes a
// timeout at the run's deadline, not a hang.
func TestDNSLookupSilentTCP(t *testing.T) {
	addr := loopback.Silent(t)
	c, err := newTestCheck(t, dnslookupDescriptor(), map[string]string{"hosts": addr, "protocol": "tcp",
		"record": "www.monsta.test", "requiredanswers": "127.0.0.1"})
	if err != nil {
		t.Fatalf("NewCheck() error = %v", err)
	}
	_, err = runGuarded(t, c, 200*time.Millisecond)
	want := addr + ": www.monsta.test A: timeout: no reply over tcp: context deadline exceeded"
	if err == nil || err.Error() != want || !runtime.IsTimeout(err) {
		t.Errorf("Run() error = %v, want %s", err, want)
	}
}

// BenchmarkDNSLookup measures one run against one in-process server over
// UDP and TCP.
func BenchmarkDNSLookup(b *testing.B) {
	for _, proto := range []string{"udp", "tcp"} {
		b.Run(proto, func(b *testing.B) {
			srv := startFakeDNS(b, zoneHandler(b, testZone...))
			c, err := newTestCheck(b, dnslookupDescriptor(), map[string]string{"hosts": srv.addr, "protocol": proto,
				"record": "www.monsta.test", "requiredanswers": "127.0.0.1 127.0.0.5"})
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				if _, err := c.Run(cctx); err != nil {
					b.Fatal(err)
				}
				cancel()
			}
		})
	}
}

// TestDNSLookupQuotedFromConfig: requiredanswers="v=spf1 mx -all" in a
// configuration file is one TXT value (issue 17): the option reads its
// quotes itself, so the file's outer quotes are not removed for it.
func TestDNSLookupQuotedFromConfig(t *testing.T) {
	t.Parallel()
	f := filepath.Join(t.TempDir(), "monsta.conf")
	conf := "[Check_spf]\ntype = dnslookup\nhosts = 127.0.0.1:53\nrecord = example.org\nrecordtype = TXT\n" +
		"requiredanswers=\"v=spf1 mx -all\"\n[Test_spf]\nchecks = spf\n"
	if err := os.WriteFile(f, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(f, "")
	if err != nil {
		t.Fatal(err)
	}
	reg := runtime.NewRegistry()
	if err := Register(reg, Env{}); err != nil {
		t.Fatal(err)
	}
	p, _, err := runtime.NewResolver(cfg).Resolve(reg)
	if err != nil {
		t.Fatal(err)
	}
	c := p.Checks["spf"].Check.(*DNSLookup)
	if len(c.want) != 1 || c.want[0].key != "v=spf1 mx -all" {
		t.Errorf("requiredanswers = %+v, want the one value v=spf1 mx -all", c.want)
	}
}
