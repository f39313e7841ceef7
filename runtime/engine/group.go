package engine

import (
	"slices"

	"github.com/monsta/monsta/runtime"
)

// gather waits until the group_window opened by first has passed (or the
// dispatcher begins closing, which sends open groups at once) and returns
// what goes out: first alone, or the digest of every message queued
// within the window, with how many queued items it stands for. Each
// message stays in the outbox on its own until the whole is delivered, so
// a crash loses nothing: at the next start they are grouped again. It
// returns false when the dispatcher stops.
func (d *Dispatcher) gather(q *queue, first item) (item, int, bool) {
	deadline := first.at.Add(d.window)
	if wait := deadline.Sub(d.clock.Now()); wait > 0 {
		t := d.clock.NewTimer(wait)
		select {
		case <-t.C():
		case <-d.closing:
			t.Stop()
		case <-d.stop:
			t.Stop()
			return first, 1, false
		}
	}
	q.mu.Lock()
	n := 1
	for n < len(q.pending) && !q.pending[n].at.After(deadline) {
		n++
	}
	parts := slices.Clone(q.pending[:n])
	q.mu.Unlock()
	if n == 1 {
		return first, 1, true
	}
	msgs := make([]runtime.Message, n)
	for i, p := range parts {
		msgs[i] = p.m
	}
	return item{m: runtime.NewDigest(msgs), at: first.at, parts: parts}, n, true
}
