// Package lua lets users add check types, notifier types and hooks to monsta
// by dropping Lua files into conf.d/. It runs them on gopher-lua: every file
// is compiled once, executed once in a load-time state that turns
// monsta.check_type{…} and monsta.notifier_type{…} calls into descriptors of
// the shared runtime.Registry, and then executed again in pooled run states
// that serve the checks, notifiers and hooks. The states are sandboxed (no
// io, no os beyond time and date, no file loading, a write-protected _G) and
// every run carries the runtime's deadline and a memory budget.
package lua

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	goruntime "runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	glua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/parse"

	"github.com/monsta/monsta/runtime"
)

// Config tells Load where the Lua files are and what they may do.
type Config struct {
	Dir       string       // the conf.d directory; every *.lua in it is loaded in lexical order
	LibDir    string       // folder for require()d Lua libraries; "" means Dir/lib
	Logger    *slog.Logger // nil discards
	AllowExec bool         // [main] lua_exec=yes enables monsta.exec
	// Sender is what monsta.notify sends through (the configuration's
	// notifications); nil: monsta.notify fails until SetSender.
	Sender   runtime.Sender
	PoolSize int // max idle states per file; 0 means GOMAXPROCS*2
	// MemoryLimit is how much data one Lua run may hold beyond what its
	// state held when it was made; 0 means DefaultMemoryLimit, negative
	// disables.
	MemoryLimit int64
	// MaxFileSize is the size limit of the configuration files
	// (--max-file-size); a *.lua file is at most that and at most
	// MaxSourceSize bytes.
	MaxFileSize int64
}

// DefaultMemoryLimit is the growth of the live heap one Lua run may cause.
const DefaultMemoryLimit = 64 << 20

// loadTimeout bounds the top-level code of a file (it runs once per state);
// a variable for tests.
var loadTimeout = 10 * time.Second

// hookTimeout bounds one hook call when the runtime's ctx has no earlier
// deadline, so a runaway hook cannot stall the dispatcher.
const hookTimeout = 10 * time.Second

// Engine owns the compiled Lua files and their state pools.
type Engine struct {
	cfg    Config
	log    *slog.Logger
	reg    *runtime.Registry
	files  []*file
	libs   sync.Map // library path → *libProto
	sender atomic.Pointer[senderBox]
	https  httpClients
	closed atomic.Bool
}

type senderBox struct{ s runtime.Sender }

// file is one conf.d/*.lua, compiled once, with its pool of run states.
type file struct {
	e       *Engine
	name    string // as shown in positions: "conf.d/redis.lua"
	proto   *glua.FunctionProto
	pool    chan *state
	nNotify int // hooks the file installed at load
	nResult int
}

type libProto struct {
	once  sync.Once
	proto *glua.FunctionProto
	err   error
}

// Load compiles every *.lua of cfg.Dir once, runs each in a load-time state,
// and adds the check and notifier types they define to reg (Source is the
// file:line of the definition). Syntax and load errors of all files are
// returned at once, joined, each a *LoadError with its position.
func Load(cfg Config, reg *runtime.Registry) (*Engine, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.LibDir == "" && cfg.Dir != "" {
		cfg.LibDir = filepath.Join(cfg.Dir, "lib")
	}
	if cfg.PoolSize <= 0 {
		cfg.PoolSize = goruntime.GOMAXPROCS(0) * 2
	}
	if cfg.MemoryLimit == 0 {
		cfg.MemoryLimit = DefaultMemoryLimit
	}
	e := &Engine{cfg: cfg, log: cfg.Logger, reg: reg}
	if cfg.Sender != nil {
		e.sender.Store(&senderBox{cfg.Sender})
	}
	e.https.init()
	if cfg.Dir == "" {
		return e, nil
	}
	paths, err := filepath.Glob(filepath.Join(cfg.Dir, "*.lua"))
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", cfg.Dir, err)
	}
	sort.Strings(paths)
	var probs problems
	for _, p := range paths {
		f := &file{e: e, name: filepath.Join(filepath.Base(cfg.Dir), filepath.Base(p)),
			pool: make(chan *state, cfg.PoolSize)}
		src, err := readSource(p, e.sourceLimit()) // not a FIFO, a device or a huge file
		if err != nil {
			probs.add(loadErr(f.name, 0, err))
			continue
		}
		f.proto, err = compile(src, f.name)
		if err != nil {
			probs.add(syntaxError(f.name, src, err))
			continue
		}
		if f.load(&probs) {
			e.files = append(e.files, f)
		}
	}
	if err := probs.err(); err != nil {
		e.Close()
		return nil, err
	}
	return e, nil
}

