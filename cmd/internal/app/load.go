package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync/atomic"

	"github.com/monsta/monsta/builtins"
	"github.com/monsta/monsta/config"
	"github.com/monsta/monsta/internal/journald"
	"github.com/monsta/monsta/internal/logfile"
	"github.com/monsta/monsta/lua"
	"github.com/monsta/monsta/runtime"
)

// ConfigError marks an error as the configuration's fault (exit status 2).
// Err joins every problem, each with its file:line.
type ConfigError struct{ Err error }

func (e *ConfigError) Error() string { return e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }

// Generation is everything built from one read of the configuration files:
// the resolved [main], the registry with the Lua types, the plan with every
// check and notifier built, the logger and the Lua engine.
type Generation struct {
	Main     runtime.Main
	Registry *runtime.Registry
	Plan     *runtime.Plan
	Warnings []*config.Error
	Logger   *slog.Logger
	log      *logOutput
	lua      *lua.Engine
	notes    []string // what of this generation waits for a restart
}

// Hooks returns the hooks of the generation's Lua files.
func (g *Generation) Hooks() runtime.Hooks { return g.lua.Hooks() }

// Close releases the Lua states and the generation's hold on its log file.
func (g *Generation) Close() {
	g.lua.Close()
	g.log.release()
}

// Load reads, type-checks, resolves and builds the configuration o names.
// A problem of the configuration is a *ConfigError with every problem at
// once; other errors (a log file that cannot be opened) are returned as
// they are.
func Load(o Options) (*Generation, error) { return load(o, nil) }

// load is Load, sharing prev's log file when the new [main] logs to the
// same place.
func load(o Options, prev *logOutput) (*Generation, error) {
	cfg, err := config.LoadWith(o.Config, o.ConfDir, config.LoadOptions{MaxFileSize: o.MaxFileSize})
	if cfg == nil {
		return nil, &ConfigError{err}
	}
	// With a syntax error, cfg holds what could be read and its errors:
	// Resolve reports them with every other problem (and the Lua files'),
	// and fails.
	// A bad [main] is reported by Resolve below, with every other problem
	// at once; until then its defaults serve.
	res := runtime.NewResolver(cfg)
	res.Consume = true // nothing reads cfg after Resolve
	res.TestsOptional = o.TestsOptional
	m, _ := res.Main()
	out, err := openLog(logPath(o, m), prev)
	var notes []string
	if err != nil && prev != nil {
		// A reload must not fail on a log file the dropped privileges cannot
		// open: keep logging where we do and say so.
		notes = append(notes, fmt.Sprintf("logfile: %v; logging continues to %s until a restart", err, prev.name()))
		out, err = prev, nil
		prev.refs.Add(1)
	}
	if err != nil {
		return nil, err
	}
	g := &Generation{Main: m, Logger: newLogger(o, m, out.w), log: out, notes: notes}
	sender := &planSender{}
	reg, eng, luaErr, err := newRegistry(o, m, g.Logger, sender)
	if err != nil {
		out.release()
		return nil, err
	}
	g.Registry, g.lua = reg, eng
	g.Plan, g.Warnings, err = res.Resolve(reg)
	if err != nil || luaErr != nil {
		g.Close()
		return nil, &ConfigError{errors.Join(luaErr, err)}
	}
	sender.plan.Store(g.Plan)
	return g, nil
}

// newRegistry builds the registry of the built-in types and the Lua types
// of confdir. When Lua files do not load, the registry still holds every
// type that did, and luaErr says what went wrong (with positions), so that
// the INI problems can be reported with it.
func newRegistry(o Options, m runtime.Main, logger *slog.Logger, s runtime.Sender) (reg *runtime.Registry, eng *lua.Engine, luaErr, err error) {
	reg = runtime.NewRegistry()
	if err := builtins.Register(reg, builtins.Env{Logger: logger}); err != nil {
		return nil, nil, nil, err
	}
	eng, luaErr = lua.Load(lua.Config{Dir: o.ConfDir, Logger: logger, AllowExec: m.LuaExec, Sender: s, MaxFileSize: o.MaxFileSize}, reg)
	reg.Freeze()
	return reg, eng, luaErr, nil
}

