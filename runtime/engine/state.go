package engine

import (
	"slices"

	"github.com/monsta/monsta/runtime"
)

func (s *streak) export() runtime.TestState {
	return runtime.TestState{
		Failures:   s.failures,
		Notified:   slices.Clone(s.notified),
		LastNotify: s.lastNotify,
		LastLevel:  s.lastLevel,
		Since:      s.since,
		Held:       s.held,
		Owed:       s.owed,
		OwedBy:     s.owedBy,
		Passes:     s.passes,
		// Who was paged in the last streak matters only to flap detection.
		FlapHistory:  uint32(s.history),
		Flapping:     s.flapping,
		FlapTo:       slices.Clone(s.flapTo),
		PrevNotified: slices.Clone(s.prevNotified),
	}
}

func (s *streak) restore(st runtime.TestState) {
	s.failures = st.Failures
	s.notified = slices.Clone(st.Notified)
	s.lastNotify = st.LastNotify
	s.lastLevel = st.LastLevel
	s.since = st.Since
	s.held = st.Held
	s.owed = st.Owed
	s.owedBy = st.OwedBy
	s.passes = st.Passes
	s.history = flapHistory(st.FlapHistory)
	s.flapping = st.Flapping
	s.flapTo = slices.Clone(st.FlapTo)
	s.prevNotified = slices.Clone(st.PrevNotified)
}
