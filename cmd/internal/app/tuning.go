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

// startTuning is the process's settings before [main] changes them:
// currentTuning, with DefaultGCPercent unless the environment sets GOGC.
// GOMAXPROCS stays Go's (the CPUs, or the environment's). Two Ps per CPU
// once kept check starts on time while runs spent milliseconds in system
// calls that hold a P (an fsync of a test's state on every failing run, a
// connect through the netpoller). Now that a state is fsynced only when
// it decides a page and portconnect's system calls never block, a spare P
// only costs: measured with monsta-bench at 10,000 tests, 5,000
// checks/s, three runs each, one P per CPU spent 91-104 µs per check
// against 103-114 with two, at the same start lateness p99 with 300 hung
// targets (2.6-4.3 ms against 2.5-4.2).
func startTuning(getenv func(string) string) tuning {
	t := currentTuning()
	if getenv("GOGC") == "" {
		t.gcPercent = DefaultGCPercent
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
