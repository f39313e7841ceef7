//go:build integration

package main

import (
	"strconv"
	"strings"
	"testing"

	"github.com/monsta/monsta/internal/testkit/ittest"
)

// The DNS checks through the binary (built once by TestMain): `monsta --run
// SECTION --config FILE` against the NSD servers of .ci/servers.d/dns.sh.

// dnsRun writes conf as the main configuration, runs `monsta --run section`
// and returns stdout, the stats printed and the exit status.
func dnsRun(t *testing.T, conf, section string) (string, map[string]float64, int) {
	t.Helper()
	r := monsta(t, "--run", section, "--config", writeConf(t, map[string]string{"monsta.conf": conf}))
	t.Logf("monsta --run %s: exit %d\n%s%s", section, r.code, r.stdout, r.stderr)
	stats := map[string]float64{}
	for _, line := range strings.Split(r.stdout, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ": ")
		if !ok || k == "error" || strings.Contains(k, " ") {
			continue
		}
		if f, err := strconv.ParseFloat(v, 64); err == nil {
			stats[k] = f
		}
	}
	return r.stdout, stats, r.code
}

// dnsKey is the stats key of a server address (127.0.0.2:5353 →
// 127_0_0_2_5353, [::1]:5353 → 1_5353).
func dnsKey(addr string) string {
	f := strings.FieldsFunc(addr, func(r rune) bool {
		return !(r >= '0' && r <= '9' || r >= 'a' && r <= 'z')
	})
	return strings.Join(f, "_")
}

// dnsWantTimes requires a positive response time per server and
// max_seconds.
func dnsWantTimes(t *testing.T, stats map[string]float64, servers ...string) {
	t.Helper()
	for _, s := range servers {
		if k := dnsKey(s) + "_seconds"; stats[k] <= 0 {
			t.Errorf("printed stats %v, want %s > 0", stats, k)
		}
	}
	if stats["max_seconds"] <= 0 {
		t.Errorf("printed stats %v, want max_seconds > 0", stats)
	}
}

func TestITDNSCommandLine(t *testing.T) {
	e := ittest.DNSEnv(t)
	dns1, dns2, lag, dns6, down, zone := e.DNS1, e.DNS2, e.Lag, e.DNS6, e.Down, e.Zone
	serial, lagSerial := e.Serial, e.LagSerial
	conf := `[Check_www]
type = dnslookup
hosts = ` + dns1 + ` ` + dns2 + ` ` + dns6 + `
record = www.` + zone + `
requiredanswers = 127.0.0.1 127.0.0.5

[Check_mx]
type = dnslookup
hosts = ` + dns1 + ` ` + dns6 + ` ` + lag + `
record = ` + zone + `
recordtype = MX
requiredanswers = 10 mx1.` + zone + `. mx2.` + zone + `

[Check_www_lag]
type = dnslookup
hosts = ` + dns1 + ` ` + lag + `
record = www.` + zone + `
requiredanswers = 127.0.0.5

[Check_down]
type = dnslookup
hosts = ` + dns1 + ` ` + down + `
record = www.` + zone + `
requiredanswers = 127.0.0.1

[Check_sync]
type = dnsserial
hosts = ` + dns1 + ` ` + dns2 + ` ` + dns6 + `
zone = ` + zone + `

[Check_lagging]
type = dnsserial
hosts = ` + dns1 + ` ` + dns2 + ` ` + lag + `
zone = ` + zone + `

[Test_dns]
checks = www mx sync
`
	tests := []struct {
		section string
		code    int
		want    []string // lines of the output
		servers []string // servers with a response time
	}{
		{"Check_www", 0, []string{"Check_www: OK", "Check www (dnslookup): OK in "}, []string{dns1, dns2, dns6}},
		{"Check_mx", 0, []string{"Check_mx: OK"}, []string{dns1, dns6, lag}},
		{"Check_www_lag", 1, []string{"Check_www_lag: FAIL",
			"  error: " + lag + ": www." + zone + " A: missing 127.0.0.5 (got 127.0.0.1)"}, []string{dns1, lag}},
		{"Check_down", 1, []string{"Check_down: FAIL", "  error: " + down + ": www." + zone + " A: query over udp: "},
			[]string{dns1}},
		{"Check_sync", 0, []string{"Check_sync: OK", "  " + dnsKey(dns6) + "_serial: "}, []string{dns1, dns2, dns6}},
		{"Check_lagging", 1, []string{"Check_lagging: FAIL", "  error: serials differ: " + dns1 + "=" + serial + " " +
			dns2 + "=" + serial + " " + lag + "=" + lagSerial}, []string{dns1, dns2, lag}},
		{"Test_dns", 0, []string{"Test_dns: OK (3 of 3 checks passed, requires=all)", "Check www (dnslookup): OK",
			"Check mx (dnslookup): OK", "Check sync (dnsserial): OK"}, []string{dns1, dns2, dns6, lag}},
	}
	for _, tt := range tests {
		t.Run(tt.section, func(t *testing.T) {
			out, stats, code := dnsRun(t, conf, tt.section)
			if code != tt.code {
				t.Errorf("exit status = %d, want %d", code, tt.code)
			}
			for _, w := range tt.want {
				found := false
				for _, line := range strings.Split(out, "\n") {
					found = found || strings.HasPrefix(line, w)
				}
				if !found {
					t.Errorf("output has no line starting %q:\n%s", w, out)
				}
			}
			dnsWantTimes(t, stats, tt.servers...)
		})
	}
}
