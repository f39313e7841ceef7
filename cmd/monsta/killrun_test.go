package main

import (
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestKillDuringCheckRun kills the daemon while a check is running (a
// script that takes a second and fails): the run in flight is lost, but the
// failure counted before it is not, and level 2 still fires at the next
// failure after the restart.
func TestKillDuringCheckRun(t *testing.T) {
	conf := writeConf(t, map[string]string{"monsta.conf": `
[main]
statedir = STATEDIR
user = root
[Check_slow]
type = script
command = sh -c "echo started; sleep 1; exit 1"
timeout = 5
[Notification_page]
type = log
recipient = error
[Test_slow]
checks = slow
interval = 3
notify = 2:page
`})
	d := startDaemon(t, conf)
	d.waitLog(`msg="test failed" test=slow failures=1`, 1, 15*time.Second)
	// The next run starts 3 s after the first; kill it half-way through.
	time.Sleep(2500 * time.Millisecond)
	d.cmd.Process.Kill()
	<-d.done
	if strings.Contains(d.log.String(), "failures=2") {
		t.Fatal("the second run finished before the kill; the test's timing is off for this machine")
	}
	d2 := startDaemon(t, conf)
	log := d2.waitLog(`msg=notification test=slow state=FAIL failures=2`, 1, 20*time.Second)
	if strings.Contains(log, "failures=1 ") {
		t.Errorf("the count restarted after kill -9 during a run:\n%s", log)
	}
	d2.stop(syscall.SIGTERM)
}
