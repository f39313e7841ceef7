package runtime

import (
	"fmt"
	"strconv"
	"time"

	"github.com/monsta/monsta/config"
)

// Value is one resolved option.
type Value struct {
	Raw string
	// Parsed is the Option's Parse result; nil when the option has no
	// Parse (Options.Value then returns Raw: a string kept once, not boxed
	// again for every section).
	Parsed any
	Pos    config.Pos // zero for built-in defaults
	Set    bool       // set by the section or a [TYPE_default] section
	ok     bool       // resolved without error
}

// Options are a section's resolved option values: the descriptor default,
// then [TYPE_default], then the section. Accessors panic on an undeclared
// name or a wrong type: that is a programming error a test catches.
type Options struct {
	Section string      // full section name, e.g. "Check_www"
	SecPos  config.Pos  // where the section starts
	desc    *Descriptor // nil for a section resolved by a Schema
	decl    *declared   // shared by every section of the type
	vals    []Value     // in the declaration's option order
	// keys are the configuration keys the values come from, for errors
	// placed on continuation lines while the configuration is resolved;
	// dropPositions releases them (and with them the parsed files).
	keys []*config.Key
	// red builds the wire forms of the secrets on first use (see
	// prepareRedaction); nil when no secret is set.
	red *lazyForms
}

// declared is what options are resolved against: a type's descriptor or a
// Schema.
type declared struct {
	desc    *Descriptor // nil for a Schema
	opts    []Option
	idx     map[string]int
	owner   string // `check type "portconnect"`, for programming errors
	unknown string // how a warning names an undeclared key
	// defaults holds each option's default, parsed once, where sections
	// can share it (a value, not a slice or pointer); ok false elsewhere.
	// Most options of most sections are defaults: at 100,000 tests this
	// saves parsing a million of them again.
	defaults []Value
}

// withDefaults fills d.defaults and returns d.
func (d *declared) withDefaults() *declared {
	d.defaults = make([]Value, len(d.opts))
	for i, opt := range d.opts {
		v, err := resolveValue(opt, "", false)
		if err != nil {
			continue // reported when a section uses it
		}
		switch v.Parsed.(type) {
		case nil, bool, int, int64, float64, string, time.Duration:
			d.defaults[i] = v
		}
	}
	return d
}

// defaultValue returns option i's default.
func (d *declared) defaultValue(i int) (Value, error) {
	if d.defaults != nil && d.defaults[i].ok {
		return d.defaults[i], nil
	}
	return resolveValue(d.opts[i], "", false)
}

// declared returns what options of the type resolve against: the one
// validate built, or a new one for a descriptor that was never registered
// (a test's).
func (d *Descriptor) declared() *declared {
	if d.decl != nil {
		return d.decl
	}
	return d.newDeclared()
}

func (d *Descriptor) newDeclared() *declared {
	return (&declared{desc: d, opts: d.Options, idx: d.optIdx, owner: fmt.Sprintf("%s type %q", d.Kind, d.Name),
		unknown: "unknown option for type " + d.Name}).withDefaults()
}

func (s *Schema) declared() *declared { return s.decl }

func (s *Schema) newDeclared() *declared {
	return (&declared{opts: s.Options, idx: s.idx, owner: "schema " + strconv.Quote(s.Unknown), unknown: s.Unknown}).withDefaults()
}

// names returns the declared option names, in order.
func (d *declared) names() []string {
	out := make([]string, len(d.opts))
	for i, o := range d.opts {
		out[i] = o.Name
	}
	return out
}

// NewOptions resolves raw values against d without positions (for Lua's
// run_check, --run and tests). Unknown keys and missing required options
// are errors.
func NewOptions(d *Descriptor, section string, raw map[string]string) (*Options, error) {
	o := &Options{Section: section, desc: d, decl: d.declared(), vals: make([]Value, len(d.Options))}
	for k := range raw {
		if _, ok := d.optIdx[k]; !ok {
			return nil, fmt.Errorf("%s: unknown option for %s type %s", k, d.Kind, d.Name)
		}
	}
	for i, opt := range d.Options {
		v, ok := raw[opt.Name]
		if !ok && opt.Required && !(opt.Secret && raw[opt.Name+FileSuffix] != "") {
			return nil, fmt.Errorf("%s: required option missing", opt.Name)
		}
		val, err := resolveValue(opt, v, ok)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", opt.Name, err)
		}
		o.vals[i] = val
	}
	if errs := o.readSecretFiles(); len(errs) > 0 {
		return nil, fmt.Errorf("%s: %w", errs[0].Key, errs[0].Err)
	}
	o.prepareRedaction()
	return o, nil
}

