package runtime

import (
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/monsta/monsta/config"
)

// Main is the resolved [main] section.
type Main struct {
	Daemonize           bool
	User, Group         string
	PidFile             string
	LogFile             string
	LogFormat           string // text or json
	LogLevel            string // debug, info, warn, error
	StateDir            string
	MaxConcurrentChecks int
	LuaExec             bool
	Hostname            string      // used in messages; default os.Hostname()
	Retry               RetryPolicy // how failed notifications are retried
}

// mainOptions declares the keys of [main]; they are resolved like a type's.
var mainDescriptor = Descriptor{Kind: KindNotifier, Name: "main", Description: "the [main] section",
	Options: []Option{
		{Name: "daemonize", Default: "0", Parse: Bool, Help: "Detach from the terminal and write a pid file (1 or 0)."},
		{Name: "user", Default: "nobody", Help: "User to run as after start-up when started as root."},
		{Name: "group", Default: "nogroup", Help: "Group to run as after start-up when started as root."},
		{Name: "pidfile", Default: "/run/monsta.pid", Help: "Pid file written when daemonized."},
		{Name: "logfile", Help: "File to log to; empty logs to stderr (to /var/log/monsta.log when daemonized)."},
		{Name: "log_format", Default: "text", Parse: OneOf("text", "json"), Help: "Log format: text or json."},
		{Name: "log_level", Default: "info", Parse: OneOf("debug", "info", "warn", "error"), Help: "Lowest level logged."},
		{Name: "statedir", Default: "/var/lib/monsta", Help: "Directory for failure counts and the notification outbox."},
		{Name: "max_concurrent_checks", Default: "1000", Parse: positiveInt, Help: "Most checks running at once."},
		{Name: "lua_exec", Default: "no", Parse: Bool, Help: "Allow Lua code to run commands with monsta.exec."},
		{Name: "hostname", Help: "Host name shown in messages; empty: the system's."},
		{Name: "notify_retry_initial", Default: "5", Parse: AtLeastSeconds(MinInterval), Help: "Seconds (at least 1) before the first retry of a failed notification; later waits double."},
		{Name: "notify_retry_max", Default: "300", Parse: AtLeastSeconds(MinInterval), Help: "Longest wait in seconds (at least 1) between two retries of a notification."},
		{Name: "notify_retry_for", Default: "86400", Parse: AtLeastSeconds(MinInterval), Help: "Seconds (at least 1) after which a notification that still fails is given up and set aside."},
	},
	NewNotifier: func(*Options) (Notifier, error) { return nil, nil },
}

func init() {
	if err := mainDescriptor.validate(); err != nil {
		panic(err)
	}
}

func positiveInt(s string) (any, error) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 1 {
		return nil, fmt.Errorf("%q is not a whole number of at least 1", s)
	}
	return n, nil
}

// ResolveMain resolves the [main] section. Relative paths are taken
// relative to the directory of the main configuration file.
func ResolveMain(cfg *config.Config) (Main, []*config.Error, error) {
	var probs config.Problems
	sec, ok := cfg.Section("main")
	if !ok {
		sec = &config.Section{Name: "main"}
	}
	o := resolveSection(&probs, &mainDescriptor, sec, nil, nil)
	if err := probs.Err(); err != nil {
		return Main{}, probs.Warnings(), err
	}
	base := ""
	if len(cfg.Files) > 0 {
		base = filepath.Dir(cfg.Files[0])
	}
	abs := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(base, p)
	}
	return Main{
		Daemonize:           o.Bool("daemonize"),
		User:                o.String("user"),
		Group:               o.String("group"),
		PidFile:             abs(o.String("pidfile")),
		LogFile:             abs(o.String("logfile")),
		LogFormat:           o.String("log_format"),
		LogLevel:            o.String("log_level"),
		StateDir:            abs(o.String("statedir")),
		MaxConcurrentChecks: o.Int("max_concurrent_checks"),
		LuaExec:             o.Bool("lua_exec"),
		Hostname:            o.String("hostname"),
		Retry: RetryPolicy{
			First:  o.Duration("notify_retry_initial"),
			Max:    o.Duration("notify_retry_max"),
			MaxAge: o.Duration("notify_retry_for"),
		},
	}, probs.Warnings(), nil
}

// CheckSpec is one resolved [Check_NAME] section.
type CheckSpec struct {
	Name string // without the Check_ prefix
	Desc *Descriptor
	Opts *Options
}

