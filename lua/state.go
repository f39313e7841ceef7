package lua

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/metrics"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	glua "github.com/yuin/gopher-lua"

	"github.com/monsta/monsta/config"
	"github.com/monsta/monsta/runtime"
)

// Limits of every Lua state.
const (
	callStackSize   = 200       // nested Lua calls; deeper recursion is "stack overflow"
	registrySize    = 1024      // initial value stack slots
	registryMaxSize = 64 * 1024 // value stack slots at most (unpack of a huge table fails)
	registryGrow    = 1024      // slots added per growth (gopher-lua copies the stack each time)
	maxStringRep    = 16 << 20  // bytes string.rep and table.concat may build
	maxChunk        = 64 << 10  // bytes load/loadstring accept (compiling cannot be interrupted)
)

// state is one gopher-lua state running one file. It is used by one
// goroutine at a time.
type state struct {
	L       *glua.LState
	f       *file
	loading bool // the load-time state: definitions become descriptors

	checks    map[string]*glua.LFunction
	notifiers map[string]*glua.LFunction
	verifiers map[string]*glua.LFunction
	onNotify  []*glua.LFunction
	onResult  []*glua.LFunction
	loaded    map[string]glua.LValue // require() cache
	conns     []io.Closer            // closed after each call
	budget    budgetCtx

	decls    []decl          // load time only
	loadErrs []*config.Error // load time only
}

// decl is a type defined at load time.
type decl struct {
	desc runtime.Descriptor
	line int
}

// newState makes a sandboxed state and runs the file's chunk in it.
func (f *file) newState(loading bool) (*state, error) {
	L := glua.NewState(glua.Options{
		SkipOpenLibs:     true,
		CallStackSize:    callStackSize,
		RegistrySize:     registrySize,
		RegistryMaxSize:  registryMaxSize,
		RegistryGrowStep: registryGrow,
	})
	s := &state{L: L, f: f, loading: loading,
		checks: map[string]*glua.LFunction{}, notifiers: map[string]*glua.LFunction{},
		verifiers: map[string]*glua.LFunction{},
		loaded:    map[string]glua.LValue{}}
	s.openLibs()
	ctx, cancel := context.WithTimeout(context.Background(), loadTimeout)
	defer cancel()
	start := time.Now()
	s.begin(ctx)
	err := L.CallByParam(glua.P{Fn: L.NewFunctionFromProto(f.proto), NRet: 0, Protect: true})
	berr := s.end()
	if err != nil || berr != nil || ctx.Err() != nil {
		L.Close()
		return nil, f.runError(ctx, err, berr, start)
	}
	lockTable(L, L.G.Global)
	return s, nil
}

// openLibs opens the safe subset of the standard library and the monsta
// table, each library behind a read-only proxy.
func (s *state) openLibs() {
	L := s.L
	for _, lib := range []struct {
		name string
		fn   glua.LGFunction
	}{{"", glua.OpenBase}, {"table", glua.OpenTable}, {"string", glua.OpenString}, {"math", glua.OpenMath}, {"os", glua.OpenOs}} {
		L.Push(L.NewFunction(lib.fn))
		L.Push(glua.LString(lib.name))
		L.Call(1, 0)
	}
	for _, name := range []string{"dofile", "loadfile", "getfenv", "setfenv", "_printregs", "newproxy",
		"module", "collectgarbage", "require"} {
		L.SetGlobal(name, glua.LNil)
	}
	// os: time and date only.
	full := L.GetGlobal("os").(*glua.LTable)
	safeOS := L.NewTable()
	for _, n := range []string{"time", "date", "clock", "difftime"} {
		safeOS.RawSetString(n, full.RawGetString(n))
	}
	L.SetGlobal("os", safeOS)
	str := L.GetGlobal("string").(*glua.LTable)
	str.RawSetString("dump", glua.LNil)
	str.RawSetString("rep", L.NewFunction(strRep))

	tbl := L.GetGlobal("table").(*glua.LTable)
	tbl.RawSetString("concat", L.NewFunction(tableConcat(tbl.RawGetString("concat"))))

	L.SetGlobal("print", L.NewFunction(s.print))
	L.SetGlobal("require", L.NewFunction(s.require))
	L.SetGlobal("rawset", L.NewFunction(baseRawSet))
	L.SetGlobal("load", L.NewFunction(baseLoad))
	L.SetGlobal("loadstring", L.NewFunction(baseLoadString))
	L.SetGlobal("monsta", readOnly(L, s.monstaTable()))
	for _, n := range []string{"table", "string", "math", "os"} {
		L.SetGlobal(n, readOnly(L, L.GetGlobal(n).(*glua.LTable)))
	}
	// Method calls on strings ("x"):upper() go through the read-only proxy.
	if mt, ok := L.GetMetatable(glua.LString("")).(*glua.LTable); ok {
		mt.RawSetString("__index", L.GetGlobal("string"))
		mt.RawSetString("__metatable", glua.LFalse)
	}
}