func resolveValue(opt Option, raw string, set bool) (Value, error) {
	if !set {
		raw = opt.Default
	}
	v := Value{Raw: raw, Set: set}
	if opt.Parse != nil {
		p, err := opt.Parse(raw)
		if err != nil {
			return v, err
		}
		v.Parsed = p
	}
	v.ok = true
	return v, nil
}

// Descriptor returns the type these options belong to (nil for a section
// that is not a type, such as [main]).
func (o *Options) Descriptor() *Descriptor { return o.desc }

// Name returns the section name without its Check_/Notification_ prefix.
func (o *Options) Name() string {
	if o.desc == nil {
		return o.Section
	}
	p := o.desc.Kind.SectionPrefix()
	if len(o.Section) > len(p) && o.Section[:len(p)] == p {
		return o.Section[len(p):]
	}
	return o.Section
}

func (o *Options) get(name string) Value { return o.vals[o.index(name)] }

// index returns the option's place in vals; it panics on a name the type
// does not declare, a programming error a test catches.
func (o *Options) index(name string) int {
	i, ok := o.decl.idx[name]
	if !ok {
		panic(fmt.Sprintf("monsta: %s has no option %q", o.decl.owner, name))
	}
	return i
}

// Value returns the parsed value of an option (Raw for an option without
// Parse), or nil when it did not resolve.
func (o *Options) Value(name string) any {
	i := o.index(name)
	if v := o.vals[i]; v.ok && o.decl.opts[i].Parse == nil {
		return v.Raw
	}
	return o.vals[i].Parsed
}

// Raw returns the option as written (or its default).
func (o *Options) Raw(name string) string { return o.get(name).Raw }

// IsSet tells whether the section or a [TYPE_default] section set the option.
func (o *Options) IsSet(name string) bool { return o.get(name).Set }

// Pos returns where the option was set, or where the section starts.
func (o *Options) Pos(name string) config.Pos {
	if v := o.get(name); v.Set && v.Pos.File != "" {
		return v.Pos
	}
	return o.SecPos
}

// PosOf returns where the option's value holds text: the continuation line
// that holds it when the value spans lines, else as Pos.
func (o *Options) PosOf(name, text string) config.Pos {
	if k := o.key(name); k != nil {
		return k.LineOf(text)
	}
	return o.Pos(name)
}

// key returns the configuration key the option was set by, while the
// configuration is resolved; nil for a default or after dropPositions.
func (o *Options) key(name string) *config.Key {
	if o.keys == nil {
		return nil
	}
	if i, ok := o.decl.idx[name]; ok {
		return o.keys[i]
	}
	return nil
}

// dropPositions releases the configuration keys: once a plan is resolved,
// nothing places errors on continuation lines, and the parsed files can go.
func (o *Options) dropPositions() { o.keys = nil }

// String returns a string option.
func (o *Options) String(name string) string {
	v := o.get(name).Parsed
	if s, ok := v.(string); ok {
		return s
	}
	return o.get(name).Raw
}

// Int returns an option parsed by Int or Port.
func (o *Options) Int(name string) int { return o.get(name).Parsed.(int) }

// Duration returns an option parsed by Seconds.
func (o *Options) Duration(name string) time.Duration {
	return o.get(name).Parsed.(time.Duration)
}

// Bool returns an option parsed by Bool.
func (o *Options) Bool(name string) bool { return o.get(name).Parsed.(bool) }

// Words returns an option parsed by Words.
func (o *Options) Words(name string) []string { return o.get(name).Parsed.([]string) }

// Map returns every option as written (defaults included). Secret options
// are included: use it only to hand values to code, never to print.
func (o *Options) Map() map[string]string {
	m := make(map[string]string, len(o.vals))
	for i, opt := range o.decl.opts {
		m[opt.Name] = o.vals[i].Raw
	}
	return m
}