// New builds a fresh instance of the check.
func (c *CheckSpec) New() (Check, error) { return c.Desc.NewCheck(c.Opts) }

// NotificationSpec is one resolved [Notification_NAME] section.
type NotificationSpec struct {
	Name     string // without the Notification_ prefix
	Desc     *Descriptor
	Opts     *Options
	Notifier Notifier
}

// Level is one block of a test's notify option: at this failure count
// notify these notifications.
type Level struct {
	Level int
	Names []string
}

// TestSpec is one resolved [Test_NAME] section.
type TestSpec struct {
	Name       string // without the Test_ prefix
	Pos        config.Pos
	Checks     []*CheckSpec
	Interval   time.Duration
	RequireAll bool
	Notify     []Level
	Recovery   bool
	Renotify   time.Duration // 0: off
}

// Plan is a fully resolved, valid configuration.
type Plan struct {
	Main          Main
	Checks        map[string]*CheckSpec
	Notifications map[string]*NotificationSpec
	Tests         []*TestSpec // in configuration order
	Warnings      []*config.Error
}

var testDescriptor = Descriptor{Kind: KindNotifier, Name: "test", Description: "a [Test_*] section",
	Options: []Option{
		{Name: "checks", Required: true, Parse: Words, Help: "Space-separated check names, without the Check_ prefix."},
		{Name: "interval", Default: "300", Parse: AtLeastSeconds(MinInterval), Help: "Seconds (at least 1) from the start of one run to the start of the next."},
		{Name: "requires", Default: "all", Parse: OneOf("all", "any"), Help: "all: every check must pass; any: one passing check suffices."},
		{Name: "notify", Parse: parseNotify, Help: "Escalation: blocks N:name1,name2 separated by spaces; level 0 fires on every run."},
		{Name: "recovery", Default: "yes", Parse: Bool, Help: "Send a recovery message to everyone notified during a failure streak."},
		{Name: "renotify", Default: "0", Parse: Seconds, Help: "While failing, repeat the highest level reached every this many seconds (0: off)."},
		{Name: "description", Help: "Free text shown in messages."},
	},
	NewNotifier: func(*Options) (Notifier, error) { return nil, nil },
}

func init() {
	if err := testDescriptor.validate(); err != nil {
		panic(err)
	}
}

func parseNotify(s string) (any, error) {
	var levels []Level
	seen := map[int]int{}
	for _, blk := range strings.Fields(s) {
		lv, names, ok := strings.Cut(blk, ":")
		if !ok {
			return nil, fmt.Errorf("%q: expected LEVEL:name[,name…]", blk)
		}
		n, err := strconv.Atoi(lv)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("%q: level %q is not a whole number", blk, lv)
		}
		var list []string
		for _, nm := range strings.Split(names, ",") {
			if nm = strings.TrimSpace(nm); nm != "" {
				list = append(list, strings.TrimPrefix(nm, "Notification_"))
			}
		}
		if len(list) == 0 {
			return nil, fmt.Errorf("%q: no notification named", blk)
		}
		if i, dup := seen[n]; dup {
			levels[i].Names = append(levels[i].Names, list...)
			continue
		}
		seen[n] = len(levels)
		levels = append(levels, Level{Level: n, Names: list})
	}
	sort.Slice(levels, func(i, j int) bool { return levels[i].Level < levels[j].Level })
	return levels, nil
}

