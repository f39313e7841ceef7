package engine

import (
	"reflect"
	"testing"
	"time"

	"github.com/monsta/monsta/runtime"
)

func TestDecide(t *testing.T) {
	levels := []runtime.Level{{Level: 0, Names: []string{"log"}}, {Level: 1, Names: []string{"bob"}}, {Level: 2, Names: []string{"sms_bob"}}, {Level: 5, Names: []string{"boss"}}}
	type step struct {
		ok    bool
		state runtime.State
		names []string // nil: no message
	}
	tests := []struct {
		name     string
		notify   []runtime.Level
		recovery bool
		renotify time.Duration
		every    []string // notifications that want every failing run
		steps    []step
	}{
		{
			name: "every-run notifier from its level on, and always the recovery", notify: []runtime.Level{{Level: 2, Names: []string{"am"}}, {Level: 3, Names: []string{"bob"}}},
			every: []string{"am"}, recovery: false,
			steps: []step{
				{false, "", nil},
				{false, runtime.StateFail, []string{"am"}},
				{false, runtime.StateFail, []string{"bob", "am"}},
				{false, runtime.StateFail, []string{"am"}},
				{true, runtime.StateRecovered, []string{"am"}},
				{false, "", nil},
			},
		},
		{
			name: "fail fail success", notify: []runtime.Level{{Level: 2, Names: []string{"bob"}}}, recovery: true,
			steps: []step{{false, "", nil}, {false, runtime.StateFail, []string{"bob"}}, {true, runtime.StateRecovered, []string{"bob"}}},
		},
		{
			name: "recovery only to those notified", notify: []runtime.Level{{Level: 2, Names: []string{"bob"}}, {Level: 3, Names: []string{"boss"}}}, recovery: true,
			steps: []step{{false, "", nil}, {false, runtime.StateFail, []string{"bob"}}, {true, runtime.StateRecovered, []string{"bob"}}},
		},
		{
			name: "one failure then success sends nothing", notify: []runtime.Level{{Level: 2, Names: []string{"bob"}}}, recovery: true,
			steps: []step{{false, "", nil}, {true, "", nil}, {true, "", nil}},
		},
		{
			name: "recovery off", notify: []runtime.Level{{Level: 1, Names: []string{"bob"}}}, recovery: false,
			steps: []step{{false, runtime.StateFail, []string{"bob"}}, {true, "", nil}},
		},
		{
			name: "level 0 fires on every run", notify: levels, recovery: true,
			steps: []step{
				{true, runtime.StateOK, []string{"log"}},
				{false, runtime.StateFail, []string{"bob", "log"}},
				{false, runtime.StateFail, []string{"sms_bob", "log"}},
				{false, runtime.StateFail, []string{"log"}},
				{true, runtime.StateRecovered, []string{"bob", "log", "sms_bob"}},
				{true, runtime.StateOK, []string{"log"}},
			},
		},
		{
			name: "level fires exactly at its count, not after", notify: []runtime.Level{{Level: 1, Names: []string{"bob"}}}, recovery: true,
			steps: []step{{false, runtime.StateFail, []string{"bob"}}, {false, "", nil}, {false, "", nil}},
		},
		{
			name: "second streak notifies again", notify: []runtime.Level{{Level: 1, Names: []string{"bob"}}}, recovery: true,
			steps: []step{{false, runtime.StateFail, []string{"bob"}}, {true, runtime.StateRecovered, []string{"bob"}}, {false, runtime.StateFail, []string{"bob"}}},
		},
		{
			name: "renotify repeats the highest level", notify: []runtime.Level{{Level: 1, Names: []string{"bob"}}, {Level: 2, Names: []string{"boss"}}}, recovery: true, renotify: 2 * time.Minute,
			steps: []step{
				{false, runtime.StateFail, []string{"bob"}},
				{false, runtime.StateFail, []string{"boss"}},
				{false, "", nil}, // 1 min after: too early
				{false, runtime.StateFail, []string{"boss"}},
				{true, runtime.StateRecovered, []string{"bob", "boss"}},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			spec := &runtime.TestSpec{Name: "web", Notify: tc.notify, Recovery: tc.recovery, Renotify: tc.renotify, EveryRun: tc.every}
			var s streak
			now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			for i, st := range tc.steps {
				now = now.Add(time.Minute)
				d, send := decide(spec, &s, st.ok, now)
				if send {
					s.sent(d, d.Names, now)
				}
				wantSent(t, i, d, send, st.state, st.names)
			}
		})
	}
}

