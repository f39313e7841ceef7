package engine

import (
	"slices"

	"github.com/monsta/monsta/runtime"
)

// flapRuns is how many runs flap detection looks at, as Nagios does: 21
// results hold 20 possible state changes.
const flapRuns = 21

// flapHistory holds the results of a test's last flapRuns runs, one bit
// per run: bit 0 is the newest, a set bit a failed run. Runs before the
// first count as passed, so the zero value is a test that always passed.
type flapHistory uint32

// push records one run.
func (h flapHistory) push(ok bool) flapHistory {
	h = (h << 1) & (1<<flapRuns - 1)
	if !ok {
		h |= 1
	}
	return h
}

// percent is Nagios' weighted percent state change: of the 20 pairs of
// neighbouring runs, each pair whose results differ adds its weight, which
// grows linearly from 0.8 for the oldest pair to 1.2 for the newest, and
// the sum is taken as a share of 20 (the weights average 1, so a result
// that changes on every run scores 100).
func (h flapHistory) percent() float64 {
	changes := h ^ (h >> 1) // bit i: runs i and i+1 (i+1 is older) differ
	var sum float64
	for i := range flapRuns - 1 {
		if changes&(1<<i) != 0 {
			// Pair i is the (20-i)th oldest: i = 19 weighs 0.8, i = 0 weighs 1.2.
			k := flapRuns - 2 - i
			sum += 0.8 + 0.4*float64(k)/float64(flapRuns-2)
		}
	}
	return sum * 100 / (flapRuns - 1)
}

// flapEvent is what one run did to a test's flapping.
type flapEvent int

const (
	flapSame flapEvent = iota
	flapStarted
	flapStopped
)

// flap records one run in the history and applies the thresholds: a test
// starts flapping when the percent state change reaches High and stops
// when it falls to Low or below; in between it stays as it was.
func (s *streak) flap(ok bool, p runtime.FlapPolicy) flapEvent {
	if !p.On {
		if s.flapping {
			s.flapping = false
			return flapStopped
		}
		return flapSame
	}
	s.history = s.history.push(ok)
	pct := s.history.percent()
	switch {
	case !s.flapping && pct >= p.High:
		s.flapping = true
		return flapStarted
	case s.flapping && pct <= p.Low:
		s.flapping = false
		return flapStopped
	}
	return flapSame
}

// flapRecipients are those told that the test flaps: everyone paged in the
// current streak, or, between streaks, in the last one.
func (s *streak) flapRecipients() []string {
	out := append([]string(nil), s.notified...)
	for _, n := range s.prevNotified {
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}