// load runs f in a load-time state and registers its types. It reports
// whether the file loaded without problems.
func (f *file) load(probs *problems) bool {
	s, err := f.newState(context.Background(), true)
	if err != nil {
		probs.add(posError(f.name, err))
		return false
	}
	ok := len(s.loadErrs) == 0
	for _, le := range s.loadErrs {
		probs.add(le)
	}
	// Validate every definition (a scratch registry also catches a name
	// defined twice in the file), then register them if the file is good.
	scratch := runtime.NewRegistry()
	for _, d := range s.decls {
		err := scratch.Add(d.desc)
		if err == nil {
			vd, _ := scratch.Lookup(d.desc.Kind, d.desc.Name)
			err = checkExample(vd)
		}
		if err != nil {
			probs.add(loadErr(f.name, d.line, err))
			ok = false
		}
	}
	for _, d := range s.decls {
		if !ok {
			break
		}
		if err := f.e.reg.Add(d.desc); err != nil {
			probs.add(loadErr(f.name, d.line, err))
			ok = false
		}
	}
	if !ok {
		s.close()
		return false
	}
	f.nNotify, f.nResult = len(s.onNotify), len(s.onResult)
	s.loading = false
	s.decls = nil
	f.put(s)
	return true
}

// checkExample makes sure a type's example is one section of that type
// whose options resolve.
func checkExample(d *runtime.Descriptor) error {
	if d.Example == "" {
		return nil
	}
	secs, err := parseExample(d.Example)
	if err != nil {
		return fmt.Errorf("%s type %q: example: %w", d.Kind, d.Name, err)
	}
	if len(secs) != 1 || !strings.HasPrefix(secs[0].name, d.Kind.SectionPrefix()) || secs[0].value("type") != d.Name {
		return fmt.Errorf("%s type %q: example: want one [%s…] section with type = %s", d.Kind, d.Name, d.Kind.SectionPrefix(), d.Name)
	}
	raw := map[string]string{}
	for _, kv := range secs[0].keys {
		if kv[0] != "type" {
			raw[kv[0]] = kv[1]
		}
	}
	if _, err := runtime.NewOptions(d, secs[0].name, raw); err != nil {
		return fmt.Errorf("%s type %q: example: %w", d.Kind, d.Name, err)
	}
	return nil
}

// compile parses and compiles one chunk. A panic inside gopher-lua
// becomes an error: bad input must not take the daemon down.
func compile(src []byte, name string) (proto *glua.FunctionProto, err error) {
	defer func() {
		if p := recover(); p != nil {
			proto, err = nil, fmt.Errorf("cannot compile: %v", p)
		}
	}()
	chunk, err := parse.Parse(strings.NewReader(string(src)), name)
	if err != nil {
		return nil, err
	}
	if err := checkNesting(chunk); err != nil {
		return nil, err
	}
	if err := checkConstants(chunk); err != nil {
		return nil, err
	}
	return glua.Compile(guardConcat(chunk), name)
}

// syntaxError turns a parse error into a positioned config error.
func syntaxError(name string, src []byte, err error) *LoadError {
	var pe *parse.Error
	if errors.As(err, &pe) {
		line := pe.Pos.Line
		if line <= 0 { // end of file
			return loadErr(name, 1+strings.Count(strings.TrimRight(string(src), "\n"), "\n"), errors.New("syntax error at end of file"))
		}
		msg := strings.TrimSpace(pe.Message)
		if pe.Token != "" {
			msg = fmt.Sprintf("%s near %q", msg, pe.Token)
		}
		return loadErr(name, line, errors.New(msg))
	}
	var ne *nestingError
	if errors.As(err, &ne) {
		return loadErr(name, ne.line, err)
	}
	var ke *constantsError
	if errors.As(err, &ke) {
		return loadErr(name, ke.line, err)
	}
	var ce *glua.CompileError
	if errors.As(err, &ce) {
		return loadErr(name, ce.Line, errors.New(ce.Message))
	}
	return posError(name, err)
}

// posError turns "conf.d/x.lua:12: message" into a config error at that
// position; other messages are placed at the file.
func posError(name string, err error) *LoadError {
	msg := errorText(err)
	if f, line, rest, ok := splitPos(msg); ok {
		return loadErr(f, line, errors.New(rest))
	}
	return loadErr(name, 0, errors.New(msg))
}

// splitPos splits "file.lua:12: rest".
func splitPos(msg string) (file string, line int, rest string, ok bool) {
	i := strings.Index(msg, ": ")
	if i < 0 {
		return "", 0, "", false
	}
	head := msg[:i]
	j := strings.LastIndexByte(head, ':')
	if j < 0 {
		return "", 0, "", false
	}
	n, err := strconv.Atoi(head[j+1:])
	if err != nil || n <= 0 || !strings.HasSuffix(head[:j], ".lua") {
		return "", 0, "", false
	}
	return head[:j], n, msg[i+2:], true
}

// errorText is the message of an error without a Lua traceback, clipped
// to maxMessageLen bytes and cleaned of control bytes.
func errorText(err error) string { return cleanText(rawErrorText(err)) }