// wantSent fails step i unless its decision d (send: whether it sends)
// sends state to names, or sends nothing when names is nil.
func wantSent(t *testing.T, i int, d Decision, send bool, state runtime.State, names []string) {
	t.Helper()
	if !send {
		if names != nil {
			t.Fatalf("step %d: nothing sent, want %s to %v", i, state, names)
		}
		return
	}
	if d.State != state || !reflect.DeepEqual(d.Names, names) {
		t.Fatalf("step %d: sent %s to %v, want %s to %v", i, d.State, d.Names, state, names)
	}
}

func TestEvaluate(t *testing.T) {
	pass, fail := runtime.CheckResult{OK: true}, runtime.CheckResult{}
	tests := []struct {
		all  bool
		in   []runtime.CheckResult
		want bool
	}{
		{true, []runtime.CheckResult{pass, pass}, true},
		{true, []runtime.CheckResult{pass, fail}, false},
		{false, []runtime.CheckResult{pass, fail}, true},
		{false, []runtime.CheckResult{fail, fail}, false},
		{true, nil, false},
	}
	for _, tc := range tests {
		if got := evaluate(tc.all, tc.in); got != tc.want {
			t.Errorf("evaluate(all=%v, %v) = %v, want %v", tc.all, tc.in, got, tc.want)
		}
	}
}

func TestDecideOutageFacts(t *testing.T) {
	spec := &runtime.TestSpec{Name: "web", Notify: []runtime.Level{{Level: 1, Names: []string{"bob"}}}, Recovery: true, Renotify: time.Hour}
	var s streak
	t0 := time.Date(2026, 1, 1, 3, 12, 0, 0, time.UTC)
	d, _ := decide(spec, &s, false, t0)
	s.sent(d, d.Names, t0)
	if d.Outage != (runtime.Outage{Since: t0, Failures: 1}) {
		t.Fatalf("first FAIL outage = %+v", d.Outage)
	}
	decide(spec, &s, false, t0.Add(time.Minute))
	// A restart in the middle of the streak keeps its start.
	st := s.export()
	s = streak{}
	s.restore(st)
	d, send := decide(spec, &s, false, t0.Add(61*time.Minute))
	if !send || !d.Outage.Reminder || d.Outage.Failures != 3 || !d.Outage.Since.Equal(t0) {
		t.Fatalf("renotify decision = %+v, %v; want a reminder since %v", d, send, t0)
	}
	s.sent(d, d.Names, t0.Add(61*time.Minute))
	d, _ = decide(spec, &s, true, t0.Add(62*time.Minute))
	if d.State != runtime.StateRecovered || d.Outage != (runtime.Outage{Since: t0, Failures: 3}) {
		t.Fatalf("recovery = %+v, want outage since %v with 3 failed runs", d, t0)
	}
	if d, _ = decide(spec, &s, false, t0.Add(70*time.Minute)); !d.Outage.Since.Equal(t0.Add(70 * time.Minute)) {
		t.Fatalf("a new streak starts at its own first failure, got %v", d.Outage.Since)
	}
}

// decide is judge's escalation without holds, for these tables: it applies DESIGN's escalation rule to one run: after each run the
// notifications of the level equal to the failure count fire; level 0
// fires on every run; a recovery goes to everyone paged during the streak
// (when recovery is on). renotify repeats the highest level reached while
// failing. It updates the failure count and returns at most one decision;
// the caller records who was actually paged with sent. A passing run that
// does not yet end the streak (recover_after) sends nothing.
func decide(t *runtime.TestSpec, s *streak, ok bool, now time.Time) (Decision, bool) {
	failures, before, since, pending := s.observe(ok, now, t.RecoverAfter)
	if pending {
		return Decision{}, false
	}
	return escalate(t, s, ok, now, failures, before, since)
}
