package runtime

import (
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/monsta/monsta/config"
)

// CheckSpec is one resolved [Check_NAME] section.
type CheckSpec struct {
	Name string // without the Check_ prefix
	Desc *Descriptor
	Opts *Options
	// Check is the instance built at resolution: it serves the first test
	// that uses the check, and --run. Nil when its constructor failed.
	Check Check
}

// New builds another instance of the check.
func (c *CheckSpec) New() (Check, error) { return c.Desc.NewCheck(c.Opts) }

// NotificationSpec is one resolved [Notification_NAME] section.
type NotificationSpec struct {
	Name     string // without the Notification_ prefix
	Desc     *Descriptor
	Opts     *Options
	Notifier Notifier
}

// Send delivers m once through the notification, within its deadline.
func (n *NotificationSpec) Send(ctx context.Context, m Message) error {
	ctx, cancel := context.WithTimeout(ctx, n.Desc.DeadlineFor(n.Opts))
	defer cancel()
	if err := n.Notifier.Notify(ctx, m); err != nil {
		return fmt.Errorf("notification %s (%s): %w", n.Name, n.Desc.Name, RedactError(n.Opts, err))
	}
	return nil
}

// Plan is a fully resolved, valid configuration with every check and
// notifier built. It serves one Engine at a time: the engine runs the
// plan's check instances.
type Plan struct {
	Main          Main
	Checks        map[string]*CheckSpec
	Notifications map[string]*NotificationSpec
	Tests         []*TestSpec // in configuration order
	Maintenance   Maintenance // in configuration order
	Warnings      []*config.Error
}

// Send implements Sender: it delivers m now, once, through the named
// notification (for --run and Lua's monsta.notify).
func (p *Plan) Send(ctx context.Context, notification string, m Message) error {
	n, ok := p.Notifications[notification]
	if !ok {
		return fmt.Errorf("no notification named %q", notification)
	}
	return n.Send(ctx, m)
}

// Resolver resolves one loaded configuration in two stages: [main] first,
// because the logger and the Lua engine need it before the registry is
// complete, then every other section against the registry.
type Resolver struct {
	// Consume lets Resolve release each section's keys once it is resolved
	// (config.Section.ReleaseKeys), so that the parsed configuration does
	// not stay whole beside the plan that grows from it: at 100,000 tests
	// that halves the most memory loading takes. The configuration is of
	// no further use afterwards. The daemon's loader sets it.
	Consume bool
	// TestsOptional lets a configuration without [Test_] sections resolve
	// (--run of one check or notification tries it before a test names it).
	TestsOptional bool
	cfg           *config.Config
	probs         config.Problems // the files' warnings and [main]'s problems
	main          Main
	mainErr       error
	strict        bool // [main] strict: unknown options and repeated sections are errors
}

// NewResolver resolves [main] of cfg; Main returns it and Resolve does the
// rest. A cfg that config.LoadWith returned with errors (cfg.Errors) never
// resolves: Resolve reports those errors with its own.
func NewResolver(cfg *config.Config) *Resolver {
	r := &Resolver{cfg: cfg}
	for _, w := range cfg.Warnings {
		r.probs.Add(w)
	}
	// The files' own errors (config.LoadWith returned what could be read):
	// reported with the resolution's, in one list.
	r.probs.List = append(r.probs.List, cfg.Errors...)
	sec, ok := cfg.Section("main")
	if !ok {
		sec = &config.Section{Name: "main"}
	}
	var mp config.Problems
	o, valid := resolveOptions(&mp, mainSchema.declared(), sec, defaultSection(cfg), nil)
	valid = valid && checkListen(&mp, o) && checkFlap(&mp, o)
	r.strict = true
	if v, ok := o.Value("strict").(bool); ok {
		r.strict = v
	}
	applyStrict(mp.List, r.strict)
	valid = valid && mp.Err() == nil
	r.probs.List = append(r.probs.List, mp.List...)
	if !valid {
		r.mainErr = mp.Err()
		return r
	}
	base := ""
	if len(cfg.Files) > 0 {
		base = filepath.Dir(cfg.Files[0])
	}
	r.main = newMain(o, base)
	return r
}

// Main returns the resolved [main], or its problems (with positions).
// Relative paths are taken relative to the main configuration file.
func (r *Resolver) Main() (Main, error) { return r.main, r.mainErr }

