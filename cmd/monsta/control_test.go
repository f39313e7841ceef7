package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/monsta/monsta/runtime/control"
)

// TestControlThroughTheBinary drives one daemon through --status,
// --silence, --silences and --unsilence: exit codes 0, 1 and 2; a typo in
// --silence is refused; a silenced test that still fails when its silence
// ends pages once, after a kill -9 in the middle of the silence; one that
// recovers inside its silence pages nobody; the silences survive the
// kill. The silences last an hour and end with --unsilence, so nothing
// depends on how fast the machine runs the tests (their expiry is
// runtime/silence's TestStoreLifecycle, on a fake clock).
func TestControlThroughTheBinary(t *testing.T) {
	t.Parallel()
	c := newCtlRun(t)
	if r := c.ctl("--status"); r.code != 2 || !strings.Contains(r.stderr, "is monsta running?") {
		t.Fatalf("--status without a daemon = %d %q, want 2 and a clear message", r.code, r.stderr)
	}
	d := startDaemon(t, c.conf)
	d.waitLog(`control socket listening`, 1, 15*time.Second)
	c.waitFor("all run", func(st map[string]control.Test) bool {
		return st["pass"].State == "OK" && st["fail"].State == "OK" && st["held"].State == "OK" && st["heal"].State == "OK"
	})
	if _, code := c.status(); code != 0 {
		t.Errorf("--status with every test passing exit = %d, want 0", code)
	}
	c.silenceAndFail()
	c.checkStatusTable()

	// kill -9 inside the silences: they and the held-back page survive.
	d.cmd.Process.Kill()
	<-d.done
	c.afterKill(d)
}

