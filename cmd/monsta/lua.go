package main

import (
	"log/slog"

	"github.com/monsta/monsta/runtime"
)

// luaTypes is the Lua engine of a configuration; a nil *luaTypes is valid
// and has no types and no hooks.
type luaTypes struct{}

// loadLua loads the *.lua files of confdir into reg.
func loadLua(confdir string, main runtime.Main, reg *runtime.Registry, logger *slog.Logger) (*luaTypes, error) {
	return nil, nil
}

// Hooks returns the Lua hooks, nil when there are none.
func (l *luaTypes) Hooks() runtime.Hooks { return nil }

// SetSender gives Lua the running daemon's notifications.
func (l *luaTypes) SetSender(runtime.Sender) {}

// Close releases the Lua states.
func (l *luaTypes) Close() {}
