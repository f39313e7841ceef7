package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/monsta/monsta/runtime"
)

// switchCheck passes or fails as its switch says.
type switchCheck struct{ down atomic.Bool }

func (c *switchCheck) Run(context.Context) (runtime.Stats, error) {
	if c.down.Load() {
		return nil, errors.New("connection refused")
	}
	return nil, nil
}

// tagNotifier records "name: STATE test" lines on a shared channel.
type tagNotifier struct {
	name string
	got  chan string
}

func (n *tagNotifier) Notify(_ context.Context, m runtime.Message) error {
	line := fmt.Sprintf("%s: %s %s", n.name, m.State, m.Test)
	if m.State == runtime.StateFail && m.Reason != "" {
		line += " (" + m.Reason + ")"
	}
	n.got <- line
	return nil
}

// stormRig is an engine on the fake clock whose tests each have one
// switchCheck, notifying the recorder "mail"; runs are driven by hand with
// RunTestOnce, so their order is the test's.
type stormRig struct {
	t      *testing.T
	e      *Engine
	plan   *runtime.Plan
	clk    *fakeClock
	checks map[string]*switchCheck
	got    chan string
}

// newStormRig builds tests from "name: extra lines" specs; every test
// notifies 1:mail unless its lines say otherwise.
func newStormRig(t *testing.T, main string, tests ...string) *stormRig {
	t.Helper()
	r := &stormRig{t: t, checks: map[string]*switchCheck{}, got: make(chan string, 1000)}
	checks := map[string]runtime.Check{}
	var conf strings.Builder
	conf.WriteString("[main]\n" + main + "\n[Notification_mail]\ntype=rec\nrecipient=mail\n[Notification_boss]\ntype=rec\nrecipient=boss\n")
	for _, spec := range tests {
		name, extra, _ := strings.Cut(spec, ":")
		c := &switchCheck{}
		r.checks[name], checks[name] = c, c
		if !strings.Contains(extra, "notify=") {
			extra += "\nnotify=1:mail"
		}
		fmt.Fprintf(&conf, "[Check_%s]\ntype=fake\nhost=%s\n[Test_%s]\nchecks=%s\n%s\n", name, name, name, name, strings.ReplaceAll(extra, ";", "\n"))
	}
	p := loadPlan(t, testRegistry(t, checks, map[string]runtime.Notifier{"mail": &tagNotifier{"mail", r.got}, "boss": &tagNotifier{"boss", r.got}}), conf.String())
	r.plan, r.clk = p, newFakeClock()
	e, err := New(p, Options{Clock: r.clk})
	if err != nil {
		t.Fatal(err)
	}
	r.e = e
	return r
}

// restart carries every test's state over to a new engine through JSON,
// as the state directory does.
func (r *stormRig) restart() {
	r.t.Helper()
	data, err := json.Marshal(r.e.State())
	if err != nil {
		r.t.Fatal(err)
	}
	r.e.Close(context.Background())
	var st map[string]runtime.TestState
	if err := json.Unmarshal(data, &st); err != nil {
		r.t.Fatal(err)
	}
	if r.e, err = New(r.plan, Options{Clock: r.clk, State: st}); err != nil {
		r.t.Fatal(err)
	}
}

// set makes the named tests' checks fail (down) or pass.
func (r *stormRig) set(down bool, names ...string) {
	for _, n := range names {
		r.checks[n].down.Store(down)
	}
}

// run runs the named tests once each, in order.
func (r *stormRig) run(names ...string) {
	r.t.Helper()
	for _, n := range names {
		if _, err := r.e.RunTestOnce(context.Background(), n); err != nil {
			r.t.Fatal(err)
		}
	}
}

// messages closes the engine and returns what was delivered as
// "notification: STATE test" lines, boss's before mail's, each in order.
func (r *stormRig) messages() []string {
	r.e.Close(context.Background())
	var out []string
	for {
		select {
		case m := <-r.got:
			out = append(out, m)
		default:
			slices.SortStableFunc(out, func(a, b string) int { return strings.Compare(a[:4], b[:4]) })
			return out
		}
	}
}

func (r *stormRig) held(name string) runtime.HoldReason {
	st, _ := r.e.TestStatus(name)
	if st.Held == nil {
		return ""
	}
	return st.Held.Reason
}