// Resolve turns a loaded configuration into a Plan, building every check
// and notifier through reg. Every problem is reported at once, sorted by
// position; warnings (unknown options, unused sections) are in
// Plan.Warnings, or returned alongside the error.
func Resolve(cfg *config.Config, reg *Registry) (*Plan, []*config.Error, error) {
	var probs config.Problems
	for _, w := range cfg.Warnings {
		probs.Add(w)
	}
	main, mainWarnings, err := ResolveMain(cfg)
	for _, w := range mainWarnings {
		probs.Add(w)
	}
	if err != nil {
		addJoined(&probs, err)
	}
	p := &Plan{Main: main, Checks: map[string]*CheckSpec{}, Notifications: map[string]*NotificationSpec{}}

	// [TYPE_default] sections, keyed by type name.
	defaults := map[string]*config.Section{}
	for _, s := range cfg.Sections() {
		if tn, ok := strings.CutSuffix(s.Name, "_default"); ok && !isPrefixed(s.Name) {
			_, c := reg.Lookup(KindCheck, tn)
			_, n := reg.Lookup(KindNotifier, tn)
			if !c && !n {
				probs.Warnf(s.Pos, s.Name, "", "no check or notification type named %q%s", tn, suggest(tn, append(reg.Names(KindCheck), reg.Names(KindNotifier)...)))
			}
			defaults[tn] = s
		}
	}
	// Which default-section keys some type of that name knows.
	for tn, s := range defaults {
		for _, k := range s.Keys() {
			known := false
			for _, kind := range []Kind{KindCheck, KindNotifier} {
				if d, ok := reg.Lookup(kind, tn); ok {
					if _, ok := d.Option(k.Name); ok {
						known = true
					}
				}
			}
			if !known {
				probs.Warnf(k.Pos, s.Name, k.Name, "unknown option for type %s, ignored", tn)
			}
		}
	}

	var testSecs []*config.Section
	for _, s := range cfg.Sections() {
		switch {
		case s.Name == "main":
		case strings.HasPrefix(s.Name, "Check_"):
			if c := resolveTyped(&probs, reg, KindCheck, s, defaults); c != nil {
				p.Checks[strings.TrimPrefix(s.Name, "Check_")] = &CheckSpec{Name: strings.TrimPrefix(s.Name, "Check_"), Desc: c.desc, Opts: c}
			}
		case strings.HasPrefix(s.Name, "Notification_"):
			if o := resolveTyped(&probs, reg, KindNotifier, s, defaults); o != nil {
				n, err := o.desc.NewNotifier(o)
				if err != nil {
					probs.Add(&config.Error{Pos: s.Pos, Section: s.Name, Err: err})
					continue
				}
				name := strings.TrimPrefix(s.Name, "Notification_")
				p.Notifications[name] = &NotificationSpec{Name: name, Desc: o.desc, Opts: o, Notifier: n}
			}
		case strings.HasPrefix(s.Name, "Test_"):
			testSecs = append(testSecs, s)
		case strings.HasSuffix(s.Name, "_default"):
		default:
			probs.Warnf(s.Pos, s.Name, "", "unknown section, ignored (expected main, Check_*, Test_*, Notification_* or TYPE_default)")
		}
	}
	// Checks are built once here so that constructor errors surface at load.
	for _, c := range p.Checks {
		if _, err := c.New(); err != nil {
			probs.Add(&config.Error{Pos: c.Opts.SecPos, Section: c.Opts.Section, Err: err})
		}
	}

	usedChecks := map[string]bool{}
	usedNotifs := map[string]bool{}
	for _, s := range testSecs {
		o, valid := resolvePartial(&probs, &testDescriptor, s, nil, nil)
		t := &TestSpec{Name: strings.TrimPrefix(s.Name, "Test_"), Pos: s.Pos}
		if valid {
			t.Interval = o.Duration("interval")
			t.RequireAll = o.String("requires") == "all"
			t.Recovery = o.Bool("recovery")
			t.Renotify = o.Duration("renotify")
		}
		if t.Name == "" {
			probs.Addf(s.Pos, s.Name, "", "test has no name")
		}
		names, hasChecks := o.Value("checks").([]string)
		if hasChecks && len(names) == 0 {
			probs.Addf(o.Pos("checks"), s.Name, "checks", "the test has no checks")
		}
		for _, cn := range names {
			cn = strings.TrimPrefix(cn, "Check_")
			c, ok := p.Checks[cn]
			if !ok {
				if _, exists := cfg.Section("Check_" + cn); !exists {
					probs.Addf(o.Pos("checks"), s.Name, "checks", "no check named %q (no section [Check_%s])%s", cn, cn, suggest(cn, slices.Sorted(maps.Keys(p.Checks))))
				}
				continue
			}
			usedChecks[cn] = true
			t.Checks = append(t.Checks, c)
		}
		if lv, ok := o.Value("notify").([]Level); ok {
			t.Notify = lv
			for _, l := range lv {
				for _, nn := range l.Names {
					if _, ok := p.Notifications[nn]; !ok {
						if _, exists := cfg.Section("Notification_" + nn); !exists {
							probs.Addf(o.Pos("notify"), s.Name, "notify", "no notification named %q (no section [Notification_%s])%s", nn, nn, suggest(nn, slices.Sorted(maps.Keys(p.Notifications))))
						}
						continue
					}
					usedNotifs[nn] = true
				}
			}
		}
		p.Tests = append(p.Tests, t)
	}
	for name, c := range p.Checks {
		if !usedChecks[name] {
			probs.Warnf(c.Opts.SecPos, c.Opts.Section, "", "check is not used by any test")
		}
	}
	for name, n := range p.Notifications {
		if !usedNotifs[name] {
			probs.Warnf(n.Opts.SecPos, n.Opts.Section, "", "notification is not used by any test")
		}
	}
	p.Warnings = probs.Warnings()
	if err := probs.Err(); err != nil {
		return nil, p.Warnings, err
	}
	return p, p.Warnings, nil
}