// afterKill restarts the daemon that d was, ends the silences, and wants
// held to page once and heal never.
func (c ctlRun) afterKill(d *daemon) {
	t := c.t
	t.Helper()
	d2 := startDaemon(t, c.conf)
	d2.waitLog(`control socket listening`, 1, 15*time.Second)
	if r := c.ctl("--silences"); r.code != 0 || strings.Count(r.stdout, "planned") != 2 {
		t.Errorf("--silences after kill -9 = %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, name := range []string{"held", "heal"} {
		if r := c.ctl("--unsilence", name); r.code != 0 || !strings.Contains(r.stdout, "removed silence") {
			t.Errorf("--unsilence %s = %d %q %q", name, r.code, r.stdout, r.stderr)
		}
	}
	if r := c.ctl("--silences"); !strings.Contains(r.stdout, "no silences") {
		t.Errorf("--silences after --unsilence:\n%s", r.stdout)
	}
	d2.waitLog(`msg=notification test=held state=FAIL`, 1, 15*time.Second)
	after := c.waitFor("held ran twice more", func(s map[string]control.Test) bool { return s["held"].State == "FAIL" })["held"].Failures
	c.waitFor("held ran twice more", func(s map[string]control.Test) bool { return s["held"].Failures >= after+2 })
	logs := d.waitLog(`.`, 1, time.Second) + d2.waitLog(`.`, 1, time.Second)
	if n := strings.Count(logs, "msg=notification test=held "); n != 1 {
		t.Errorf("held paged %d times, want once when its silence ended:\n%s", n, logs)
	}
	if strings.Contains(logs, "msg=notification test=heal ") {
		t.Errorf("heal recovered inside its silence, yet someone was told:\n%s", logs)
	}
	d2.stop(syscall.SIGTERM)
	if r := c.ctl("--silences"); r.code != 2 || !strings.Contains(r.stderr, "cannot reach the daemon") {
		t.Errorf("--silences after stop = %d %q, want 2", r.code, r.stderr)
	}
}

// ctlRun is TestControlThroughTheBinary's configuration: four script
// checks, each failing while its flag file exists, and the monsta
// commands run against it.
type ctlRun struct {
	t     *testing.T
	flags string // the flag files' directory
	conf  string
}

func newCtlRun(t *testing.T) ctlRun {
	c := ctlRun{t: t, flags: t.TempDir()}
	script := func(name string) string { return `sh -c "test ! -e ` + c.flag(name) + `"` }
	c.conf = writeConf(t, map[string]string{"monsta.conf": `
[main]
statedir = STATEDIR
user = root
[Check_pass]
type = script
command = true
[Check_fail]
type = script
command = ` + script("fail") + `
[Check_held]
type = script
command = ` + script("held") + `
[Check_heal]
type = script
command = ` + script("heal") + `
[Notification_page]
type = log
recipient = error
[Test_pass]
checks = pass
interval = 1
[Test_fail]
checks = fail
interval = 1
[Test_held]
checks = held
interval = 1
notify = 2:page
[Test_heal]
checks = heal
interval = 1
notify = 1:page
`})
	return c
}

// flag is the path of the file that makes check name fail.
func (c ctlRun) flag(name string) string { return filepath.Join(c.flags, name) }

// ctl runs monsta with the configuration and args.
func (c ctlRun) ctl(args ...string) result {
	return monsta(c.t, append([]string{"--config", c.conf}, args...)...)
}

// status returns the tests of --status --json by name, and the exit code.
func (c ctlRun) status() (map[string]control.Test, int) {
	c.t.Helper()
	r := c.ctl("--status", "--json")
	var list control.TestList
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil {
		c.t.Fatalf("--status --json: %v\n%s%s", err, r.stdout, r.stderr)
	}
	m := map[string]control.Test{}
	for _, x := range list.Tests {
		m[x.Name] = x
	}
	return m, r.code
}

// waitFor polls --status until ok holds, for at most 20 s.
func (c ctlRun) waitFor(what string, ok func(map[string]control.Test) bool) map[string]control.Test {
	c.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, _ := c.status()
		if ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("never %s: %+v", what, st)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// silenceAndFail silences held and heal for an hour, makes them and fail
// fail, then lets heal recover inside its silence, and wants the states
// that follow. A misspelt name silences nothing.
func (c ctlRun) silenceAndFail() {
	t := c.t
	t.Helper()
	if r := c.ctl("--silence", "passs", "--for", "1h"); r.code != 2 || !strings.Contains(r.stderr, `matches no configured test (did you mean "pass"?)`) {
		t.Errorf("--silence passs = %d %q, want 2 and a hint", r.code, r.stderr)
	}
	for _, name := range []string{"held", "heal"} {
		if r := c.ctl("--silence", "Test_"+name, "--for", "1h", "--reason", "planned"); r.code != 0 || !strings.Contains(r.stdout, "silenced "+name) {
			t.Fatalf("--silence %s = %d %q %q", name, r.code, r.stdout, r.stderr)
		}
		os.WriteFile(c.flag(name), nil, 0o644)
	}
	os.WriteFile(c.flag("fail"), nil, 0o644)
	c.waitFor("failing", func(st map[string]control.Test) bool {
		return st["held"].Failures >= 2 && st["heal"].Failures >= 1 && st["fail"].Failures >= 1
	})
	os.Remove(c.flag("heal"))
	st := c.waitFor("heal recovered", func(st map[string]control.Test) bool { return st["heal"].OK })
	if st["held"].State != "SILENCED" || st["heal"].State != "SILENCED" || st["fail"].State != "FAIL" || st["pass"].State != "OK" {
		t.Errorf("states = %+v", st)
	}
}

// checkStatusTable wants --status to exit 1 with the failing test first,
// then the silenced ones, the passing one last.
func (c ctlRun) checkStatusTable() {
	c.t.Helper()
	r := c.ctl("--status")
	rows := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if r.code != 1 || len(rows) != 5 || !regexp.MustCompile(`^FAIL +fail `).MatchString(rows[1]) ||
		!strings.HasPrefix(rows[2], "SILENCED") || !strings.HasPrefix(rows[4], "OK ") || !strings.Contains(r.stdout, "silenced ") {
		c.t.Errorf("--status = %d, want 1 and failing first:\n%s%s", r.code, r.stdout, r.stderr)
	}
}