// Resolve turns the configuration into a Plan, building every check and
// notifier through reg. Every problem is reported at once, sorted by
// position, [main]'s included; warnings (unknown options, unused sections)
// are in Plan.Warnings, or returned alongside the error.
func (r *Resolver) Resolve(reg *Registry) (*Plan, []*config.Error, error) {
	rs := &resolution{cfg: r.cfg, reg: reg, consume: r.Consume, usedChecks: map[string]bool{}, usedNotifs: map[string]bool{},
		plan: &Plan{Main: r.main, Checks: map[string]*CheckSpec{}, Notifications: map[string]*NotificationSpec{}}}
	rs.probs.List = slices.Clone(r.probs.List)
	rs.typeDefaults()
	rs.defaultKeys()
	tests := rs.typedSections()
	rs.tests(tests)
	if !r.TestsOptional {
		rs.needTests(len(tests))
	}
	rs.dependencies()
	rs.maintenance()
	rs.unused()
	applyStrict(rs.probs.List, r.strict)
	p := rs.plan
	p.Warnings = rs.probs.Warnings()
	if err := rs.probs.Err(); err != nil {
		return nil, p.Warnings, err
	}
	return p, p.Warnings, nil
}

// resolution is one run of Resolver.Resolve.
type resolution struct {
	cfg        *config.Config
	consume    bool // release each section once resolved (Resolver.Consume)
	reg        *Registry
	probs      config.Problems
	defaults   map[string]*config.Section // [TYPE_default] by type name
	plan       *Plan
	usedChecks map[string]bool
	usedNotifs map[string]bool
	maintSecs  []*config.Section // [Maintenance_*], resolved after the tests
	dependsPos map[*TestSpec]config.Pos
}

// typeDefaults collects the [TYPE_default] sections and warns about the
// ones no type knows, and about keys no type of that name declares.
func (r *resolution) typeDefaults() {
	r.defaults = map[string]*config.Section{}
	for _, s := range r.cfg.Sections() {
		tn, ok := strings.CutSuffix(s.Name, "_default")
		if !ok || isPrefixed(s.Name) || caseFix(s.Name) != "" {
			continue
		}
		r.defaults[tn] = s
		c, cok := r.reg.Lookup(KindCheck, tn)
		n, nok := r.reg.Lookup(KindNotifier, tn)
		if !cok && !nok {
			r.probs.Warnf(s.Pos, s.Name, "", "no check or notification type named %q%s", tn, suggest(tn, append(r.reg.Names(KindCheck), r.reg.Names(KindNotifier)...)))
		}
		for _, k := range s.Keys() {
			if !declares(c, k.Name) && !declares(n, k.Name) {
				r.probs.Add(unknownKey(k, s.Name, "unknown option for type "+tn, append(optionNames(c), optionNames(n)...)))
			}
		}
	}
}

// needTests reports a configuration without tests: an error when it
// defines checks (they would never run: the original refused it too), a
// warning when it defines only notifications (an admin tries them with
// --run Notification_X before any test names them) or nothing at all (the
// packaged configuration, as shipped).
func (r *resolution) needTests(n int) {
	if n > 0 {
		return
	}
	pos := config.Pos{}
	if len(r.cfg.Files) > 0 {
		pos.File = r.cfg.Files[0]
	}
	notifications := false
	for _, s := range r.cfg.Sections() {
		lower := strings.ToLower(s.Name)
		switch {
		case strings.HasPrefix(lower, "check_") || strings.HasPrefix(lower, "test_"):
			r.probs.Addf(pos, "", "", "no [Test_NAME] section: nothing would be monitored (a test names its checks with checks=)")
			return
		case strings.HasPrefix(s.Name, "Notification_"):
			notifications = true
		}
	}
	if notifications {
		r.probs.Warnf(pos, "", "", "no [Test_NAME] section: notifications are only sent by --run Notification_NAME")
		return
	}
	r.probs.Warnf(pos, "", "", "no [Test_NAME] section: nothing is monitored")
}

// DefaultSection is the section whose keys are defaults for every section,
// as in Python's ConfigParser. A value is resolved from, in order: the
// built-in default, [DEFAULT], [TYPE_default], the section itself; the last
// one that sets it wins. [DEFAULT] applies to [main] and [Test_*] too, and
// only to the options a section declares: other keys are ignored there.
const DefaultSection = "DEFAULT"

// defaultSection returns [DEFAULT] as the first default section, or none.
func defaultSection(cfg *config.Config) []*config.Section {
	if s, ok := cfg.Section(DefaultSection); ok {
		return []*config.Section{s}
	}
	return nil
}

