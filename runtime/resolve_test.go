package runtime

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/monsta/monsta/config"
)

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
	p, w, err := Resolve(cfg, testRegistry(t, nil, nil))
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
		{"non-numeric interval", okBase + "[Test_u]\nchecks=a\ninterval=5m\n",
			[]string{`monsta.conf:13: [Test_u] interval: "5m" is not a number of seconds`}},
		{"bad requires", okBase + "[Test_u]\nchecks=a\nrequires=most\n",
			[]string{`monsta.conf:13: [Test_u] requires: "most" is not one of all, any`}},
		{"test without checks key", okBase + "[Test_u]\ninterval=10\n",
			[]string{`monsta.conf:11: [Test_u] checks: required option missing`}},
		{"test with empty checks", okBase + "[Test_u]\nchecks=\n",
			[]string{`monsta.conf:12: [Test_u] checks: the test has no checks`}},
		{"bad main value", "[main]\ndaemonize=maybe\n" + okBase,
			[]string{`monsta.conf:2: [main] daemonize: "maybe" is not yes or no`}},
		{"all problems at once, sorted", "[Check_a]\ntype=fake\nport=0\n[Test_t]\nchecks=zz\ninterval=-1\n",
			[]string{
				`monsta.conf:1: [Check_a] host: required option missing`,
				`monsta.conf:3: [Check_a] port: "0" is not a port number`,
				`monsta.conf:5: [Test_t] checks: no check named "zz" (no section [Check_zz])`,
				`monsta.conf:6: [Test_t] interval: "-1": seconds must not be negative`,
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := resolveText(t, map[string]string{"monsta.conf": tc.conf})
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
	_, w, err := resolveText(t, map[string]string{"monsta.conf": okBase + "[Check_b]\ntype=fake\nhost=y\nprot=80\n[Frobnicate]\nx=1\n"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, x := range w {
		got = append(got, x.Error())
	}
	want := []string{
		`monsta.conf:11: warning: [Check_b] check is not used by any test`,
		`monsta.conf:14: warning: [Check_b] prot: unknown option for check type fake, ignored (did you mean "port"?)`,
		`monsta.conf:15: warning: [Frobnicate] unknown section, ignored (expected main, Check_*, Test_*, Notification_*, Maintenance_* or TYPE_default)`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("warnings =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
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
		if err := s.validate(); err != nil {
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
		NewCheck: func(*Options) (Check, error) { built++; return &scriptedCheck{}, nil }}); err != nil {
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
	p, _, err := Resolve(cfg, reg)
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
	if _, err := NewEngine(p, EngineOptions{}); err != nil {
		t.Fatal(err)
	}
	if built != 3 {
		t.Errorf("NewEngine built checks again: %d builds", built)
	}
}
