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

func loadDescriptor() runtime.Descriptor {
	return runtime.Descriptor{
		Kind:        runtime.KindCheck,
		Name:        "load",
		Description: "the system's load averages over 1, 5 and 15 minutes",
		Help: "The check reads /proc/loadavg and fails when a load average exceeds its limit; at least one " +
			"limit must be set. With per_cpu=yes the averages are divided by the number of online CPUs " +
			"(the cpuN lines of /proc/stat) before they are compared, so one limit fits machines of any " +
			"size. Stats: load1, load5, load15 (as the kernel reports them) and cpus.",
		Options: []runtime.Option{
			{Name: "max_load1", Parse: runtime.Optional(runtime.Float), Help: "Highest 1-minute load average; empty: no limit."},
			{Name: "max_load5", Parse: runtime.Optional(runtime.Float), Help: "Highest 5-minute load average; empty: no limit."},
			{Name: "max_load15", Parse: runtime.Optional(runtime.Float), Help: "Highest 15-minute load average; empty: no limit."},
			{Name: "per_cpu", Default: "no", Parse: runtime.Bool, Help: "Divide the load averages by the number of CPUs before comparing (yes or no)."},
		},
		Example: `[Check_load]
type = load
max_load5 = 2
max_load15 = 1.5
per_cpu = yes
`,
		NewCheck: newLoad,
	}
}

// Load passes when no load average exceeds its limit.
type Load struct {
	max    [3]float64 // <0: no limit
	perCPU bool
	proc   string // "/proc"; tests use a directory of their own
}

var loadNames = [3]string{"load1", "load5", "load15"}

func newLoad(o *runtime.Options) (runtime.Check, error) {
	c := &Load{perCPU: o.Bool("per_cpu"), proc: "/proc"}
	set := false
	for i, n := range loadNames {
		c.max[i] = -1
		if v, ok := o.Value("max_" + n).(float64); ok {
			c.max[i], set = v, true
		}
	}
	if !set {
		return nil, errors.New("max_load1, max_load5, max_load15: set at least one")
	}
	return c, nil
}

// Run implements runtime.Check.
func (c *Load) Run(ctx context.Context) (runtime.Stats, error) {
	b, err := os.ReadFile(filepath.Join(c.proc, "loadavg"))
	if err != nil {
		return nil, fmt.Errorf("read load averages: %w", err)
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return nil, fmt.Errorf("read load averages: unexpected %s: %s", filepath.Join(c.proc, "loadavg"), quoted(b, 80))
	}
	stats := runtime.Stats{}
	var loads [3]float64
	for i, n := range loadNames {
		if loads[i], err = strconv.ParseFloat(f[i], 64); err != nil {
			return nil, fmt.Errorf("read load averages: %q is not a number", f[i])
		}
		stats[n] = loads[i]
	}
	div, what := 1.0, ""
	if c.perCPU {
		n, err := countCPUs(c.proc)
		if err != nil {
			return stats, err
		}
		stats["cpus"] = float64(n)
		div, what = float64(n), fmt.Sprintf(" per CPU (%d CPUs)", n)
	}
	var errs []error
	for i, n := range loadNames {
		if c.max[i] >= 0 && loads[i]/div > c.max[i] {
			errs = append(errs, fmt.Errorf("%s %.2f%s is above max_%s %g", n, loads[i]/div, what, n, c.max[i]))
		}
	}
	return stats, errors.Join(errs...)
}

// countCPUs counts the cpuN lines of proc/stat: the CPUs online.
func countCPUs(proc string) (int, error) {
	b, err := os.ReadFile(filepath.Join(proc, "stat"))
	if err != nil {
		return 0, fmt.Errorf("count CPUs: %w", err)
	}
	n := 0
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		l := sc.Text()
		if len(l) > 3 && strings.HasPrefix(l, "cpu") && l[3] >= '0' && l[3] <= '9' {
			n++
		}
	}
	if n == 0 {
		return 0, fmt.Errorf("count CPUs: no cpuN line in %s", filepath.Join(proc, "stat"))
	}
	return n, nil
}