// rawErrorText is the message of an error without a Lua traceback.
func rawErrorText(err error) string {
	msg := err.Error()
	var ae *glua.ApiError
	if errors.As(err, &ae) {
		switch {
		case ae.Object != nil:
			msg = ae.Object.String()
		case ae.Cause != nil:
			msg = ae.Cause.Error()
		}
	}
	return strings.TrimSpace(msg)
}

// SetSender replaces the Sender of monsta.notify (Config.Sender); tests
// use it.
func (e *Engine) SetSender(s runtime.Sender) {
	if e == nil {
		return
	}
	e.sender.Store(&senderBox{s})
}

// Close closes every idle state. Runs in progress finish and then close
// their state.
func (e *Engine) Close() {
	if e == nil || e.closed.Swap(true) {
		return
	}
	for _, f := range e.files {
		for {
			select {
			case s := <-f.pool:
				s.close()
				continue
			default:
			}
			break
		}
	}
	e.https.close()
}

// Files returns the names of the loaded Lua files ("conf.d/x.lua").
func (e *Engine) Files() []string {
	var out []string
	for _, f := range e.files {
		out = append(out, f.name)
	}
	return out
}

// get takes an idle state of f or makes a new one; a new state's
// top-level code runs under the run's ctx.
func (f *file) get(ctx context.Context) (*state, error) {
	select {
	case s := <-f.pool:
		return s, nil
	default:
	}
	s, err := f.newState(ctx, false)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// put returns a healthy state to the pool, or closes it when the pool is
// full or the engine closed.
func (f *file) put(s *state) {
	if f.e.closed.Load() {
		s.close()
		return
	}
	select {
	case f.pool <- s:
	default:
		s.close()
	}
}

// call runs fn(args...) in s under ctx with the memory budget. read, if
// not nil, gets the nret results while the call still owns s, and copies
// what Go keeps of them: a returned table may be one the file keeps (a
// file-local table), which the next run of s writes on another goroutine
// as soon as s is back in the pool. A failed call or an expired ctx closes
// the state; otherwise it goes back to the pool, after read.
func (f *file) call(ctx context.Context, s *state, fn *glua.LFunction, nret int, read func([]glua.LValue) error,
	args ...glua.LValue) error {
	start := time.Now()
	s.begin(ctx)
	err := protect(func() error {
		return s.L.CallByParam(glua.P{Fn: fn, NRet: nret, Protect: true, Handler: s.traceFn}, args...)
	})
	var rerr error
	if err == nil {
		out := make([]glua.LValue, nret)
		for i := 0; i < nret; i++ {
			out[i] = s.L.Get(-nret + i)
		}
		s.L.Pop(nret)
		if read != nil {
			rerr = protect(func() error { return read(out) })
		}
	}
	berr := s.end()
	if err != nil || ctx.Err() != nil || berr != nil {
		s.close() // never reused: runError may still read s
		return f.runError(ctx, s, err, berr, start)
	}
	s.red = nil
	f.put(s)
	return rerr
}

// protect turns a panic that escaped gopher-lua's protected call (one
// raised while it handled an error) into an error.
func protect(call func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%v", p)
		}
	}()
	return call()
}

// runError explains why a call failed: timeout, memory, or a Lua error
// with its file:line. The message is clipped and cleaned of control
// bytes.
func (f *file) runError(ctx context.Context, s *state, err, berr error, start time.Time) error {
	where := f.name
	if err != nil {
		if p, line, _, ok := splitPos(errorText(err)); ok {
			where = fmt.Sprintf("%s:%d", p, line)
		}
	}
	if berr != nil {
		watch.giveBack()
		if s != nil && s.budget.where != "" {
			where = s.budget.where
		}
		return fmt.Errorf("%s: %w", where, berr)
	}
	if cerr := ctx.Err(); cerr != nil {
		if errors.Is(cerr, context.DeadlineExceeded) {
			return fmt.Errorf("%s: run timed out after %s: %w", where, roundDuration(ctx, start), cerr)
		}
		return fmt.Errorf("%s: run canceled: %w", where, cerr)
	}
	var red *redactor
	if s != nil {
		red = s.red
	}
	msg := red.clean(rawErrorText(err))
	if s != nil && s.trace != "" {
		f.e.log.Debug("lua error", "file", f.name, "err", msg, "traceback", s.trace)
	}
	return &Error{Msg: msg}
}

// roundDuration is the run's budget: from start to ctx's deadline.
func roundDuration(ctx context.Context, start time.Time) time.Duration {
	if dl, ok := ctx.Deadline(); ok && !dl.Before(start) {
		d := dl.Sub(start)
		switch {
		case d >= time.Second:
			return d.Round(100 * time.Millisecond)
		case d >= 10*time.Millisecond:
			return d.Round(10 * time.Millisecond)
		}
		return d
	}
	return time.Since(start).Round(time.Millisecond)
}

// Error is an error raised by Lua code; Msg starts with file:line when the
// error was raised at a known place.
type Error struct{ Msg string }

// Error returns the message.
func (e *Error) Error() string { return e.Msg }
