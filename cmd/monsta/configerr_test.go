package main

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestTypoFails: a misspelt option is a configuration error (exit 2) with
// its file:line and a "did you mean" in --lint, --run and the daemon
// (issue 24, item 5); [main] strict = no makes it a warning, and --lint
// passes.
func TestTypoFails(t *testing.T) {
	t.Parallel()
	body := `[main]
statedir = STATEDIR
STRICT
[Check_x]
type = portconnect
host = 127.0.0.1
port = 1
expcet=220
[Test_x]
checks = x
`
	conf := writeConf(t, map[string]string{"monsta.conf": strings.Replace(body, "STRICT\n", "", 1)})
	want := filepath.Join(filepath.Dir(conf), "monsta.conf") + `:7: [Check_x] expcet: unknown option for type portconnect (did you mean "expect"?)`
	for _, args := range [][]string{{"--lint"}, {"--run", "Check_x"}, {"--foreground"}} {
		r := monstaGuarded(t, append(args, "--config", conf)...)
		if r.code != exitConfig || !strings.Contains(r.stderr, want+"\n") {
			t.Errorf("%v: exit %d, want 2 and %q in\n%s%s", args, r.code, want, r.stdout, r.stderr)
		}
		if strings.Contains(r.stdout, "configuration OK") {
			t.Errorf("%v: says configuration OK:\n%s", args, r.stdout)
		}
	}

	conf = writeConf(t, map[string]string{"monsta.conf": strings.Replace(body, "STRICT", "strict = no", 1)})
	r := monsta(t, "--lint", "--no-login", "--config", conf)
	warn := filepath.Join(filepath.Dir(conf), "monsta.conf") + `:8: warning: [Check_x] expcet: unknown option for type portconnect, ignored (did you mean "expect"?)`
	if r.code != exitOK || !strings.Contains(r.stdout, warn+"\n") || !strings.Contains(r.stdout, "configuration OK") {
		t.Errorf("strict = no: --lint exit %d, want 0 and %q in\n%s%s", r.code, warn, r.stdout, r.stderr)
	}
}

// TestSyntaxErrorHidesNothing: an INI syntax error in one file is
// reported with the semantic errors of the other files and of its own
// readable lines, and with the Lua files' errors, all at once (issue 23,
// item 11), by --lint and the daemon.
func TestSyntaxErrorHidesNothing(t *testing.T) {
	t.Parallel()
	conf := writeConf(t, map[string]string{
		"monsta.conf":       "[main]\nstatedir = STATEDIR\n[Check_a]\ntype = portconnect\nhost = 127.0.0.1\nport = 80x\n[Test_a]\nchecks = a\n",
		"conf.d/10-b.conf":  "[Check_b]\ntype = portconnect\nhost 127.0.0.1\nport = 1\n",
		"conf.d/20-c.conf":  "[Test_c]\nchecks = c\n",
		"conf.d/broken.lua": "local x = 1\nmonsta.check_type{ name = \"b\",\n",
	})
	dir := filepath.Dir(conf)
	want := []string{
		dir + `/conf.d/10-b.conf:1: [Check_b] host: required option missing`,
		dir + `/conf.d/10-b.conf:3: [Check_b] expected key=value, found "host 127.0.0.1"`,
		dir + `/conf.d/20-c.conf:2: [Test_c] checks: no check named "c"`,
		dir + `/monsta.conf:6: [Check_a] port: "80x" is not a port number`,
		"conf.d/broken.lua:",
	}
	for _, args := range [][]string{{"--lint"}, {"--foreground"}} {
		r := monstaGuarded(t, append(args, "--config", conf)...)
		if r.code != exitConfig {
			t.Errorf("%v: exit %d, want 2\n%s%s", args, r.code, r.stdout, r.stderr)
		}
		for _, w := range want {
			if !strings.Contains(r.stderr, w) {
				t.Errorf("%v: output lacks %q:\n%s", args, w, r.stderr)
			}
		}
	}
}

// monstaGuarded is monsta with a guard: a daemon that starts when it
// should have refused is killed after 10 s, which fails the test instead
// of hanging it.
func monstaGuarded(t *testing.T, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, monstaBin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("monsta %v still ran after 10 s", args)
	}
	var ee *exec.ExitError
	code := 0
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{code, out.String(), errb.String()}
}
