package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/monsta/monsta/builtins"
	"github.com/monsta/monsta/runtime"
)

func builtinRegistry(t *testing.T) *runtime.Registry {
	t.Helper()
	reg := runtime.NewRegistry()
	if err := builtins.Register(reg, builtins.Env{}); err != nil {
		t.Fatal(err)
	}
	return reg
}

// uncomment turns the commented-out example sections of the packaged
// configuration into live ones.
var commentedKey = regexp.MustCompile(`(?m)^#(\[|[A-Za-z0-9_.-]+ ?=)`)

// TestDefaultConfig lints the packaged /etc/monsta/monsta.conf as shipped
// and with every example uncommented, and checks it covers every type.
func TestDefaultConfig(t *testing.T) {
	t.Parallel()
	r := monsta(t, "--help", "config")
	if r.code != 0 {
		t.Fatalf("--help config exit = %d\n%s", r.code, r.stderr)
	}
	reg := builtinRegistry(t)
	for _, k := range []runtime.Kind{runtime.KindCheck, runtime.KindNotifier} {
		for _, d := range reg.List(k) {
			name := d.Name
			if !regexp.MustCompile(`(?m)^#type ?= ?` + regexp.QuoteMeta(name) + `$`).MatchString(r.stdout) {
				t.Errorf("no example of %s type %s", k, name)
			}
		}
	}
	as := writeConf(t, map[string]string{"monsta.conf": r.stdout})
	if l := monsta(t, "--lint", "--no-login", "--config", as); l.code != 0 || !strings.Contains(l.stdout, "configuration OK: 0 tests") {
		t.Errorf("--lint of the shipped configuration = %d\n%s%s", l.code, l.stdout, l.stderr)
	}
	live := commentedKey.ReplaceAllString(r.stdout, "$1")
	conf := writeConf(t, map[string]string{"monsta.conf": live})
	l := monsta(t, "--lint", "--no-login", "--config", conf)
	// An example may hold more than one section.
	nc := len(regexp.MustCompile(`(?m)^\[Check_`).FindAllString(live, -1))
	nn := len(regexp.MustCompile(`(?m)^\[Notification_`).FindAllString(live, -1))
	want := regexp.MustCompile(fmt.Sprintf(`configuration OK: 1 test, %d checks, %d notifications`, nc, nn))
	if l.code != 0 || !want.MatchString(l.stdout) {
		t.Errorf("--lint with every example uncommented = %d, want %v\n%s%s\n%s", l.code, want, l.stdout, l.stderr, live)
	}
}

// TestManPage checks monsta(8) documents every flag and type, and that
// groff formats it without a warning.
func TestManPage(t *testing.T) {
	t.Parallel()
	r := monsta(t, "--help", "man")
	if r.code != 0 || !strings.HasPrefix(r.stdout, `.\" Generated`) {
		t.Fatalf("--help man = %d\n%s", r.code, r.stderr)
	}
	reg := builtinRegistry(t)
	for _, k := range []runtime.Kind{runtime.KindCheck, runtime.KindNotifier} {
		for _, d := range reg.List(k) {
			name := d.Name
			if !strings.Contains(r.stdout, "\n.SS "+roffEsc(name)+"\n") {
				t.Errorf("man page lacks %s type %s", k, name)
			}
		}
	}
	for _, f := range []string{"config", "confdir", "foreground", "lint", "no-login", "run", "version", "log-level"} {
		if !strings.Contains(r.stdout, ".B \\-\\-"+roffEsc(f)) {
			t.Errorf("man page lacks --%s", f)
		}
	}
	groff, err := exec.LookPath("groff")
	if err != nil {
		t.Skip("no groff to format the page")
	}
	page := filepath.Join(t.TempDir(), "monsta.8")
	os.WriteFile(page, []byte(r.stdout), 0o644)
	out, err := exec.Command(groff, "-man", "-Tutf8", "-ww", "-z", page).CombinedOutput()
	if err != nil || len(out) > 0 {
		t.Errorf("groff: %v\n%s", err, out)
	}
}
