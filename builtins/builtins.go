// Package builtins holds monsta's check and notifier types written in Go.
// Each type is one file with its descriptor and its test; Register is the
// one list of them.
package builtins

import (
	"fmt"

	"github.com/monsta/monsta/runtime"
)

// descriptors is the one list of built-in types.
func descriptors() []runtime.Descriptor {
	return []runtime.Descriptor{
		xmppNotifier,
		clickatellNotifier,
	}
}

// Register adds every built-in type to r.
func Register(r *runtime.Registry) error {
	for _, d := range descriptors() {
		if err := r.Add(d); err != nil {
			return fmt.Errorf("builtin: %w", err)
		}
	}
	return nil
}