func TestDependencies(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		main  string
		tests []string
		steps func(r *stormRig)
		want  []string
		held  map[string]runtime.HoldReason // at the end
	}{
		{
			name:  "parent and child fail in the same second: one page, the parent's",
			tests: []string{"switch", "web:depends=switch"},
			steps: func(r *stormRig) {
				r.run("switch", "web") // both pass
				r.set(true, "switch", "web")
				r.run("web", "switch") // the child's run comes first
			},
			want: []string{"mail: FAIL switch"},
			held: map[string]runtime.HoldReason{"web": runtime.HoldUnreachable, "switch": ""},
		},
		{
			name:  "parent recovers, child still fails: the child pages each level it reached once",
			tests: []string{"switch", "web:depends=switch;notify=1:mail 3:boss"},
			steps: func(r *stormRig) {
				r.set(true, "switch", "web")
				r.run("web", "web", "web", "switch") // web reaches level 3 held
				r.set(false, "switch")
				r.run("switch", "web", "web")
			},
			want: []string{"boss: FAIL web (failing since 2026-11-24 00:00:00 UTC (UNREACHABLE behind switch until now))", "mail: FAIL switch", "mail: RECOVERED switch",
				"mail: FAIL web (failing since 2026-11-24 00:00:00 UTC (UNREACHABLE behind switch until now))"},
			held: map[string]runtime.HoldReason{"web": ""},
		},
		{
			name:  "a three-level chain",
			tests: []string{"router", "switch:depends=router", "web:depends=switch", "db:depends=switch"},
			steps: func(r *stormRig) {
				r.set(true, "router", "switch", "web", "db")
				r.run("web", "db", "switch", "router", "web")
			},
			want: []string{"mail: FAIL router"},
			held: map[string]runtime.HoldReason{"switch": runtime.HoldUnreachable, "web": runtime.HoldUnreachable, "db": runtime.HoldUnreachable, "router": ""},
		},
		{
			name:  "a child failing alone pages",
			tests: []string{"switch", "web:depends=switch"},
			steps: func(r *stormRig) {
				r.set(true, "web")
				r.run("web")
			},
			want: []string{"mail: FAIL web"},
		},
		{
			name:  "uplink down: only it pages",
			main:  "uplink=gw",
			tests: []string{"gw", "web", "db", "mail"},
			steps: func(r *stormRig) {
				r.set(true, "gw", "web", "db", "mail")
				r.run("web", "db", "mail", "gw", "web")
				r.set(false, "gw", "web", "db", "mail")
				r.run("web", "db", "mail", "gw", "web")
			},
			want: []string{"mail: FAIL gw", "mail: RECOVERED gw"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newStormRig(t, tc.main, tc.tests...)
			tc.steps(r)
			for n, want := range tc.held {
				if got := r.held(n); got != want {
					t.Errorf("test %s held = %q, want %q", n, got, want)
				}
			}
			if got := r.messages(); !slices.Equal(got, tc.want) {
				t.Errorf("messages = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestRecoverAfter(t *testing.T) {
	t.Parallel()
	r := newStormRig(t, "", "web:recover_after=3;notify=1:mail 2:boss")
	r.set(true, "web")
	r.run("web") // FAIL, level 1
	for i, down := range []bool{false, false, true, false, false, false} {
		r.set(down, "web")
		r.run("web")
		st, _ := r.e.TestStatus("web")
		// The count is never reset before the third pass in a row, and
		// passes do not escalate: pass 1, pass 1, fail 2, pass 2, pass 2,
		// then recovered.
		want := []int{1, 1, 2, 2, 2, 0}[i]
		if st.Failures != want {
			t.Errorf("after run %d failures = %d, want %d", i+1, st.Failures, want)
		}
	}
	want := []string{"boss: FAIL web", "boss: RECOVERED web", "mail: FAIL web", "mail: RECOVERED web"}
	if got := r.messages(); !slices.Equal(got, want) {
		t.Errorf("messages = %q, want %q", got, want)
	}
}

// TestFlapPercent checks Nagios' weights against a hand computation. The
// weight of the k-th pair of neighbouring runs (k = 1 the oldest of 20)
// is 0.8 + 0.4·(k−1)/19.
//
// 12 passes, then F P F P F P F P F (oldest first): the 9 changes are the
// pairs 12 to 20, weighing 9·0.8 + 0.4/19·(11+12+…+19) = 7.2 + 0.4·135/19
// = 7.2 + 2.8421 = 10.0421, which is 10.0421/20 = 50.21 %: at or above 50,
// the test starts flapping. One run earlier (13 passes, then F P F P F P F
// P) the 8 changes are pairs 13 to 20: 6.4 + 0.4·124/19 = 9.0105, 45.05 %:
// not yet.
//
// Later, F P F P F P and 15 passes: the changes are the pairs 1 to 5,
// 0.8 + 0.8211 + 0.8421 + 0.8632 + 0.8842 = 4.2105, 21.05 %: at or below
// 25, it stops. One run earlier (P F P F P F P and 14 passes) the pairs 2
// to 6 weigh 5.1158, 25.58 %: still flapping.
func TestFlapPercent(t *testing.T) {
	t.Parallel()
	hist := func(s string) flapHistory { // oldest first, F a failure
		var h flapHistory
		for _, c := range s {
			h = h.push(c != 'F')
		}
		return h
	}
	tests := []struct {
		runs string
		want float64
	}{
		{"PPPPPPPPPPPPPPPPPPPPP", 0},
		{"PFPFPFPFPFPFPFPFPFPFP", 100},
		{"PPPPPPPPPPPPPFPFPFPFP", 45.05},
		{"PPPPPPPPPPPPFPFPFPFPF", 50.21},
		{"PFPFPFPPPPPPPPPPPPPPP", 25.58},
		{"FPFPFPPPPPPPPPPPPPPPP", 21.05},
		{"PPPPPPPPPPPPPPPPPPPPF", 6.00}, // the newest pair alone: 1.2/20
	}
	for _, tc := range tests {
		if got := hist(tc.runs).percent(); fmt.Sprintf("%.2f", got) != fmt.Sprintf("%.2f", tc.want) {
			t.Errorf("percent(%s) = %.4f, want %.2f", tc.runs, got, tc.want)
		}
	}
}

func TestFlapping(t *testing.T) {
	t.Parallel()
	r := newStormRig(t, "flap_detection=yes", "web")
	// F P F P F P F P F: the 9th run reaches 50.21 % (TestFlapPercent).
	for i := range 9 {
		r.set(i%2 == 0, "web")
		r.run("web")
		if got, want := r.held("web"), runtime.HoldReason(""); i < 8 && got != want {
			t.Fatalf("run %d: held = %q, want %q", i+1, got, want)
		}
	}
	if got := r.held("web"); got != runtime.HoldFlapping {
		t.Fatalf("after 9 runs held = %q, want FLAPPING", got)
	}
	// Still flapping: no pages. Then passes until 21.05 %.
	r.set(false, "web")
	r.run("web")
	r.set(true, "web")
	r.run("web")
	r.set(false, "web")
	for i := range 15 {
		r.run("web")
		if got := r.held("web"); got != runtime.HoldFlapping {
			t.Fatalf("pass %d: held = %q, want FLAPPING", i+1, got)
		}
	}
	r.run("web") // the 16th pass in a row: 21.05 %
	if got := r.held("web"); got != "" {
		t.Fatalf("after 16 passes held = %q, want none", got)
	}
	want := []string{
		"mail: FAIL web", "mail: RECOVERED web", "mail: FAIL web", "mail: RECOVERED web",
		"mail: FAIL web", "mail: RECOVERED web", "mail: FAIL web", "mail: RECOVERED web",
		"mail: FLAPPING web", // run 9: to mail, paged in the last streak
		"mail: OK web",       // stopped flapping: the current state
	}
	if got := r.messages(); !slices.Equal(got, want) {
		t.Errorf("messages = %q, want %q", got, want)
	}
}

// TestStormStateSurvivesRestart: holds, passes towards recover_after and
// the flap history carry over a restart.
func TestStormStateSurvivesRestart(t *testing.T) {
	t.Parallel()
	r := newStormRig(t, "", "switch", "web:depends=switch;recover_after=2", "flappy:flap_detection=yes")
	// web: unreachable with a page owed; flappy: flapping.
	r.set(true, "switch", "web")
	r.run("web", "switch")
	for i := range 9 {
		r.set(i%2 == 0, "flappy")
		r.run("flappy")
	}
	r.restart()
	if got := r.held("flappy"); got != runtime.HoldFlapping {
		t.Errorf("after restart flappy held = %q, want FLAPPING", got)
	}
	if got := r.held("web"); got != runtime.HoldUnreachable {
		t.Errorf("after restart web held = %q, want UNREACHABLE", got)
	}
	// The switch comes back; web still fails: its owed page goes out once.
	// Then web passes once, restarts, passes again: recovered on the second.
	r.set(false, "switch")
	r.run("switch", "web")
	r.set(false, "web")
	r.run("web")
	r.restart()
	if st, _ := r.e.TestStatus("web"); st.Failures == 0 {
		t.Error("web recovered after one pass of recover_after=2")
	}
	r.run("web")
	if st, _ := r.e.TestStatus("web"); st.Failures != 0 {
		t.Errorf("web failures = %d after the second pass, want 0", st.Failures)
	}
	want := []string{"mail: FAIL switch", "mail: RECOVERED switch", "mail: FAIL web (failing since 2026-11-24 00:00:00 UTC (UNREACHABLE behind switch until now))", "mail: RECOVERED web",
		"mail: FAIL flappy", "mail: RECOVERED flappy", "mail: FAIL flappy", "mail: RECOVERED flappy",
		"mail: FAIL flappy", "mail: RECOVERED flappy", "mail: FAIL flappy", "mail: RECOVERED flappy", "mail: FLAPPING flappy"}
	got := r.messages()
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("messages = %q, want %q", got, want)
	}
}
