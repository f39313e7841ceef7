package app

import (
	goruntime "runtime"
	"runtime/debug"
	"testing"

	"github.com/monsta/monsta/runtime"
)

// TestTuningApply wants [main]'s settings applied and the process's own
// restored when a later [main] leaves them at 0.
func TestTuningApply(t *testing.T) {
	base := currentTuning()
	t.Cleanup(func() { base.apply(runtime.Main{}) })
	base.apply(runtime.Main{MaxProcs: 1, MemoryLimit: 64 << 20, GCPercent: 40})
	if got := currentTuning(); got != (tuning{procs: 1, memLimit: 64 << 20, gcPercent: 40}) {
		t.Errorf("after apply: %+v, want procs 1, limit 64M, gc 40", got)
	}
	base.apply(runtime.Main{})
	if got := currentTuning(); got != base {
		t.Errorf("after a [main] without the keys: %+v, want %+v", got, base)
	}
	if goruntime.GOMAXPROCS(0) != base.procs || debug.SetMemoryLimit(-1) != base.memLimit {
		t.Error("process settings not restored")
	}
}

// TestStartTuning: without GOGC monsta runs with DefaultGCPercent, and
// with Go's GOMAXPROCS; the environment wins.
func TestStartTuning(t *testing.T) {
	if got := startTuning(func(string) string { return "" }).gcPercent; got != DefaultGCPercent {
		t.Errorf("without GOGC: gc_percent %d, want %d", got, DefaultGCPercent)
	}
	env := func(k string) string {
		if k == "GOGC" {
			return "80"
		}
		return ""
	}
	if got, want := startTuning(env).gcPercent, currentTuning().gcPercent; got != want {
		t.Errorf("with GOGC set: gc_percent %d, want the runtime's %d", got, want)
	}
	if got, want := startTuning(func(string) string { return "" }).procs, goruntime.GOMAXPROCS(0); got != want {
		t.Errorf("without GOMAXPROCS: procs %d, want %d", got, want)
	}
	procsEnv := func(k string) string {
		if k == "GOMAXPROCS" {
			return "1"
		}
		return ""
	}
	if got, want := startTuning(procsEnv).procs, goruntime.GOMAXPROCS(0); got != want {
		t.Errorf("with GOMAXPROCS set: procs %d, want the runtime's %d", got, want)
	}
}
