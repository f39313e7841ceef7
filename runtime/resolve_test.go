package runtime

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/monsta/monsta/config"
)

// consumedSame resolves the configuration of dir again with
// Resolver.Consume, and wants the same warnings and errors, and every
// Check_ and Test_ section released.
func consumedSame(t *testing.T, dir string, reg *Registry, w []*config.Error, err error) {
	t.Helper()
	cfg, lerr := config.Load(filepath.Join(dir, "monsta.conf"), filepath.Join(dir, "conf.d"))
	if lerr != nil {
		t.Fatal(lerr)
	}
	r := NewResolver(cfg)
	r.Consume = true
	_, w2, err2 := r.Resolve(reg)
	if fmt.Sprint(err) != fmt.Sprint(err2) || fmt.Sprint(w) != fmt.Sprint(w2) {
		t.Errorf("consuming the configuration changed the outcome:\n%v\n%v\nagainst\n%v\n%v", err2, w2, err, w)
	}
	for _, s := range cfg.Sections() {
		if (strings.HasPrefix(s.Name, "Check_") || strings.HasPrefix(s.Name, "Test_")) && len(s.Keys()) > 0 {
			t.Errorf("[%s] still has %d keys after a consuming Resolve", s.Name, len(s.Keys()))
		}
	}
}

func resolveText(t *testing.T, files map[string]string) (*Plan, []*config.Error, error) {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "conf.d"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := config.Load(filepath.Join(dir, "monsta.conf"), filepath.Join(dir, "conf.d"))
	if err != nil {
		return nil, nil, err
	}
	reg := testRegistry(t, nil, nil)
	p, w, err := NewResolver(cfg).Resolve(reg)
	consumedSame(t, dir, reg, w, err)
	// make paths short for comparisons
	strip := func(s string) string { return strings.ReplaceAll(s, dir+"/", "") }
	if err != nil {
		err = &stripped{strip(err.Error())}
	}
	for _, x := range w {
		x.Pos.File = strip(x.Pos.File)
	}
	return p, w, err
}

type stripped struct{ s string }

func (s *stripped) Error() string { return s.s }

const okBase = `
[Check_a]
type=fake
host=x
[Notification_bob]
type=rec
recipient=bob
[Test_t]
checks=a
notify=1:bob
`

