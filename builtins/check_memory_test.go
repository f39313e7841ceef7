package builtins

import (
	"fmt"
	"testing"
	"time"
)

func meminfo(total, avail, swapTotal, swapFree int) string {
	return fmt.Sprintf("MemTotal: %d kB\nMemFree: 1 kB\nMemAvailable: %d kB\nSwapTotal: %d kB\nSwapFree: %d kB\nHugePages_Total: 0\n",
		total, avail, swapTotal, swapFree)
}

func TestMemory(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		raw     map[string]string
		info    string
		wantErr []string
		want    map[string]float64
	}{
		{name: "plenty", info: meminfo(1<<20, 1<<19, 0, 0),
			want: map[string]float64{"available_bytes": 1 << 29, "available_percent": 50, "total_bytes": 1 << 30}},
		{name: "below 10%", info: meminfo(1<<20, 1<<16, 0, 0),
			wantErr: []string{"64.0 MiB of memory available (6.2% of 1.0 GiB), less than min_available 10%"}},
		{name: "size", raw: map[string]string{"min_available": "512M"}, info: meminfo(1<<20, 1<<18, 0, 0),
			wantErr: []string{"less than min_available 512.0 MiB"}},
		{name: "swap", raw: map[string]string{"max_swap_used": "50%"}, info: meminfo(1<<20, 1<<19, 1000, 200),
			wantErr: []string{"800.0 KiB of swap used (80.0% of 1000.0 KiB), more than max_swap_used 50%"}},
		{name: "no swap passes", raw: map[string]string{"max_swap_used": "1M"}, info: meminfo(1<<20, 1<<19, 0, 0)},
		{name: "not meminfo", info: "Foo: 1 kB\n", wantErr: []string{"read memory: no MemTotal in"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := newTestCheck(t, memoryDescriptor(), tt.raw)
			if err != nil {
				t.Fatal(err)
			}
			c.(*Memory).proc = fakeProc(t, map[string]string{"meminfo": tt.info})
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

func TestMemoryOptions(t *testing.T) {
	t.Parallel()
	wantNewCheckErr(t, memoryDescriptor(), map[string]string{"min_available": ""}, "set at least one")
	wantNewCheckErr(t, memoryDescriptor(), map[string]string{"min_available": "lots"}, "neither a percentage")
	c, err := newTestCheck(t, memoryDescriptor(), map[string]string{"min_available": "1K"})
	if err != nil {
		t.Fatal(err)
	}
	if stats, err := runGuarded(t, c, 5*time.Second); err != nil || stats["total_bytes"] <= 0 {
		t.Fatalf("Run() on /proc = %v, %v", stats, err)
	}
}
