package engine

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/monsta/monsta/runtime"
	"github.com/monsta/monsta/runtime/history"
)

// recordingHistory is a history.Recorder that keeps what it is told.
type recordingHistory struct {
	mu     sync.Mutex
	events []history.Event
	runs   []history.Run
}

func (h *recordingHistory) Result(r history.Run) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.runs = append(h.runs, r)
}

func (h *recordingHistory) Event(e history.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.events = append(h.events, e)
}

// take returns the events told since the last take, each as one line:
// "down web a: boom", "hold_on web silence s1", "page web 1 page".
func (h *recordingHistory) take() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, e := range h.events {
		s := e.Kind.String() + " " + e.Test
		switch e.Kind {
		case history.Down:
			s += " " + e.Error
		case history.HoldOn, history.HoldOff:
			s = strings.TrimSpace(s + " " + e.Hold + " " + e.HoldName)
		case history.Page:
			s += fmt.Sprintf(" %d %s", e.Level, strings.Join(e.Paged, ","))
		}
		out = append(out, s)
	}
	h.events = nil
	return out
}

// histStep is one step of a history table test: the clock moves by
// advance, then each test in run runs once; want is what the history is
// told, in order.
type histStep struct {
	advance time.Duration
	run     []string
	want    []string
}

func fails(n int) []error {
	out := make([]error, n)
	for i := range out {
		out[i] = errBoom
	}
	return out
}

