package main

import (
	"fmt"
	"github.com/monsta/monsta/internal/testkit/testconf"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/monsta/monsta/internal/testkit/loopback"
	"github.com/monsta/monsta/internal/testkit/smtpfake"
)

// stopGuard is how long a stop may take: [main] stop_timeout's default
// of 5 s, plus a second. It turns a stop that waits for a check's or a
// notifier's own timeout (30 s here) into a failure.
const stopGuard = 6 * time.Second

// stopWithin sends sig and returns the exit status, failing the test when
// the daemon has not exited within guard.
func (d *daemon) stopWithin(sig syscall.Signal, guard time.Duration) int {
	d.t.Helper()
	d.cmd.Process.Signal(sig)
	select {
	case <-d.done:
	case <-time.After(guard):
		d.t.Fatalf("daemon still running %v after %v:\n%s", guard, sig, d.logNow())
	}
	return d.cmd.ProcessState.ExitCode()
}

// TestStopWithDeadNotifierIsQuick: SIGTERM while a page hangs on a mail
// server that accepts and never answers (timeout 30) exits within the stop
// bound; the page stays in the outbox and is delivered after the next
// start, once the server is up.
func TestStopWithDeadNotifierIsQuick(t *testing.T) {
	t.Parallel()
	silent, stopSilent := loopback.SilentStop(t)
	port := loopback.Port(silent)
	conf := strings.Replace(testconf.MailDown(port, "user = root\n"), "timeout = 2", "timeout = 30", 1)
	path := writeConf(t, map[string]string{"monsta.conf": conf})
	d := startDaemon(t, path)
	d.waitLog(`msg="test failed" test=down failures=1`, 1, 20*time.Second)
	if code := d.stopWithin(syscall.SIGTERM, stopGuard); code != 0 {
		t.Errorf("exit status after SIGTERM = %d, want 0", code)
	}
	files, _ := filepath.Glob(filepath.Join(filepath.Dir(path), "state", "outbox", "page", "*.json"))
	if len(files) != 1 {
		t.Fatalf("outbox holds %d messages after the stop, want 1", len(files))
	}
	stopSilent()
	mail := smtpfake.Start(t, smtpfake.Config{Addr: fmt.Sprintf("127.0.0.1:%d", port)})
	d2 := startDaemon(t, path)
	d2.waitLog(`msg="notification sent" notification=page`, 1, 20*time.Second)
	if n := len(mail.Messages()); n == 0 || !strings.Contains(string(mail.Messages()[0].Data), "down") {
		t.Errorf("server got %d messages after the restart, want the page for test down", n)
	}
	d2.stopWithin(syscall.SIGTERM, stopGuard)
}

// sleepyLua is a check type whose run sleeps 30 s (its timeout is 30 s).
const sleepyLua = `
monsta.check_type{
  name = "sleepy",
  description = "sleep for 30 s",
  options = {},
  run = function(opt)
    print("sleepy started")
    monsta.sleep(30)
    return true
  end,
}
`

const sleepyConf = `
[main]
statedir = STATEDIR
user = root
[Check_nap]
type = sleepy
timeout = 30
[Notification_page]
type = log
recipient = warn
[Test_nap]
checks = nap
interval = 1
notify = 1:page
`

// TestStopCancelsLuaCheck: SIGTERM while a Lua check sleeps through its
// 30 s timeout exits within the stop bound; the cancelled run is not
// counted as a failure.
func TestStopCancelsLuaCheck(t *testing.T) {
	t.Parallel()
	path := writeConf(t, map[string]string{"monsta.conf": sleepyConf, "conf.d/sleepy.lua": sleepyLua})
	d := startDaemon(t, path)
	d.waitLog(`sleepy started`, 1, 20*time.Second)
	if code := d.stopWithin(syscall.SIGTERM, stopGuard); code != 0 {
		t.Errorf("exit status after SIGTERM = %d, want 0", code)
	}
	log := d.logNow()
	if !strings.Contains(log, "cancelling the checks still running") || strings.Contains(log, `msg="test failed"`) {
		t.Errorf("log of a stop that cancels a Lua check:\n%s", log)
	}
}

// TestSecondSignalExitsAtOnce: a second SIGINT while the first waits for a
// running check exits at once, with status 1.
func TestSecondSignalExitsAtOnce(t *testing.T) {
	t.Parallel()
	path := writeConf(t, map[string]string{"monsta.conf": strings.Replace(sleepyConf, "user = root", "user = root\nstop_timeout = 60", 1),
		"conf.d/sleepy.lua": sleepyLua})
	d := startDaemon(t, path)
	d.waitLog(`sleepy started`, 1, 20*time.Second)
	d.cmd.Process.Signal(syscall.SIGINT)
	d.waitLog(`msg="stopping: waiting for running checks`, 1, 10*time.Second)
	if code := d.stopWithin(syscall.SIGINT, stopGuard); code != 1 {
		t.Errorf("exit status after a second SIGINT = %d, want 1", code)
	}
	if !strings.Contains(d.logNow(), "second stop signal: exiting at once") {
		t.Errorf("log:\n%s", d.logNow())
	}
}

// logNow returns the log collected so far.
func (d *daemon) logNow() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.log.String()
}

// TestFatalErrorIsNotExitStatus2: a fatal error of the Go runtime (here
// the one SIGQUIT forces) must not exit with 2, the configuration
// error's status, which the unit does not restart: the daemon dies of
// SIGABRT instead.
func TestFatalErrorIsNotExitStatus2(t *testing.T) {
	t.Parallel()
	path := writeConf(t, map[string]string{"monsta.conf": failingConf})
	d := startDaemonEnv(t, path, "GOTRACEBACK=")
	d.waitLog(`msg="monsta started"`, 1, 10*time.Second)
	d.cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-d.done:
	case <-time.After(10 * time.Second):
		t.Fatal("daemon still running 10 s after SIGQUIT")
	}
	ws := d.cmd.ProcessState.Sys().(syscall.WaitStatus)
	if ws.Exited() && ws.ExitStatus() == exitConfig {
		t.Errorf("fatal error exited with status %d, the configuration error's", exitConfig)
	}
	if !ws.Signaled() || ws.Signal() != syscall.SIGABRT {
		t.Errorf("fatal error: %v, want death by SIGABRT", d.cmd.ProcessState)
	}
}
