//go:build integration

package builtins

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/monsta/monsta/internal/testkit/ittest"
	"github.com/monsta/monsta/runtime"
)

// runIT builds a check from raw options and runs it with a 5 s deadline.
func runIT(t *testing.T, d runtime.Descriptor, raw map[string]string) (runtime.Stats, []string) {
	t.Helper()
	c, err := newTestCheck(t, d, raw)
	if err != nil {
		t.Fatalf("NewCheck(%v) error = %v", raw, err)
	}
	st, err := runGuarded(t, c, 5*time.Second)
	t.Logf("stats %v", st)
	return st, runtime.ErrorMessages(err)
}

func wantMessages(t *testing.T, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("Run() messages:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// wantTimes checks <server>_seconds for every server and max_seconds.
func wantTimes(t *testing.T, st runtime.Stats, servers ...string) {
	t.Helper()
	mx := 0.0
	for _, s := range servers {
		k := statsKey(s) + "_seconds"
		if st[k] <= 0 {
			t.Errorf("stats = %v, want %s > 0", st, k)
		}
		mx = max(mx, st[k])
	}
	if st["max_seconds"] != mx {
		t.Errorf("stats max_seconds = %v, want %v", st["max_seconds"], mx)
	}
}

func bigTXTStrings() []string {
	var out []string
	for i := range 12 {
		out = append(out, fmt.Sprintf(`"%02d-%s"`, i+1, strings.Repeat("x", 97)))
	}
	return out
}

func TestITDNSLookupAllPresent(t *testing.T) {
	e := ittest.DNSEnv(t)
	all := []string{e.DNS1, e.DNS2, e.DNS6, e.Lag}
	tests := []struct {
		record, qtype, want string
		servers             []string
	}{
		{"www.monsta.test", "A", "127.0.0.1 127.0.0.5", []string{e.DNS1, e.DNS2, e.DNS6}},
		{"www.monsta.test", "A", "127.0.0.1", all},
		{"www.monsta.test", "AAAA", "::1 FD00:0:0:0:0:0:0:10", all},
		{"monsta.test", "MX", "10 mx1.monsta.test. mx2.monsta.test", all},
		{"monsta.test", "NS", "NS1.monsta.test ns2.monsta.test.", all},
		{"monsta.test", "TXT", `"v=spf1 mx -all"`, all},
		{"multi.monsta.test", "TXT", `"first part second part"`, all},
		{"alias.monsta.test", "CNAME", "www.monsta.test.", all},
		{"alias.monsta.test", "A", "www.monsta.test 127.0.0.1", all},
		{"_sip._tcp.monsta.test", "SRV", "10 5 5060 sip.monsta.test", all},
		{"monsta.test", "CAA", `0 issue "ca.monsta.test"`, all},
		{"monsta.test", "SOA", "ns1.monsta.test " + e.Serial, []string{e.DNS1, e.DNS2, e.DNS6}},
	}
	for _, tt := range tests {
		t.Run(tt.record+" "+tt.qtype, func(t *testing.T) {
			st, msgs := runIT(t, dnslookupDescriptor(), map[string]string{"hosts": strings.Join(tt.servers, " "),
				"record": tt.record, "recordtype": tt.qtype, "requiredanswers": tt.want})
			wantMessages(t, msgs, nil)
			wantTimes(t, st, tt.servers...)
		})
	}
}

func TestITDNSLookupMissingOnOneServer(t *testing.T) {
	e := ittest.DNSEnv(t)
	st, msgs := runIT(t, dnslookupDescriptor(), map[string]string{"hosts": e.DNS1 + " " + e.DNS2 + " " + e.Lag,
		"record": "www.monsta.test", "requiredanswers": "127.0.0.1 127.0.0.5"})
	wantMessages(t, msgs, []string{e.Lag + ": www.monsta.test A: missing 127.0.0.5 (got 127.0.0.1)"})
	wantTimes(t, st, e.DNS1, e.DNS2, e.Lag)
}

func TestITDNSLookupErrors(t *testing.T) {
	e := ittest.DNSEnv(t)
	tests := []struct {
		name, hosts, record, qtype string
		want                       []string
	}{
		{"NXDOMAIN", e.DNS1 + " " + e.DNS6, "nope.monsta.test", "A", []string{
			e.DNS1 + ": nope.monsta.test A: NXDOMAIN", e.DNS6 + ": nope.monsta.test A: NXDOMAIN"}},
		{"empty answer", e.DNS1, "mx1.monsta.test", "AAAA", []string{
			e.DNS1 + ": mx1.monsta.test AAAA: empty answer (NOERROR, no records)"}},
		{"REFUSED for a zone it does not serve", e.DNS2, "www.other.test", "A", []string{
			e.DNS2 + ": www.other.test A: REFUSED"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, msgs := runIT(t, dnslookupDescriptor(), map[string]string{"hosts": tt.hosts, "record": tt.record,
				"recordtype": tt.qtype, "requiredanswers": "::1"})
			wantMessages(t, msgs, tt.want)
		})
	}
}

func TestITDNSLookupServerDown(t *testing.T) {
	e := ittest.DNSEnv(t)
	for _, proto := range []string{"udp", "tcp"} {
		t.Run(proto, func(t *testing.T) {
			st, msgs := runIT(t, dnslookupDescriptor(), map[string]string{"hosts": e.DNS1 + " " + e.Down,
				"protocol": proto, "record": "www.monsta.test", "requiredanswers": "127.0.0.1"})
			if len(msgs) != 1 || !strings.HasPrefix(msgs[0], e.Down+": www.monsta.test A: query over "+proto+": ") ||
				!strings.HasSuffix(msgs[0], "connection refused") {
				t.Errorf("Run() messages = %q, want one: %s refused", msgs, e.Down)
			}
			wantTimes(t, st, e.DNS1)
		})
	}
}

func TestITDNSLookupTCPFallback(t *testing.T) {
	e := ittest.DNSEnv(t)
	// The large TXT set does not fit a plain UDP answer: NSD truncates it.
	q := new(dns.Msg)
	q.SetQuestion("big.monsta.test.", dns.TypeTXT)
	r, _, err := (&dns.Client{Net: "udp", Timeout: 5 * time.Second}).Exchange(q, e.DNS1)
	if err != nil {
		t.Fatalf("udp query: %v", err)
	}
	if !r.Truncated || len(r.Answer) == 12 {
		t.Fatalf("udp answer truncated=%v with %d records, want a truncated answer", r.Truncated, len(r.Answer))
	}
	want := strings.Join(bigTXTStrings(), " ")
	for _, proto := range []string{"udp", "tcp"} {
		t.Run(proto, func(t *testing.T) {
			st, msgs := runIT(t, dnslookupDescriptor(), map[string]string{"hosts": e.DNS1 + " " + e.DNS6,
				"protocol": proto, "record": "big.monsta.test", "recordtype": "TXT", "requiredanswers": want})
			wantMessages(t, msgs, nil)
			wantTimes(t, st, e.DNS1, e.DNS6)
		})
	}
}

func TestITDNSLookupIPv6Server(t *testing.T) {
	e := ittest.DNSEnv(t)
	if !strings.HasPrefix(e.DNS6, "[::1]:") {
		t.Fatalf("MONSTA_IT_DNS6 = %q, want [::1]:PORT", e.DNS6)
	}
	st, msgs := runIT(t, dnslookupDescriptor(), map[string]string{"hosts": e.DNS6, "record": "www.monsta.test",
		"recordtype": "AAAA", "requiredanswers": "::1 fd00::10"})
	wantMessages(t, msgs, nil)
	wantTimes(t, st, e.DNS6)
	if _, ok := st["1_"+strings.TrimPrefix(e.DNS6, "[::1]:")+"_seconds"]; !ok {
		t.Errorf("stats = %v, want the [::1] server's time", st)
	}
}

func TestITDNSLookupResolvConf(t *testing.T) {
	e := ittest.DNSEnv(t)
	conf := filepath.Join(t.TempDir(), "resolv.conf")
	if err := os.WriteFile(conf, []byte("nameserver "+e.DNS1+"\nnameserver "+e.Lag+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	st, msgs := runIT(t, dnslookupDescriptor(), map[string]string{"resolv_conf": conf, "record": "www.monsta.test",
		"requiredanswers": "127.0.0.5"})
	wantMessages(t, msgs, []string{e.Lag + ": www.monsta.test A: missing 127.0.0.5 (got 127.0.0.1)"})
	wantTimes(t, st, e.DNS1, e.Lag)
}

func TestITDNSSerialInSync(t *testing.T) {
	e := ittest.DNSEnv(t)
	servers := []string{e.DNS1, e.DNS2, e.DNS6}
	for _, proto := range []string{"udp", "tcp"} {
		t.Run(proto, func(t *testing.T) {
			st, msgs := runIT(t, dnsserialDescriptor(), map[string]string{"hosts": strings.Join(servers, " "),
				"zone": e.Zone, "protocol": proto})
			wantMessages(t, msgs, nil)
			wantTimes(t, st, servers...)
			serial, _ := strconv.ParseFloat(e.Serial, 64)
			for _, s := range servers {
				if k := statsKey(s) + "_serial"; st[k] != serial {
					t.Errorf("stats %s = %v, want %v", k, st[k], serial)
				}
			}
		})
	}
}

func TestITDNSSerialLagging(t *testing.T) {
	e := ittest.DNSEnv(t)
	st, msgs := runIT(t, dnsserialDescriptor(), map[string]string{"hosts": strings.Join([]string{e.DNS1, e.DNS2, e.Lag}, " "),
		"zone": e.Zone})
	wantMessages(t, msgs, []string{fmt.Sprintf("serials differ: %s=%s %s=%s %s=%s",
		e.DNS1, e.Serial, e.DNS2, e.Serial, e.Lag, e.LagSerial)})
	wantTimes(t, st, e.DNS1, e.DNS2, e.Lag)
}

func TestITDNSSerialServerDown(t *testing.T) {
	e := ittest.DNSEnv(t)
	st, msgs := runIT(t, dnsserialDescriptor(), map[string]string{"hosts": e.DNS1 + " " + e.Down + " " + e.Lag,
		"zone": e.Zone})
	if len(msgs) != 2 || !strings.HasPrefix(msgs[0], e.Down+": monsta.test SOA: query over udp: ") ||
		msgs[1] != fmt.Sprintf("serials differ: %s=%s %s=error %s=%s", e.DNS1, e.Serial, e.Down, e.Lag, e.LagSerial) {
		t.Errorf("Run() messages = %q, want the down server and the serials", msgs)
	}
	wantTimes(t, st, e.DNS1, e.Lag)
}