// Registry returns the types o's configuration knows, for --help: those of
// the whole configuration when it loads, else the built-ins and whatever
// Lua files load. Call close when done.
func Registry(o Options) (reg *runtime.Registry, close func(), err error) {
	if _, err := os.Stat(o.Config); err == nil {
		if g, err := Load(o); err == nil {
			return g.Registry, g.Close, nil
		}
	}
	logger := newLogger(o, runtime.Main{LogFormat: "text", LogLevel: "warn"}, os.Stderr)
	reg, eng, _, err := newRegistry(o, runtime.Main{}, logger, nil)
	if err != nil {
		return nil, nil, err
	}
	return reg, eng.Close, nil
}

// planSender sends through the notifications of one generation's plan
// (Lua's monsta.notify). It is bound once the plan is resolved, before
// anything runs, and never rebound: a reload makes a new one.
type planSender struct{ plan atomic.Pointer[runtime.Plan] }

// Send implements runtime.Sender.
func (s *planSender) Send(ctx context.Context, name string, m runtime.Message) error {
	p := s.plan.Load()
	if p == nil {
		return fmt.Errorf("notification %s: the configuration is still loading", name)
	}
	return p.Send(ctx, name, m)
}

// logPath is where a generation with [main] m logs; "" is stderr.
func logPath(o Options, m runtime.Main) string {
	if o.LogPath == nil {
		return ""
	}
	return o.LogPath(m)
}

// newLogger builds a logger from [main] and the flags' overrides.
func newLogger(o Options, m runtime.Main, w io.Writer) *slog.Logger {
	format, level := m.LogFormat, m.LogLevel
	if o.LogFormat != "" {
		format = o.LogFormat
	}
	if o.LogLevel != "" {
		level = o.LogLevel
	}
	var lv slog.Level
	switch level {
	case "debug":
		lv = slog.LevelDebug
	case "warn":
		lv = slog.LevelWarn
	case "error":
		lv = slog.LevelError
	default:
		lv = slog.LevelInfo
	}
	ho := &slog.HandlerOptions{Level: lv}
	// Under systemd, stderr is the journal: it wants <N> priorities and
	// adds its own timestamps.
	if w == io.Writer(os.Stderr) && journald.StderrIsJournal() {
		return slog.New(journald.NewHandler(w, format == "json", ho))
	}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, ho))
	}
	return slog.New(slog.NewTextHandler(w, ho))
}

// logOutput is a log destination shared by the generations that log to the
// same place; the file is closed when the last of them is.
type logOutput struct {
	path string // "" is stderr
	w    io.Writer
	f    *logfile.File // nil for stderr
	refs atomic.Int32
}

// openLog returns the output for path: prev's when it is the same place,
// else a newly opened file (or stderr).
func openLog(path string, prev *logOutput) (*logOutput, error) {
	if prev != nil && prev.path == path {
		prev.refs.Add(1)
		return prev, nil
	}
	out := &logOutput{path: path, w: os.Stderr}
	if path != "" {
		f, err := logfile.Open(path)
		if err != nil {
			return nil, err
		}
		out.f, out.w = f, f
	}
	out.refs.Add(1)
	return out, nil
}

// name says where the output goes, for messages.
func (l *logOutput) name() string {
	if l.path == "" {
		return "stderr"
	}
	return l.path
}

// reopen opens the log file again (after logrotate renamed it); stderr
// needs nothing.
func (l *logOutput) reopen() error {
	if l == nil || l.f == nil {
		return nil
	}
	return l.f.Reopen()
}

// release drops one generation's hold; the last one closes the file.
func (l *logOutput) release() {
	if l != nil && l.refs.Add(-1) == 0 && l.f != nil {
		l.f.Close()
	}
}
