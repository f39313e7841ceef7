package main

import (
	"log/slog"

	"github.com/monsta/monsta/lua"
	"github.com/monsta/monsta/runtime"
)

// luaTypes is the Lua engine of a configuration; a nil *luaTypes is valid
// and has no types and no hooks.
type luaTypes struct{ e *lua.Engine }

// loadLua loads the *.lua files of confdir into reg (a missing confdir has
// none). Errors carry file:line.
func loadLua(o *options, main runtime.Main, reg *runtime.Registry, logger *slog.Logger) (*luaTypes, error) {
	e, err := lua.Load(lua.Config{Dir: o.confdir, Logger: logger, AllowExec: main.LuaExec, MaxFileSize: o.maxFileSize}, reg)
	if err != nil {
		return nil, err
	}
	return &luaTypes{e: e}, nil
}

// Hooks returns the Lua hooks, nil when there are none.
func (l *luaTypes) Hooks() runtime.Hooks {
	if l == nil {
		return nil
	}
	return l.e.Hooks()
}

// SetSender gives Lua the running daemon's notifications.
func (l *luaTypes) SetSender(s runtime.Sender) {
	if l != nil {
		l.e.SetSender(s)
	}
}

// Close releases the Lua states.
func (l *luaTypes) Close() {
	if l != nil {
		l.e.Close()
	}
}
