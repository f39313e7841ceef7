package engine

import (
	"strings"
	"testing"
	"time"

	"github.com/monsta/monsta/runtime"
)

// TestHoldSequences runs sequences of judged runs under a silence that
// starts and ends, through a save and a restart after every step.
func TestHoldSequences(t *testing.T) {
	notify := []runtime.Level{{Level: 0, Names: []string{"log"}}, {Level: 1, Names: []string{"bob"}}, {Level: 3, Names: []string{"boss"}}}
	type step struct {
		ok    bool
		held  bool
		pages string // "FAIL bob log; FAIL boss": each page's state and names
	}
	tests := []struct {
		name   string
		notify []runtime.Level
		steps  []step
	}{
		{
			name: "nothing while held, not even level 0", notify: notify,
			steps: []step{{true, true, ""}, {false, true, ""}, {false, true, ""}, {true, true, ""}},
		},
		{
			name: "still failing at the end pages every level reached, lowest first, once", notify: notify,
			steps: []step{
				{false, true, ""}, {false, true, ""}, {false, true, ""}, {false, true, ""},
				{false, false, "FAIL bob; FAIL boss log"},
				{false, false, "FAIL log"},
				{true, false, "RECOVERED bob boss log"},
			},
		},
		{
			name: "recovery inside the hold tells nobody", notify: notify,
			steps: []step{
				{false, false, "FAIL bob log"},
				{false, true, ""}, {false, true, ""}, {true, true, ""},
				{true, false, "OK log"},
			},
		},
		{
			name: "no new level inside the hold owes nothing", notify: []runtime.Level{{Level: 1, Names: []string{"bob"}}},
			steps: []step{
				{false, false, "FAIL bob"},
				{false, true, ""}, {false, true, ""},
				{false, false, ""},
				{true, false, "RECOVERED bob"},
			},
		},
		{
			name: "released at the level's own count pages once", notify: []runtime.Level{{Level: 2, Names: []string{"bob"}}},
			steps: []step{
				{false, true, ""},
				{false, false, "FAIL bob"},
				{false, false, ""},
			},
		},
		{
			name: "a hold that starts and ends between failures", notify: []runtime.Level{{Level: 1, Names: []string{"bob"}}},
			steps: []step{
				{false, true, ""}, {true, true, ""},
				{false, false, "FAIL bob"},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			spec := &runtime.TestSpec{Name: "web", Notify: tc.notify, Recovery: true}
			var s streak
			now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			for i, st := range tc.steps {
				now = now.Add(time.Minute)
				var reason runtime.HoldReason
				if st.held {
					reason = runtime.HoldSilenced
				}
				v := judge(spec, s, runOutcome{OK: st.ok, At: now, Now: now}, outside(reason))
				s = v.Record
				var got []string
				for _, d := range v.Pages {
					s.sent(d, d.Names, now)
					got = append(got, strings.TrimSpace(string(d.State)+" "+strings.Join(d.Names, " ")))
				}
				if g := strings.Join(got, "; "); g != st.pages {
					t.Fatalf("step %d: sent %q, want %q", i, g, st.pages)
				}
				// Every step also goes through a save and a restart.
				var r streak
				r.restore(s.export())
				s = r
			}
		})
	}
}

// failingPlan loads a plan of [Check_a], which fails its first n runs,
// [Notification_page], a recorder, and the sections of conf, which test
// them.
func failingPlan(t *testing.T, n int, conf string) (*runtime.Plan, *recordingNotifier) {
	t.Helper()
	results := make([]error, n)
	for i := range results {
		results[i] = errBoom
	}
	chk := &scriptedCheck{results: results}
	rec := &recordingNotifier{got: make(chan runtime.Message, 10)}
	p := loadPlan(t, testRegistry(t, map[string]runtime.Check{"a": chk}, map[string]runtime.Notifier{"r": rec}), `
[Check_a]
type=fake
host=a
[Notification_page]
type=rec
recipient=r
`+conf)
	return p, rec
}

// TestEngineGateOnClock drives a silence that ends at a time on the
// injected clock: the engine asks the gate after each run, a restart in the
// middle keeps the held state, and the page comes once after the end.
func TestEngineGateOnClock(t *testing.T) {
	clk := newFakeClock()
	until := clk.Now().Add(150 * time.Second)
	gate := runtime.GateFunc(func(q runtime.GateQuery) (runtime.Hold, bool) {
		if q.Test == "web" && q.Now.Before(until) {
			return runtime.Hold{Reason: runtime.HoldSilenced, By: "s1", Until: until}, true
		}
		return runtime.Hold{}, false
	})
	p, rec := failingPlan(t, 5, `
[Test_web]
checks=a
interval=60
notify=2:page
`)
	newEngine := func(state map[string]runtime.TestState) *Engine {
		e, err := New(p, Options{Clock: clk, Gate: gate, State: state})
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	e := newEngine(nil)
	for range 2 {
		if _, err := e.RunTestOnce(t.Context(), "web"); err != nil {
			t.Fatal(err)
		}
		clk.Advance(time.Minute)
	}
	st, _ := e.TestStatus("web")
	if st.Held == nil || st.Held.Reason != runtime.HoldSilenced || st.Failures != 2 {
		t.Fatalf("status while silenced = %+v, want SILENCED with 2 failures", st)
	}
	state := e.State()
	e.Close(t.Context())
	if s := state["web"]; !s.Owed || s.Held != runtime.HoldSilenced {
		t.Fatalf("saved state = %+v, want held and owed", s)
	}
	// Restart (as after kill -9), past the end of the silence.
	clk.Advance(time.Minute)
	e = newEngine(state)
	r, _ := e.RunTestOnce(t.Context(), "web")
	if r.OK || r.Failures != 3 {
		t.Fatalf("run after the silence = %+v, want failure 3", r)
	}
	m := recv(t, rec.got)
	if m.State != runtime.StateFail || m.Failures != 3 {
		t.Errorf("page after the silence = %s %d, want FAIL 3", m.State, m.Failures)
	}
	clk.Advance(time.Minute)
	e.RunTestOnce(t.Context(), "web")
	e.Close(t.Context()) // delivers what was queued
	if len(rec.got) > 0 {
		m := <-rec.got
		t.Errorf("paged again: %s %d", m.State, m.Failures)
	}
}