// TestHistoryEvents runs tests through failures, escalation, holds,
// flapping and recoveries on the injected clock and checks what the
// engine tells the history after each step.
func TestHistoryEvents(t *testing.T) {
	start := time.Date(2026, 11, 24, 2, 10, 0, 0, time.UTC)
	silence := runtime.GateFunc(func(q runtime.GateQuery) (runtime.Hold, bool) {
		if q.Test == "web" && q.Now.Before(start.Add(150*time.Second)) {
			return runtime.Hold{Reason: runtime.HoldSilenced, By: "s1"}, true
		}
		return runtime.Hold{}, false
	})
	// s1 until 2 minutes in, then s2 until 4 minutes in.
	silences := runtime.GateFunc(func(q runtime.GateQuery) (runtime.Hold, bool) {
		switch d := q.Now.Sub(start); {
		case d < 2*time.Minute:
			return runtime.Hold{Reason: runtime.HoldSilenced, By: "s1"}, true
		case d < 4*time.Minute:
			return runtime.Hold{Reason: runtime.HoldSilenced, By: "s2"}, true
		}
		return runtime.Hold{}, false
	})
	tests := []struct {
		name  string
		a, b  []error // the results of checks a (web's) and b (sw's)
		gate  runtime.Gate
		conf  string
		steps []histStep
	}{
		{
			name: "a failure and its recovery", a: fails(2),
			conf: "[Test_web]\nchecks=a\nnotify=1:page\n",
			steps: []histStep{
				{0, []string{"web"}, []string{"down web a: boom", "page web 1 page"}},
				{time.Minute, []string{"web"}, nil},
				{time.Minute, []string{"web"}, []string{"up web", "page web -1 page"}},
				{time.Minute, []string{"web"}, nil},
			},
		},
		{
			name: "a first run that passes", conf: "[Test_web]\nchecks=a\nnotify=1:page\n",
			steps: []histStep{
				{0, []string{"web"}, []string{"up web"}},
				{time.Minute, []string{"web"}, nil},
			},
		},
		{
			name: "an escalation", a: fails(3),
			conf: "[Test_web]\nchecks=a\nnotify=1:page 3:boss\n",
			steps: []histStep{
				{0, []string{"web"}, []string{"down web a: boom", "page web 1 page"}},
				{time.Minute, []string{"web"}, nil},
				{time.Minute, []string{"web"}, []string{"page web 3 boss"}},
				{time.Minute, []string{"web"}, []string{"up web", "page web -1 page,boss"}},
			},
		},
		{
			name: "a silence on and off", a: fails(5), gate: silence,
			conf: "[Test_web]\nchecks=a\nnotify=1:page\n",
			steps: []histStep{
				{0, []string{"web"}, []string{"down web a: boom", "hold_on web silence s1"}},
				{time.Minute, []string{"web"}, nil},
				{time.Minute, []string{"web"}, nil},
				{time.Minute, []string{"web"}, []string{"hold_off web silence s1", "page web 1 page"}},
			},
		},
		{
			name: "one silence after another", a: fails(5), gate: silences,
			conf: "[Test_web]\nchecks=a\nnotify=1:page\n",
			steps: []histStep{
				{0, []string{"web"}, []string{"down web a: boom", "hold_on web silence s1"}},
				{time.Minute, []string{"web"}, nil},
				{time.Minute, []string{"web"}, []string{"hold_off web silence s1", "hold_on web silence s2"}},
				{3 * time.Minute, []string{"web"}, []string{"hold_off web silence s2", "page web 1 page"}},
			},
		},
		{
			name: "maintenance", a: fails(4),
			conf: "[Test_web]\nchecks=a\nnotify=1:page\n[Maintenance_nightly]\ntests=web\nschedule=0 2 * * *\nduration=1h\ntimezone=UTC\n",
			steps: []histStep{
				{0, []string{"web"}, []string{"down web a: boom", "hold_on web maintenance nightly"}},
				{30 * time.Minute, []string{"web"}, nil},
				{31 * time.Minute, []string{"web"}, []string{"hold_off web maintenance nightly", "page web 1 page"}},
			},
		},
		{
			name: "UNREACHABLE", a: fails(3), b: fails(1),
			conf: "[Test_sw]\nchecks=b\nnotify=1:page\n[Test_web]\nchecks=a\ndepends=sw\nnotify=1:page\n",
			steps: []histStep{
				{0, []string{"sw", "web"}, []string{"down sw b: boom", "page sw 1 page", "down web a: boom", "hold_on web unreachable sw"}},
				{time.Minute, []string{"sw", "web"}, []string{"up sw", "page sw -1 page", "hold_off web unreachable sw", "page web 1 page"}},
				{time.Minute, []string{"web"}, nil},
				{time.Minute, []string{"web"}, []string{"up web", "page web -1 page"}},
			},
		},
		{
			name: "flapping", a: []error{errBoom, nil, errBoom, nil, errBoom, nil},
			conf: "[Test_web]\nchecks=a\nnotify=1:page\nflap_detection=yes\nflap_high=20\nflap_low=5\n",
			steps: []histStep{
				{0, []string{"web"}, []string{"down web a: boom", "page web 1 page"}},
				{time.Minute, []string{"web"}, []string{"up web", "page web -1 page"}},
				{time.Minute, []string{"web"}, []string{"down web a: boom", "page web 1 page"}},
				{time.Minute, []string{"web"}, []string{"up web", "hold_on web flapping", "page web 0 page"}},
				{time.Minute, []string{"web"}, []string{"down web a: boom"}},
			},
		},
		{
			name: "a recovery held by recover_after", a: fails(1),
			conf: "[Test_web]\nchecks=a\nnotify=1:page\nrecover_after=2\n",
			steps: []histStep{
				{0, []string{"web"}, []string{"down web a: boom", "page web 1 page"}},
				{time.Minute, []string{"web"}, []string{"up web", "hold_on web recovering"}},
				{time.Minute, []string{"web"}, []string{"hold_off web recovering", "page web -1 page"}},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := newFakeClock()
			clk.AdvanceTo(start)
			e, h := historyEngine(t, clk, tc.a, tc.b, tc.gate, tc.conf)
			for i, st := range tc.steps {
				clk.Advance(st.advance)
				for _, name := range st.run {
					if _, err := e.RunTestOnce(t.Context(), name); err != nil {
						t.Fatal(err)
					}
				}
				if got := h.take(); strings.Join(got, "; ") != strings.Join(st.want, "; ") {
					t.Fatalf("step %d: history told\n%q\nwant\n%q", i, got, st.want)
				}
			}
		})
	}
}