// defaultKeys warns about keys of [DEFAULT] that no section can use.
func (r *resolution) defaultKeys() {
	s, ok := r.cfg.Section(DefaultSection)
	if !ok {
		return
	}
	for _, k := range s.Keys() {
		if k.Name == "type" {
			r.probs.Warnf(k.Pos, s.Name, k.Name, "ignored: every Check_ and Notification_ section names its own type")
			continue
		}
		used := declaresSchema(mainSchema, k.Name) || declaresSchema(testSchema, k.Name)
		for _, kind := range []Kind{KindCheck, KindNotifier} {
			for _, d := range r.reg.List(kind) {
				used = used || declares(d, k.Name)
			}
		}
		if !used {
			r.probs.Add(unknownKey(k, s.Name, "no section type has this option", nil))
		}
	}
}

func declaresSchema(s *Schema, option string) bool {
	_, ok := s.idx[option]
	return ok
}

// caseFix returns the section name a misspelt one was meant to be when only
// the case is wrong ([check_a] for [Check_a], [default] for [DEFAULT]), or "".
func caseFix(name string) string {
	low := strings.ToLower(name)
	for _, p := range []string{"Check_", "Test_", "Notification_", "Maintenance_"} {
		if strings.HasPrefix(low, strings.ToLower(p)) && !strings.HasPrefix(name, p) {
			return p + name[len(p):]
		}
	}
	switch {
	case low == "main" && name != "main":
		return "main"
	case low == "default" && name != DefaultSection:
		return DefaultSection
	case strings.HasSuffix(low, "_default") && name != low:
		return low
	}
	return ""
}

// declares tells whether d (which may be nil) has the option.
func declares(d *Descriptor, option string) bool {
	if d == nil {
		return false
	}
	_, ok := d.Option(option)
	return ok
}

// optionNames returns the option names of d (which may be nil).
func optionNames(d *Descriptor) []string {
	if d == nil {
		return nil
	}
	return d.declared().names()
}

// unknownOption is the problem of a key that nothing declares: a typo
// unless [main] strict = no says the configuration carries keys monsta
// does not know (applyStrict).
type unknownOption struct {
	what    string // "unknown option for type portconnect"
	hint    string // ` (did you mean "expect"?)` or ""
	ignored bool   // a warning: the key is ignored
}

func (u *unknownOption) Error() string {
	if u.ignored {
		return u.what + ", ignored" + u.hint
	}
	return u.what + u.hint
}

// unknownKey is the problem of key k of section sec, which nothing
// declares; candidates are the names a typo is compared with. It is an
// error until applyStrict says otherwise.
func unknownKey(k *config.Key, sec, what string, candidates []string) *config.Error {
	return &config.Error{Pos: k.Pos, Section: sec, Key: k.Name, Err: &unknownOption{what: what, hint: suggest(k.Name, candidates)}}
}

// applyStrict makes the unknown options of list, and the sections
// repeated in one file, errors when strict (the default), else warnings.
func applyStrict(list []*config.Error, strict bool) {
	for _, e := range list {
		switch x := e.Err.(type) {
		case *unknownOption:
			x.ignored, e.Warning = !strict, !strict
		case *config.RepeatedSection:
			x.Merged, e.Warning = !strict, !strict
		}
	}
}

// typedSections resolves and builds the Check_ and Notification_ sections,
// warns about unknown sections, and returns the Test_ sections for later.
func (r *resolution) typedSections() (tests []*config.Section) {
	for _, s := range r.cfg.Sections() {
		switch {
		case s.Name == "main":
		case strings.HasPrefix(s.Name, "Check_"):
			r.check(s)
			r.done(s)
		case strings.HasPrefix(s.Name, "Notification_"):
			r.notification(s)
			r.done(s)
		case strings.HasPrefix(s.Name, "Test_"):
			tests = append(tests, s)
		case strings.HasPrefix(s.Name, "Maintenance_"):
			r.maintSecs = append(r.maintSecs, s)
		case strings.HasSuffix(s.Name, "_default") && caseFix(s.Name) == "":
		case s.Name == DefaultSection:
		case caseFix(s.Name) != "":
			r.probs.Addf(s.Pos, s.Name, "", "unknown section: section names are case-sensitive; did you mean [%s]?", caseFix(s.Name))
		default:
			r.probs.Warnf(s.Pos, s.Name, "", "unknown section, ignored (expected main, Check_*, Test_*, Notification_*, Maintenance_*, TYPE_default or DEFAULT)")
		}
	}
	return tests
}

