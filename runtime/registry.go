package runtime

import (
	"errors"
	"fmt"
	"sort"
	"sync"
)

type regKey struct {
	kind Kind
	name string
}

// Registry holds every check and notifier type, built-in or Lua. Build one
// per configuration load: NewRegistry, add types, Freeze, then resolve.
type Registry struct {
	mu     sync.RWMutex
	types  map[regKey]*Descriptor // aliases share the value
	frozen bool
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{types: map[regKey]*Descriptor{}}
}

// ErrFrozen is returned by Add after Freeze.
var ErrFrozen = errors.New("registry is frozen")

// Add validates d and registers it under its name and aliases. A name that is
// already taken for the same kind is an error naming the first definition.
func (r *Registry) Add(d Descriptor) error {
	if err := d.validate(); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.frozen {
		return ErrFrozen
	}
	names := append([]string{d.Name}, d.Aliases...)
	for _, n := range names {
		if old, ok := r.types[regKey{d.Kind, n}]; ok {
			return fmt.Errorf("%s type %q already defined (%s)", d.Kind, n, old.Source)
		}
	}
	dp := &d
	for _, n := range names {
		r.types[regKey{d.Kind, n}] = dp
	}
	return nil
}

// Freeze stops further additions.
func (r *Registry) Freeze() {
	r.mu.Lock()
	r.frozen = true
	r.mu.Unlock()
}

// Lookup finds a type by name or alias.
func (r *Registry) Lookup(k Kind, name string) (*Descriptor, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	d, ok := r.types[regKey{k, name}]
	return d, ok
}

// List returns the types of a kind, each once, sorted by name.
func (r *Registry) List(k Kind) []*Descriptor {
	r.mu.RLock()
	defer r.mu.RUnlock()
	seen := map[*Descriptor]bool{}
	var out []*Descriptor
	for key, d := range r.types {
		if key.kind == k && !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Names returns every registered name and alias of a kind, sorted.
func (r *Registry) Names(k Kind) []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var out []string
	for key := range r.types {
		if key.kind == k {
			out = append(out, key.name)
		}
	}
	sort.Strings(out)
	return out
}
