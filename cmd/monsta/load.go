package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/monsta/monsta/builtins"
	"github.com/monsta/monsta/config"
	"github.com/monsta/monsta/runtime"
)

// loaded is one fully loaded configuration: what the daemon runs. It does
// not keep the parsed files: at 10,000 tests they are half the live heap.
type loaded struct {
	cfg    *config.Config
	main   runtime.Main
	reg    *runtime.Registry
	plan   *runtime.Plan
	logger *slog.Logger
	hooks  runtime.Hooks
	close  func()
	// sender lets Lua send through the running daemon's notifications.
	setSender func(runtime.Sender)
}

// configError marks an error as the configuration's fault (exit status 2).
type configError struct{ err error }

func (e *configError) Error() string { return e.err.Error() }
func (e *configError) Unwrap() error { return e.err }

// newRegistry builds the registry of built-in types and the Lua types of
// confdir. When Lua files do not load, the registry still holds every type
// that did, and luaErr says what went wrong (with positions), so that the
// INI problems can be reported with it.
func newRegistry(confdir string, main runtime.Main, logger *slog.Logger) (reg *runtime.Registry, lt *luaTypes, luaErr, err error) {
	reg = runtime.NewRegistry()
	if err := builtins.Register(reg, builtins.Env{Logger: logger}); err != nil {
		return nil, nil, nil, err
	}
	lt, luaErr = loadLua(confdir, main, reg, logger)
	reg.Freeze()
	return reg, lt, luaErr, nil
}

// load reads, type-checks and resolves the configuration. logFor gives the
// logger for the resolved [main] (types such as the log notifier keep it).
// Warnings are written to warn (one per line) when warn is not nil.
func load(o *options, logFor func(runtime.Main) (*slog.Logger, error), warn io.Writer) (*loaded, error) {
	cfg, err := config.Load(o.config, o.confdir)
	if err != nil {
		return nil, &configError{err}
	}
	res := runtime.NewResolver(cfg)
	main, err := res.Main()
	if err != nil {
		return nil, &configError{err}
	}
	logger, err := logFor(main)
	if err != nil {
		return nil, err
	}
	reg, lt, luaErr, err := newRegistry(o.confdir, main, logger)
	if err != nil {
		return nil, err
	}
	plan, warnings, err := res.Resolve(reg)
	if warn != nil {
		for _, w := range warnings {
			fmt.Fprintln(warn, w.Error())
		}
	}
	if err != nil || luaErr != nil {
		lt.Close()
		return nil, &configError{errors.Join(luaErr, err)}
	}
	return &loaded{main: main, reg: reg, plan: plan, logger: logger, hooks: lt.Hooks(), close: lt.Close, setSender: lt.SetSender}, nil
}

// newLogger builds the daemon's logger from [main] and the flags.
func newLogger(o *options, m runtime.Main, w io.Writer) *slog.Logger {
	format, level := m.LogFormat, m.LogLevel
	if o.logFormat != "" {
		format = o.logFormat
	}
	if o.logLevel != "" {
		level = o.logLevel
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
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, ho))
	}
	return slog.New(slog.NewTextHandler(w, ho))
}

// stderrLogger is the logger used before the configuration is known.
func stderrLogger(o *options) *slog.Logger {
	return newLogger(o, runtime.Main{LogFormat: "text", LogLevel: "warn"}, os.Stderr)
}

// toStderr logs to stderr as [main] says; for --run and --lint.
func toStderr(o *options) func(runtime.Main) (*slog.Logger, error) {
	return func(m runtime.Main) (*slog.Logger, error) { return newLogger(o, m, os.Stderr), nil }
}

// splitSection splits "Check_www" into its kind prefix and name.
func splitSection(s string) (prefix, name string) {
	for _, p := range []string{"Check_", "Test_", "Notification_"} {
		if strings.HasPrefix(s, p) {
			return p, s[len(p):]
		}
	}
	return "", s
}
