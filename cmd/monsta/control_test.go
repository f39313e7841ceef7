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
// --silence and --silences: exit codes 0, 1 and 2; a silenced test that
// still fails when its silence ends pages once, after a kill -9 in the
// middle of the silence; one that recovers inside its silence pages
// nobody; the silences survive the kill and expire on their own.
func TestControlThroughTheBinary(t *testing.T) {
	t.Parallel()
	flags := t.TempDir()
	flag := func(name string) string { return filepath.Join(flags, name) }
	script := func(name string) string { return `sh -c "test ! -e ` + flag(name) + `"` }
	conf := writeConf(t, map[string]string{"monsta.conf": `
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
	ctl := func(args ...string) result { return monsta(t, append([]string{"--config", conf}, args...)...) }
	status := func() (map[string]control.Test, int) {
		t.Helper()
		r := ctl("--status", "--json")
		var list control.TestList
		if err := json.Unmarshal([]byte(r.stdout), &list); err != nil {
			t.Fatalf("--status --json: %v\n%s%s", err, r.stdout, r.stderr)
		}
		m := map[string]control.Test{}
		for _, x := range list.Tests {
			m[x.Name] = x
		}
		return m, r.code
	}
	waitFor := func(what string, ok func(map[string]control.Test) bool) map[string]control.Test {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			st, _ := status()
			if ok(st) {
				return st
			}
			if time.Now().After(deadline) {
				t.Fatalf("never %s: %+v", what, st)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	if r := ctl("--status"); r.code != 2 || !strings.Contains(r.stderr, "is monsta running?") {
		t.Fatalf("--status without a daemon = %d %q, want 2 and a clear message", r.code, r.stderr)
	}
	d := startDaemon(t, conf)
	d.waitLog(`control socket listening`, 1, 15*time.Second)
	waitFor("all run", func(st map[string]control.Test) bool {
		return st["pass"].State == "OK" && st["fail"].State == "OK" && st["held"].State == "OK" && st["heal"].State == "OK"
	})
	if _, code := status(); code != 0 {
		t.Errorf("--status with every test passing exit = %d, want 0", code)
	}

	for _, name := range []string{"held", "heal"} {
		if r := ctl("--silence", "Test_"+name, "--for", "5s", "--reason", "planned"); r.code != 0 || !strings.Contains(r.stdout, "silenced "+name) {
			t.Fatalf("--silence %s = %d %q %q", name, r.code, r.stdout, r.stderr)
		}
		os.WriteFile(flag(name), nil, 0o644)
	}
	os.WriteFile(flag("fail"), nil, 0o644)
	waitFor("failing", func(st map[string]control.Test) bool {
		return st["held"].Failures >= 2 && st["heal"].Failures >= 1 && st["fail"].Failures >= 1
	})
	os.Remove(flag("heal"))
	st := waitFor("heal recovered", func(st map[string]control.Test) bool { return st["heal"].OK })
	if st["held"].State != "SILENCED" || st["heal"].State != "SILENCED" || st["fail"].State != "FAIL" || st["pass"].State != "OK" {
		t.Errorf("states = %+v", st)
	}
	r := ctl("--status")
	rows := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if r.code != 1 || len(rows) != 5 || !regexp.MustCompile(`^FAIL +fail `).MatchString(rows[1]) ||
		!strings.HasPrefix(rows[2], "SILENCED") || !strings.HasPrefix(rows[4], "OK ") || !strings.Contains(r.stdout, "silenced ") {
		t.Errorf("--status = %d, want 1 and failing first:\n%s%s", r.code, r.stdout, r.stderr)
	}

	// kill -9 inside the silences: they and the held-back page survive.
	d.cmd.Process.Kill()
	<-d.done
	d2 := startDaemon(t, conf)
	d2.waitLog(`control socket listening`, 1, 15*time.Second)
	if r := ctl("--silences"); r.code != 0 || strings.Count(r.stdout, "planned") != 2 {
		t.Errorf("--silences after kill -9 = %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	deadline := time.Now().Add(20 * time.Second)
	for r := ctl("--silences"); !strings.Contains(r.stdout, "no silences"); r = ctl("--silences") {
		if time.Now().After(deadline) {
			t.Fatalf("silences never expired:\n%s", r.stdout)
		}
		time.Sleep(200 * time.Millisecond)
	}
	d2.waitLog(`msg=notification test=held state=FAIL`, 1, 15*time.Second)
	after := waitFor("held ran twice more", func(s map[string]control.Test) bool { return s["held"].State == "FAIL" })["held"].Failures
	waitFor("held ran twice more", func(s map[string]control.Test) bool { return s["held"].Failures >= after+2 })
	logs := d.waitLog(`.`, 1, time.Second) + d2.waitLog(`.`, 1, time.Second)
	if n := strings.Count(logs, "msg=notification test=held "); n != 1 {
		t.Errorf("held paged %d times, want once when its silence ended:\n%s", n, logs)
	}
	if strings.Contains(logs, "msg=notification test=heal ") {
		t.Errorf("heal recovered inside its silence, yet someone was told:\n%s", logs)
	}
	d2.stop(syscall.SIGTERM)
	if r := ctl("--silences"); r.code != 2 || !strings.Contains(r.stderr, "cannot reach the daemon") {
		t.Errorf("--silences after stop = %d %q, want 2", r.code, r.stderr)
	}
}
