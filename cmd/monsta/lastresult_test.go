package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/monsta/monsta/internal/testkit/loopback"
	"github.com/monsta/monsta/runtime/control"
)

// lastResultRun is a daemon whose two tests run only when asked (their
// interval is a day): web fails with "connection refused", ok passes.
type lastResultRun struct {
	t     *testing.T
	conf  string
	state string
	http  *http.Client
}

func newLastResultRun(t *testing.T) *lastResultRun {
	port := strconv.Itoa(loopback.ClosedPort(t))
	conf := writeConf(t, map[string]string{"monsta.conf": `
[main]
statedir = STATEDIR
user = root
[Check_down]
type = portconnect
host = 127.0.0.1
port = ` + port + `
[Check_up]
type = script
command = true
[Test_web]
checks = down
interval = 86400
[Test_ok]
checks = up
interval = 86400
`})
	r := &lastResultRun{t: t, conf: conf, state: filepath.Join(filepath.Dir(conf), "state")}
	sock := filepath.Join(r.state, "monsta.sock")
	r.http = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		}}}
	return r
}

// start starts the daemon and waits for its control socket.
func (r *lastResultRun) start() *daemon {
	d := startDaemon(r.t, r.conf)
	d.waitLog(`msg="control socket listening"`, 1, 15*time.Second)
	return d
}

// do sends a request over the control socket and returns the body.
func (r *lastResultRun) do(method, path string) string {
	r.t.Helper()
	req, _ := http.NewRequest(method, "http://monsta"+path, nil)
	resp, err := r.http.Do(req)
	if err != nil {
		r.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		r.t.Fatalf("%s %s: %s\n%s", method, path, resp.Status, b)
	}
	return string(b)
}

// status returns --status --json's tests by name.
func (r *lastResultRun) status() map[string]control.Test {
	r.t.Helper()
	res := monsta(r.t, "--config", r.conf, "--status", "--json")
	var list control.TestList
	if err := json.Unmarshal([]byte(res.stdout), &list); err != nil {
		r.t.Fatalf("--status --json: %v\n%s%s", err, res.stdout, res.stderr)
	}
	m := map[string]control.Test{}
	for _, x := range list.Tests {
		m[x.Name] = x
	}
	return m
}

// want checks that --status --json, --status and /metrics show the runs
// of before: web failed with its error, ok passed, at the same times.
func (r *lastResultRun) want(when string, before map[string]control.Test) {
	r.t.Helper()
	st := r.status()
	web, ok := st["web"], st["ok"]
	if web.OK || web.State != control.StateFail || len(web.Checks) != 1 || len(web.Checks[0].Errors) == 0 ||
		!strings.Contains(web.Checks[0].Errors[0], "connection refused") || !web.LastRun.Equal(before["web"].LastRun) {
		r.t.Errorf("%s: web = %+v, want its failed run of %v with its error", when, web, before["web"].LastRun)
	}
	if !ok.OK || ok.State != control.StateOK || len(ok.Checks) != 1 || !ok.Checks[0].OK || !ok.LastRun.Equal(before["ok"].LastRun) {
		r.t.Errorf("%s: ok = %+v, want its passed run of %v", when, ok, before["ok"].LastRun)
	}
	if text := monsta(r.t, "--config", r.conf, "--status").stdout; !regexp.MustCompile(`FAIL +web .*connection refused`).MatchString(text) {
		r.t.Errorf("%s: --status lacks web's error:\n%s", when, text)
	}
	metrics := r.do("GET", "/metrics")
	for _, m := range []string{
		`monsta_check_success{check="down",test="web",type="portconnect"} 0`,
		`monsta_check_success{check="up",test="ok",type="script"} 1`,
		`monsta_check_duration_seconds{check="down",test="web",type="portconnect"}`,
		`monsta_check_duration_seconds{check="up",test="ok",type="script"}`,
		`monsta_test_up{test="web"} 0`,
		`monsta_test_up{test="ok"} 1`,
	} {
		if !strings.Contains(metrics, m) {
			r.t.Errorf("%s: /metrics lacks %s", when, m)
		}
	}
}

// TestLastResultSurvivesReloadAndRestart: the last result of each test,
// its error included, is in --status (text and JSON) and /metrics after a
// SIGHUP, after a restart and after a kill -9, until the next run.
func TestLastResultSurvivesReloadAndRestart(t *testing.T) {
	r := newLastResultRun(t)
	d := r.start()
	r.do("POST", "/api/v1/tests/web/run")
	r.do("POST", "/api/v1/tests/ok/run")
	before := r.status()
	r.want("after the runs", before)

	d.cmd.Process.Signal(syscall.SIGHUP)
	d.waitLog(`configuration reloaded`, 1, 10*time.Second)
	r.want("after SIGHUP", before)

	if code := d.stop(syscall.SIGTERM); code != 0 {
		t.Fatalf("stop exit = %d", code)
	}
	d = r.start()
	r.want("after a restart", before)

	d.cmd.Process.Kill()
	<-d.done
	r.start()
	r.want("after kill -9", before)
}