// historyEngine builds an engine with a recording history over conf, which
// may use checks a and b (scripted with a's and b's results) and the
// notifications page and boss.
func historyEngine(t *testing.T, clk *fakeClock, a, b []error, gate runtime.Gate, conf string) (*Engine, *recordingHistory) {
	t.Helper()
	checks := map[string]runtime.Check{"a": &scriptedCheck{results: a}, "b": &scriptedCheck{results: b}}
	p := loadPlan(t, testRegistry(t, checks, nil), `
[Check_a]
type=fake
host=a
[Check_b]
type=fake
host=b
[Notification_page]
type=rec
recipient=r
[Notification_boss]
type=rec
recipient=r2
`+conf)
	if gate == nil {
		gate = p.Maintenance
	}
	h := &recordingHistory{}
	e, err := New(p, Options{Clock: clk, Gate: gate, History: h})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close(t.Context()) })
	return e, h
}

// TestHistoryRuns checks the Run told for each run: its outcome, its
// duration on the clock and each check's first error, clipped.
func TestHistoryRuns(t *testing.T) {
	clk := newFakeClock()
	long := errors.New(strings.Repeat("é", 400))
	e, h := historyEngine(t, clk, []error{errors.Join(errBoom, errors.New("second"))}, []error{long},
		nil, "[Test_web]\nchecks=a b\nrequires=any\n")
	for range 2 {
		if _, err := e.RunTestOnce(t.Context(), "web"); err != nil {
			t.Fatal(err)
		}
		clk.Advance(time.Minute)
	}
	if len(h.runs) != 2 {
		t.Fatalf("%d runs told, want 2", len(h.runs))
	}
	r := h.runs[0]
	if r.Test != "web" || r.OK || len(r.Checks) != 2 || !r.At.Equal(clk.Now().Add(-2*time.Minute)) {
		t.Fatalf("first run = %+v, want web failing at the first minute with 2 checks", r)
	}
	if c := r.Checks[0]; c.Check != "a" || c.OK || c.Error != "boom" {
		t.Errorf("check a = %+v, want its first error boom", c)
	}
	if c := r.Checks[1]; c.Check != "b" || len(c.Error) > maxHistoryError || !strings.HasSuffix(c.Error, "é…") {
		t.Errorf("check b's error is %d bytes (%q…), want it clipped to %d on a rune boundary", len(c.Error), c.Error[:10], maxHistoryError)
	}
	if r := h.runs[1]; !r.OK || r.Checks[0].Error != "" || r.Checks[1].Error != "" {
		t.Errorf("second run = %+v, want passing without errors", r)
	}
	if got := h.take(); len(got) != 2 || got[0] != "down web a: boom" || got[1] != "up web" {
		t.Errorf("events = %q, want down (with the first check's first error) then up", got)
	}
}

// TestHistoryAcrossReload checks that a reload (State from the engine
// replaced, HistoryContinues) tells nothing that did not change, and that
// a start from the same state tells the outcome and hold again: the
// history's sessions begin there.
func TestHistoryAcrossReload(t *testing.T) {
	clk := newFakeClock()
	hold := runtime.GateFunc(func(q runtime.GateQuery) (runtime.Hold, bool) {
		return runtime.Hold{Reason: runtime.HoldSilenced, By: "s1"}, true
	})
	e, h := historyEngine(t, clk, fails(3), nil, hold, "[Test_web]\nchecks=a\nnotify=1:page\n")
	e.RunTestOnce(t.Context(), "web")
	if got := h.take(); len(got) != 2 {
		t.Fatalf("first run told %q, want down and hold_on", got)
	}
	state := e.State()
	for _, tc := range []struct {
		name      string
		continues bool
		want      string
	}{
		{"reload", true, ""},
		{"restart", false, "down web a: boom; hold_on web silence s1"},
	} {
		e2, err := New(e.plan, Options{Clock: clk, Gate: hold, History: h, State: state, HistoryContinues: tc.continues})
		if err != nil {
			t.Fatal(err)
		}
		clk.Advance(time.Minute)
		e2.RunTestOnce(t.Context(), "web")
		e2.Close(t.Context())
		if got := strings.Join(h.take(), "; "); got != tc.want {
			t.Errorf("%s: first run told %q, want %q", tc.name, got, tc.want)
		}
	}
}
