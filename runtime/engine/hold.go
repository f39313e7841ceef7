package engine

import (
	"github.com/monsta/monsta/runtime"
	"slices"
)

// applyHold applies a hold to the decision decide made for one run. held
// is the reason in force ("" when none). While held it drops the decision
// and remembers whether a page of level 1 or more was held back; on the
// first run after the hold that still fails, it adds the notifications of
// the highest level reached, once. It updates s.held and s.owed.
func applyHold(t *runtime.TestSpec, s *streak, ok bool, d Decision, send bool, held runtime.HoldReason) (Decision, bool) {
	if ok && s.failures > 0 {
		// Passing, but not yet recovered (recover_after): nothing is sent
		// and whatever is owed stays owed.
		s.held = held
		return Decision{}, false
	}
	if held != "" {
		s.held = held
		if ok {
			s.owed = false // recovered inside the hold: nobody is told
		} else if send && d.State == runtime.StateFail && d.Level >= 1 {
			s.owed = true
		}
		return Decision{}, false
	}
	s.held = ""
	if ok || !s.owed {
		s.owed = false
		return d, send
	}
	s.owed = false
	reached := 0
	for _, lv := range t.Notify {
		if lv.Level >= 1 && lv.Level <= s.failures {
			reached = lv.Level
		}
	}
	if reached == 0 {
		return d, send
	}
	var names []string
	for _, lv := range t.Notify {
		if lv.Level == reached {
			names = append(names, lv.Names...)
		}
	}
	if send {
		for _, n := range d.Names {
			if !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
	}
	return Decision{State: runtime.StateFail, Level: max(reached, d.Level), Names: names}, true
}
