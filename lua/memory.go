package lua

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	glua "github.com/yuin/gopher-lua"
)

// ErrMemory is the error of a Lua run that holds more data than its budget.
var ErrMemory = errors.New("memory limit exceeded")

// budgetCtx wraps a call's context for the VM, which calls Done before
// every instruction. Done is one atomic load in the common case: it
// compares the process heap (sampled by the heap watcher) with a trigger
// level. Only when the heap has grown by the run's limit since the last
// look does the state measure the data it can reach itself (its globals,
// its stack, the upvalues of the running functions, what it required), and
// only that measure, the run's own, fails the run. So the budget is per
// run: another run's allocations, or garbage, never fail it. Only the VM's
// goroutine uses a budgetCtx.
type budgetCtx struct {
	context.Context
	s     *state
	limit int64  // bytes the run's data may grow by; 0: no limit
	next  uint64 // heap level at which the state measures itself again
	err   error
	where string // "file:line" of the library call that refused to build past the budget
}

var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

func (b *budgetCtx) reset(ctx context.Context, s *state, limit int64) {
	b.Context, b.s, b.err, b.where, b.limit = ctx, s, nil, "", max(limit, 0)
	if b.limit > 0 {
		watch.enter()
		b.next = watch.objects.Load() + uint64(b.limit)
	}
}

func (b *budgetCtx) done() error {
	if b.limit > 0 {
		watch.leave()
	}
	return b.err
}

// Done implements context.Context; it is the VM's per-instruction hook.
func (b *budgetCtx) Done() <-chan struct{} {
	if b.err != nil {
		return closedChan
	}
	if b.limit > 0 {
		if now := watch.objects.Load(); now > b.next {
			b.measure(now)
			if b.err != nil {
				return closedChan
			}
		}
	}
	return b.Context.Done()
}

// measure sizes the run's data; it fails the run beyond the limit and
// otherwise sets the next trigger.
func (b *budgetCtx) measure(now uint64) {
	z := &b.s.size
	own := z.measure(b.s, z.base+b.limit) - z.base
	if own > b.limit {
		b.err = fmt.Errorf("%w: the run holds more than %d MiB", ErrMemory, b.limit>>20)
		return
	}
	b.next = now + uint64(max(b.limit-own, b.limit/2))
}

// Err implements context.Context.
func (b *budgetCtx) Err() error {
	if b.err != nil {
		return b.err
	}
	return b.Context.Err()
}

// sizer measures the data a state can reach.
type sizer struct {
	base  int64 // bytes reachable right after the file's chunk ran
	seen  map[unsafe.Pointer]struct{}
	stack []glua.LValue
	n     int64 // the walk's size so far
}

// Estimated sizes in bytes.
const (
	sizeTable     = 64
	sizeArraySlot = 24 // an LValue in the array part, with spare capacity
	sizeHashSlot  = 96 // an entry of the hash part (map entry, key list, index)
	sizeString    = 16
	sizeFunction  = 64
	sizeUpvalue   = 48
	bigString     = 4 << 10 // strings from this size on are counted once
)

// baseline records what a fresh state holds (the libraries, the file's
// own tables).
func (z *sizer) baseline(s *state) {
	z.base = z.measure(s, 1<<62)
}

// release drops the walk's buffers.
func (z *sizer) release() { z.seen, z.stack = nil, nil }

// measure walks the data s can reach and returns its estimated size,
// stopping once it is beyond stop. It uses an explicit stack: data may
// nest arbitrarily deep.
func (z *sizer) measure(s *state, stop int64) int64 {
	z.seen = make(map[unsafe.Pointer]struct{})
	z.stack = z.stack[:0]
	z.n = 0
	z.pushRoots(s)
	for len(z.stack) > 0 && z.n <= stop {
		v := z.stack[len(z.stack)-1]
		z.stack = z.stack[:len(z.stack)-1]
		z.visit(v)
	}
	z.seen = nil
	return z.n
}

// pushRoots pushes what s reaches directly: its globals, registry and
// loaded modules, and the function and locals of each call on its stack.
func (z *sizer) pushRoots(s *state) {
	L := s.L
	z.push(L.G.Global)
	z.push(L.G.Registry)
	for _, v := range s.loaded {
		z.push(v)
	}
	for level := 0; level < callStackSize+1; level++ {
		dbg, ok := L.GetStack(level)
		if !ok {
			break
		}
		if fn, err := L.GetInfo("f", dbg, glua.LNil); err == nil {
			z.push(fn)
		}
		for i := 1; i <= 1024; i++ {
			name, v := L.GetLocal(dbg, i)
			if name == "" {
				break
			}
			z.push(v)
		}
	}
}