// readOnly returns an empty proxy of t whose reads go to t and whose writes
// raise an error.
func readOnly(L *glua.LState, t *glua.LTable) *glua.LTable {
	p := L.NewTable()
	mt := L.NewTable()
	mt.RawSetString("__index", t)
	mt.RawSetString("__newindex", L.NewFunction(func(L *glua.LState) int {
		L.RaiseError("attempt to modify a read-only table (field %q)", L.ToString(2))
		return 0
	}))
	mt.RawSetString("__metatable", glua.LFalse)
	p.Metatable = mt
	return p
}

// lockTable makes every assignment to a field of t (the globals) an
// error: the entries move to a hidden table that t reads through, so t
// stays empty and __newindex sees every write, to new and existing names.
func lockTable(L *glua.LState, t *glua.LTable) {
	real := L.NewTable()
	var keys []glua.LValue
	t.ForEach(func(k, v glua.LValue) {
		real.RawSet(k, v)
		keys = append(keys, k)
	})
	for _, k := range keys {
		t.RawSet(k, glua.LNil)
	}
	mt := L.NewTable()
	mt.RawSetString("__index", real)
	mt.RawSetString("__newindex", L.NewFunction(func(L *glua.LState) int {
		L.RaiseError("assignment to global '%s'; use local", L.ToString(2))
		return 0
	}))
	mt.RawSetString("__metatable", glua.LFalse)
	t.Metatable = mt
}

// protected tells whether t's metatable is locked (our proxies, _G).
func protected(t *glua.LTable) bool {
	mt, ok := t.Metatable.(*glua.LTable)
	return ok && mt.RawGetString("__metatable") != glua.LNil
}

// baseRawSet is rawset refusing protected tables (_G, libraries).
func baseRawSet(L *glua.LState) int {
	t := L.CheckTable(1)
	if protected(t) {
		L.RaiseError("rawset: table is protected")
	}
	L.RawSet(t, L.CheckAny(2), L.CheckAny(3))
	L.SetTop(1)
	return 1
}

// baseLoad lua load(chunk_or_function [, name]) returns (fn) or (nil, err);
// it accepts source text only.
func baseLoad(L *glua.LState) int {
	var src string
	switch v := L.Get(1).(type) {
	case glua.LString:
		src = string(v)
	case *glua.LFunction:
		var b strings.Builder
		for {
			L.Push(v)
			L.Call(0, 1)
			piece := L.Get(-1)
			L.Pop(1)
			ps, ok := piece.(glua.LString)
			if !ok || len(ps) == 0 {
				if piece != glua.LNil && !ok {
					L.Push(glua.LNil)
					L.Push(glua.LString("reader function must return a string"))
					return 2
				}
				break
			}
			if b.Len()+len(ps) > maxChunk {
				L.Push(glua.LNil)
				L.Push(glua.LString("chunk too large"))
				return 2
			}
			b.WriteString(string(ps))
		}
		src = b.String()
	default:
		L.ArgError(1, "string or function expected")
	}
	return loadSource(L, src, L.OptString(2, "=(load)"))
}

// baseLoadString lua loadstring(s [, name]) returns (fn) or (nil, err).
func baseLoadString(L *glua.LState) int {
	return loadSource(L, L.CheckString(1), L.OptString(2, "=(load)"))
}

func loadSource(L *glua.LState, src, name string) int {
	if strings.HasPrefix(src, "\x1b") {
		L.Push(glua.LNil)
		L.Push(glua.LString("binary chunks are not allowed"))
		return 2
	}
	if len(src) > maxChunk {
		L.Push(glua.LNil)
		L.Push(glua.LString("chunk too large"))
		return 2
	}
	fn, err := L.Load(strings.NewReader(src), name)
	if err != nil {
		L.Push(glua.LNil)
		L.Push(glua.LString(errorText(err)))
		return 2
	}
	L.Push(fn)
	return 1
}

// strRep is string.rep with a cap on the result.
func strRep(L *glua.LState) int {
	str := L.CheckString(1)
	n := L.CheckInt(2)
	if n <= 0 || len(str) == 0 {
		L.Push(glua.LString(""))
		return 1
	}
	if n > maxStringRep/len(str) {
		L.RaiseError("string.rep: result larger than %d bytes", maxStringRep)
	}
	L.Push(glua.LString(strings.Repeat(str, n)))
	return 1
}

