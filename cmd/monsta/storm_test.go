package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/monsta/monsta/internal/testkit/loopback"
	"github.com/monsta/monsta/internal/testkit/smtpfake"
)

// stormConf writes a configuration with one smtp notification to mail and
// the given sections.
func stormConf(t *testing.T, mail *smtpfake.Server, main, sections string) (conf, dir string) {
	t.Helper()
	host, port := mail.HostPort(t)
	conf = writeConf(t, map[string]string{"monsta.conf": fmt.Sprintf(`
[main]
statedir = STATEDIR
user = root
%s
[Notification_mail]
type = smtp
host = %s
port = %s
sender = monsta@example.org
recipient = ops@example.org
%s`, main, host, port, sections)})
	return conf, filepath.Dir(conf)
}

// TestGroupSurvivesKill: five failures are queued in an open group window
// (an hour long); kill -9; after a restart whose window has passed, the
// five go out as one digest, once.
func TestGroupSurvivesKill(t *testing.T) {
	t.Parallel()
	mail := smtpfake.Start(t, smtpfake.Config{})
	var b strings.Builder
	fmt.Fprintf(&b, "[Check_down]\ntype = portconnect\nhost = 127.0.0.1\nport = %d\ntimeout = 2\n", loopback.ClosedPort(t))
	for i := range 5 {
		fmt.Fprintf(&b, "[Test_web%d]\nchecks = down\ninterval = 1\nnotify = 1:mail\n", i+1)
	}
	conf, dir := stormConf(t, mail, "group_window = 3600", b.String())
	state := filepath.Join(dir, "state")
	d := startDaemon(t, conf)
	// Each test's page is in the outbox and its count in its state file.
	waitFor(t, "five queued messages and five saved counts", func() bool {
		out, _ := filepath.Glob(filepath.Join(state, "outbox", "mail", "*.json"))
		st, _ := filepath.Glob(filepath.Join(state, "state", "web*.json"))
		return len(out) == 5 && len(st) == 5
	})
	d.cmd.Process.Kill()
	<-d.done
	if n := len(mail.Messages()); n != 0 {
		t.Fatalf("%d mails inside the window", n)
	}
	// The restart shortens the window to 1 s: it has passed for the five.
	if err := os.WriteFile(filepath.Join(dir, "conf.d", "window.conf"), []byte("[main]\ngroup_window = 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	d2 := startDaemon(t, conf)
	waitFor(t, "the digest", func() bool { return len(mail.Messages()) >= 1 })
	d2.waitLog(`msg="test failed" test=web\d failures=[3-9]`, 5, 30*time.Second) // the counts went on: no new page
	if code := d2.stop(syscall.SIGTERM); code != 0 {
		t.Errorf("exit = %d", code)
	}
	got := mail.Subjects()
	if len(got) != 1 || !strings.HasPrefix(got[0], "FAIL 5 tests") {
		t.Errorf("mails = %q, want one digest of 5 tests", got)
	}
	if out, _ := filepath.Glob(filepath.Join(state, "outbox", "mail", "*.json")); len(out) != 0 {
		t.Errorf("outbox still holds %d messages after the digest", len(out))
	}
}