func TestResolveErrors(t *testing.T) {
	tests := []struct {
		name string
		conf string
		want []string // every line of the joined error, in order
	}{
		{"unknown type", "[Check_a]\ntype=nope\nhost=x\n",
			[]string{`monsta.conf:2: [Check_a] type: unknown check type "nope"; known: fake`}},
		{"type close to a known one", "[Check_a]\ntype=fak\nhost=x\n",
			[]string{`monsta.conf:2: [Check_a] type: unknown check type "fak" (did you mean "fake"?); known: fake`}},
		{"missing type", "[Check_a]\nhost=x\n",
			[]string{`monsta.conf:1: [Check_a] type: missing; one of: fake`}},
		{"missing required option", "[Check_a]\ntype=fake\n",
			[]string{`monsta.conf:1: [Check_a] host: required option missing`}},
		{"bad port", "[Check_a]\ntype=fake\nhost=x\nport=80x\n",
			[]string{`monsta.conf:4: [Check_a] port: "80x" is not a port number`}},
		{"test naming a missing check", okBase + "[Test_u]\nchecks=a b\n",
			[]string{`monsta.conf:12: [Test_u] checks: no check named "b" (no section [Check_b]) (did you mean "a"?)`}},
		{"test naming a missing notification", okBase + "[Test_u]\nchecks=a\nnotify=2:bobby\n",
			[]string{`monsta.conf:13: [Test_u] notify: no notification named "bobby" (no section [Notification_bobby]) (did you mean "bob"?)`}},
		{"bad notify syntax", okBase + "[Test_u]\nchecks=a\nnotify=bob\n",
			[]string{`monsta.conf:13: [Test_u] notify: "bob": expected LEVEL:name[,name…]`}},
		{"bad notify level", okBase + "[Test_u]\nchecks=a\nnotify=x:bob\n",
			[]string{`monsta.conf:13: [Test_u] notify: "x:bob": level "x" is not a whole number`}},
		{"non-numeric interval", okBase + "[Test_u]\nchecks=a\ninterval=5 minutes\n",
			[]string{`monsta.conf:13: [Test_u] interval: "5 minutes" is not a duration (seconds, or such as 90s, 5m, 2h, 1d)`}},
		{"interval in units below 1 s", okBase + "[Test_u]\nchecks=a\ninterval=500ms\n",
			[]string{`monsta.conf:13: [Test_u] interval: "500ms": must be at least 1 second`}},
		{"bad requires", okBase + "[Test_u]\nchecks=a\nrequires=most\n",
			[]string{`monsta.conf:13: [Test_u] requires: "most" is not one of all, any`}},
		{"test without checks key", okBase + "[Test_u]\ninterval=10\n",
			[]string{`monsta.conf:11: [Test_u] checks: required option missing`}},
		{"test with empty checks", okBase + "[Test_u]\nchecks=\n",
			[]string{`monsta.conf:12: [Test_u] checks: the test has no checks`}},
		{"bad main value", "[main]\ndaemonize=maybe\n" + okBase,
			[]string{`monsta.conf:2: [main] daemonize: "maybe" is not yes or no`}},
		// issue 17: nonsense timings flooded the log; each is a file:line error.
		{"interval below 1 s", okBase + "[Test_u]\nchecks=a\ninterval=0.000000001\n",
			[]string{`monsta.conf:13: [Test_u] interval: "0.000000001": must be at least 1 second`}},
		{"interval 0", okBase + "[Test_u]\nchecks=a\ninterval=0\n",
			[]string{`monsta.conf:13: [Test_u] interval: "0": must be at least 1 second`}},
		{"notify_retry_initial below 1 s", "[main]\nnotify_retry_initial=0.000000001\nnotify_retry_max=0.5\nnotify_retry_for=0\n" + okBase,
			[]string{
				`monsta.conf:2: [main] notify_retry_initial: "0.000000001": must be at least 1 second`,
				`monsta.conf:3: [main] notify_retry_max: "0.5": must be at least 1 second`,
				`monsta.conf:4: [main] notify_retry_for: "0": must be at least 1 second`,
			}},
		{"history keys", "[main]\nhistory=sometimes\nhistory_retention=12h\nhistory_recent=0\nhistory_maintenance=ignore\nhistory_timezone=Mars/Olympus\n" + okBase + "sla=0\n",
			[]string{
				`monsta.conf:2: [main] history: "sometimes" is not yes or no`,
				`monsta.conf:3: [main] history_retention: "12h": must be at least 1d`,
				`monsta.conf:4: [main] history_recent: "0" is not a whole number of at least 1`,
				`monsta.conf:5: [main] history_maintenance: "ignore" is not one of exclude, up, down`,
				`monsta.conf:6: [main] history_timezone: unknown time zone "Mars/Olympus"`,
				`monsta.conf:17: [Test_t] sla: "0": an SLA target must be above 0%`,
			}},
		{"sla above 100", okBase + "sla=100.1\n",
			[]string{`monsta.conf:11: [Test_t] sla: "100.1" is not a percentage from 0 to 100`}},
		{"timeout 0", "[Check_a]\ntype=fake\nhost=x\ntimeout=0\n",
			[]string{`monsta.conf:4: [Check_a] timeout: "0": must be more than 0 seconds`}},
		{"timeout 0 from a default section", "[fake_default]\ntimeout=0\n[Check_a]\ntype=fake\nhost=x\n",
			[]string{`monsta.conf:2: [fake_default] timeout: "0": must be more than 0 seconds`}},
		// issue 17: a space inside a notify block is pointed at.
		{"space after a comma in notify", okBase + "[Test_u]\nchecks=a\nnotify=1:bob, bob\n",
			[]string{`monsta.conf:13: [Test_u] notify: "1:bob, bob": space after ","; write the names of one level without spaces: 1:bob,bob`}},
		{"space after a colon in notify", okBase + "[Test_u]\nchecks=a\nnotify=1: bob\n",
			[]string{`monsta.conf:13: [Test_u] notify: "1: bob": space after ":"; write the names of one level without spaces: 1:bob`}},
		{"space before a comma in notify", okBase + "[Test_u]\nchecks=a\nnotify=1:bob ,bob\n",
			[]string{`monsta.conf:13: [Test_u] notify: "1:bob ,bob": space before ","; write the names of one level without spaces: 1:bob,bob`}},
		// issue 24, item 7: checks separated by commas, a notification named twice.
		{"checks separated by commas", okBase + "[Test_u]\nchecks=a,b\n",
			[]string{`monsta.conf:12: [Test_u] checks: no check named "a,b" (no section [Check_a,b]); separate check names with spaces: checks = a b`}},
		{"notification twice at a level", okBase + "[Test_u]\nchecks=a\nnotify=1:bob 2:bob 1:bob\n",
			[]string{`monsta.conf:13: [Test_u] notify: "1:bob": notification bob is named twice at level 1`}},
		{"notification twice in a block", okBase + "[Test_u]\nchecks=a\nnotify=2:bob,bob\n",
			[]string{`monsta.conf:13: [Test_u] notify: "2:bob,bob": notification bob is named twice at level 2`}},
		// issue 17: a continuation line reports its own line, one problem each.
		{"bad continuation line", okBase + "[Test_u]\nchecks=a\nnotify=1:bob\n  x:bob\n  2:bob\n",
			[]string{`monsta.conf:14: [Test_u] notify: "x:bob": level "x" is not a whole number`}},
		{"two bad continuation lines", okBase + "[Test_u]\nchecks=a\nnotify=\n  x:bob\n  2:bob\n  y:bob\n",
			[]string{
				`monsta.conf:14: [Test_u] notify: "x:bob": level "x" is not a whole number`,
				`monsta.conf:16: [Test_u] notify: "y:bob": level "y" is not a whole number`,
			}},
		{"missing check on a continuation line", okBase + "[Test_u]\nchecks=a\n  nope\n",
			[]string{`monsta.conf:13: [Test_u] checks: no check named "nope" (no section [Check_nope])`}},
		{"missing notification on a continuation line", okBase + "[Test_u]\nchecks=a\nnotify=1:bob\n 2:bobby\n",
			[]string{`monsta.conf:14: [Test_u] notify: no notification named "bobby" (no section [Notification_bobby]) (did you mean "bob"?)`}},
		// issue 17: section names in the wrong case.
		{"check section in lower case", okBase + "[check_b]\ntype=fake\nhost=x\n",
			[]string{`monsta.conf:11: [check_b] unknown section: section names are case-sensitive; did you mean [Check_b]?`}},
		{"test section in lower case", okBase + "[test_b]\nchecks=a\n",
			[]string{`monsta.conf:11: [test_b] unknown section: section names are case-sensitive; did you mean [Test_b]?`}},
		{"notification section in upper case", okBase + "[NOTIFICATION_b]\ntype=rec\n",
			[]string{`monsta.conf:11: [NOTIFICATION_b] unknown section: section names are case-sensitive; did you mean [Notification_b]?`}},
		{"main in the wrong case", "[Main]\nuser=x\n" + okBase,
			[]string{`monsta.conf:1: [Main] unknown section: section names are case-sensitive; did you mean [main]?`}},
		{"DEFAULT in the wrong case", "[default]\nport=1\n" + okBase,
			[]string{`monsta.conf:1: [default] unknown section: section names are case-sensitive; did you mean [DEFAULT]?`}},
		{"type default in the wrong case", "[FAKE_default]\nport=1\n" + okBase,
			[]string{`monsta.conf:1: [FAKE_default] unknown section: section names are case-sensitive; did you mean [fake_default]?`}},
		// [DEFAULT] values are checked like the section's own, and blamed
		// on [DEFAULT].
		{"bad value from DEFAULT", "[DEFAULT]\nport=80x\n" + okBase,
			[]string{`monsta.conf:2: [DEFAULT] port: "80x" is not a port number`}},
		{"bad interval from DEFAULT", "[DEFAULT]\ninterval=0.5\n" + okBase,
			[]string{`monsta.conf:2: [DEFAULT] interval: "0.5": must be at least 1 second`}},
		{"all problems at once, sorted", "[Check_a]\ntype=fake\nport=0\n[Test_t]\nchecks=zz\ninterval=-1\n",
			[]string{
				`monsta.conf:1: [Check_a] host: required option missing`,
				`monsta.conf:3: [Check_a] port: "0" is not a port number`,
				`monsta.conf:5: [Test_t] checks: no check named "zz" (no section [Check_zz])`,
				`monsta.conf:6: [Test_t] interval: "-1": must not be negative`,
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			conf := tc.conf
			if !strings.Contains(conf, "[Test_") {
				conf += "[Test_z]\nchecks=a\n"
			}
			_, _, err := resolveText(t, map[string]string{"monsta.conf": conf})
			if err == nil {
				t.Fatalf("Resolve() error = nil, want %q", tc.want)
			}
			got := strings.Split(err.Error(), "\n")
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("Resolve() error =\n%s\nwant\n%s", err, strings.Join(tc.want, "\n"))
			}
		})
	}
}

