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

	"github.com/monsta/monsta/runtime"
)

// itDNS are the NSD servers started by .ci/servers.d/dns.sh.
type itDNS struct {
	dns1, dns2, lag, dns6, down, zone string
	serial, lagSerial                 string
}

func itDNSEnv(t *testing.T) itDNS {
	t.Helper()
	get := func(k string) string {
		v := os.Getenv(k)
		if v == "" {
			t.Fatalf("%s is not set: run `.ci/servers start dns` and load $MONSTA_IT_DIR/env", k)
		}
		return v
	}
	return itDNS{dns1: get("MONSTA_IT_DNS1"), dns2: get("MONSTA_IT_DNS2"), lag: get("MONSTA_IT_DNS_LAG"),
		dns6: get("MONSTA_IT_DNS6"), down: get("MONSTA_IT_DNS_DOWN"), zone: get("MONSTA_IT_DNS_ZONE"),
		serial: get("MONSTA_IT_DNS_SERIAL"), lagSerial: get("MONSTA_IT_DNS_LAG_SERIAL")}
}

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
	e := itDNSEnv(t)
	all := []string{e.dns1, e.dns2, e.dns6, e.lag}
	tests := []struct {
		record, qtype, want string
		servers             []string
	}{
		{"www.monsta.test", "A", "127.0.0.1 127.0.0.5", []string{e.dns1, e.dns2, e.dns6}},
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
		{"monsta.test", "SOA", "ns1.monsta.test " + e.serial, []string{e.dns1, e.dns2, e.dns6}},
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
	e := itDNSEnv(t)
	st, msgs := runIT(t, dnslookupDescriptor(), map[string]string{"hosts": e.dns1 + " " + e.dns2 + " " + e.lag,
		"record": "www.monsta.test", "requiredanswers": "127.0.0.1 127.0.0.5"})
	wantMessages(t, msgs, []string{e.lag + ": www.monsta.test A: missing 127.0.0.5 (got 127.0.0.1)"})
	wantTimes(t, st, e.dns1, e.dns2, e.lag)
}

