package runtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"
)

// RetryPolicy bounds how a failed delivery is retried.
type RetryPolicy struct {
	First  time.Duration // wait before the first retry
	Max    time.Duration // longest wait between retries
	MaxAge time.Duration // give up when a message is older than this
}

// DefaultRetry retries from 5 s up to every 5 min for 24 h.
var DefaultRetry = RetryPolicy{First: 5 * time.Second, Max: 5 * time.Minute, MaxAge: 24 * time.Hour}

// backoff returns the wait before retry n (1-based): exponential with full
// jitter over its upper half.
func (p RetryPolicy) backoff(n int) time.Duration {
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
	retry  RetryPolicy
	queues map[string]*queue
	wg     sync.WaitGroup
	stop   chan struct{}
}

type queue struct {
	spec    *NotificationSpec
	mu      sync.Mutex
	cond    *sync.Cond
	pending []Message
	closed  bool
}

// NewDispatcher starts one worker per notification.
func NewDispatcher(notifs map[string]*NotificationSpec, retry RetryPolicy, log *slog.Logger) *Dispatcher {
	d := &Dispatcher{log: log, retry: retry, queues: map[string]*queue{}, stop: make(chan struct{})}
	for name, spec := range notifs {
		q := &queue{spec: spec}
		q.cond = sync.NewCond(&q.mu)
		d.queues[name] = q
		d.wg.Add(1)
		go d.work(name, q)
	}
	return d
}

// Enqueue queues m for the named notification; it never blocks.
func (d *Dispatcher) Enqueue(name string, m Message) error {
	q, ok := d.queues[name]
	if !ok {
		return fmt.Errorf("no notification named %q", name)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return fmt.Errorf("notification %s: dispatcher stopped", name)
	}
	q.pending = append(q.pending, m)
	q.cond.Signal()
	return nil
}

// Send delivers m through the named notification now, once, within the
// notifier's deadline; for --run and Lua's monsta.notify.
func (d *Dispatcher) Send(ctx context.Context, name string, m Message) error {
	q, ok := d.queues[name]
	if !ok {
		return fmt.Errorf("no notification named %q", name)
	}
	return deliver(ctx, q.spec, m)
}

func deliver(ctx context.Context, spec *NotificationSpec, m Message) error {
	ctx, cancel := context.WithTimeout(ctx, spec.Desc.DeadlineFor(spec.Opts))
	defer cancel()
	if err := spec.Notifier.Notify(ctx, m); err != nil {
		return fmt.Errorf("notification %s (%s): %w", spec.Name, spec.Desc.Name, err)
	}
	return nil
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
		m := q.pending[0]
		q.mu.Unlock()

		for attempt := 1; ; attempt++ {
			err := deliver(context.Background(), q.spec, m)
			if err == nil {
				log.Info("notification sent", "test", m.Test, "state", m.State, "failures", m.Failures, "attempts", attempt)
				break
			}
			var perm *PermanentError
			if errors.As(err, &perm) {
				log.Error("notification failed permanently, not retried", "test", m.Test, "state", m.State, "err", err)
				break
			}
			if time.Since(m.Time) > d.retry.MaxAge {
				log.Error("notification given up after retrying", "test", m.Test, "state", m.State, "attempts", attempt, "err", err)
				break
			}
			wait := d.retry.backoff(attempt)
			log.Warn("notification failed, will retry", "test", m.Test, "attempt", attempt, "retry_in", wait.Round(time.Millisecond), "err", err)
			select {
			case <-time.After(wait):
			case <-d.stop:
				log.Error("notification not delivered before shutdown", "test", m.Test, "state", m.State, "err", err)
				q.mu.Lock()
				q.pending = q.pending[1:]
				q.mu.Unlock()
				goto next
			}
		}
		q.mu.Lock()
		q.pending = q.pending[1:]
		q.mu.Unlock()
	next:
	}
}

// Close stops accepting messages and waits until the queues are delivered
// or ctx ends; then it abandons retries and returns.
func (d *Dispatcher) Close(ctx context.Context) {
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
		<-done
	}
}
