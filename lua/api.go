package lua

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	glua "github.com/yuin/gopher-lua"

	"github.com/monsta/monsta/internal/redact"
	"github.com/monsta/monsta/runtime"
)

// monstaTable builds the global monsta table of s.
func (s *state) monstaTable() *glua.LTable {
	L := s.L
	t := L.NewTable()
	L.SetFuncs(t, map[string]glua.LGFunction{
		"check_type":    func(L *glua.LState) int { return s.defineType(L, runtime.KindCheck) },
		"notifier_type": func(L *glua.LState) int { return s.defineType(L, runtime.KindNotifier) },
		"on_notify":     s.onNotifyFn,
		"on_result":     s.onResultFn,
		"run_check":     s.runCheck,
		"notify":        s.notify,
		"exec":          s.exec,
		"sleep":         s.sleep,
	})
	return t
}

// callerLine is the line of the Lua code calling the current Go function.
func callerLine(L *glua.LState) int {
	dbg, ok := L.GetStack(1)
	if !ok {
		return 0
	}
	if _, err := L.GetInfo("l", dbg, glua.LNil); err != nil {
		return 0
	}
	return dbg.CurrentLine
}

var typeKeys = map[runtime.Kind]map[string]bool{
	runtime.KindCheck:    {"name": true, "description": true, "help": true, "options": true, "example": true, "run": true},
	runtime.KindNotifier: {"name": true, "description": true, "help": true, "options": true, "example": true, "send": true, "verify": true},
}

// defineType lua monsta.check_type{name=, description=, help=, options=, example=, run=}
// and monsta.notifier_type{…, send=}. At load time it builds a descriptor;
// in run states it binds the name to the function of this state.
func (s *state) defineType(L *glua.LState, kind runtime.Kind) int {
	t := L.CheckTable(1)
	fnKey := "run"
	if kind == runtime.KindNotifier {
		fnKey = "send"
	}
	name, _ := t.RawGetString("name").(glua.LString)
	fn, _ := t.RawGetString(fnKey).(*glua.LFunction)
	verify, _ := t.RawGetString("verify").(*glua.LFunction)
	bind := s.checks
	if kind == runtime.KindNotifier {
		bind = s.notifiers
	}
	if !s.loading {
		if name != "" && fn != nil {
			bind[string(name)] = fn
			if verify != nil {
				s.verifiers[string(name)] = verify
			}
		}
		return 0
	}
	line := callerLine(L)
	d, err := s.descriptor(t, kind, fnKey)
	if err == nil && fn == nil {
		err = fmt.Errorf("%s: a function is required", fnKey)
	}
	if v := t.RawGetString("verify"); err == nil && v != glua.LNil && verify == nil {
		err = errors.New("verify: must be a function")
	}
	if err != nil {
		s.definitionError(kind, string(name), line, err)
		return 0
	}
	d.Source = fmt.Sprintf("%s:%d", s.f.name, line)
	s.f.constructors(&d, verify != nil)
	bind[d.Name] = fn
	if verify != nil {
		s.verifiers[d.Name] = verify
	}
	s.decls = append(s.decls, decl{desc: d, line: line})
	return 0
}

// constructors gives d the constructor of its kind, building Lua checks or
// notifiers of f (verifying ones when the type has a verify function).
func (f *file) constructors(d *runtime.Descriptor, canVerify bool) {
	typ := d.Name
	if d.Kind == runtime.KindCheck {
		d.NewCheck = func(o *runtime.Options) (runtime.Check, error) { return newCheck(f, typ, o), nil }
		return
	}
	d.NewNotifier = func(o *runtime.Options) (runtime.Notifier, error) {
		n := newNotifier(f, typ, o)
		if canVerify {
			return verifyingNotifier{n}, nil
		}
		return n, nil
	}
}

// definitionError records the load error of a bad type definition.
func (s *state) definitionError(kind runtime.Kind, name string, line int, err error) {
	what := fmt.Sprintf("monsta.%s_type", map[runtime.Kind]string{runtime.KindCheck: "check", runtime.KindNotifier: "notifier"}[kind])
	if name != "" {
		what = fmt.Sprintf("%s type %q", kind, name)
	}
	s.loadErrs = append(s.loadErrs, loadErr(s.f.name, line, fmt.Errorf("%s: %w", what, err)))
}