func TestITDNSLookupErrors(t *testing.T) {
	e := itDNSEnv(t)
	tests := []struct {
		name, hosts, record, qtype string
		want                       []string
	}{
		{"NXDOMAIN", e.dns1 + " " + e.dns6, "nope.monsta.test", "A", []string{
			e.dns1 + ": nope.monsta.test A: NXDOMAIN", e.dns6 + ": nope.monsta.test A: NXDOMAIN"}},
		{"empty answer", e.dns1, "mx1.monsta.test", "AAAA", []string{
			e.dns1 + ": mx1.monsta.test AAAA: empty answer (NOERROR, no records)"}},
		{"REFUSED for a zone it does not serve", e.dns2, "www.other.test", "A", []string{
			e.dns2 + ": www.other.test A: REFUSED"}},
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
	e := itDNSEnv(t)
	for _, proto := range []string{"udp", "tcp"} {
		t.Run(proto, func(t *testing.T) {
			st, msgs := runIT(t, dnslookupDescriptor(), map[string]string{"hosts": e.dns1 + " " + e.down,
				"protocol": proto, "record": "www.monsta.test", "requiredanswers": "127.0.0.1"})
			if len(msgs) != 1 || !strings.HasPrefix(msgs[0], e.down+": www.monsta.test A: query over "+proto+": ") ||
				!strings.HasSuffix(msgs[0], "connection refused") {
				t.Errorf("Run() messages = %q, want one: %s refused", msgs, e.down)
			}
			wantTimes(t, st, e.dns1)
		})
	}
}

func TestITDNSLookupTCPFallback(t *testing.T) {
	e := itDNSEnv(t)
	// The large TXT set does not fit a plain UDP answer: NSD truncates it.
	q := new(dns.Msg)
	q.SetQuestion("big.monsta.test.", dns.TypeTXT)
	r, _, err := (&dns.Client{Net: "udp", Timeout: 5 * time.Second}).Exchange(q, e.dns1)
	if err != nil {
		t.Fatalf("udp query: %v", err)
	}
	if !r.Truncated || len(r.Answer) == 12 {
		t.Fatalf("udp answer truncated=%v with %d records, want a truncated answer", r.Truncated, len(r.Answer))
	}
	want := strings.Join(bigTXTStrings(), " ")
	for _, proto := range []string{"udp", "tcp"} {
		t.Run(proto, func(t *testing.T) {
			st, msgs := runIT(t, dnslookupDescriptor(), map[string]string{"hosts": e.dns1 + " " + e.dns6,
				"protocol": proto, "record": "big.monsta.test", "recordtype": "TXT", "requiredanswers": want})
			wantMessages(t, msgs, nil)
			wantTimes(t, st, e.dns1, e.dns6)
		})
	}
}

func TestITDNSLookupIPv6Server(t *testing.T) {
	e := itDNSEnv(t)
	if !strings.HasPrefix(e.dns6, "[::1]:") {
		t.Fatalf("MONSTA_IT_DNS6 = %q, want [::1]:PORT", e.dns6)
	}
	st, msgs := runIT(t, dnslookupDescriptor(), map[string]string{"hosts": e.dns6, "record": "www.monsta.test",
		"recordtype": "AAAA", "requiredanswers": "::1 fd00::10"})
	wantMessages(t, msgs, nil)
	wantTimes(t, st, e.dns6)
	if _, ok := st["1_"+strings.TrimPrefix(e.dns6, "[::1]:")+"_seconds"]; !ok {
		t.Errorf("stats = %v, want the [::1] server's time", st)
	}
}

func TestITDNSLookupResolvConf(t *testing.T) {
	e := itDNSEnv(t)
	conf := filepath.Join(t.TempDir(), "resolv.conf")
	if err := os.WriteFile(conf, []byte("nameserver "+e.dns1+"\nnameserver "+e.lag+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	st, msgs := runIT(t, dnslookupDescriptor(), map[string]string{"resolv_conf": conf, "record": "www.monsta.test",
		"requiredanswers": "127.0.0.5"})
	wantMessages(t, msgs, []string{e.lag + ": www.monsta.test A: missing 127.0.0.5 (got 127.0.0.1)"})
	wantTimes(t, st, e.dns1, e.lag)
}

func TestITDNSSerialInSync(t *testing.T) {
	e := itDNSEnv(t)
	servers := []string{e.dns1, e.dns2, e.dns6}
	for _, proto := range []string{"udp", "tcp"} {
		t.Run(proto, func(t *testing.T) {
			st, msgs := runIT(t, dnsserialDescriptor(), map[string]string{"hosts": strings.Join(servers, " "),
				"zone": e.zone, "protocol": proto})
			wantMessages(t, msgs, nil)
			wantTimes(t, st, servers...)
			serial, _ := strconv.ParseFloat(e.serial, 64)
			for _, s := range servers {
				if k := statsKey(s) + "_serial"; st[k] != serial {
					t.Errorf("stats %s = %v, want %v", k, st[k], serial)
				}
			}
		})
	}
}

func TestITDNSSerialLagging(t *testing.T) {
	e := itDNSEnv(t)
	st, msgs := runIT(t, dnsserialDescriptor(), map[string]string{"hosts": strings.Join([]string{e.dns1, e.dns2, e.lag}, " "),
		"zone": e.zone})
	wantMessages(t, msgs, []string{fmt.Sprintf("serials differ: %s=%s %s=%s %s=%s",
		e.dns1, e.serial, e.dns2, e.serial, e.lag, e.lagSerial)})
	wantTimes(t, st, e.dns1, e.dns2, e.lag)
}

func TestITDNSSerialServerDown(t *testing.T) {
	e := itDNSEnv(t)
	st, msgs := runIT(t, dnsserialDescriptor(), map[string]string{"hosts": e.dns1 + " " + e.down + " " + e.lag,
		"zone": e.zone})
	if len(msgs) != 2 || !strings.HasPrefix(msgs[0], e.down+": monsta.test SOA: query over udp: ") ||
		msgs[1] != fmt.Sprintf("serials differ: %s=%s %s=error %s=%s", e.dns1, e.serial, e.down, e.lag, e.lagSerial) {
		t.Errorf("Run() messages = %q, want the down server and the serials", msgs)
	}
	wantTimes(t, st, e.dns1, e.lag)
}
