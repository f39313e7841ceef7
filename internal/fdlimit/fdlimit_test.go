package fdlimit

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

func TestBudget(t *testing.T) {
	b := NewBudget(3)
	for i := range 3 {
		if err := b.Acquire(); err != nil {
			t.Fatalf("Acquire() #%d error = %v, want nil", i+1, err)
		}
	}
	if err := b.Acquire(); !errors.Is(err, ErrExhausted) {
		t.Fatalf("Acquire() past the size error = %v, want %v", err, ErrExhausted)
	}
	if got := b.InUse(); got != 3 {
		t.Errorf("InUse() after a refused Acquire = %d, want 3", got)
	}
	if err := b.AcquireN(2); !errors.Is(err, ErrExhausted) {
		t.Fatalf("AcquireN(2) error = %v, want %v", err, ErrExhausted)
	}
	b.Release()
	if err := b.Acquire(); err != nil {
		t.Fatalf("Acquire() after Release error = %v", err)
	}
	b.ReleaseN(3)
	if err := b.AcquireN(3); err != nil {
		t.Fatalf("AcquireN(3) of an empty budget error = %v", err)
	}
	if ErrExhausted.Error() != "descriptor budget exhausted" {
		t.Errorf("ErrExhausted = %q", ErrExhausted)
	}
}

func TestBudgetUnlimited(t *testing.T) {
	var nilB *Budget
	if err := nilB.Acquire(); err != nil {
		t.Errorf("nil Budget Acquire() error = %v", err)
	}
	nilB.Release()
	b := NewBudget(-1)
	for range 10000 {
		if err := b.Acquire(); err != nil {
			t.Fatalf("unlimited Acquire() error = %v", err)
		}
	}
}

// TestBudgetConcurrent never lets more than the size in, whatever the
// interleaving (run it with -race).
func TestBudgetZero(t *testing.T) {
	if err := NewBudget(0).Acquire(); !errors.Is(err, ErrExhausted) {
		t.Errorf("NewBudget(0).Acquire() error = %v, want %v", err, ErrExhausted)
	}
}

func TestBudgetConcurrent(t *testing.T) {
	const size = 8
	b := NewBudget(size)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var holders atomic.Int64
	peak := int64(0)
	for range 32 {
		wg.Go(func() {
			for range 1000 {
				if b.Acquire() != nil {
					continue
				}
				h := holders.Add(1)
				mu.Lock()
				peak = max(peak, h)
				mu.Unlock()
				holders.Add(-1)
				b.Release()
			}
		})
	}
	wg.Wait()
	if peak > size {
		t.Errorf("peak in use = %d, want ≤ %d", peak, size)
	}
	if got := b.InUse(); got != 0 {
		t.Errorf("InUse() at the end = %d, want 0", got)
	}
}

func TestConnReleasesOnce(t *testing.T) {
	b := NewBudget(1)
	if err := b.Acquire(); err != nil {
		t.Fatal(err)
	}
	a, p := net.Pipe()
	defer p.Close()
	c := b.Conn(a)
	if nc, ok := c.(interface{ NetConn() net.Conn }); !ok || nc.NetConn() != a {
		t.Errorf("Conn() does not unwrap to the connection it wraps")
	}
	c.Close()
	c.Close()
	if got := b.InUse(); got != 0 {
		t.Errorf("InUse() after two Close = %d, want 0", got)
	}
}

func TestReserve(t *testing.T) {
	for _, tc := range []struct{ limit, want int }{{100, 64}, {1024, 256}, {20000, 1024}, {1 << 20, 1024}} {
		if got := Reserve(tc.limit); got != tc.want {
			t.Errorf("Reserve(%d) = %d, want %d", tc.limit, got, tc.want)
		}
	}
	if got := budgetFor(1024); got != 768 {
		t.Errorf("budgetFor(1024) = %d, want 768", got)
	}
	if got := budgetFor(10); got != 1 {
		t.Errorf("budgetFor(10) = %d, want 1", got)
	}
}

func TestRaise(t *testing.T) {
	soft, err := Raise()
	if err != nil {
		t.Fatalf("Raise() error = %v", err)
	}
	cur, hard, err := Limit()
	if err != nil {
		t.Fatal(err)
	}
	if cur != hard || soft != hard {
		t.Errorf("after Raise() soft limit = %d (returned %d), want the hard limit %d", cur, soft, hard)
	}
	if got, want := Checks().Size(), budgetFor(hard); got != want {
		t.Errorf("Checks().Size() = %d, want %d", got, want)
	}
}

func BenchmarkAcquireRelease(b *testing.B) {
	bud := NewBudget(1 << 20)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if bud.Acquire() == nil {
				bud.Release()
			}
		}
	})
}
