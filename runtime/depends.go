package runtime

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/monsta/monsta/config"
)

// FlapPolicy is how a test detects flapping.
type FlapPolicy struct {
	On   bool
	High float64 // percent state change that starts flapping
	Low  float64 // percent state change at or below which flapping stops
}

// checkFlap refuses [main] flap thresholds that cannot work.
func checkFlap(probs *config.Problems, o *Options) bool {
	hi, lo := o.Value("flap_high").(float64), o.Value("flap_low").(float64)
	if lo >= hi {
		probs.Addf(o.Pos("flap_low"), o.Section, "flap_low", "%v must be below flap_high (%v)", lo, hi)
		return false
	}
	return true
}

// flapPolicy resolves a test's flap options over [main]'s.
func (r *resolution) flapPolicy(o *Options) FlapPolicy {
	f := r.plan.Main.Flap
	if v, ok := o.Value("flap_detection").(bool); ok {
		f.On = v
	}
	if v, ok := o.Value("flap_high").(float64); ok {
		f.High = v
	}
	if v, ok := o.Value("flap_low").(float64); ok {
		f.Low = v
	}
	if f.On && f.Low >= f.High {
		key := "flap_low"
		if o.IsSet("flap_high") {
			key = "flap_high"
		}
		r.probs.Addf(o.Pos(key), o.Section, key, "flap_low (%v) must be below flap_high (%v)", f.Low, f.High)
	}
	return f
}

// dependencies checks every depends= and [main] uplink: each names a
// test, and no test depends on itself, directly or not. The uplink counts
// as a parent of every other test, so the uplink itself may depend on
// nothing.
func (r *resolution) dependencies() {
	byName := make(map[string]*TestSpec, len(r.plan.Tests))
	var names []string
	for _, t := range r.plan.Tests {
		byName[t.Name] = t
		names = append(names, t.Name)
	}
	slices.Sort(names)
	up := r.plan.Main.Uplink
	if up != "" {
		if _, ok := byName[up]; !ok {
			r.probs.Addf(r.plan.Main.UplinkPos, "main", "uplink", "no test named %q (no section [Test_%s])%s", up, up, suggest(up, names))
			up = ""
		}
	}
	for _, t := range r.plan.Tests {
		pos := r.dependsPos[t]
		var kept []string
		for _, d := range t.Depends {
			switch {
			case byName[d] == nil:
				r.probs.Addf(pos, "Test_"+t.Name, "depends", "no test named %q (no section [Test_%s])%s", d, d, suggest(d, names))
			case contains(kept, d):
			default:
				kept = append(kept, d)
			}
		}
		t.Depends = kept
		if t.Name == up && len(kept) > 0 {
			r.probs.Addf(pos, "Test_"+t.Name, "depends", "the uplink test cannot depend on other tests: every test depends on it")
			t.Depends = nil
		}
	}
	// Find cycles by depth-first search; report each once, at the
	// depends= of its first test in configuration order.
	const (
		unseen = iota
		onPath
		done
	)
	mark := map[string]int{}
	var path []string
	var visit func(n string)
	visit = func(n string) {
		mark[n] = onPath
		path = append(path, n)
		for _, d := range byName[n].Depends {
			switch mark[d] {
			case unseen:
				visit(d)
			case onPath:
				i := slices.Index(path, d)
				cycle := append(slices.Clone(path[i:]), d)
				first := byName[cycle[0]]
				for _, c := range cycle {
					if slices.Index(r.plan.Tests, byName[c]) < slices.Index(r.plan.Tests, first) {
						first = byName[c]
					}
				}
				r.probs.Addf(r.dependsPos[first], "Test_"+first.Name, "depends", "dependency cycle: %s", strings.Join(rotate(cycle, first.Name), " → "))
			}
		}
		path = path[:len(path)-1]
		mark[n] = done
	}
	for _, t := range r.plan.Tests {
		if mark[t.Name] == unseen {
			visit(t.Name)
		}
	}
}

// rotate returns the closed cycle c (first == last) starting at name.
func rotate(c []string, name string) []string {
	open := c[:len(c)-1]
	i := slices.Index(open, name)
	out := append(slices.Clone(open[i:]), open[:i]...)
	return append(out, name)
}

// parents returns the tests t depends on: its depends= and the uplink.
func parents(t *TestSpec, uplink string) []string {
	if uplink == "" || t.Name == uplink || contains(t.Depends, uplink) {
		return t.Depends
	}
	return append(slices.Clone(t.Depends), uplink)
}