// descriptor reads a type table.
func (s *state) descriptor(t *glua.LTable, kind runtime.Kind, fnKey string) (runtime.Descriptor, error) {
	d := runtime.Descriptor{Kind: kind}
	var err error
	t.ForEach(func(k, v glua.LValue) {
		ks, ok := k.(glua.LString)
		if err != nil || (ok && typeKeys[kind][string(ks)]) {
			return
		}
		err = fmt.Errorf("unknown field %s", k.String())
	})
	if err != nil {
		return d, err
	}
	if d.Name, err = stringField(t, "name", true); err != nil {
		return d, err
	}
	if d.Description, err = stringField(t, "description", true); err != nil {
		return d, err
	}
	if d.Help, err = stringField(t, "help", false); err != nil {
		return d, err
	}
	if d.Example, err = stringField(t, "example", false); err != nil {
		return d, err
	}
	switch ov := t.RawGetString("options").(type) {
	case *glua.LNilType:
	case *glua.LTable:
		if ov.Len() > 0 {
			// List form keeps the order: {{name="host", …}, {name="port", …}}.
			for i := 1; i <= ov.Len() && err == nil; i++ {
				spec, ok := ov.RawGetInt(i).(*glua.LTable)
				if !ok {
					return d, fmt.Errorf("options[%d]: must be a table", i)
				}
				var o runtime.Option
				o, err = optionDecl(spec.RawGetString("name"), spec, "name")
				d.Options = append(d.Options, o)
			}
			break
		}
		// Map form {host={…}, port={…}}: required options first, then by name.
		ov.ForEach(func(k, v glua.LValue) {
			if err != nil {
				return
			}
			var o runtime.Option
			o, err = optionDecl(k, v, "")
			d.Options = append(d.Options, o)
		})
		sort.SliceStable(d.Options, func(i, j int) bool {
			a, b := d.Options[i], d.Options[j]
			if a.Required != b.Required {
				return a.Required
			}
			return a.Name < b.Name
		})
	default:
		err = errors.New("options: must be a table")
	}
	return d, err
}

func stringField(t *glua.LTable, key string, required bool) (string, error) {
	switch v := t.RawGetString(key).(type) {
	case glua.LString:
		if v == "" && required {
			return "", fmt.Errorf("%s: must not be empty", key)
		}
		return string(v), nil
	case *glua.LNilType:
		if required {
			return "", fmt.Errorf("%s: required", key)
		}
		return "", nil
	default:
		return "", fmt.Errorf("%s: must be a string, not %s", key, v.Type())
	}
}

// optionParsers are the values of an option's type field.
var optionParsers = map[string]func(string) (any, error){
	"string":  nil,
	"int":     runtime.Int,
	"port":    runtime.Port,
	"seconds": runtime.Seconds,
	"bool":    runtime.Bool,
	"words":   runtime.Words,
}

var optionKeys = map[string]bool{"required": true, "default": true, "help": true, "secret": true, "type": true}

// optionDecl reads name = {required=, default=, help=, secret=, type=}.
func optionDecl(k, v glua.LValue, extraKey string) (runtime.Option, error) {
	name, ok := k.(glua.LString)
	if !ok {
		return runtime.Option{}, fmt.Errorf("options: name %s is not a string", k.String())
	}
	o := runtime.Option{Name: string(name)}
	spec, ok := v.(*glua.LTable)
	if !ok {
		return o, fmt.Errorf("option %q: must be a table like {default=\"x\", help=\"…\"}", o.Name)
	}
	var err error
	spec.ForEach(func(k, _ glua.LValue) {
		if ks, ok := k.(glua.LString); err == nil && (!ok || !optionKeys[string(ks)] && string(ks) != extraKey) {
			err = fmt.Errorf("option %q: unknown field %s", o.Name, k.String())
		}
	})
	if err != nil {
		return o, err
	}
	o.Required = glua.LVAsBool(spec.RawGetString("required"))
	o.Secret = glua.LVAsBool(spec.RawGetString("secret"))
	switch dv := spec.RawGetString("default").(type) {
	case *glua.LNilType:
	case glua.LString, glua.LNumber:
		o.Default = dv.String()
	case glua.LBool:
		o.Default = map[bool]string{true: "yes", false: "no"}[bool(dv)]
	default:
		return o, fmt.Errorf("option %q: default must be a string, number or boolean", o.Name)
	}
	if o.Help, err = stringField(spec, "help", false); err != nil {
		return o, fmt.Errorf("option %q: %w", o.Name, err)
	}
	if o.Help == "" {
		return o, fmt.Errorf("option %q: help is required (one sentence saying what it does)", o.Name)
	}
	typ, err := stringField(spec, "type", false)
	if err != nil {
		return o, fmt.Errorf("option %q: %w", o.Name, err)
	}
	if typ == "" {
		typ = "string"
		if o.Name == "timeout" {
			typ = "seconds"
		}
	}
	parse, ok := optionParsers[typ]
	if !ok {
		return o, fmt.Errorf("option %q: type %q is not one of string, int, port, seconds, bool, words", o.Name, typ)
	}
	if o.Name == "timeout" && typ != "seconds" {
		return o, fmt.Errorf("option \"timeout\": type must be seconds")
	}
	o.Parse = parse
	if o.Name == "timeout" {
		o.Parse = runtime.PositiveSeconds // the run's deadline: more than 0
	}
	return o, nil
}

