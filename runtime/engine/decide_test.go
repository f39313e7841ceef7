package engine

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/monsta/monsta/runtime"
)

// judgeLevels is the ladder of TestJudge: level 0 to log, 1 to bob, 3 to
// boss.
var judgeLevels = []runtime.Level{{Level: 0, Names: []string{"log"}}, {Level: 1, Names: []string{"bob"}}, {Level: 3, Names: []string{"boss"}}}

// outside returns the holds of one judged run: the engine's list, with a
// gate for hold (a silence, a window or a failing parent; "" holds nothing)
// in the place of the options' gate and of UNREACHABLE.
func outside(hold runtime.HoldReason) runtime.Gates {
	g := runtime.GateFunc(func(runtime.GateQuery) (runtime.Hold, bool) {
		return runtime.Hold{Reason: hold, By: "x"}, hold != ""
	})
	return runtime.Gates{g, runtime.GateFunc(flapping), runtime.GateFunc(recovering)}
}

// pagesText renders pages as "FAIL/1 bob log; RECOVERED/-1 bob".
func pagesText(pages []Decision) string {
	var out []string
	for _, p := range pages {
		out = append(out, fmt.Sprintf("%s/%d %s", p.State, p.Level, strings.Join(p.Names, " ")))
	}
	return strings.Join(out, "; ")
}

// The records TestJudge starts from. H stands for the hold under test.
var (
	// passing: no failure, nobody paged.
	recPassing = func(runtime.HoldReason) streak { return streak{} }
	// failing: two failures; bob was paged at level 1.
	recFailing = func(runtime.HoldReason) streak {
		return streak{failures: 2, notified: []string{"bob"}, lastLevel: 1, since: t0, history: 0b11}
	}
	// heldOwed: two failures, both held by H, so level 1 is owed.
	recHeldOwed = func(h runtime.HoldReason) streak {
		return streak{failures: 2, since: t0, held: h, owed: true, history: 0b11}
	}
	// heldPaged: bob was paged at level 1, then H held the second failure.
	recHeldPaged = func(h runtime.HoldReason) streak {
		return streak{failures: 2, notified: []string{"bob"}, lastLevel: 1, since: t0, held: h, history: 0b11}
	}
	// recovering: failing, then one pass of the two recover_after needs.
	recRecovering = func(runtime.HoldReason) streak {
		return streak{failures: 2, notified: []string{"bob"}, lastLevel: 1, since: t0, held: runtime.HoldRecovering, passes: 1, history: 0b110}
	}
	// recoveringOwed: held by H while failing, then one pass of two.
	recRecoveringOwed = func(runtime.HoldReason) streak {
		return streak{failures: 2, since: t0, held: runtime.HoldRecovering, owed: true, passes: 1, history: 0b110}
	}
	// aboutToFlap: state changes on nearly every recent run, bob paged.
	recAboutToFlap = func(runtime.HoldReason) streak {
		return streak{failures: 1, notified: []string{"bob"}, lastLevel: 1, since: t0, history: 0xAAAAA}
	}
	// flappingCalm: flagged flapping, bob told, and the history calm
	// enough that one more failure ends it.
	recFlappingCalm = func(runtime.HoldReason) streak {
		return streak{failures: 1, notified: []string{"bob"}, lastLevel: 1, since: t0, history: 0b1, flapping: true, flapTo: []string{"bob"}, held: runtime.HoldFlapping}
	}
)

var t0 = time.Date(2026, 11, 24, 3, 0, 0, 0, time.UTC)