// tableConcat wraps table.concat with a cap on the result.
func tableConcat(orig glua.LValue) glua.LGFunction {
	return func(L *glua.LState) int {
		t := L.CheckTable(1)
		sep := L.OptString(2, "")
		i, j := L.OptInt(3, 1), L.OptInt(4, t.Len())
		total := 0
		for k := max(i, 1); k <= min(j, t.Len()); k++ {
			if v, ok := t.RawGetInt(k).(glua.LString); ok {
				total += len(v)
			} else {
				total += 24 // a number
			}
			total += len(sep)
			if total > maxStringRep {
				L.RaiseError("table.concat: result larger than %d bytes", maxStringRep)
			}
		}
		top := L.GetTop()
		L.Push(orig)
		for k := 1; k <= top; k++ {
			L.Push(L.Get(k))
		}
		L.Call(top, 1)
		return 1
	}
}

// print lua print(...) logs its arguments at info level.
func (s *state) print(L *glua.LState) int {
	n := L.GetTop()
	parts := make([]string, n)
	for i := 1; i <= n; i++ {
		parts[i-1] = L.ToStringMeta(L.Get(i)).String()
	}
	s.f.e.log.Info(strings.Join(parts, "\t"), "file", s.f.name)
	return 0
}

// begin prepares s for one call under ctx.
func (s *state) begin(ctx context.Context) {
	s.budget.reset(ctx, s.f.e.cfg.MemoryLimit)
	s.L.SetContext(&s.budget)
}

// end clears the context and closes what the call left open. It returns the
// budget error if the call ran out of memory.
func (s *state) end() error {
	s.L.RemoveContext()
	for _, c := range s.conns {
		c.Close()
	}
	s.conns = s.conns[:0]
	err := s.budget.done()
	s.budget.Context = nil
	return err
}

// ctx returns the context of the call in progress (never the budget
// wrapper, which only the VM may poll).
func (s *state) ctx() context.Context {
	if s.budget.Context == nil {
		return context.Background()
	}
	return s.budget.Context
}

// ErrMemory is the error of a Lua run that grew the heap beyond its limit.
var ErrMemory = errors.New("memory limit exceeded")

// budgetCtx wraps a call's context for the VM, which calls Done before every
// instruction. Done compares the heap (as last sampled by the heap watcher)
// with the heap goal at the start of the call plus the limit, and trips when
// the heap is beyond it. Only the VM's goroutine uses it.
type budgetCtx struct {
	context.Context
	max uint64 // heap bytes that trip the budget; 0: no limit
	err error
}

var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

func (b *budgetCtx) reset(ctx context.Context, limit int64) {
	b.Context, b.err, b.max = ctx, nil, 0
	if limit > 0 {
		watch.enter()
		// The garbage collector keeps the heap below its goal; a heap
		// beyond the goal plus the limit is this run's (or another's)
		// runaway allocation.
		b.max = max(watch.goal.Load(), watch.objects.Load()) + uint64(limit)
	}
}

func (b *budgetCtx) done() error {
	if b.max > 0 {
		watch.leave()
	}
	return b.err
}

// Done implements context.Context; it is the VM's per-instruction hook.
func (b *budgetCtx) Done() <-chan struct{} {
	if b.err != nil {
		return closedChan
	}
	if b.max > 0 {
		if now := watch.objects.Load(); now > b.max {
			b.err = fmt.Errorf("%w: heap at %d MiB, budget %d MiB", ErrMemory, now>>20, b.max>>20)
			return closedChan
		}
	}
	return b.Context.Done()
}

// Err implements context.Context.
func (b *budgetCtx) Err() error {
	if b.err != nil {
		return b.err
	}
	return b.Context.Err()
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
	goal    atomic.Uint64 // the garbage collector's heap goal
}

// watchEvery is the heap sampling period.
const watchEvery = time.Millisecond

// watchIdle is how long the watcher keeps sampling after the last call.
const watchIdle = time.Second

var watch heapWatch

func (w *heapWatch) enter() {
	// Counting first means a watcher about to stop sees this call.
	w.active.Add(1)
	if w.running.Load() {
		return
	}
	w.mu.Lock()
	if !w.running.Load() {
		w.sample(make([]metrics.Sample, 2))
		w.running.Store(true)
		go w.loop()
	}
	w.mu.Unlock()
}

func (w *heapWatch) leave() { w.active.Add(-1) }

func (w *heapWatch) sample(s []metrics.Sample) {
	s[0].Name, s[1].Name = "/memory/classes/heap/objects:bytes", "/gc/heap/goal:bytes"
	metrics.Read(s)
	if s[0].Value.Kind() == metrics.KindUint64 {
		w.objects.Store(s[0].Value.Uint64())
	}
	if s[1].Value.Kind() == metrics.KindUint64 {
		w.goal.Store(s[1].Value.Uint64())
	}
}

func (w *heapWatch) loop() {
	t := time.NewTicker(watchEvery)
	defer t.Stop()
	buf := make([]metrics.Sample, 2)
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
