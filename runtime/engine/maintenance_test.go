package engine

import (
	"testing"
	"time"

	"github.com/monsta/monsta/runtime"
)

// TestMaintenanceFromCronOnClock runs a failing test through a nightly
// window on the injected clock: nothing is sent inside, the level reached
// is paged once after.
func TestMaintenanceFromCronOnClock(t *testing.T) {
	t.Parallel()
	clk := newFakeClock() // 2026-11-24 00:00 UTC
	clk.Advance(2*time.Hour + 10*time.Minute)
	p, rec := failingPlan(t, 4, `
[Test_web]
checks=a
notify=1:page
[Maintenance_nightly]
tests=web
schedule=0 2 * * *
duration=1h
timezone=UTC
`)
	e, err := New(p, Options{Clock: clk, Gate: p.Maintenance})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // 02:10 and 02:40: inside the window
		e.RunTestOnce(t.Context(), "web")
		if st, _ := e.TestStatus("web"); st.Held == nil || st.Held.Reason != runtime.HoldMaintenance || st.Held.By != "nightly" {
			t.Fatalf("status at %v = %+v, want MAINTENANCE by nightly", clk.Now(), st.Held)
		}
		clk.Advance(30 * time.Minute)
	}
	clk.Advance(time.Minute) // 03:11: closed
	if st, _ := e.TestStatus("web"); st.Held != nil {
		t.Fatalf("status after the window = %+v, want not held", st.Held)
	}
	e.RunTestOnce(t.Context(), "web")
	e.RunTestOnce(t.Context(), "web")
	e.Close(t.Context())
	if len(rec.got) != 1 {
		t.Fatalf("%d pages, want exactly 1 after the window", len(rec.got))
	}
	if m := <-rec.got; m.State != runtime.StateFail || m.Failures != 3 {
		t.Errorf("page = %s %d, want FAIL 3", m.State, m.Failures)
	}
}