// TestJudge is the page decision's table: every hold from outside the test
// (a silence, a maintenance window, a failing parent) × a failing or a
// passing run × held before or not × the level reached, and
// recover_after and flapping, their own holds. Each row runs once per
// outside hold H.
func TestJudge(t *testing.T) {
	type want struct {
		pages     string // pagesText of the pages
		held      runtime.HoldReason
		owed      bool
		failures  int
		recovered bool
	}
	const H = runtime.HoldReason("H") // replaced by each outside hold
	tests := []struct {
		name         string
		prev         func(runtime.HoldReason) streak
		ok           bool
		hold         runtime.HoldReason // H or "": whether the outside gate holds this run
		recoverAfter int
		flap         bool
		want         want
	}{
		{name: "first failure pages level 1 and level 0", prev: recPassing,
			want: want{pages: "FAIL/1 bob log", failures: 1}},
		{name: "first failure held owes level 1", prev: recPassing, hold: H,
			want: want{held: H, owed: true, failures: 1}},
		{name: "pass pages level 0", prev: recPassing, ok: true,
			want: want{pages: "OK/0 log"}},
		{name: "held pass pages nothing, not even level 0", prev: recPassing, ok: true, hold: H,
			want: want{held: H}},
		{name: "third failure reaches level 3", prev: recFailing,
			want: want{pages: "FAIL/3 boss log", failures: 3}},
		{name: "third failure held owes level 3", prev: recFailing, hold: H,
			want: want{held: H, owed: true, failures: 3}},
		{name: "recovery goes to those paged", prev: recFailing, ok: true,
			want: want{pages: "RECOVERED/-1 bob log", recovered: true}},
		{name: "recovery inside the hold tells nobody and owes nothing", prev: recFailing, ok: true, hold: H,
			want: want{held: H, recovered: true}},
		{name: "still held, still owed", prev: recHeldOwed, hold: H,
			want: want{held: H, owed: true, failures: 3}},
		{name: "released while failing pages the ladder, lowest first", prev: recHeldOwed,
			want: want{pages: "FAIL/1 bob; FAIL/3 boss log", failures: 3}},
		{name: "released by a recovery: nobody was paged, level 0 hears it", prev: recHeldOwed, ok: true,
			want: want{pages: "RECOVERED/-1 log", recovered: true}},
		{name: "recovered inside the hold forgets what was owed", prev: recHeldOwed, ok: true, hold: H,
			want: want{held: H, recovered: true}},
		{name: "released with nothing owed escalates as usual", prev: recHeldPaged,
			want: want{pages: "FAIL/3 boss log", failures: 3}},
		{name: "released with nothing owed, the recovery reaches those paged", prev: recHeldPaged, ok: true,
			want: want{pages: "RECOVERED/-1 bob log", recovered: true}},
		{name: "recover_after: the first pass is held as RECOVERING", prev: recFailing, ok: true, recoverAfter: 2,
			want: want{held: runtime.HoldRecovering, failures: 2}},
		{name: "recover_after: an outside hold comes first", prev: recFailing, ok: true, hold: H, recoverAfter: 2,
			want: want{held: H, failures: 2}},
		{name: "recover_after: the second pass recovers", prev: recRecovering, ok: true, recoverAfter: 2,
			want: want{pages: "RECOVERED/-1 bob log", recovered: true}},
		{name: "recover_after: the second pass recovers inside the hold", prev: recRecovering, ok: true, hold: H, recoverAfter: 2,
			want: want{held: H, recovered: true}},
		{name: "recover_after: a failure between passes escalates", prev: recRecovering, recoverAfter: 2,
			want: want{pages: "FAIL/3 boss log", failures: 3}},
		{name: "recover_after: an owed page stays owed while recovering", prev: recHeldOwed, ok: true, recoverAfter: 2,
			want: want{held: runtime.HoldRecovering, owed: true, failures: 2}},
		{name: "recover_after: a failure after an owed hold pages the ladder", prev: recRecoveringOwed, recoverAfter: 2,
			want: want{pages: "FAIL/1 bob; FAIL/3 boss log", failures: 3}},
		{name: "flapping starts: those paged are told, pages held", prev: recAboutToFlap, flap: true,
			want: want{pages: "FLAPPING/0 bob", held: runtime.HoldFlapping, failures: 2}},
		{name: "flapping starts inside an outside hold: nobody is told", prev: recAboutToFlap, flap: true, hold: H,
			want: want{held: H, failures: 2}},
		{name: "flapping stops: its notice rides on the run's page", prev: recFlappingCalm, flap: true,
			want: want{pages: "FAIL/0 log bob", failures: 2}},
		{name: "flapping stops inside an outside hold: nothing is sent", prev: recFlappingCalm, flap: true, hold: H,
			want: want{held: H, failures: 2}},
	}
	for _, h := range []runtime.HoldReason{runtime.HoldSilenced, runtime.HoldMaintenance, runtime.HoldUnreachable} {
		for _, tc := range tests {
			t.Run(string(h)+"/"+tc.name, func(t *testing.T) {
				sub := func(r runtime.HoldReason) runtime.HoldReason {
					if r == H {
						return h
					}
					return r
				}
				spec := &runtime.TestSpec{Name: "web", Notify: judgeLevels, Recovery: true, RecoverAfter: max(tc.recoverAfter, 1),
					Flap: runtime.FlapPolicy{On: tc.flap, High: 50, Low: 25}}
				prev := tc.prev(h)
				before := prev.clone()
				v := judge(spec, prev, runOutcome{OK: tc.ok, At: t0.Add(time.Hour), Now: t0.Add(time.Hour)}, outside(sub(tc.hold)))
				got := want{pages: pagesText(v.Pages), held: v.Record.held, owed: v.Record.owed, failures: v.Record.failures, recovered: v.Recovered}
				w := tc.want
				w.held = sub(w.held)
				if got != w {
					t.Errorf("judge:\n got %+v\nwant %+v", got, w)
				}
				if v.Hold.Reason != w.held {
					t.Errorf("hold in force = %q, want %q", v.Hold.Reason, w.held)
				}
				if !reflect.DeepEqual(prev, before) {
					t.Errorf("judge changed its input record: %+v, was %+v", prev, before)
				}
			})
		}
	}
}
