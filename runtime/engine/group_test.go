package engine

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/monsta/monsta/runtime"
)

// memOutbox is an Outbox in memory that records deletions.
type memOutbox struct {
	mu      sync.Mutex
	seq     int
	stored  map[string]runtime.Message
	deleted []string
}

func (o *memOutbox) Put(_ string, m runtime.Message) (string, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.seq++
	id := fmt.Sprintf("%03d", o.seq)
	o.stored[id] = m
	return id, nil
}

func (o *memOutbox) Delete(_, id string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	delete(o.stored, id)
	o.deleted = append(o.deleted, id)
	return nil
}

func (o *memOutbox) Fail(_, id, _ string) error { return o.Delete("", id) }

func (o *memOutbox) count() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.stored)
}

func failMsg(clk runtime.Clock, test string) runtime.Message {
	r := runtime.TestResult{Test: test, Failures: 1, Time: clk.Now(), Checks: []runtime.CheckResult{{Check: "www", Type: "http", Errors: []string{"connect 127.0.0.1:80: connection refused"}}}}
	return runtime.NewMessage("vm", r, runtime.StateFail, false, runtime.Outage{})
}

func TestGroupWindow(t *testing.T) {
	t.Parallel()
	clk := newFakeClock()
	rec := &recordingNotifier{got: make(chan runtime.Message, 100)}
	box := &memOutbox{stored: map[string]runtime.Message{}}
	notifs := map[string]*runtime.NotificationSpec{"mail": testNotification(t, rec)}
	d := NewDispatcher(notifs, DispatcherOptions{Clock: clk, Outbox: box, GroupWindow: 10 * time.Second})
	defer d.Stop()

	// 30 failures within 2 s of the first: one digest when the window ends.
	for i := range 30 {
		if err := d.Enqueue("mail", failMsg(clk, fmt.Sprintf("web%d", i+1))); err != nil {
			t.Fatal(err)
		}
		if i%15 == 14 {
			clk.Advance(time.Second)
		}
	}
	if n := box.count(); n != 30 {
		t.Fatalf("outbox holds %d messages inside the window, want each of the 30", n)
	}
	clk.Advance(8 * time.Second) // 10 s after the first
	m := recv(t, rec.got)
	if want := "FAIL 30 tests on vm: web1, web2, web3 … (+27)"; m.Short != want {
		t.Errorf("digest short = %q, want %q", m.Short, want)
	}
	if len(m.Short) > 160 {
		t.Errorf("digest short is %d bytes, more than one SMS", len(m.Short))
	}
	for _, want := range []string{"Digest:   30 messages", "FAIL web1: www: connect 127.0.0.1:80: connection refused (1 failure)", "FAIL web30: www:"} {
		if !strings.Contains(m.Long, want) {
			t.Errorf("digest long lacks %q:\n%s", want, m.Long)
		}
	}
	// A failure 1 s after the window: a message of its own, after its own
	// window (nothing else joins it).
	clk.Advance(time.Second)
	if err := d.Enqueue("mail", failMsg(clk, "web31")); err != nil {
		t.Fatal(err)
	}
	clk.Advance(10 * time.Second)
	if m := recv(t, rec.got); m.Test != "web31" || len(m.Digest) != 0 {
		t.Errorf("second message = %q (%d parts), want web31 alone", m.Short, len(m.Digest))
	}
	d.Close(context.Background())
	if n := box.count(); n != 0 || len(box.deleted) != 31 {
		t.Errorf("after delivery the outbox holds %d, %d deleted; want 0 and 31", n, len(box.deleted))
	}
	select {
	case m := <-rec.got:
		t.Errorf("a third message: %q", m.Short)
	default:
	}
}

func TestGroupPendingAtStart(t *testing.T) {
	t.Parallel()
	clk := newFakeClock()
	rec := &recordingNotifier{got: make(chan runtime.Message, 100)}
	ok := runtime.NewMessage("vm", runtime.TestResult{Test: "db", Time: clk.Now()}, runtime.StateRecovered, false, runtime.Outage{})
	pending := []runtime.Pending{
		{Notification: "mail", ID: "1", Message: failMsg(clk, "web1")},
		{Notification: "mail", ID: "2", Message: ok},
		{Notification: "mail", ID: "3", Message: failMsg(clk, "web2")},
	}
	box := &memOutbox{stored: map[string]runtime.Message{}}
	// Restarted after the window: the three go out at once, as one.
	clk.Advance(time.Minute)
	d := NewDispatcher(map[string]*runtime.NotificationSpec{"mail": testNotification(t, rec)}, DispatcherOptions{Clock: clk, Outbox: box, Pending: pending, GroupWindow: 10 * time.Second})
	m := recv(t, rec.got)
	d.Close(context.Background())
	if want := "FAIL 2, RECOVERED 1 on vm: FAIL web1, RECOVERED db, FAIL web2"; m.Short != want {
		t.Errorf("digest short = %q, want %q", m.Short, want)
	}
	if !strings.Contains(m.Long, "\nRECOVERED db\n") || !strings.Contains(m.Long, "\nFAIL web1: www:") {
		t.Errorf("digest long does not label each message:\n%s", m.Long)
	}
	if slices.Sort(box.deleted); !slices.Equal(box.deleted, []string{"1", "2", "3"}) {
		t.Errorf("deleted = %v, want every part", box.deleted)
	}
}

func testNotification(t *testing.T, n runtime.Notifier) *runtime.NotificationSpec {
	t.Helper()
	return &runtime.NotificationSpec{Name: "mail", Notifier: n, Desc: &runtime.Descriptor{Kind: runtime.KindNotifier, Name: "rec"}}
}
