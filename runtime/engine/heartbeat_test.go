package engine

import (
	"context"
	"testing"
	"time"

	"github.com/monsta/monsta/runtime"
)

// The scheduler loop beats at the configured rate, between runs and with
// no tests at all.
func TestSchedulerHeartbeat(t *testing.T) {
	for _, tc := range []struct {
		name, conf string
	}{
		{"one test", "[Check_a]\ntype=fake\nhost=a\n[Test_a]\nchecks=a\ninterval=10\n"},
		{"no tests", "[main]\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := newFakeClock()
			start := clk.Now()
			p := loadPlan(t, testRegistry(t, map[string]runtime.Check{"a": &scriptedCheck{clk: clk}}, nil), tc.conf)
			beats := make(chan time.Time, 100)
			e, err := New(p, Options{Clock: clk, Heartbeat: func() { beats <- clk.Now() }, HeartbeatEvery: 3 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { e.Run(ctx); close(done) }()
			defer func() { cancel(); <-done; e.Close(context.Background()) }()
			for clk.Now().Sub(start) < 30*time.Second {
				w := clk.waitIdle(t)
				clk.Advance(w.Sub(clk.Now()))
			}
			clk.waitIdle(t)
			var got []time.Duration
			for len(beats) > 0 {
				got = append(got, (<-beats).Sub(start))
			}
			if len(got) != 11 {
				t.Fatalf("beats at %v, want every 3s from 0 to 30s", got)
			}
			for i, d := range got {
				if d != time.Duration(i)*3*time.Second {
					t.Errorf("beat %d at +%v, want +%v", i, d, time.Duration(i)*3*time.Second)
				}
			}
		})
	}
}