// done releases a resolved section's keys when the resolution consumes the
// configuration.
func (r *resolution) done(s *config.Section) {
	if r.consume {
		s.ReleaseKeys()
	}
}

// check resolves a [Check_] section and builds its first instance, so that
// constructor errors surface at load.
func (r *resolution) check(s *config.Section) {
	o := r.typed(KindCheck, s)
	if o == nil {
		return
	}
	defer o.dropPositions() // only the constructor's errors are placed on lines
	name := strings.TrimPrefix(s.Name, "Check_")
	c := &CheckSpec{Name: name, Desc: o.desc, Opts: o}
	r.plan.Checks[name] = c
	var err error
	if c.Check, err = c.New(); err != nil {
		r.probs.Add(buildError(o, err))
	}
}

// notification resolves a [Notification_] section and builds its notifier.
func (r *resolution) notification(s *config.Section) {
	o := r.typed(KindNotifier, s)
	if o == nil {
		return
	}
	defer o.dropPositions() // only the constructor's errors are placed on lines
	n, err := o.desc.NewNotifier(o)
	if err != nil {
		r.probs.Add(buildError(o, err))
		return
	}
	name := strings.TrimPrefix(s.Name, "Notification_")
	r.plan.Notifications[name] = &NotificationSpec{Name: name, Desc: o.desc, Opts: o, Notifier: n}
}

// typed resolves a Check_ or Notification_ section through its type=; nil
// when the section cannot be used.
func (r *resolution) typed(kind Kind, s *config.Section) *Options {
	tk, ok := s.Key("type")
	if !ok || strings.TrimSpace(tk.Value) == "" {
		r.probs.Addf(s.Pos, s.Name, "type", "missing; one of: %s", strings.Join(r.reg.Names(kind), ", "))
		return nil
	}
	tn := strings.ToLower(strings.TrimSpace(tk.Value))
	d, ok := r.reg.Lookup(kind, tn)
	if !ok {
		r.probs.Addf(tk.Pos, s.Name, "type", "unknown %s type %q%s; known: %s", kind, tk.Value, suggest(tn, r.reg.Names(kind)), strings.Join(r.reg.Names(kind), ", "))
		return nil
	}
	defs := defaultSection(r.cfg)
	for _, n := range append([]string{d.Name}, d.Aliases...) {
		if ds, ok := r.defaults[n]; ok {
			defs = append(defs, ds)
		}
	}
	o, valid := resolveOptions(&r.probs, d.declared(), s, defs, map[string]bool{"type": true})
	if !valid {
		return nil
	}
	return o
}

// tests resolves the Test_ sections, in configuration order.
func (r *resolution) tests(secs []*config.Section) {
	o := &Options{} // one for every test: nothing keeps a test's options
	for _, s := range secs {
		valid := resolveInto(o, &r.probs, testSchema.declared(), s, defaultSection(r.cfg), nil)
		t := &TestSpec{Name: strings.TrimPrefix(s.Name, "Test_"), Pos: s.Pos}
		if valid {
			t.Interval = o.Duration("interval")
			t.RequireAll = o.String("requires") == "all"
			t.Recovery = o.Bool("recovery")
			t.Renotify = o.Duration("renotify")
			t.RecoverAfter = o.Int("recover_after")
			t.Flap = r.flapPolicy(o)
			t.SLA, _ = o.Value("sla").(float64)
		}
		if t.Name == "" {
			r.probs.Addf(s.Pos, s.Name, "", "test has no name")
		}
		r.testChecks(t, o)
		r.testNotify(t, o)
		if deps, ok := o.Value("depends").([]string); ok {
			for _, d := range deps {
				t.Depends = append(t.Depends, strings.TrimPrefix(d, "Test_"))
			}
			if r.dependsPos == nil {
				r.dependsPos = map[*TestSpec]config.Pos{}
			}
			r.dependsPos[t] = o.Pos("depends")
		}
		r.plan.Tests = append(r.plan.Tests, t)
		r.done(s)
	}
}

