package lua

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	glua "github.com/yuin/gopher-lua"

	"github.com/monsta/monsta/runtime"
)

// Limits of every Lua state.
const (
	callStackSize   = 200       // nested Lua calls; deeper recursion is "stack overflow"
	registrySize    = 1024      // initial value stack slots
	registryMaxSize = 64 * 1024 // value stack slots at most (unpack of a huge table fails)
	registryGrow    = 1024      // slots added per growth (gopher-lua copies the stack each time)
	maxString       = 16 << 20  // bytes string.rep, gsub, format and table.concat may build
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

	decls    []decl       // load time only
	loadErrs []*LoadError // load time only

	traceFn *glua.LFunction // error handler of every protected call
	trace   string          // traceback of the last error, bounded
	size    sizer           // measures the state's reachable data
	logged  int             // lines print and monsta.log wrote in this call
	red     *redactor       // the secrets of the call's section; nil: none
}

// decl is a type defined at load time.
type decl struct {
	desc runtime.Descriptor
	line int
}

// newState makes a sandboxed state and runs the file's chunk in it under
// ctx, bounded by loadTimeout.
func (f *file) newState(ctx context.Context, loading bool) (*state, error) {
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
	s.traceFn = L.NewFunction(s.traceback)
	s.openLibs()
	ctx, cancel := context.WithTimeout(ctx, loadTimeout)
	defer cancel()
	start := time.Now()
	s.begin(ctx)
	err := protect(func() error {
		return L.CallByParam(glua.P{Fn: L.NewFunctionFromProto(f.proto), NRet: 0, Protect: true, Handler: s.traceFn})
	})
	berr := s.end()
	if err != nil || berr != nil || ctx.Err() != nil {
		s.close()
		return nil, f.runError(ctx, s, err, berr, start)
	}
	lockTable(L, L.G.Global)
	s.size.baseline(s)
	return s, nil
}

// close closes the state and lets the memory it held go.
func (s *state) close() {
	s.L.Close()
	s.size.release()
}

// traceback is the handler of protected calls: it keeps a short traceback
// for the debug log and passes the error on. A handler also keeps
// gopher-lua from building its own traceback, which has one line per tail
// call (billions after a few seconds of tail recursion: out of memory).
func (s *state) traceback(L *glua.LState) int {
	var b strings.Builder
	b.WriteString("stack traceback:")
	for i := 0; i < 12; i++ {
		dbg, ok := L.GetStack(i)
		if !ok {
			break
		}
		if _, err := L.GetInfo("Sln", dbg, glua.LNil); err != nil {
			break
		}
		fmt.Fprintf(&b, "\n\t%s:%d: in %s", dbg.Source, dbg.CurrentLine, cmp.Or(dbg.Name, dbg.What))
	}
	s.trace = b.String()
	L.SetTop(1)
	return 1
}

// passError is the handler of pcall and xpcall (see traceback).
func passError(L *glua.LState) int {
	L.SetTop(1)
	return 1
}

// basePCall is pcall(f, ...) with a handler (see traceback).
func basePCall(L *glua.LState) int {
	L.CheckAny(1)
	v := L.Get(1)
	if v.Type() != glua.LTFunction && L.GetMetaField(v, "__call").Type() != glua.LTFunction {
		L.Push(glua.LFalse)
		L.Push(glua.LString("attempt to call a " + v.Type().String() + " value"))
		return 2
	}
	if err := L.PCall(L.GetTop()-1, glua.MultRet, L.NewFunction(passError)); err != nil {
		L.Push(glua.LFalse)
		L.Push(errorValue(err))
		return 2
	}
	L.Insert(glua.LTrue, 1)
	return L.GetTop()
}

