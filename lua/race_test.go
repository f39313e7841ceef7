package lua

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/monsta/monsta/runtime"
)

// sharedStatsLua returns, from every run, the same file-local table, which
// every run of the state writes: the stats Go reads are the ones a later
// run (on another goroutine, once the state is back in the pool) changes.
const sharedStatsLua = `
local shared = {}
local events = {}
monsta.check_type{
  name = "shared_stats",
  description = "return a file-local stats table",
  run = function(opt)
    for i = 1, 60 do shared["k" .. i] = i end
    shared.n = (shared.n or 0) + 1
    return false, {"failed", "again"}, shared
  end,
}
monsta.on_notify(function(ev)
  events[#events % 4 + 1] = ev
  for _, e in ipairs(events) do e.short = e.short .. "" end
end)
`

// TestStatsTableKeptByTheFile: forty tests' worth of concurrent runs of a
// check returning a table the file keeps. Go copies the table inside the
// run, before the state goes back to the pool, so the race detector (and,
// without it, the runtime's "concurrent map iteration and map write")
// finds nothing; before the fix this crashed within seconds.
func TestStatsTableKeptByTheFile(t *testing.T) {
	fx := load(t, map[string]string{"shared.lua": sharedStatsLua}, Config{PoolSize: 2}, nil)
	c, o := fx.check(t, "shared_stats", nil)
	hooks := fx.e.Hooks()
	var wg sync.WaitGroup
	results := make(chan runtime.CheckResult, 40)
	for g := 0; g < 40; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var last runtime.CheckResult
			for i := 0; i < 25; i++ {
				last = runtime.RunCheck(context.Background(), c, o)
				ev := &runtime.NotifyEvent{Message: runtime.Message{Test: "t", Short: "s"}}
				if err := hooks.BeforeNotify(context.Background(), ev); err != nil {
					t.Errorf("BeforeNotify() error = %v", err)
				}
			}
			results <- last
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("the runs did not end within 60 s")
	}
	close(results)
	for r := range results {
		if r.OK || len(r.Errors) != 2 || len(r.Stats) < 60 || r.Stats["k7"] != 7 {
			t.Fatalf("result OK=%v errors %q, %d stats (k7=%v), want a failure with 2 messages and 60 stats",
				r.OK, r.Errors, len(r.Stats), r.Stats["k7"])
		}
	}
}
