package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestKillDuringCheckRun kills the daemon while a check is running (the
// script's second run, which blocks): the run in flight is lost, but the
// failure counted before it is not, and level 2 still fires at the next
// failure after the restart. The script marks each run in a file, so the
// kill lands inside the second run whatever the machine's speed.
func TestKillDuringCheckRun(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	runs := filepath.Join(dir, "runs")
	conf := writeConf(t, map[string]string{"monsta.conf": fmt.Sprintf(`
[main]
statedir = STATEDIR
user = root
[Check_slow]
type = script
command = sh -c "echo run >> %s; if [ $(wc -l < %s) -eq 2 ]; then sleep 5; fi; exit 1"
timeout = 10
[Notification_page]
type = log
recipient = error
[Test_slow]
checks = slow
interval = 1
notify = 2:page
`, runs, runs)})
	d := startDaemon(t, conf)
	d.waitLog(`msg="test failed" test=slow failures=1`, 1, 15*time.Second)
	waitFor(t, "the second run", func() bool {
		b, _ := os.ReadFile(runs)
		return strings.Count(string(b), "run") >= 2
	})
	d.cmd.Process.Kill()
	<-d.done
	if strings.Contains(d.log.String(), "failures=2") {
		t.Fatal("the second run finished before the kill")
	}
	d2 := startDaemon(t, conf)
	log := d2.waitLog(`msg=notification test=slow state=FAIL failures=2`, 1, 20*time.Second)
	if strings.Contains(log, "failures=1 ") {
		t.Errorf("the count restarted after kill -9 during a run:\n%s", log)
	}
	d2.stop(syscall.SIGTERM)
}