// testChecks resolves a test's checks= and gives the test its instances.
func (r *resolution) testChecks(t *TestSpec, o *Options) {
	names, ok := o.Value("checks").([]string)
	if ok && len(names) == 0 {
		r.probs.Addf(o.Pos("checks"), o.Section, "checks", "the test has no checks")
	}
	for _, cn := range names {
		cn = strings.TrimPrefix(cn, "Check_")
		c, ok := r.plan.Checks[cn]
		if !ok {
			if _, exists := r.cfg.Section("Check_" + cn); !exists {
				r.probs.Addf(o.PosOf("checks", cn), o.Section, "checks", "no check named %q (no section [Check_%s])%s", cn, cn, checkHint(cn, r.plan.Checks))
			}
			continue
		}
		t.Checks = append(t.Checks, c)
		t.Instances = append(t.Instances, r.instance(c))
		r.usedChecks[cn] = true
	}
}

// checkHint is how an error about cn, a name in checks= that no check
// has, goes on: names separated by commas ("web,web2") get told to use
// spaces, as notify's blocks do; others get the closest name, if any.
func checkHint(cn string, checks map[string]*CheckSpec) string {
	if strings.Contains(cn, ",") {
		parts := strings.FieldsFunc(cn, func(r rune) bool { return r == ',' })
		return fmt.Sprintf("; separate check names with spaces: checks = %s", strings.Join(parts, " "))
	}
	return suggest(cn, slices.Sorted(maps.Keys(checks)))
}

// instance returns the check's instance for one more test: the one built
// with the section for its first use, a new one for every further use.
func (r *resolution) instance(c *CheckSpec) Check {
	if c.Check == nil || !r.usedChecks[c.Name] {
		return c.Check
	}
	chk, err := c.New()
	if err != nil {
		r.probs.Add(&config.Error{Pos: c.Opts.SecPos, Section: c.Opts.Section, Err: err})
	}
	return chk
}

// testNotify resolves a test's notify=.
func (r *resolution) testNotify(t *TestSpec, o *Options) {
	lv, ok := o.Value("notify").([]Level)
	if !ok {
		return
	}
	t.Notify = lv
	for _, l := range lv {
		for _, nn := range l.Names {
			if n, ok := r.plan.Notifications[nn]; ok {
				r.usedNotifs[nn] = true
				if n.Desc.EveryRun && !contains(t.EveryRun, nn) {
					t.EveryRun = append(t.EveryRun, nn)
				}
				continue
			}
			if _, exists := r.cfg.Section("Notification_" + nn); !exists {
				r.probs.Addf(o.PosOf("notify", nn), o.Section, "notify", "no notification named %q (no section [Notification_%s])%s", nn, nn, suggest(nn, slices.Sorted(maps.Keys(r.plan.Notifications))))
			}
		}
	}
}

// maintenance resolves the [Maintenance_] sections against the tests.
func (r *resolution) maintenance() {
	for _, s := range r.maintSecs {
		if m := resolveMaintenance(&r.probs, s, r.plan.Tests); m != nil {
			r.plan.Maintenance = append(r.plan.Maintenance, m)
		}
	}
}

// unused warns about checks and notifications no test uses.
func (r *resolution) unused() {
	for name, c := range r.plan.Checks {
		if !r.usedChecks[name] {
			r.probs.Warnf(c.Opts.SecPos, c.Opts.Section, "", "check is not used by any test")
		}
	}
	for name, n := range r.plan.Notifications {
		if !r.usedNotifs[name] {
			r.probs.Warnf(n.Opts.SecPos, n.Opts.Section, "", "notification is not used by any test")
		}
	}
}

func isPrefixed(name string) bool {
	return strings.HasPrefix(name, "Check_") || strings.HasPrefix(name, "Test_") || strings.HasPrefix(name, "Notification_") || strings.HasPrefix(name, "Maintenance_")
}

// resolveOptions resolves s against decl: built-in defaults, then the
// sections defs in order ([DEFAULT], then [TYPE_default]), then s; keys in
// skip are not options. It records problems and reports whether every
// option resolved; the options that failed have a nil Parsed.
func resolveOptions(probs *config.Problems, decl *declared, s *config.Section, defs []*config.Section, skip map[string]bool) (*Options, bool) {
	o := &Options{vals: make([]Value, len(decl.opts)), keys: make([]*config.Key, len(decl.opts))}
	return o, resolveInto(o, probs, decl, s, defs, skip)
}