func TestResolveWarnings(t *testing.T) {
	_, w, err := resolveText(t, map[string]string{"monsta.conf": "[main]\nstrict=no\n" + okBase + "[Check_b]\ntype=fake\nhost=y\nprot=80\n[Frobnicate]\nx=1\n"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, x := range w {
		got = append(got, x.Error())
	}
	want := []string{
		`monsta.conf:13: warning: [Check_b] check is not used by any test`,
		`monsta.conf:16: warning: [Check_b] prot: unknown option for type fake, ignored (did you mean "port"?)`,
		`monsta.conf:17: warning: [Frobnicate] unknown section, ignored (expected main, Check_*, Test_*, Notification_*, Maintenance_*, TYPE_default or DEFAULT)`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("warnings =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestResolveStrict: an option nothing declares is an error with its
// file:line and a "did you mean" (issue 24, item 5) in every kind of
// section, unless [main] strict = no makes it a warning.
func TestResolveStrict(t *testing.T) {
	conf := "[main]\nlog_levl=debug\n[DEFAULT]\nunheard=1\n[fake_default]\nhots=z\n" + okBase + "expcet=220\nintervall=5\n"
	_, w, err := resolveText(t, map[string]string{"monsta.conf": conf})
	want := []string{
		`monsta.conf:2: [main] log_levl: unknown option in [main] (did you mean "log_level"?)`,
		`monsta.conf:4: [DEFAULT] unheard: no section type has this option`,
		`monsta.conf:6: [fake_default] hots: unknown option for type fake (did you mean "host"?)`,
		`monsta.conf:17: [Test_t] expcet: unknown option for a test`,
		`monsta.conf:18: [Test_t] intervall: unknown option for a test (did you mean "interval"?)`,
	}
	if err == nil || err.Error() != strings.Join(want, "\n") {
		t.Errorf("Resolve() error =\n%v\nwant\n%s", err, strings.Join(want, "\n"))
	}
	if len(w) != 0 {
		t.Errorf("warnings = %v, want none: every unknown option is an error", w)
	}

	_, w, err = resolveText(t, map[string]string{"monsta.conf": "[main]\nstrict = no\n" + conf[len("[main]\n"):]})
	if err != nil {
		t.Fatalf("Resolve() with strict = no: error = %v", err)
	}
	var got []string
	for _, x := range w {
		got = append(got, x.Error())
	}
	want = []string{
		`monsta.conf:3: warning: [main] log_levl: unknown option in [main], ignored (did you mean "log_level"?)`,
		`monsta.conf:5: warning: [DEFAULT] unheard: no section type has this option, ignored`,
		`monsta.conf:7: warning: [fake_default] hots: unknown option for type fake, ignored (did you mean "host"?)`,
		`monsta.conf:18: warning: [Test_t] expcet: unknown option for a test, ignored`,
		`monsta.conf:19: warning: [Test_t] intervall: unknown option for a test, ignored (did you mean "interval"?)`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("warnings with strict = no =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestResolveDefaultsAndOverrides(t *testing.T) {
	p, _, err := resolveText(t, map[string]string{
		"monsta.conf":      "[fake_default]\nport=8080\n" + okBase,
		"conf.d/10-x.conf": "[Check_a]\nhost=override\n[Test_t]\ninterval=60\n",
	})
	if err != nil {
		t.Fatal(err)
	}
	a := p.Checks["a"].Opts
	if a.Int("port") != 8080 || a.String("host") != "override" {
		t.Errorf("port=%d host=%q, want 8080 from [fake_default] and host from conf.d", a.Int("port"), a.String("host"))
	}
	if !strings.HasSuffix(a.Pos("host").String(), "conf.d/10-x.conf:2") {
		t.Errorf("host position = %v, want conf.d/10-x.conf:2", a.Pos("host"))
	}
	if got := p.Tests[0].Interval.Seconds(); got != 60 {
		t.Errorf("interval = %v, want 60", got)
	}
	if len(p.Tests[0].Notify) != 1 || p.Tests[0].Notify[0].Level != 1 {
		t.Errorf("notify = %+v", p.Tests[0].Notify)
	}
}

func TestRegistryRejects(t *testing.T) {
	ok := func() Descriptor {
		return Descriptor{Kind: KindCheck, Name: "x", Description: "d", NewCheck: func(*Options) (Check, error) { return nil, nil },
			Options: []Option{{Name: "a", Help: "A."}}}
	}
	tests := []struct {
		name   string
		mutate func(*Descriptor)
		want   string
	}{
		{"bad name", func(d *Descriptor) { d.Name = "X-1" }, "must match"},
		{"duplicate option", func(d *Descriptor) { d.Options = append(d.Options, Option{Name: "a", Help: "A."}) }, "declared twice"},
		{"no help", func(d *Descriptor) { d.Options[0].Help = "" }, "no help text"},
		{"bad default", func(d *Descriptor) { d.Options[0].Parse = Port; d.Options[0].Default = "x" }, "default"},
		{"wrong constructor", func(d *Descriptor) { d.Kind = KindNotifier }, "needs NewNotifier"},
		{"timeout that accepts 0", func(d *Descriptor) {
			d.Options = append(d.Options, Option{Name: "timeout", Default: "1", Parse: Seconds, Help: "T."})
		}, `option "timeout" must refuse 0`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := ok()
			tc.mutate(&d)
			if err := NewRegistry().Add(d); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Add() error = %v, want it to contain %q", err, tc.want)
			}
		})
	}
	r := NewRegistry()
	if err := r.Add(ok()); err != nil {
		t.Fatal(err)
	}
	if err := r.Add(ok()); err == nil || !strings.Contains(err.Error(), `check type "x" already defined (builtin)`) {
		t.Errorf("duplicate Add() error = %v", err)
	}
}

// TestSchemas holds [main] and [Test_] to the rules of a type's options,
// which used to be checked by init() at every start.
func TestSchemas(t *testing.T) {
	for _, s := range []*Schema{mainSchema, testSchema, maintenanceSchema} {
		if err := validateSchema(s); err != nil {
			t.Errorf("schema %q: %v", s.Unknown, err)
		}
	}
}

// TestChecksBuiltOncePerUse: resolution builds one instance per test that
// uses a check (an instance never runs twice at once) and none again later.
func TestChecksBuiltOncePerUse(t *testing.T) {
	reg := NewRegistry()
	built := 0
	if err := reg.Add(Descriptor{Kind: KindCheck, Name: "fake", Description: "counts its builds",
		NewCheck: func(*Options) (Check, error) { built++; return &stubCheck{}, nil }}); err != nil {
		t.Fatal(err)
	}
	reg.Freeze()
	dir := t.TempDir()
	conf := filepath.Join(dir, "monsta.conf")
	os.WriteFile(conf, []byte("[Check_a]\ntype=fake\n[Check_b]\ntype=fake\n[Test_x]\nchecks=a\n[Test_y]\nchecks=a\n"), 0o644)
	cfg, err := config.Load(conf, filepath.Join(dir, "conf.d"))
	if err != nil {
		t.Fatal(err)
	}
	p, _, err := NewResolver(cfg).Resolve(reg)
	if err != nil {
		t.Fatal(err)
	}
	if built != 3 {
		t.Errorf("constructor called %d times, want 3 (a for x, a for y, b)", built)
	}
	x, y := p.Tests[0].Instances[0], p.Tests[1].Instances[0]
	if x != p.Checks["a"].Check || x == y {
		t.Errorf("instances: x=%p y=%p Check_a=%p; want x to be Check_a's and y its own", x, y, p.Checks["a"].Check)
	}
}

// TestResolveNeedsATest: a configuration without any [Test_] section (or
// only with misspelt ones) monitors nothing; the original refused it too.
func TestResolveNeedsATest(t *testing.T) {
	tests := []struct {
		name, conf string
		want       []string
	}{
		{"no test", "[Check_a]\ntype=fake\nhost=x\n", []string{
			`monsta.conf: no [Test_NAME] section: nothing would be monitored (a test names its checks with checks=)`,
		}},
		{"only lower-case sections", "[check_a]\ntype=fake\nhost=x\n[test_a]\nchecks=a\n", []string{
			`monsta.conf: no [Test_NAME] section: nothing would be monitored (a test names its checks with checks=)`,
			`monsta.conf:1: [check_a] unknown section: section names are case-sensitive; did you mean [Check_a]?`,
			`monsta.conf:4: [test_a] unknown section: section names are case-sensitive; did you mean [Test_a]?`,
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := resolveText(t, map[string]string{"monsta.conf": tc.conf})
			if err == nil || err.Error() != strings.Join(tc.want, "\n") {
				t.Errorf("Resolve() error =\n%v\nwant\n%s", err, strings.Join(tc.want, "\n"))
			}
		})
	}
	// A configuration that defines nothing (the packaged one, as shipped)
	// is valid, with a warning.
	for _, conf := range []string{"", "[main]\nuser = x\n"} {
		p, w, err := resolveText(t, map[string]string{"monsta.conf": conf})
		if err != nil || len(p.Tests) != 0 || len(w) != 1 || w[0].Error() != "monsta.conf: warning: no [Test_NAME] section: nothing is monitored" {
			t.Errorf("Resolve(%q) = %v, %v; want no error and one warning", conf, w, err)
		}
	}
	// Only notifications: --run Notification_X tries them before any test
	// names them, so they load, with a warning.
	_, w, err := resolveText(t, map[string]string{"monsta.conf": "[Notification_a]\ntype=rec\nrecipient=x\n"})
	if err != nil || len(w) == 0 || w[0].Error() != "monsta.conf: warning: no [Test_NAME] section: notifications are only sent by --run Notification_NAME" {
		t.Errorf("only a notification: %v, %v; want no error and that warning first", w, err)
	}
}

// TestResolveDEFAULT: [DEFAULT] gives every section defaults, as in
// Python's ConfigParser; [TYPE_default] and the section itself win over it.
func TestResolveDEFAULT(t *testing.T) {
	p, w, err := resolveText(t, map[string]string{"monsta.conf": `[DEFAULT]
port = 81
interval = 30
user = monitor
unheard = 1
type = fake
strict = no
[fake_default]
port = 82
[Check_a]
type = fake
host = x
[Check_b]
type = fake
host = y
port = 83
[Notification_bob]
type = rec
recipient = bob
[Test_t]
checks = a b
notify = 1:bob
[Test_u]
checks = a
interval = 40
`})
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Checks["a"].Opts.Int("port"); got != 82 {
		t.Errorf("[Check_a] port = %d, want 82 from [fake_default] over [DEFAULT]", got)
	}
	if got := p.Checks["b"].Opts.Int("port"); got != 83 {
		t.Errorf("[Check_b] port = %d, want its own 83", got)
	}
	if got := p.Tests[0].Interval.Seconds(); got != 30 {
		t.Errorf("[Test_t] interval = %v, want 30 from [DEFAULT]", got)
	}
	if got := p.Tests[1].Interval.Seconds(); got != 40 {
		t.Errorf("[Test_u] interval = %v, want its own 40", got)
	}
	if p.Main.User != "monitor" {
		t.Errorf("[main] user = %q, want monitor from [DEFAULT] (there is no [main])", p.Main.User)
	}
	var got []string
	for _, x := range w {
		got = append(got, x.Error())
	}
	want := []string{
		"monsta.conf:5: warning: [DEFAULT] unheard: no section type has this option, ignored",
		"monsta.conf:6: warning: [DEFAULT] type: ignored: every Check_ and Notification_ section names its own type",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("warnings =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestResolveQuotedOption: an option marked Quoted gets the value with its
// outer quotes, the others lose them.
func TestResolveQuotedOption(t *testing.T) {
	reg := NewRegistry()
	var got []string
	err := reg.Add(Descriptor{Kind: KindCheck, Name: "q", Description: "quotes",
		Options: []Option{
			{Name: "plain", Help: "Plain."},
			{Name: "answers", Quoted: true, Help: "Quoted."},
		},
		NewCheck: func(o *Options) (Check, error) {
			got = append(got, o.String("plain"), o.String("answers"))
			return &stubCheck{}, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg := loadText(t, "[Check_a]\ntype=q\nplain=\"v=spf1 mx -all\"\nanswers=\"v=spf1 mx -all\"\n[Test_t]\nchecks=a\n")
	if _, _, err := NewResolver(cfg).Resolve(reg); err != nil {
		t.Fatal(err)
	}
	if want := []string{"v=spf1 mx -all", `"v=spf1 mx -all"`}; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("plain, answers = %q, want %q", got, want)
	}
}

func loadText(t *testing.T, text string) *config.Config {
	t.Helper()
	f := filepath.Join(t.TempDir(), "monsta.conf")
	if err := os.WriteFile(f, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(f, "")
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestPlanLetsTheConfigurationGo: a resolved plan keeps values and
// positions but no configuration key, so that the parsed files (as large
// as the plan at 100,000 tests) are garbage once it is built.
func TestPlanLetsTheConfigurationGo(t *testing.T) {
	reg := testRegistry(t, map[string]Check{"a": &stubCheck{}}, nil)
	p := loadPlan(t, reg, "[Check_a]\ntype=fake\nhost=a\n[Test_x]\nchecks=a\n")
	o := p.Checks["a"].Opts
	if o.keys != nil {
		t.Errorf("Check_a's options hold %d configuration keys after Resolve", len(o.keys))
	}
	if got := o.String("host"); got != "a" {
		t.Errorf("host = %q, want a", got)
	}
	if pos := o.Pos("host"); pos.Line != 3 {
		t.Errorf("host at %v, want line 3", pos)
	}
	if got := o.PosOf("host", "a"); got.Line != 3 {
		t.Errorf("PosOf(host) = %v, want line 3 without the key", got)
	}
}

// TestResolveDurationUnits: duration options of [main], tests, checks and
// maintenance windows take units as well as seconds (issue 24, item 6).
func TestResolveDurationUnits(t *testing.T) {
	p, _, err := resolveText(t, map[string]string{"monsta.conf": "[main]\nnotify_retry_initial=90s\nnotify_retry_for=1d\ngroup_window=2m\n" +
		okBase + "interval=5m\nrenotify=2h\n[Maintenance_m]\ntests=t\nschedule=@daily\nduration=1h30m\n",
		"conf.d/10-a.conf": "[Check_a]\ntimeout=1500ms\n"})
	if err != nil {
		t.Fatal(err)
	}
	tt, m, a := p.Tests[0], p.Main, p.Checks["a"].Opts
	got := []time.Duration{m.Retry.First, m.Retry.MaxAge, m.GroupWindow, tt.Interval, tt.Renotify, a.Duration("timeout"), p.Maintenance[0].Duration}
	want := []time.Duration{90 * time.Second, 24 * time.Hour, 2 * time.Minute, 5 * time.Minute, 2 * time.Hour, 1500 * time.Millisecond, 90 * time.Minute}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("durations = %v, want %v", got, want)
	}
}

// TestResolveHistory: the history keys' defaults (on, 90 days, 50 runs,
// maintenance excluded, the local zone, no SLA) and values set.
func TestResolveHistory(t *testing.T) {
	p, _, err := resolveText(t, map[string]string{"monsta.conf": okBase})
	if err != nil {
		t.Fatal(err)
	}
	want := HistoryPolicy{On: true, Retention: 90 * 24 * time.Hour, Recent: 50, Maintenance: "exclude", Location: time.Local}
	if h := p.Main.History; h != want || p.Tests[0].SLA != 0 {
		t.Errorf("defaults = %+v, SLA %v; want %+v, no SLA", h, p.Tests[0].SLA, want)
	}
	p, _, err = resolveText(t, map[string]string{"monsta.conf": "[main]\nhistory=no\nhistory_retention=400d\nhistory_recent=7\nhistory_maintenance=up\nhistory_timezone=Europe/Berlin\n" +
		okBase + "sla=99.9%\n"})
	if err != nil {
		t.Fatal(err)
	}
	h := p.Main.History
	if h.On || h.Retention != 400*24*time.Hour || h.Recent != 7 || h.Maintenance != "up" || h.Location.String() != "Europe/Berlin" || p.Tests[0].SLA != 99.9 {
		t.Errorf("set = %+v, SLA %v; want off, 400d, 7, up, Europe/Berlin, 99.9", h, p.Tests[0].SLA)
	}
}

// TestResolveRepeatedSection: a section opened twice in one file is an
// error naming both lines (issue 24, item 7); with [main] strict = no it
// is a warning and the keys are merged, as the original did. A section
// continued in another file is no problem.
func TestResolveRepeatedSection(t *testing.T) {
	conf := okBase + "[Check_a]\nport=81\n"
	_, _, err := resolveText(t, map[string]string{"monsta.conf": conf, "conf.d/10-a.conf": "[Check_a]\nport=82\n"})
	want := `monsta.conf:11: [Check_a] section repeated in this file (first at line 2); merge the two, or rename one`
	if err == nil || err.Error() != want {
		t.Errorf("Resolve() error = %v, want %s", err, want)
	}
	p, w, err := resolveText(t, map[string]string{"monsta.conf": "[main]\nstrict=no\n" + conf})
	if err != nil {
		t.Fatalf("Resolve() with strict = no: error = %v", err)
	}
	want = `monsta.conf:13: warning: [Check_a] section repeated in this file (first at line 4); its keys are merged into the first`
	if len(w) != 1 || w[0].Error() != want || p.Checks["a"].Opts.Int("port") != 81 {
		t.Errorf("warnings = %v, port = %d; want %s and port 81", w, p.Checks["a"].Opts.Int("port"), want)
	}
}

// validateSchema applies the descriptor rules to the schema's options.
func validateSchema(s *Schema) error {
	seen := map[string]bool{}
	for _, o := range s.Options {
		if err := checkOption(o, seen); err != nil {
			return fmt.Errorf("%s: %w", s.Unknown, err)
		}
	}
	return nil
}
