package main

import (
	"fmt"
	"github.com/monsta/monsta/internal/testkit/testconf"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/monsta/monsta/internal/testkit/loopback"
	"github.com/monsta/monsta/internal/testkit/smtpfake"
)

// waitFor polls cond for up to 20 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for i := 0; i < 400; i++ {
		if cond() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

// waitPidFile waits for a daemon's pid file at path and returns the pid
// in it.
func waitPidFile(t *testing.T, path string) int {
	t.Helper()
	var pid int
	waitFor(t, "the pid file", func() bool {
		b, err := os.ReadFile(path)
		pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil && pid > 0
	})
	return pid
}

// readmeOriginal returns the first ini snippet of README.md: the
// configuration in the original style.
func readmeOriginal(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)```ini\n(.*?)```").FindStringSubmatch(string(data))
	if m == nil || !strings.Contains(m[1], "notify = 2:bob") {
		t.Fatal("README.md lost its original-style configuration")
	}
	return m[1]
}

// TestOriginalStyleConfigRunsUnchanged runs the README's original-style
// configuration as written; only the two ports of its loopback services are
// moved to this test's fakes, and a conf.d file sets what a test needs
// (state directory, foreground, a short interval) the way an admin would.
func TestOriginalStyleConfigRunsUnchanged(t *testing.T) {
	t.Parallel()
	ssh, stopSSH := loopback.ServeStop(t, func(c net.Conn) { c.Write([]byte("SSH-2.0-OpenSSH_9.2\r\n")) })
	mail := smtpfake.Start(t, smtpfake.Config{STARTTLS: true, Users: map[string]string{"monsta": "secret"}})
	_, mailPort := mail.HostPort(t)
	conf := readmeOriginal(t)
	conf = strings.Replace(conf, "port = 22", fmt.Sprintf("port = %d", loopback.Port(ssh)), 1)
	conf = strings.Replace(conf, "port = 25", "port = "+mailPort, 1)
	path := writeConf(t, map[string]string{
		"monsta.conf": conf,
		"conf.d/99-test.conf": "[main]\nstatedir = STATEDIR\nuser = root\n" +
			"[Notification_bob]\ntls_verify = no\n[Test_ssh]\ninterval = 1\n",
	})
	if r := monsta(t, "--lint", "--config", path); r.code != 0 || !strings.Contains(r.stdout, "Notification_bob (smtp): verified") {
		t.Fatalf("--lint = %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := monsta(t, "--run", "Test_ssh", "--config", path); r.code != 0 {
		t.Fatalf("--run Test_ssh = %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	d := startDaemon(t, path)
	d.waitLog(`msg="monsta started"`, 1, 10*time.Second)
	stopSSH() // the service goes down: two failures page bob by mail
	// --lint tried MAIL FROM and RCPT TO without DATA; the page is the
	// first transaction with a message.
	var m smtpfake.Msg
	waitFor(t, "bob's mail", func() bool {
		for _, x := range mail.Messages() {
			if x.Data != nil {
				m = x
				return true
			}
		}
		return false
	})
	if !m.TLS || m.User != "monsta" || m.To[0] != "bob@example.org" || !strings.Contains(string(m.Data), "(2 failures since ") ||
		!strings.Contains(string(m.Data), "Auto-Submitted: auto-generated") {
		t.Errorf("bob's mail: tls=%v user=%q to=%v\n%s", m.TLS, m.User, m.To, m.Data)
	}
	if code := d.stop(syscall.SIGTERM); code != 0 {
		t.Errorf("exit = %d", code)
	}
}

func TestDaemonizeWritesPidFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pidfile := filepath.Join(dir, "monsta.pid")
	path := writeConf(t, map[string]string{"monsta.conf": fmt.Sprintf(`
[main]
daemonize = 1
user = root
pidfile = %s
logfile = %s
statedir = STATEDIR
[Check_ok]
type = script
command = true
[Test_ok]
checks = ok
`, pidfile, filepath.Join(dir, "monsta.log"))})
	r := monsta(t, "--config", path)
	if r.code != 0 || !strings.Contains(r.stderr, "running in the background") {
		t.Fatalf("daemonize: exit %d\n%s", r.code, r.stderr)
	}
	pid := waitPidFile(t, pidfile)
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatalf("signal the daemon: %v", err)
	}
	waitFor(t, "the pid file to be removed", func() bool { _, err := os.Stat(pidfile); return os.IsNotExist(err) })
	log, _ := os.ReadFile(filepath.Join(dir, "monsta.log"))
	if !strings.Contains(string(log), "monsta stopped") {
		t.Errorf("log file lacks the stop:\n%s", log)
	}
}

// TestKillDuringSendResumes kills the daemon while a send hangs on a silent
// server; the restarted daemon delivers the message from the outbox.
func TestKillDuringSendResumes(t *testing.T) {
	t.Parallel()
	silent, stopSilent := loopback.SilentStop(t)
	port := loopback.Port(silent)
	path := writeConf(t, map[string]string{"monsta.conf": testconf.MailDown(port, "user = root\n")})
	d := startDaemon(t, path)
	d.waitLog(`msg="test failed" test=down failures=1`, 1, 20*time.Second)
	d.cmd.Process.Kill() // kill -9 while the send waits for a banner
	<-d.done
	stopSilent()
	mail := smtpfake.Start(t, smtpfake.Config{Addr: fmt.Sprintf("127.0.0.1:%d", port)})
	d2 := startDaemon(t, path)
	d2.waitLog(`msg="resuming undelivered notifications" notification=page count=1`, 1, 10*time.Second)
	d2.waitLog(`msg="notification sent" notification=page`, 1, 20*time.Second)
	if n := len(mail.Messages()); n != 1 {
		t.Errorf("server got %d messages, want 1", n)
	}
	if !strings.Contains(string(mail.Messages()[0].Data), "(1 failure since ") {
		t.Errorf("resumed message:\n%s", mail.Messages()[0].Data)
	}
	d2.stop(syscall.SIGTERM)
}