// baseXPCall is xpcall(f, handler): the handler runs in a protected call
// of its own once the call failed, never inside gopher-lua's handler path
// (see traceback).
func baseXPCall(L *glua.LState) int {
	fn := L.CheckFunction(1)
	handler := L.CheckFunction(2)
	top := L.GetTop()
	L.Push(fn)
	err := L.PCall(0, glua.MultRet, L.NewFunction(passError))
	if err == nil {
		L.Insert(glua.LTrue, top+1)
		return L.GetTop() - top
	}
	L.SetTop(top)
	L.Push(handler)
	L.Push(errorValue(err))
	if herr := L.PCall(1, 1, L.NewFunction(passError)); herr != nil {
		L.SetTop(top)
		L.Push(glua.LFalse)
		L.Push(errorValue(herr))
		return 2
	}
	v := L.Get(-1)
	L.SetTop(top)
	L.Push(glua.LFalse)
	L.Push(v)
	return 2
}

func errorValue(err error) glua.LValue {
	var ae *glua.ApiError
	if errors.As(err, &ae) && ae.Object != nil {
		return ae.Object
	}
	return glua.LString(err.Error())
}

// readOnly returns an empty proxy of t whose reads go to t and whose writes
// raise an error.
func readOnly(L *glua.LState, t *glua.LTable) *glua.LTable {
	p := L.NewTable()
	p.Metatable = guardedMeta(L, t, "attempt to modify a read-only table (field %q)")
	return p
}

// guardedMeta returns a locked metatable that reads from index and raises
// the error format (with the field's name) on every write.
func guardedMeta(L *glua.LState, index *glua.LTable, format string) *glua.LTable {
	mt := L.NewTable()
	mt.RawSetString("__index", index)
	mt.RawSetString("__newindex", L.NewFunction(func(L *glua.LState) int {
		L.RaiseError(format, L.ToString(2))
		return 0
	}))
	mt.RawSetString("__metatable", glua.LFalse)
	return mt
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
	t.Metatable = guardedMeta(L, real, "assignment to global '%s'; use local")
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
	name = strings.TrimPrefix(name, "=")
	proto, err := compile([]byte(src), name)
	if err != nil {
		L.Push(glua.LNil)
		L.Push(glua.LString(syntaxError(name, []byte(src), err).Error()))
		return 2
	}
	L.Push(L.NewFunctionFromProto(proto))
	return 1
}

// Limits of what one run logs through print and monsta.log.
const (
	maxLogLines = 50 // lines per run; later ones are counted, not written
	maxLogAttrs = 20 // key-value pairs of one monsta.log line
)

// print lua print(...) logs its arguments at info level, without the
// secrets of the run's section, clipped and cleaned like an error.
func (s *state) print(L *glua.LState) int {
	n := L.GetTop()
	parts := make([]string, 0, n)
	size := 0
	for i := 1; i <= n && size <= maxMessageLen; i++ {
		p := L.ToStringMeta(L.Get(i)).String()
		size += len(p) + 1
		parts = append(parts, p)
	}
	s.logLine(slog.LevelInfo, strings.Join(parts, "\t"))
	return 0
}

// logLine writes one line of the running file's log, without the secrets
// of the run's section, clipped and cleaned like an error, unless the run has written maxLogLines already: then it
// only counts it, and end says how many were dropped.
func (s *state) logLine(level slog.Level, msg string, attrs ...any) {
	if s.logged++; s.logged > maxLogLines {
		return
	}
	s.f.e.log.Log(s.ctx(), level, s.red.clean(msg), append([]any{"file", s.f.name}, attrs...)...)
}

// begin prepares s for one call under ctx.
func (s *state) begin(ctx context.Context) {
	s.budget.reset(ctx, s, s.f.e.cfg.MemoryLimit)
	s.L.SetContext(&s.budget)
	s.logged = 0
}

// end clears the context and closes what the call left open. It returns the
// budget error if the call ran out of memory.
func (s *state) end() error {
	s.L.RemoveContext()
	for _, c := range s.conns {
		c.Close()
	}
	s.conns = s.conns[:0]
	if s.logged > maxLogLines {
		s.f.e.log.Warn("lua log lines dropped", "file", s.f.name, "dropped", s.logged-maxLogLines, "limit_per_run", maxLogLines)
	}
	s.logged = 0
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