// unreachable holds t while a test it depends on fails (has failures, so
// also while that one waits out its recover_after).
func unreachable(t *testRunner) (Hold, bool) {
	if t == nil {
		return Hold{}, false
	}
	for _, p := range t.parents {
		p.mu.Lock()
		failing := p.streak.failures > 0
		p.mu.Unlock()
		if failing {
			return Hold{Reason: HoldUnreachable, By: p.spec.Name, Detail: "depends on " + p.spec.Name + ", which fails"}, true
		}
	}
	return Hold{}, false
}

// flapping holds t while it flaps.
func flapping(t *testRunner) (Hold, bool) {
	if t == nil {
		return Hold{}, false
	}
	t.mu.Lock()
	on, pct := t.streak.flapping, t.streak.history.percent()
	t.mu.Unlock()
	if !on {
		return Hold{}, false
	}
	return Hold{Reason: HoldFlapping, Detail: flapDetail(pct)}, true
}

func flapDetail(pct float64) string {
	return fmt.Sprintf("state changed in %.1f%% of the last %d runs (weighted)", pct, flapRuns)
}

// predict runs, once and out of schedule, each parent of t that does not
// fail and has not started a run since t's failure was seen (at seen), so
// that a failure behind a parent that has just failed too is held, and the
// page is the parent's (Nagios' predictive dependency checks). A parent
// already running is waited for, and run again if that run started
// before seen. Parents run their own parents the same way.
func (e *Engine) predict(ctx context.Context, t *testRunner, seen time.Time) {
	for _, p := range t.parents {
		for {
			p.mu.Lock()
			done := p.streak.failures > 0 || p.lastStart.After(seen)
			p.mu.Unlock()
			if done {
				break
			}
			if e.retired.Load() {
				break // handed over: the successor schedules p
			}
			if !p.running.CompareAndSwap(false, true) {
				p.waitIdle()
				continue
			}
			p.oos.Store(true)
			e.log.Debug("running a parent out of schedule", "test", p.spec.Name, "for", t.spec.Name)
			r := e.runTest(ctx, p, e.clock.Now())
			p.oos.Store(false)
			e.endRun(ctx, p, r)
			break
		}
	}
}

// release ends a run of t and wakes those waiting for it.
func (t *testRunner) release() {
	t.running.Store(false)
	if t.waiters.Load() > 0 {
		t.idleMu.Lock()
		if t.idle != nil {
			t.idle.Broadcast()
		}
		t.idleMu.Unlock()
	}
}

// waitIdle returns once t is not running.
func (t *testRunner) waitIdle() {
	t.idleMu.Lock()
	if t.idle == nil {
		t.idle = sync.NewCond(&t.idleMu)
	}
	t.waiters.Add(1)
	for t.running.Load() {
		t.idle.Wait()
	}
	t.waiters.Add(-1)
	t.idleMu.Unlock()
}

// flapDecision turns a change of flapping into its message: on starting,
// one FLAPPING message to everyone paged in the streak (pages are held
// from then on); on stopping, one message with the current state to the
// same people, added to whatever the run sends anyway.
func flapDecision(s *streak, ev flapEvent, d Decision, send bool) (Decision, bool) {
	switch ev {
	case flapStarted:
		s.flapTo = s.flapRecipients()
		if len(s.flapTo) == 0 {
			return Decision{}, false
		}
		return Decision{State: StateFlapping, Names: slices.Clone(s.flapTo), Reason: flapDetail(s.history.percent())}, true
	case flapStopped:
		names := s.flapTo
		s.flapTo = nil
		if send {
			for _, n := range names {
				if !contains(d.Names, n) {
					d.Names = append(d.Names, n)
				}
			}
			return d, true
		}
		if len(names) == 0 {
			return d, send
		}
		state := StateOK
		if s.failures > 0 {
			state = StateFail
		}
		return Decision{State: state, Names: names, Reason: "stopped flapping"}, true
	}
	return d, send
}

// failingParent evaluates t's parents, as predict does but without
// counting, and names the first that fails ("" when none does).
func (e *Engine) failingParent(ctx context.Context, t *testRunner) string {
	for _, p := range t.parents {
		if !p.running.CompareAndSwap(false, true) {
			p.waitIdle()
			p.mu.Lock()
			failing := p.streak.failures > 0
			p.mu.Unlock()
			if failing {
				return "depends on " + p.spec.Name + ", which fails"
			}
			continue
		}
		ok := evaluate(p.spec.RequireAll, e.runChecks(ctx, p, e.clock.Now()))
		p.release()
		if !ok {
			return "depends on " + p.spec.Name + ", which fails"
		}
	}
	return ""
}