// onNotifyFn lua monsta.on_notify(function(ev) … end) installs a hook run
// before every notification dispatch.
func (s *state) onNotifyFn(L *glua.LState) int {
	s.onNotify = append(s.onNotify, L.CheckFunction(1))
	return 0
}

// onResultFn lua monsta.on_result(function(r) … end) installs a hook that
// sees every test result.
func (s *state) onResultFn(L *glua.LState) int {
	s.onResult = append(s.onResult, L.CheckFunction(1))
	return 0
}

type depthKey struct{}

// maxRunDepth bounds nested monsta.run_check and monsta.notify calls (a
// check running itself, a notifier notifying itself).
const maxRunDepth = 4

// runCheck lua monsta.run_check(type, {options}) returns (ok, errors, stats):
// it runs any registered check type under the caller's deadline. Option
// and constructor errors are raised without the secrets given (see
// buildCheck).
func (s *state) runCheck(L *glua.LState) int {
	typ := L.CheckString(1)
	opts := L.OptTable(2, L.NewTable())
	d, ok := s.f.e.reg.Lookup(runtime.KindCheck, typ)
	if !ok {
		L.RaiseError("run_check: unknown check type %q", typ)
	}
	if err := s.f.e.runCheckAllowed(d); err != nil {
		L.RaiseError("run_check %s: %s", typ, err.Error())
	}
	raw := rawOptions(L, opts)
	ctx := s.ctx()
	depth, _ := ctx.Value(depthKey{}).(int)
	if depth >= maxRunDepth {
		L.RaiseError("run_check %s: nested more than %d deep", typ, maxRunDepth)
	}
	c, o, err := buildCheck(d, "Check_"+typ, raw)
	if err != nil {
		L.RaiseError("run_check %s: %s", typ, err.Error())
	}
	res := runtime.RunCheck(context.WithValue(ctx, depthKey{}, depth+1), c, o)
	L.Push(glua.LBool(res.OK))
	L.Push(stringList(L, res.Errors))
	L.Push(statsTable(L, res.Stats))
	return 3
}

// rawOptions reads run_check's options table as INI values; a name that is
// not a string raises an argument error.
func rawOptions(L *glua.LState, opts *glua.LTable) map[string]string {
	raw := map[string]string{}
	var bad string
	opts.ForEach(func(k, v glua.LValue) {
		ks, ok := k.(glua.LString)
		if !ok {
			bad = k.String()
			return
		}
		raw[string(ks)] = optionString(v)
	})
	if bad != "" {
		L.ArgError(2, "option names must be strings, got "+bad)
	}
	return raw
}

// buildCheck resolves raw against d and builds the check. Its errors may
// quote a value they were given, and a Lua file may pass a secret where
// it does not belong (port = opt.password): a constructor's error is
// redacted with the built Options (every wire form of d's secrets), an
// option error, when no Options could be built, with the values raw gives
// d's secret options (rawSecrets).
func buildCheck(d *runtime.Descriptor, section string, raw map[string]string) (runtime.Check, *runtime.Options, error) {
	o, err := runtime.NewOptions(d, section, raw)
	if err != nil {
		return nil, nil, rawSecrets(d, raw).Error(err)
	}
	c, err := d.NewCheck(o)
	if err != nil {
		return nil, nil, runtime.RedactError(o, err)
	}
	return c, o, nil
}

// rawSecrets is the redaction of the values raw gives the options d marks
// Secret (raw, quoted, URL-escaped and base64 forms); nil when there is
// none.
func rawSecrets(d *runtime.Descriptor, raw map[string]string) *redact.Set {
	var creds []redact.Credential
	for _, opt := range d.Options {
		if v := raw[opt.Name]; opt.Secret && v != "" {
			creds = append(creds, redact.Credential{Secret: v})
		}
	}
	return redact.NewSet(creds...)
}

// optionString renders a Lua value as an INI value.
func optionString(v glua.LValue) string {
	switch x := v.(type) {
	case glua.LBool:
		if x {
			return "yes"
		}
		return "no"
	case *glua.LTable:
		var words []string
		for i := 1; i <= x.Len(); i++ {
			words = append(words, x.RawGetInt(i).String())
		}
		return strings.Join(words, " ")
	}
	return v.String()
}

