package builtins

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/monsta/monsta/runtime"
)

func memoryDescriptor() runtime.Descriptor {
	return runtime.Descriptor{
		Kind:        runtime.KindCheck,
		Name:        "memory",
		Description: "available memory and used swap",
		Help: "The check reads /proc/meminfo. Available memory is the kernel's MemAvailable: what can be " +
			"given to programs without swapping (free memory plus reclaimable caches), the figure free(1) " +
			"shows as available. A percentage is of MemTotal, or of SwapTotal for max_swap_used; on a " +
			"machine without swap the swap limit passes. Stats: available_bytes, available_percent, " +
			"total_bytes, swap_used_bytes, swap_used_percent.",
		Options: []runtime.Option{
			{Name: "min_available", Default: "10%", Parse: runtime.Optional(runtime.SizeOrPercent),
				Help: "Available memory below which the check fails: a percentage (10%) or a size (512M); empty: no limit."},
			{Name: "max_swap_used", Parse: runtime.Optional(runtime.SizeOrPercent),
				Help: "Used swap above which the check fails: a percentage (50%) or a size (1G); empty: no limit."},
		},
		Example: `[Check_memory]
type = memory
min_available = 512M
max_swap_used = 50%
`,
		NewCheck: newMemory,
	}
}

// Memory passes when at least min_available memory is available and at
// most max_swap_used swap is used.
type Memory struct {
	minAvail, maxSwap *runtime.Amount // nil: no limit
	proc              string          // "/proc"; tests use a directory of their own
}

func newMemory(o *runtime.Options) (runtime.Check, error) {
	c := &Memory{proc: "/proc"}
	if v, ok := o.Value("min_available").(runtime.Amount); ok {
		c.minAvail = &v
	}
	if v, ok := o.Value("max_swap_used").(runtime.Amount); ok {
		c.maxSwap = &v
	}
	if c.minAvail == nil && c.maxSwap == nil {
		return nil, errors.New("min_available, max_swap_used: set at least one")
	}
	return c, nil
}

// Run implements runtime.Check.
func (c *Memory) Run(ctx context.Context) (runtime.Stats, error) {
	m, err := readMeminfo(filepath.Join(c.proc, "meminfo"))
	if err != nil {
		return nil, err
	}
	for _, k := range []string{"MemTotal", "MemAvailable", "SwapTotal", "SwapFree"} {
		if _, ok := m[k]; !ok {
			return nil, fmt.Errorf("read memory: no %s in %s", k, filepath.Join(c.proc, "meminfo"))
		}
	}
	total, avail := m["MemTotal"], m["MemAvailable"]
	swapTotal, swapUsed := m["SwapTotal"], m["SwapTotal"]-min(m["SwapFree"], m["SwapTotal"])
	stats := runtime.Stats{
		"total_bytes":     float64(total),
		"available_bytes": float64(avail),
		"swap_used_bytes": float64(swapUsed),
	}
	if total > 0 {
		stats["available_percent"] = 100 * float64(avail) / float64(total)
	}
	if swapTotal > 0 {
		stats["swap_used_percent"] = 100 * float64(swapUsed) / float64(swapTotal)
	}
	var errs []error
	if c.minAvail != nil && float64(avail) < c.minAvail.Of(total) {
		errs = append(errs, fmt.Errorf("%s of memory available (%.1f%% of %s), less than min_available %s",
			runtime.FormatSize(float64(avail)), stats["available_percent"], runtime.FormatSize(float64(total)), c.minAvail))
	}
	if c.maxSwap != nil && swapTotal > 0 && float64(swapUsed) > c.maxSwap.Of(swapTotal) {
		errs = append(errs, fmt.Errorf("%s of swap used (%.1f%% of %s), more than max_swap_used %s",
			runtime.FormatSize(float64(swapUsed)), stats["swap_used_percent"], runtime.FormatSize(float64(swapTotal)), c.maxSwap))
	}
	return stats, errors.Join(errs...)
}

// readMeminfo reads a /proc/meminfo file into bytes per key.
func readMeminfo(path string) (map[string]uint64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read memory: %w", err)
	}
	m := map[string]uint64{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		n, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil {
			continue
		}
		if len(f) > 1 && f[1] == "kB" {
			n *= 1024
		}
		m[k] = n
	}
	return m, nil
}
