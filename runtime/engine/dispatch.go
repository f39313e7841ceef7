package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/monsta/monsta/runtime"
)

// backoff returns the wait before retry n (1-based): exponential with full
// jitter over its upper half.
func backoff(p runtime.RetryPolicy, n int) time.Duration {
	d := p.First
	for i := 1; i < n && d < p.Max; i++ {
		d *= 2
	}
	d = min(d, p.Max)
	return d/2 + rand.N(d/2+1)
}

// Dispatcher delivers messages through the configured notifications. Each
// notification has its own queue and worker, so a slow or hung notifier
// delays nobody else; messages to one notification keep their order.
type Dispatcher struct {
	log    *slog.Logger
	clock  runtime.Clock
	retry  runtime.RetryPolicy
	outbox runtime.Outbox // nil: memory only
	queues map[string]*queue
	wg     sync.WaitGroup
	stop   chan struct{}
	// ctx is the parent of every delivery; cancelled when stopping, so an
	// attempt under way ends at once (its message stays in the outbox).
	ctx    context.Context
	cancel context.CancelFunc
	// window is group_window; closing is closed when Close begins, so
	// that open groups go out at once.
	window    time.Duration
	closing   chan struct{}
	closeOnce sync.Once
}

type queue struct {
	spec    *runtime.NotificationSpec
	sent    atomic.Int64 // delivered
	retried atomic.Int64 // failed attempts that will be retried
	failed  atomic.Int64 // given up or refused for good
	mu      sync.Mutex
	cond    *sync.Cond
	pending []item
	closed  bool
}

type item struct {
	id    string          // outbox id; "" when not stored
	m     runtime.Message // the message, or the digest of parts
	at    time.Time       // when it was queued (group_window counts from it)
	parts []item          // a digest's messages, settled together; nil otherwise
}

// DispatcherOptions are the optional parts of a Dispatcher.
type DispatcherOptions struct {
	Retry   runtime.RetryPolicy // zero: DefaultRetry
	Logger  *slog.Logger        // nil: discard
	Outbox  runtime.Outbox      // nil: keep messages in memory only
	Pending []runtime.Pending   // messages left in the outbox by an earlier run
	Clock   runtime.Clock       // nil: RealClock; ages messages and times retries
	// GroupWindow, when above 0, sends the messages queued for one
	// notification within it after the first as one digest.
	GroupWindow time.Duration
}

// NewDispatcher starts one worker per notification. Pending messages are
// queued first, in their order; those for notifications that no longer
// exist are failed in the outbox.
func NewDispatcher(notifs map[string]*runtime.NotificationSpec, o DispatcherOptions) *Dispatcher {
	if o.Retry == (runtime.RetryPolicy{}) {
		o.Retry = runtime.DefaultRetry
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Clock == nil {
		o.Clock = runtime.RealClock{}
	}
	d := &Dispatcher{log: o.Logger, clock: o.Clock, retry: o.Retry, outbox: o.Outbox, queues: map[string]*queue{}, stop: make(chan struct{}),
		window: o.GroupWindow, closing: make(chan struct{})}
	d.ctx, d.cancel = context.WithCancel(context.Background())
	for name, spec := range notifs {
		q := &queue{spec: spec}
		q.cond = sync.NewCond(&q.mu)
		d.queues[name] = q
	}
	for _, p := range o.Pending {
		q, ok := d.queues[p.Notification]
		if !ok {
			d.log.Error("undelivered notification for a notification no longer configured, set aside",
				"notification", p.Notification, "test", p.Message.Test, "state", p.Message.State)
			if d.outbox != nil {
				if err := d.outbox.Fail(p.Notification, p.ID, "notification no longer configured"); err != nil {
					d.log.Error("outbox", "err", err)
				}
			}
			continue
		}
		if old, ok := q.coalesce(item{id: p.ID, m: p.Message, at: p.Message.Time}, 0); ok {
			d.settle(d.log, p.Notification, old, "")
		}
	}
	for name, q := range d.queues {
		if n := len(q.pending); n > 0 {
			d.log.Info("resuming undelivered notifications", "notification", name, "count", n)
		}
		d.wg.Add(1)
		go d.work(name, q)
	}
	return d
}

// Enqueue queues m for the named notification; it never blocks.
func (d *Dispatcher) Enqueue(name string, m runtime.Message) error {
	q, ok := d.queues[name]
	if !ok {
		return fmt.Errorf("no notification named %q", name)
	}
	it := item{m: m, at: d.clock.Now()}
	if d.outbox != nil {
		id, err := d.outbox.Put(name, m)
		if err != nil {
			// Still deliver from memory: a full disk must not cost a page.
			d.log.Error("outbox write failed; notification kept in memory only", "notification", name, "test", m.Test, "err", err)
		}
		it.id = id
	}
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return fmt.Errorf("notification %s: dispatcher stopped", name)
	}
	// The head of the queue is being delivered: it is never replaced in
	// place, but its worker drops it once it sees a newer one.
	old, replaced := q.coalesce(it, 1)
	q.cond.Signal()
	q.mu.Unlock()
	if replaced {
		d.settle(d.log, name, old, "")
	}
	return nil
}

