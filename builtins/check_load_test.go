package builtins

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// fakeProc writes files (name → content) into a directory that stands in
// for /proc.
func fakeProc(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const fourCPUs = "cpu  1 2 3 4\ncpu0 1 2 3 4\ncpu1 1 2 3 4\ncpu2 1 2 3 4\ncpu3 1 2 3 4\nintr 5\n"

func TestLoad(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		raw     map[string]string
		loadavg string
		wantErr []string
		want    map[string]float64
	}{
		{name: "under", raw: map[string]string{"max_load5": "2"}, loadavg: "0.50 1.90 2.50 1/100 42\n",
			want: map[string]float64{"load1": 0.5, "load5": 1.9, "load15": 2.5}},
		{name: "over", raw: map[string]string{"max_load1": "1", "max_load15": "2"}, loadavg: "3.00 1.00 2.50 1/100 42\n",
			wantErr: []string{"load1 3.00 is above max_load1 1", "load15 2.50 is above max_load15 2"}},
		{name: "per cpu under", raw: map[string]string{"max_load1": "1", "per_cpu": "yes"}, loadavg: "3.60 1 1 1/1 1\n",
			want: map[string]float64{"cpus": 4}},
		{name: "per cpu over", raw: map[string]string{"max_load1": "0.5", "per_cpu": "yes"}, loadavg: "3.60 1 1 1/1 1\n",
			wantErr: []string{"load1 0.90 per CPU (4 CPUs) is above max_load1 0.5"}},
		{name: "garbage", raw: map[string]string{"max_load1": "1"}, loadavg: "x\n", wantErr: []string{"read load averages: unexpected"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := newTestCheck(t, loadDescriptor(), tt.raw)
			if err != nil {
				t.Fatal(err)
			}
			c.(*Load).proc = fakeProc(t, map[string]string{"loadavg": tt.loadavg, "stat": fourCPUs})
			stats, err := runGuarded(t, c, 5*time.Second)
			checkErrs(t, err, tt.wantErr)
			for k, v := range tt.want {
				if stats[k] != v {
					t.Errorf("stats[%s] = %v, want %v", k, stats[k], v)
				}
			}
		})
	}
}

func TestLoadOptions(t *testing.T) {
	t.Parallel()
	wantNewCheckErr(t, loadDescriptor(), map[string]string{}, "set at least one")
	wantNewCheckErr(t, loadDescriptor(), map[string]string{"max_load1": "-1"}, "not a non-negative number")
	// The real /proc.
	c, err := newTestCheck(t, loadDescriptor(), map[string]string{"max_load1": "100000", "per_cpu": "yes"})
	if err != nil {
		t.Fatal(err)
	}
	if stats, err := runGuarded(t, c, 5*time.Second); err != nil || stats["cpus"] < 1 {
		t.Fatalf("Run() = %v, %v; want cpus >= 1 and no error", stats, err)
	}
}