func isPrefixed(name string) bool {
	return strings.HasPrefix(name, "Check_") || strings.HasPrefix(name, "Test_") || strings.HasPrefix(name, "Notification_")
}

func addJoined(probs *config.Problems, err error) {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			addJoined(probs, e)
		}
		return
	}
	if ce, ok := err.(*config.Error); ok {
		probs.Add(ce)
		return
	}
	probs.Add(&config.Error{Err: err})
}

// resolveTyped resolves a Check_ or Notification_ section through its type=.
func resolveTyped(probs *config.Problems, reg *Registry, kind Kind, s *config.Section, defaults map[string]*config.Section) *Options {
	tk, ok := s.Key("type")
	if !ok || strings.TrimSpace(tk.Value) == "" {
		probs.Addf(s.Pos, s.Name, "type", "missing; one of: %s", strings.Join(reg.Names(kind), ", "))
		return nil
	}
	tn := strings.ToLower(strings.TrimSpace(tk.Value))
	d, ok := reg.Lookup(kind, tn)
	if !ok {
		probs.Addf(tk.Pos, s.Name, "type", "unknown %s type %q%s; known: %s", kind, tk.Value, suggest(tn, reg.Names(kind)), strings.Join(reg.Names(kind), ", "))
		return nil
	}
	var defs []*config.Section
	for _, n := range append([]string{d.Name}, d.Aliases...) {
		if ds, ok := defaults[n]; ok {
			defs = append(defs, ds)
		}
	}
	return resolveSection(probs, d, s, defs, map[string]bool{"type": true})
}

// resolveSection resolves s against d: built-in defaults, then the
// [TYPE_default] sections, then s. It records problems and returns nil when
// the section cannot be used.
func resolveSection(probs *config.Problems, d *Descriptor, s *config.Section, defs []*config.Section, skip map[string]bool) *Options {
	o, ok := resolvePartial(probs, d, s, defs, skip)
	if !ok {
		return nil
	}
	return o
}

// resolvePartial is resolveSection that also returns the options of a bad
// section; the values that failed have a nil Parsed.
func resolvePartial(probs *config.Problems, d *Descriptor, s *config.Section, defs []*config.Section, skip map[string]bool) (*Options, bool) {
	o := &Options{Section: s.Name, SecPos: s.Pos, desc: d, vals: make([]Value, len(d.Options))}
	bad := false
	for i, opt := range d.Options {
		raw, set := opt.Default, false
		var pos config.Pos
		for _, ds := range defs {
			if k, ok := ds.Key(opt.Name); ok {
				raw, set, pos = k.Value, true, k.Pos
			}
		}
		fromSection := false
		if k, ok := s.Key(opt.Name); ok {
			raw, set, pos, fromSection = k.Value, true, k.Pos, true
		}
		if !set && opt.Required {
			probs.Addf(s.Pos, s.Name, opt.Name, "required option missing")
			bad = true
			continue
		}
		v, err := resolveValue(opt, raw, set)
		v.Pos = pos
		if err != nil {
			sec := s.Name
			if !fromSection && len(defs) > 0 {
				sec = defs[len(defs)-1].Name
			}
			probs.Add(&config.Error{Pos: pos, Section: sec, Key: opt.Name, Err: err})
			bad = true
			continue
		}
		o.vals[i] = v
	}
	known := make([]string, 0, len(d.Options))
	for _, opt := range d.Options {
		known = append(known, opt.Name)
	}
	for _, k := range s.Keys() {
		if skip[k.Name] {
			continue
		}
		if _, ok := d.Option(k.Name); !ok {
			what := "unknown option for " + d.Kind.String() + " type " + d.Name
			if d == &mainDescriptor {
				what = "unknown option in [main]"
			} else if d == &testDescriptor {
				what = "unknown option for a test"
			}
			probs.Warnf(k.Pos, s.Name, k.Name, "%s, ignored%s", what, suggest(k.Name, known))
		}
	}
	return o, !bad
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
