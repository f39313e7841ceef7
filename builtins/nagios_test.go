package builtins

import (
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestParseNagios reads the examples of the Nagios plugin API and the
// plugin development guidelines (output spec, performance data).
func TestParseNagios(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		out        string
		wantStatus string
		want       map[string]float64 // stat name → value
	}{
		{name: "one line, no perfdata", out: "DISK OK - free space: / 3326 MB (56%);\n",
			wantStatus: "DISK OK - free space: / 3326 MB (56%);", want: map[string]float64{}},
		{name: "one line with perfdata (plugin API)",
			out:        "DISK OK - free space: / 3326 MB (56%); | /=2643MB;5948;5958;0;5968\n",
			wantStatus: "DISK OK - free space: / 3326 MB (56%);",
			want:       map[string]float64{"/_bytes": 2643 << 20}},
		{name: "multi-line output and perfdata (plugin API)",
			out: "DISK OK - free space: / 3326 MB (56%); | /=2643MB;5948;5958;0;5968\n" +
				"/ 15272 MB (77%);\n/boot 68 MB (69%);\n/home 69357 MB (27%);\n" +
				"/var/log 819 MB (84%); | /boot=68MB;88;93;0;98\n" +
				"/home=69357MB;253404;253409;0;253414 \n/var/log=818MB;970;975;0;980\n",
			wantStatus: "DISK OK - free space: / 3326 MB (56%);",
			want: map[string]float64{"/_bytes": 2643 << 20, "/boot_bytes": 68 << 20,
				"/home_bytes": 69357 << 20, "/var/log_bytes": 818 << 20}},
		{name: "seconds and bytes (check_http)",
			out:        "HTTP OK: HTTP/1.1 200 OK - 20156 bytes in 0.271 second response time |time=0.270634s;;;0.000000 size=20156B;;;0\n",
			wantStatus: "HTTP OK: HTTP/1.1 200 OK - 20156 bytes in 0.271 second response time",
			want:       map[string]float64{"time_seconds": 0.270634, "size_bytes": 20156}},
		{name: "ms, percent and no unit",
			out:        "PING OK - Packet loss = 0%, RTA = 0.80 ms|rta=0.80ms;100;500;0 pl=0%;20;60;0 users=3;5;10",
			wantStatus: "PING OK - Packet loss = 0%, RTA = 0.80 ms",
			want:       map[string]float64{"rta_seconds": 0.0008, "pl_percent": 0, "users": 3}},
		{name: "quoted labels, a quote written twice, us, KB, TB, counter",
			out:        "OK | 'in traffic'=100c 'it''s'=5us 'a=b'=1KB big=2TB\n",
			wantStatus: "OK",
			want: map[string]float64{"in traffic": 100, "it's_seconds": 5e-6, "a=b_bytes": 1024,
				"big_bytes": 2 << 40}},
		{name: "trailing semicolons dropped, undetermined and broken values left out",
			out:        "WARNING - load | load1=0.5;;; load5=U;1;2 junk x=abc y=-1.5e2 z=1,5 'open=1",
			wantStatus: "WARNING - load",
			want:       map[string]float64{"load1": 0.5, "y": -150, "z": 1.5}},
		{name: "unknown unit kept as a number", out: "OK|temp=21.5C", wantStatus: "OK",
			want: map[string]float64{"temp": 21.5}},
		{name: "label already ending in its unit", out: "OK|connect_seconds=12ms", wantStatus: "OK",
			want: map[string]float64{"connect_seconds": 0.012}},
		{name: "empty output", out: "", want: map[string]float64{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := parseNagios([]byte(tt.out))
			if n.status != tt.wantStatus {
				t.Errorf("status = %q, want %q", n.status, tt.wantStatus)
			}
			got := map[string]float64{}
			for _, d := range n.perf {
				got[d.statName()] = d.value
			}
			if !reflect.DeepEqual(got, tt.want) {
				// Float multiples may differ in the last bit.
				ok := len(got) == len(tt.want)
				for k, v := range tt.want {
					if math.Abs(got[k]-v) > 1e-12*math.Max(1, math.Abs(v)) {
						ok = false
					}
				}
				if !ok {
					t.Errorf("perfdata = %v, want %v", got, tt.want)
				}
			}
		})
	}
}

func TestParsePerfDataCap(t *testing.T) {
	t.Parallel()
	if got := len(parsePerfData(strings.Repeat("x=1 ", 1000))); got != maxPerfData {
		t.Errorf("items = %d, want the cap %d", got, maxPerfData)
	}
}

// TestScriptNagios runs plugin-like commands through the script check.
func TestScriptNagios(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		command   string
		warning   string
		wantErr   string // substring; "" means pass
		wantStats map[string]float64
	}{
		{name: "OK with perfdata", command: `sh -c 'echo "TCP OK - 0.001 second response time|time=0.001000s;;;0.000000;10.000000"'`,
			wantStats: map[string]float64{"time_seconds": 0.001, "exit_code": 0}},
		{name: "WARNING fails by default", command: `sh -c 'echo "LOAD WARNING - 5.1 | load1=5.1;5;10"; exit 1'`,
			wantErr:   `run sh: exit code 1; output: "LOAD WARNING - 5.1"`,
			wantStats: map[string]float64{"load1": 5.1, "exit_code": 1}},
		{name: "WARNING passes with warning=ok", command: `sh -c 'echo "LOAD WARNING - 5.1 | load1=5.1;5;10"; exit 1'`,
			warning: "ok", wantStats: map[string]float64{"load1": 5.1, "exit_code": 1}},
		{name: "CRITICAL fails even with warning=ok", command: `sh -c 'echo "DISK CRITICAL - / 1%|/=99%;90;95"; exit 2'`,
			warning: "ok", wantErr: `run sh: exit code 2; output: "DISK CRITICAL - / 1%"`,
			wantStats: map[string]float64{"/_percent": 99, "exit_code": 2}},
		{name: "UNKNOWN fails, status line only", command: `sh -c 'printf "UNKNOWN - no such host\nlong text\n"; exit 3'`,
			wantErr: `run sh: exit code 3; output: "UNKNOWN - no such host"`},
		{name: "perfdata never replaces run_seconds", command: `sh -c 'echo "OK | run_seconds=99 exit_code=7"'`,
			wantStats: map[string]float64{"exit_code": 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			raw := map[string]string{"command": tt.command}
			if tt.warning != "" {
				raw["warning"] = tt.warning
			}
			c, err := newTestCheck(t, scriptDescriptor(), raw)
			if err != nil {
				t.Fatalf("NewCheck() error = %v", err)
			}
			stats, _ := runWantErr(t, c, 10*time.Second, tt.wantErr)
			for k, v := range tt.wantStats {
				if got, ok := stats[k]; !ok || got != v {
					t.Errorf("stats[%q] = %v (set: %v), want %v; stats %v", k, got, ok, v, stats)
				}
			}
			if stats["run_seconds"] == 99 {
				t.Errorf("perfdata replaced run_seconds: %v", stats)
			}
		})
	}
}

func TestScriptWarningOption(t *testing.T) {
	t.Parallel()
	_, err := newTestCheck(t, scriptDescriptor(), map[string]string{"command": "true", "warning": "maybe"})
	if err == nil || !strings.Contains(err.Error(), "warning:") {
		t.Fatalf("NewCheck(warning=maybe) error = %v, want one naming warning", err)
	}
}