// resolveInto is resolveOptions into o, whose vals and keys it reuses.
func resolveInto(o *Options, probs *config.Problems, decl *declared, s *config.Section, defs []*config.Section, skip map[string]bool) bool {
	*o = Options{Section: s.Name, SecPos: s.Pos, desc: decl.desc, decl: decl,
		vals: reuse(o.vals, len(decl.opts)), keys: reuse(o.keys, len(decl.opts))}
	valid := true
	for i := range decl.opts {
		v, key, errs := resolveKey(decl, i, s, defs)
		if len(errs) > 0 {
			probs.List = append(probs.List, errs...)
			valid = false
			continue
		}
		o.vals[i], o.keys[i] = v, key
	}
	if errs := o.readSecretFiles(); len(errs) > 0 {
		probs.List = append(probs.List, errs...)
		valid = false
	}
	o.prepareRedaction()
	for _, k := range s.Keys() {
		if _, ok := decl.idx[k.Name]; !ok && !skip[k.Name] {
			probs.Add(unknownKey(k, s.Name, decl.unknown, decl.names()))
		}
	}
	return valid
}

// reuse returns s cleared and resized to n, reusing its array when it can.
func reuse[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	s = s[:n]
	clear(s)
	return s
}

// resolveKey resolves one option: its default, then the last default
// section that sets it, then s. A bad value that continues over several
// lines is reported at the lines that are bad on their own.
func resolveKey(decl *declared, i int, s *config.Section, defs []*config.Section) (Value, *config.Key, []*config.Error) {
	opt := decl.opts[i]
	var key *config.Key
	sec := s.Name
	for _, ds := range defs {
		if k, ok := ds.Key(opt.Name); ok {
			key, sec = k, ds.Name
		}
	}
	if k, ok := s.Key(opt.Name); ok {
		key, sec = k, s.Name
	}
	if key == nil && opt.Required && !twinSet(opt, s, defs) {
		return Value{}, nil, []*config.Error{config.Errorf(s.Pos, s.Name, opt.Name, "required option missing")}
	}
	if key == nil {
		v, err := decl.defaultValue(i)
		if err != nil {
			return v, nil, []*config.Error{{Pos: v.Pos, Section: s.Name, Key: opt.Name, Err: err}}
		}
		return v, nil, nil
	}
	raw := key.Value
	if opt.Quoted {
		raw = key.Raw
	}
	// A copy, so that the plan does not hold the configuration files'
	// text once it is resolved.
	v, err := resolveValue(opt, strings.Clone(raw), true)
	v.Pos = key.Pos
	if err == nil {
		return v, key, nil
	}
	var errs []*config.Error
	if len(key.More) > 0 {
		for _, l := range key.Lines() {
			if _, lerr := resolveValue(opt, l.Text, true); lerr != nil {
				errs = append(errs, &config.Error{Pos: l.Pos, Section: sec, Key: opt.Name, Err: lerr})
			}
		}
	}
	if len(errs) == 0 {
		errs = []*config.Error{{Pos: v.Pos, Section: sec, Key: opt.Name, Err: err}}
	}
	return v, key, errs
}

// buildError places an error of a type's constructor. Constructors name
// the option at fault first ("hosts: …", the convention of every type);
// such an error is reported at that option's line (the continuation line
// holding the quoted text the error names, if any), others at the section.
func buildError(o *Options, err error) *config.Error {
	err = RedactError(o, err) // a constructor may quote what it was given
	e := &config.Error{Pos: o.SecPos, Section: o.Section, Err: err}
	name, rest, ok := strings.Cut(err.Error(), ": ")
	if !ok || o.decl.idx == nil {
		return e
	}
	k := o.key(name)
	if k == nil {
		return e
	}
	e.Pos = k.Pos
	for j := strings.IndexByte(rest, '"'); j >= 0; j = strings.IndexByte(rest, '"') {
		q, qerr := strconv.QuotedPrefix(rest[j:])
		if qerr != nil {
			break
		}
		if text, _ := strconv.Unquote(q); text != "" {
			if p := k.LineOf(text); p != k.Pos {
				e.Pos = p
				break
			}
		}
		rest = rest[j+len(q):]
	}
	return e
}

// suggest returns ` (did you mean "x"?)` for the closest candidate within
// a small edit distance, or "".
func suggest(word string, candidates []string) string {
	best, bestD := "", 3
	for _, c := range candidates {
		if d := editDistance(word, c); d < bestD {
			best, bestD = c, d
		}
	}
	if best == "" || best == word {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

func editDistance(a, b string) int {
	if a == b {
		return 0
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