// push counts a string (a big one once) and stacks a table, function or
// userdata for the walk.
func (z *sizer) push(v glua.LValue) {
	switch x := v.(type) {
	case glua.LString:
		if len(x) >= bigString && z.saw(unsafe.Pointer(unsafe.StringData(string(x)))) {
			return
		}
		z.n += int64(len(x)) + sizeString
	case *glua.LTable, *glua.LFunction, *glua.LUserData:
		z.stack = append(z.stack, v)
	}
}

// saw tells whether p was seen before in this walk, and marks it seen.
func (z *sizer) saw(p unsafe.Pointer) bool {
	if _, ok := z.seen[p]; ok {
		return true
	}
	z.seen[p] = struct{}{}
	return false
}

// visit counts a table, function or userdata taken from the stack, the
// first time only, and pushes what it refers to.
func (z *sizer) visit(v glua.LValue) {
	switch x := v.(type) {
	case *glua.LTable:
		if !z.saw(unsafe.Pointer(x)) {
			z.visitTable(x)
		}
	case *glua.LFunction:
		if z.saw(unsafe.Pointer(x)) {
			return
		}
		z.n += sizeFunction + int64(len(x.Upvalues))*sizeUpvalue
		z.push(x.Env)
		for _, uv := range x.Upvalues {
			if uv != nil {
				z.push(uv.Value())
			}
		}
	case *glua.LUserData:
		if z.saw(unsafe.Pointer(x)) {
			return
		}
		z.n += sizeTable
		z.push(x.Metatable)
		z.push(x.Env)
	}
}

// visitTable counts a table: an array slot for each key in its array part,
// a hash slot (and the key) for any other.
func (z *sizer) visitTable(x *glua.LTable) {
	z.n += sizeTable
	z.push(x.Metatable)
	arr := x.Len()
	x.ForEach(func(k, val glua.LValue) {
		if kn, ok := k.(glua.LNumber); ok && kn >= 1 && int(kn) <= arr && float64(kn) == float64(int(kn)) {
			z.n += sizeArraySlot
		} else {
			z.n += sizeHashSlot
			z.push(k)
		}
		z.push(val)
	})
}

// heapWatch samples the heap every watchEvery while Lua calls are running,
// so that the VM's per-instruction check is one atomic load. Sampling by
// time rather than by instruction also catches growth that is fast in
// instructions: copying a string of n bytes takes time proportional to n.
type heapWatch struct {
	mu      sync.Mutex // serializes starting and stopping the watcher
	running atomic.Bool
	active  atomic.Int64
	objects atomic.Uint64 // heap bytes in objects, live or not yet swept
	freed   atomic.Int64  // unix nanoseconds of the last FreeOSMemory
}

// watchEvery is the heap sampling period.
const watchEvery = time.Millisecond

// watchIdle is how long the watcher keeps sampling after the last call.
const watchIdle = time.Second

// watch is the process's heap watcher: the heap is process-wide, so is
// its sampler (the budgets are per run).
var watch heapWatch

func (w *heapWatch) enter() {
	// Counting first means a watcher about to stop sees this call.
	w.active.Add(1)
	if w.running.Load() {
		return
	}
	w.mu.Lock()
	if !w.running.Load() {
		w.sample(make([]metrics.Sample, 1))
		w.running.Store(true)
		go w.loop()
	}
	w.mu.Unlock()
}

func (w *heapWatch) leave() { w.active.Add(-1) }

func (w *heapWatch) sample(s []metrics.Sample) {
	s[0].Name = "/memory/classes/heap/objects:bytes"
	metrics.Read(s)
	if s[0].Value.Kind() == metrics.KindUint64 {
		w.objects.Store(s[0].Value.Uint64())
	}
}

// giveBack returns freed memory to the system after a run was stopped for
// its memory, at most once a second, so that the daemon's RSS goes back
// down instead of staying at its peak.
func (w *heapWatch) giveBack() {
	now := time.Now().UnixNano()
	last := w.freed.Load()
	if now-last < int64(time.Second) || !w.freed.CompareAndSwap(last, now) {
		return
	}
	go debug.FreeOSMemory()
}

func (w *heapWatch) loop() {
	t := time.NewTicker(watchEvery)
	defer t.Stop()
	buf := make([]metrics.Sample, 1)
	idle := time.Duration(0)
	for range t.C {
		w.sample(buf)
		if w.active.Load() > 0 {
			idle = 0
			continue
		}
		if idle += watchEvery; idle < watchIdle {
			continue
		}
		w.mu.Lock()
		if w.active.Load() == 0 {
			w.running.Store(false)
			w.mu.Unlock()
			// A call that entered just before the store saw running and
			// relies on this watcher: keep going for it.
			if w.active.Load() == 0 {
				return
			}
			w.mu.Lock()
			if w.running.Load() {
				w.mu.Unlock()
				return // another watcher started meanwhile
			}
			w.running.Store(true)
		}
		w.mu.Unlock()
		idle = 0
	}
}
