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
