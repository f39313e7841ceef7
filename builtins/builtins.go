// Package builtins holds monsta's check and notifier types written in Go.
// Each type is one file with its descriptor and its test; Register is the
// one list of them.
package builtins

import (
	"fmt"
	"log/slog"

	"github.com/monsta/monsta/runtime"
)

// Env carries what some built-in types need from the daemon.
type Env struct {
	Logger *slog.Logger // the daemon's logger; nil discards
}

// descriptors is the one list of built-in types.
func descriptors(env Env) []runtime.Descriptor {
	return []runtime.Descriptor{}
}

// Register adds every built-in type to r.
func Register(r *runtime.Registry, env Env) error {
	if env.Logger == nil {
		env.Logger = slog.New(slog.DiscardHandler)
	}
	for _, d := range descriptors(env) {
		if err := r.Add(d); err != nil {
			return fmt.Errorf("builtin: %w", err)
		}
	}
	return nil
}
