package app

import (
	goruntime "runtime"
	"runtime/debug"

	"github.com/monsta/monsta/runtime"
)

// tuning is the Go runtime's settings that [main] may override.
type tuning struct {
	procs     int
	memLimit  int64
	gcPercent int
}

// currentTuning reads the settings in force (the runtime's defaults or the
// environment's GOMAXPROCS, GOMEMLIMIT and GOGC).
func currentTuning() tuning {
	gc := debug.SetGCPercent(100)
	debug.SetGCPercent(gc)
	return tuning{procs: goruntime.GOMAXPROCS(0), memLimit: debug.SetMemoryLimit(-1), gcPercent: gc}
}

// DefaultGCPercent is the garbage collection target (GOGC) monsta runs with
// when neither [main] gc_percent nor GOGC sets one. Measured with
// monsta-bench at 10,000 tests, 1,000 and 5,000 checks/s: against Go's
// 100 it lowers the peak memory by about 12 % (48 MiB against 54) at no
// measurable cost in CPU per check; at 100,000 tests it keeps the peak
// under 300 MB.
const DefaultGCPercent = 50

// ProcsPerCPU is how many Ps monsta runs per CPU Go would use, when
// neither [main] max_procs nor GOMAXPROCS sets them. monsta's goroutines
// live in short system calls (connect, close, the fsync of a test's state)
// and beside the collector: with one P per CPU, a P held by a goroutine
// in a system call until the runtime takes it back, or by the collector,
// leaves the scheduler loop waiting, and check starts late. Measured with
// monsta-bench at 5,000 checks/s and 300 hung targets: start lateness p99
// 2.6-4.0 ms with twice the Ps against 6.7-7.1 ms, for 3-5 % more CPU per
// check.
const ProcsPerCPU = 2

// startTuning is the process's settings before [main] changes them:
// currentTuning, with DefaultGCPercent unless the environment sets GOGC,
// and ProcsPerCPU times Go's default GOMAXPROCS unless it sets GOMAXPROCS.
func startTuning(getenv func(string) string) tuning {
	t := currentTuning()
	if getenv("GOGC") == "" {
		t.gcPercent = DefaultGCPercent
	}
	if getenv("GOMAXPROCS") == "" {
		t.procs = ProcsPerCPU * goruntime.GOMAXPROCS(0)
	}
	return t
}

// apply sets m's max_procs, memory_limit and gc_percent, and base's where
// m leaves one at 0, so that a reload that removes a key restores what the
// process started with.
func (base tuning) apply(m runtime.Main) {
	t := base
	if m.MaxProcs > 0 {
		t.procs = m.MaxProcs
	}
	if m.MemoryLimit > 0 {
		t.memLimit = m.MemoryLimit
	}
	if m.GCPercent > 0 {
		t.gcPercent = m.GCPercent
	}
	if goruntime.GOMAXPROCS(0) != t.procs {
		goruntime.GOMAXPROCS(t.procs)
	}
	debug.SetMemoryLimit(t.memLimit)
	debug.SetGCPercent(t.gcPercent)
}
