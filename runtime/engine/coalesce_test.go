package engine

import (
	"context"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/monsta/monsta/runtime"
)

// coalescing delivers through deliver and coalesces messages by test.
type coalescing struct{ deliver func(m runtime.Message) error }

func (c *coalescing) Notify(_ context.Context, m runtime.Message) error { return c.deliver(m) }
func (c *coalescing) CoalesceKey(m runtime.Message) string              { return m.Test }

// TestDispatcherCoalescesWaitingMessages: messages about one test to a
// coalescing notifier replace each other while they wait; the one being
// delivered is left alone, other tests keep their place.
func TestDispatcherCoalescesWaitingMessages(t *testing.T) {
	t.Parallel()
	release, inFlight := make(chan struct{}), make(chan struct{})
	got := make(chan runtime.Message, 10)
	first := true // touched by the worker only
	n := &coalescing{deliver: func(m runtime.Message) error {
		if first {
			first = false
			close(inFlight)
			<-release
		}
		got <- m
		return nil
	}}
	ob := &memOutbox{stored: map[string]runtime.Message{}}
	d := NewDispatcher(map[string]*runtime.NotificationSpec{"am": {Name: "am", Notifier: n, Desc: &runtime.Descriptor{Kind: runtime.KindNotifier, Name: "am"}}},
		DispatcherOptions{Outbox: ob})
	defer d.Stop()
	now := time.Now()
	d.Enqueue("am", runtime.Message{Test: "a", State: runtime.StateFail, Failures: 1, Time: now})
	recv(t, inFlight)
	for i := 2; i <= 20; i++ {
		d.Enqueue("am", runtime.Message{Test: "a", State: runtime.StateFail, Failures: i, Time: now})
	}
	d.Enqueue("am", runtime.Message{Test: "b", State: runtime.StateFail, Failures: 1, Time: now})
	d.Enqueue("am", runtime.Message{Test: "a", State: runtime.StateRecovered, Failures: 20, Time: now})
	if q := d.Queued(); len(q) != 3 {
		t.Errorf("Queued() holds %d messages, want 3 (the one in delivery, the latest of a, b)", len(q))
	}
	close(release)
	want := []string{"a FAIL 1", "a RECOVERED 20", "b FAIL 1"}
	for _, w := range want {
		m := recv(t, got)
		if s := m.Test + " " + string(m.State) + " " + strconv.Itoa(m.Failures); s != w {
			t.Errorf("delivered %q, want %q", s, w)
		}
	}
	d.Close(context.Background())
	ob.mu.Lock()
	defer ob.mu.Unlock()
	if len(ob.stored) != 0 || len(ob.deleted) != 22 {
		t.Errorf("outbox holds %d, deleted %d; want 0 and 22 (each replaced message removed)", len(ob.stored), len(ob.deleted))
	}
}

// TestDispatcherDropsSupersededRetry: a message that failed is not retried
// once a newer one about the same test waits behind it.
func TestDispatcherDropsSupersededRetry(t *testing.T) {
	t.Parallel()
	var d *Dispatcher
	var delivered []int
	done := make(chan struct{})
	n := &coalescing{deliver: func(m runtime.Message) error {
		if m.Failures == 1 {
			// The newer message arrives while the first one fails.
			d.Enqueue("am", runtime.Message{Test: "a", State: runtime.StateFail, Failures: 2, Time: m.Time})
			return errBoom
		}
		delivered = append(delivered, m.Failures)
		close(done)
		return nil
	}}
	d = NewDispatcher(map[string]*runtime.NotificationSpec{"am": {Name: "am", Notifier: n, Desc: &runtime.Descriptor{Kind: runtime.KindNotifier, Name: "am"}}},
		DispatcherOptions{Retry: runtime.RetryPolicy{First: time.Millisecond, Max: time.Millisecond, MaxAge: time.Hour}})
	d.Enqueue("am", runtime.Message{Test: "a", State: runtime.StateFail, Failures: 1, Time: time.Now()})
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("nothing delivered")
	}
	d.Close(context.Background())
	if !slices.Equal(delivered, []int{2}) {
		t.Errorf("delivered failures %v, want [2] (the failed first message dropped, not retried)", delivered)
	}
}

// TestDispatcherCoalescesPending: messages left in the outbox by an earlier
// run are coalesced too.
func TestDispatcherCoalescesPending(t *testing.T) {
	t.Parallel()
	got := make(chan runtime.Message, 10)
	n := &coalescing{deliver: func(m runtime.Message) error { got <- m; return nil }}
	ob := &memOutbox{stored: map[string]runtime.Message{}}
	var pending []runtime.Pending
	for i := 1; i <= 3; i++ {
		pending = append(pending, runtime.Pending{Notification: "am", ID: "p" + strconv.Itoa(i), Message: runtime.Message{Test: "a", State: runtime.StateFail, Failures: i, Time: time.Now()}})
	}
	d := NewDispatcher(map[string]*runtime.NotificationSpec{"am": {Name: "am", Notifier: n, Desc: &runtime.Descriptor{Kind: runtime.KindNotifier, Name: "am"}}},
		DispatcherOptions{Outbox: ob, Pending: pending})
	if m := recv(t, got); m.Failures != 3 {
		t.Errorf("delivered failure %d first, want only the newest (3)", m.Failures)
	}
	d.Close(context.Background())
	select {
	case m := <-got:
		t.Errorf("also delivered %d", m.Failures)
	default:
	}
}

// TestGroupWindowSkipsCoalescing: a coalescing notifier (Alertmanager
// groups by itself) gets each message on its own, at once.
func TestGroupWindowSkipsCoalescing(t *testing.T) {
	t.Parallel()
	got := make(chan runtime.Message, 10)
	n := &coalescing{deliver: func(m runtime.Message) error { got <- m; return nil }}
	d := NewDispatcher(map[string]*runtime.NotificationSpec{"am": {Name: "am", Notifier: n, Desc: &runtime.Descriptor{Kind: runtime.KindNotifier, Name: "am"}}},
		DispatcherOptions{GroupWindow: time.Hour})
	defer d.Stop()
	for _, test := range []string{"a", "b"} {
		d.Enqueue("am", runtime.Message{Test: test, State: runtime.StateFail, Time: time.Now()})
		if m := recv(t, got); m.Test != test || m.Digest != nil {
			t.Errorf("delivered %q (digest %v), want %q on its own", m.Test, m.Digest != nil, test)
		}
	}
}