// coalesce queues it; when the notifier coalesces and a waiting message
// from index from on has the same key, it takes that one's place, and the
// one replaced is returned. q.mu is held (or q not yet shared).
func (q *queue) coalesce(it item, from int) (item, bool) {
	if key := q.key(it.m); key != "" {
		for i := from; i < len(q.pending); i++ {
			if q.key(q.pending[i].m) == key {
				old := q.pending[i]
				q.pending[i] = it
				return old, true
			}
		}
	}
	q.pending = append(q.pending, it)
	return item{}, false
}

// key returns m's coalescing key, "" when the notifier does not coalesce.
func (q *queue) key(m runtime.Message) string {
	if c, ok := q.spec.Notifier.(runtime.Coalescer); ok {
		return c.CoalesceKey(m)
	}
	return ""
}

// superseded tells whether a newer message with the same key as the head
// of the queue waits behind it.
func (q *queue) superseded(m runtime.Message) bool {
	key := q.key(m)
	if key == "" {
		return false
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	for i := 1; i < len(q.pending); i++ {
		if q.key(q.pending[i].m) == key {
			return true
		}
	}
	return false
}

// Send delivers m through the named notification now, once, within the
// notifier's deadline, bypassing the queue.
func (d *Dispatcher) Send(ctx context.Context, name string, m runtime.Message) error {
	q, ok := d.queues[name]
	if !ok {
		return fmt.Errorf("no notification named %q", name)
	}
	return q.spec.Send(ctx, m)
}

func (d *Dispatcher) work(name string, q *queue) {
	defer d.wg.Done()
	log := d.log.With("notification", name, "type", q.spec.Desc.Name)
	for {
		q.mu.Lock()
		for len(q.pending) == 0 && !q.closed {
			q.cond.Wait()
		}
		if len(q.pending) == 0 && q.closed {
			q.mu.Unlock()
			return
		}
		it, n := q.pending[0], 1
		q.mu.Unlock()
		// A coalescing notifier (alertmanager) does its own grouping, and
		// its waiting messages may be replaced at any time: no digest.
		if _, coalesces := q.spec.Notifier.(runtime.Coalescer); d.window > 0 && !coalesces {
			var ok bool
			if it, n, ok = d.gather(q, it); !ok {
				return // shutting down; the outbox keeps the group
			}
		}
		if !d.deliverWithRetry(log, name, q, it) {
			return // shutting down; the outbox keeps the rest
		}
		q.mu.Lock()
		q.pending = q.pending[n:]
		q.mu.Unlock()
	}
}

// deliverWithRetry delivers one message, retrying transient failures with
// backoff. It returns false when the dispatcher stops before the message is
// settled; the message then stays in the outbox for the next start.
func (d *Dispatcher) deliverWithRetry(log *slog.Logger, name string, q *queue, it item) bool {
	spec := q.spec
	m := it.m
	for attempt := 1; ; attempt++ {
		if q.superseded(m) {
			log.Debug("notification superseded by a newer one, dropped", "test", m.Test, "state", m.State, "attempts", attempt-1)
			d.settle(log, name, it, "")
			return true
		}
		err := spec.Send(d.ctx, m)
		if err != nil && d.ctx.Err() != nil {
			log.Warn("notification not delivered before shutdown; kept for the next start", "test", m.Test, "state", m.State)
			return false
		}
		if err == nil {
			q.sent.Add(1)
			level := slog.LevelInfo
			if _, quiet := spec.Notifier.(runtime.SelfLogging); quiet {
				level = slog.LevelDebug
			}
			log.Log(d.ctx, level, "notification sent", "test", m.Test, "state", m.State, "failures", m.Failures, "attempts", attempt)
			d.settle(log, name, it, "")
			return true
		}
		var perm *runtime.PermanentError
		if errors.As(err, &perm) {
			q.failed.Add(1)
			log.Error("NOTIFICATION FAILED PERMANENTLY, not retried; kept in the outbox's failed folder", "test", m.Test, "state", m.State, "err", err)
			d.settle(log, name, it, err.Error())
			return true
		}
		if d.clock.Now().Sub(m.Time) > d.retry.MaxAge {
			q.failed.Add(1)
			log.Error("NOTIFICATION GIVEN UP after retrying; kept in the outbox's failed folder", "test", m.Test, "state", m.State, "attempts", attempt, "err", err)
			d.settle(log, name, it, fmt.Sprintf("given up after %d attempts: %v", attempt, err))
			return true
		}
		q.retried.Add(1)
		wait := backoff(d.retry, attempt)
		log.Warn("notification failed, will retry", "test", m.Test, "state", m.State, "attempt", attempt, "retry_in", wait.Round(time.Millisecond), "err", err)
		t := d.clock.NewTimer(wait)
		select {
		case <-t.C():
		case <-d.stop:
			t.Stop()
			log.Warn("notification not delivered before shutdown; kept for the next start", "test", m.Test, "state", m.State)
			return false
		}
	}
}

// settle removes a delivered message from the outbox, or sets aside one that
// failed for good (reason not empty).
func (d *Dispatcher) settle(log *slog.Logger, name string, it item, reason string) {
	for _, p := range it.parts {
		d.settle(log, name, p, reason)
	}
	if d.outbox == nil || it.id == "" {
		return
	}
	var err error
	if reason == "" {
		err = d.outbox.Delete(name, it.id)
	} else {
		err = d.outbox.Fail(name, it.id, reason)
	}
	if err != nil {
		log.Error("outbox", "err", err)
	}
}

// Close stops accepting messages and waits until the queues are delivered
// or ctx ends; then it abandons retries and returns.
func (d *Dispatcher) Close(ctx context.Context) {
	d.closeOnce.Do(func() { close(d.closing) })
	for _, q := range d.queues {
		q.mu.Lock()
		q.closed = true
		q.cond.Broadcast()
		q.mu.Unlock()
	}
	done := make(chan struct{})
	go func() { d.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		close(d.stop)
		d.cancel()
		<-done
	}
	d.cancel()
}

// Stop abandons retries and attempts under way at once and waits for the
// workers; undelivered messages stay in the outbox.
func (d *Dispatcher) Stop() {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	d.Close(ctx)
}

// DeliveryCounts are one notification's delivery outcomes since start.
type DeliveryCounts struct {
	Sent    int64 // delivered
	Retried int64 // failed attempts retried later
	Failed  int64 // given up or refused for good
	Queued  int   // waiting now (the one being delivered included)
}

// Counts returns the delivery outcomes per notification.
func (d *Dispatcher) Counts() map[string]DeliveryCounts {
	out := make(map[string]DeliveryCounts, len(d.queues))
	for name, q := range d.queues {
		q.mu.Lock()
		n := len(q.pending)
		q.mu.Unlock()
		out[name] = DeliveryCounts{Sent: q.sent.Load(), Retried: q.retried.Load(), Failed: q.failed.Load(), Queued: n}
	}
	return out
}

// QueuedMessage is a message waiting in a notification's queue.
type QueuedMessage struct {
	Notification string
	ID           string // outbox id; empty when kept in memory only
	Message      runtime.Message
}

// Queued lists the messages waiting, by notification name, oldest first.
func (d *Dispatcher) Queued() []QueuedMessage {
	names := make([]string, 0, len(d.queues))
	for n := range d.queues {
		names = append(names, n)
	}
	slices.Sort(names)
	var out []QueuedMessage
	for _, n := range names {
		q := d.queues[n]
		q.mu.Lock()
		for _, it := range q.pending {
			out = append(out, QueuedMessage{Notification: n, ID: it.id, Message: it.m})
		}
		q.mu.Unlock()
	}
	return out
}
