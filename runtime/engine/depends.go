package engine

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/monsta/monsta/runtime"
)

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
			e.endRun(ctx, p, r, false)
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
		return Decision{State: runtime.StateFlapping, Names: slices.Clone(s.flapTo), Reason: flapDetail(s.history.percent())}, true
	case flapStopped:
		names := s.flapTo
		s.flapTo = nil
		if send {
			for _, n := range names {
				if !slices.Contains(d.Names, n) {
					d.Names = append(d.Names, n)
				}
			}
			return d, true
		}
		if len(names) == 0 {
			return d, send
		}
		state := runtime.StateOK
		if s.failures > 0 {
			state = runtime.StateFail
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
