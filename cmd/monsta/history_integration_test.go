//go:build integration

package main

import (
	"encoding/json"
	"net"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/monsta/monsta/internal/testkit/loopback"
	"github.com/monsta/monsta/runtime/control"
	"github.com/monsta/monsta/runtime/history"
)

// TestHistoryReportMatchesTargetLog runs the real daemon against a target
// the test takes down twice and up again on a schedule it logs itself,
// half an interval after the test's runs (interval 1 s, the shortest a
// test takes), then reads the history database the daemon wrote: the
// report's downtime equals the target's log within one interval, and the
// outage count is exact.
func TestHistoryReportMatchesTargetLog(t *testing.T) {
	t.Parallel()
	sw := loopback.NewSwitch(t)
	host, port, _ := net.SplitHostPort(sw.Addr)
	conf := writeConf(t, map[string]string{"monsta.conf": `
[main]
statedir = STATEDIR
user = root
log_level = debug
[Check_web]
type = portconnect
host = ` + host + `
port = ` + port + `
timeout = 0.5
[Test_web]
checks = web
interval = 1
`})
	from := time.Now()
	d := startDaemon(t, conf)
	d.waitLog(`msg="test passed" test=web`, 1, 15*time.Second)
	const interval = time.Second
	base := time.Now().Add(interval / 2) // half an interval after a run
	steps := []struct {
		at   time.Duration
		call func()
	}{{interval, sw.Down}, {3 * interval, sw.Up}, {5 * interval, sw.Down}, {7 * interval, sw.Up}}
	for _, s := range steps {
		time.Sleep(time.Until(base.Add(s.at)))
		s.call()
	}
	time.Sleep(time.Until(base.Add(9 * interval)))
	if code := d.stop(syscall.SIGTERM); code != 0 {
		t.Fatalf("daemon exited %d", code)
	}
	to := time.Now()

	st, err := history.OpenReadOnly(filepath.Join(filepath.Dir(conf), "state", "history.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	events, err := st.Events("web", from, to)
	if err != nil {
		t.Fatal(err)
	}
	sessions, err := st.Sessions(from, to)
	if err != nil {
		t.Fatal(err)
	}
	r := history.Compute("web", events, sessions, from, to, history.Accounting{})
	want := sw.Downtime()
	checkReportCommand(t, conf, want, interval)
	t.Logf("report: down %v in %d outages, uptime %.2f%%; the target's log: down %v", r.TotalDown, r.Outages, r.Uptime, want)
	if r.Outages != 2 {
		t.Errorf("report has %d outages, want 2\nevents: %+v\nsessions: %+v", r.Outages, events, sessions)
	}
	if diff := (r.TotalDown - want).Abs(); diff > interval {
		t.Errorf("report's downtime %v, the target's log %v: %v apart, more than one interval\nevents: %+v", r.TotalDown, want, diff, events)
	}
	if len(sessions) != 1 || !sessions[0].Clean {
		t.Errorf("sessions = %+v, want one, ended clean by the stop", sessions)
	}
}

// checkReportCommand runs monsta --report --json on the stopped daemon's
// configuration (it reads the database itself) and checks web's row: the
// downtime want within one interval, and two outages.
func checkReportCommand(t *testing.T, conf string, want, interval time.Duration) {
	t.Helper()
	res := monsta(t, "--report", "--json", "--config", conf)
	if res.code != 0 {
		t.Fatalf("--report --json exited %d: %s", res.code, res.stderr)
	}
	var ans control.ReportAnswer
	if err := json.Unmarshal([]byte(res.stdout), &ans); err != nil {
		t.Fatalf("--report --json: %v\n%s", err, res.stdout)
	}
	for _, r := range ans.Tests {
		if r.Test != "web" {
			continue
		}
		got := time.Duration(r.DownSeconds * float64(time.Second))
		t.Logf("--report: down %v in %d outages", got, r.Outages)
		if r.Outages != 2 || (got-want).Abs() > interval {
			t.Errorf("--report: %d outages, down %v; want 2, %v within %v", r.Outages, got, want, interval)
		}
		return
	}
	t.Errorf("--report has no row for web: %s", res.stdout)
}