// notify lua monsta.notify(name, {short=, long=, test=, state=}) returns
// (true) or (nil, err): it sends through the configured
// [Notification_name] section.
func (s *state) notify(L *glua.LState) int {
	name := L.CheckString(1)
	t := L.CheckTable(2)
	box := s.f.e.sender.Load()
	if box == nil || box.s == nil {
		L.Push(glua.LNil)
		L.Push(glua.LString("monsta.notify: no notifications configured"))
		return 2
	}
	str := func(keys ...string) string {
		for _, k := range keys {
			if v, ok := t.RawGetString(k).(glua.LString); ok {
				return string(v)
			}
		}
		return ""
	}
	m := runtime.Message{Test: str("test"), State: runtime.StateFail, Time: time.Now(),
		Short: clipShort(str("short", "subject")), Long: clipLong(str("long", "body"))}
	if st, ok := t.RawGetString("state").(glua.LString); ok {
		m.State = runtime.State(strings.ToUpper(string(st)))
	}
	ctx := s.ctx()
	depth, _ := ctx.Value(depthKey{}).(int)
	if depth >= maxRunDepth {
		L.RaiseError("monsta.notify %s: nested more than %d deep", name, maxRunDepth)
	}
	if err := box.s.Send(context.WithValue(ctx, depthKey{}, depth+1), name, m); err != nil {
		L.Push(glua.LNil)
		L.Push(glua.LString(err.Error()))
		return 2
	}
	L.Push(glua.LTrue)
	return 1
}

// sleep lua monsta.sleep(seconds) waits, returning early when the run's
// deadline passes.
func (s *state) sleep(L *glua.LState) int {
	d := time.Duration(float64(L.CheckNumber(1)) * float64(time.Second))
	if d <= 0 {
		return 0
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-s.ctx().Done():
	}
	return 0
}

var moduleName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$`)

// loading marks a module whose chunk is running, to catch require loops.
var loadingMarker = glua.LString("\x00loading")

// require lua require(name) returns a monsta.* module or a Lua library from
// the library folder (name "a.b" is LIBDIR/a/b.lua).
func (s *state) require(L *glua.LState) int {
	name := L.CheckString(1)
	if v, ok := s.loaded[name]; ok {
		if v == loadingMarker {
			L.RaiseError("require %q: loop while loading", name)
		}
		L.Push(v)
		return 1
	}
	if loader, ok := module(name); ok {
		v := readOnly(L, loader(s))
		s.loaded[name] = v
		L.Push(v)
		return 1
	}
	if strings.HasPrefix(name, "monsta.") {
		L.RaiseError("require %q: no such monsta module (have %s)", name, moduleList())
	}
	if !moduleName.MatchString(name) {
		L.ArgError(1, "module names are words separated by dots")
	}
	proto, err := s.f.e.libProto(name)
	if err != nil {
		L.RaiseError("require %q: %s", name, err.Error())
	}
	s.loaded[name] = loadingMarker
	L.Push(L.NewFunctionFromProto(proto))
	L.Push(glua.LString(name))
	L.Call(1, 1)
	v := L.Get(-1)
	L.Pop(1)
	if v == glua.LNil {
		v = glua.LTrue
	}
	if t, ok := v.(*glua.LTable); ok {
		// Users of a library cannot change it for later runs.
		v = readOnly(L, t)
	}
	s.loaded[name] = v
	L.Push(v)
	return 1
}

// libProto compiles a library file once for all states.
func (e *Engine) libProto(name string) (*glua.FunctionProto, error) {
	if e.cfg.LibDir == "" {
		return nil, errors.New("no library folder")
	}
	rel := strings.ReplaceAll(name, ".", string(filepath.Separator)) + ".lua"
	v, _ := e.libs.LoadOrStore(rel, &libProto{})
	lp := v.(*libProto)
	lp.once.Do(func() {
		display := filepath.Join(filepath.Base(e.cfg.LibDir), rel)
		src, err := readSource(filepath.Join(e.cfg.LibDir, rel), e.sourceLimit())
		if errors.Is(err, fs.ErrNotExist) {
			lp.err = fmt.Errorf("not found in %s", e.cfg.LibDir)
			return
		}
		if err != nil {
			lp.err = fmt.Errorf("%s: %w", display, err)
			return
		}
		lp.proto, err = compile(src, display)
		if err != nil {
			lp.err = syntaxError(display, src, err)
		}
	})
	return lp.proto, lp.err
}

// modules are the monsta.* modules require can return, in the order
// errors list them; the one list of them.
var modules = []struct {
	name string
	load func(s *state) *glua.LTable
}{
	{"monsta.tcp", tcpModule},
	{"monsta.dns", dnsModule},
	{"monsta.http", httpModule},
	{"monsta.json", jsonModule},
	{"monsta.log", logModule},
}

// module returns the loader of the monsta.* module name.
func module(name string) (func(s *state) *glua.LTable, bool) {
	for _, m := range modules {
		if m.name == name {
			return m.load, true
		}
	}
	return nil, false
}

// moduleList names the monsta.* modules, for errors.
func moduleList() string {
	names := make([]string, len(modules))
	for i, m := range modules {
		names[i] = m.name
	}
	return strings.Join(names, ", ")
}
