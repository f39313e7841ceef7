//go:build integration

package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// amWebhook is the receiver both Alertmanagers route to: it records the
// status ("firing" or "resolved") of each notification.
type amWebhook struct {
	mu   sync.Mutex
	got  []string
	note chan string
}

func (h *amWebhook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var p struct {
		Status string `json:"status"`
		Alerts []struct {
			Labels map[string]string `json:"labels"`
		} `json:"alerts"`
	}
	if err := json.NewDecoder(r.Body).Decode(&p); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	h.mu.Lock()
	h.got = append(h.got, p.Status)
	h.mu.Unlock()
	h.note <- p.Status
}

func (h *amWebhook) statuses() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.got...)
}

// wait waits for the next notification and wants it to be status.
func (h *amWebhook) wait(t *testing.T, status string, within time.Duration) {
	t.Helper()
	select {
	case s := <-h.note:
		if s != status {
			t.Fatalf("webhook got a %s notification, want %s (all: %v)", s, status, h.statuses())
		}
	case <-time.After(within):
		t.Fatalf("no %s notification within %v (got %v)", status, within, h.statuses())
	}
}

// freePort returns a loopback port nobody listens on now.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// amBinary finds Debian's prometheus-alertmanager and amtool. It skips
// when they are missing outside CI, and fails in CI.
func amBinary(t *testing.T) (am, amtool string) {
	t.Helper()
	am, err1 := exec.LookPath("prometheus-alertmanager")
	amtool, err2 := exec.LookPath("amtool")
	if err1 != nil || err2 != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("prometheus-alertmanager and amtool are needed (run .ci/servers install): %v %v", err1, err2)
		}
		t.Skipf("prometheus-alertmanager or amtool not installed (apt-get install prometheus-alertmanager): %v %v", err1, err2)
	}
	return am, amtool
}

// alertmanager is one private Alertmanager process.
type alertmanager struct {
	web  string
	cmd  *exec.Cmd
	done chan struct{}
}

func (a *alertmanager) stop() {
	a.cmd.Process.Kill()
	<-a.done
}

// startAlertmanagers starts two Alertmanagers in one cluster on loopback,
// both routing to hook with short group timers.
func startAlertmanagers(t *testing.T, bin, hook string) []*alertmanager {
	t.Helper()
	dir := t.TempDir()
	conf := filepath.Join(dir, "alertmanager.yml")
	yml := `route:
  receiver: hook
  group_by: ['alertname']
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: hook
    webhook_configs:
      - url: ` + hook + `
        send_resolved: true
`
	if err := os.WriteFile(conf, []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}
	cluster := []string{freePort(t), freePort(t)}
	var ams []*alertmanager
	for i := range 2 {
		a := &alertmanager{web: freePort(t), done: make(chan struct{})}
		logf, err := os.Create(filepath.Join(dir, fmt.Sprintf("am%d.log", i)))
		if err != nil {
			t.Fatal(err)
		}
		a.cmd = exec.Command(bin,
			"--config.file="+conf,
			"--storage.path="+filepath.Join(dir, fmt.Sprintf("data%d", i)),
			"--web.listen-address="+a.web,
			"--cluster.listen-address="+cluster[i],
			"--cluster.peer="+cluster[1-i],
			"--cluster.gossip-interval=50ms",
			"--cluster.pushpull-interval=500ms",
			"--cluster.settle-timeout=1s",
			"--cluster.peer-timeout=2s",
			"--log.level=warn")
		a.cmd.Stdout, a.cmd.Stderr = logf, logf
		a.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := a.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { a.cmd.Wait(); logf.Close(); close(a.done) }()
		t.Cleanup(func() {
			a.stop()
			if t.Failed() {
				b, _ := os.ReadFile(logf.Name())
				t.Logf("alertmanager %d log:\n%s", i, b)
			}
		})
		ams = append(ams, a)
	}
	for _, a := range ams {
		deadline := time.Now().Add(30 * time.Second)
		for {
			resp, err := http.Get("http://" + a.web + "/-/ready")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("alertmanager on %s not ready: %v", a.web, err)
			}
			select {
			case <-a.done:
				t.Fatalf("alertmanager on %s exited: %v", a.web, a.cmd.ProcessState)
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	return ams
}

// TestITAlertmanagerHAPair: two monsta instances with the same
// configuration (but their own state directories) post one failing test
// to two real Alertmanagers in one cluster. The receiver gets one firing
// notification; with one monsta and one Alertmanager stopped the alert
// stays and still resolves, in one resolved notification.
func TestITAlertmanagerHAPair(t *testing.T) {
	amBin, amtool := amBinary(t)
	hook := &amWebhook{note: make(chan string, 20)}
	srv := httptest.NewServer(hook)
	defer srv.Close()
	ams := startAlertmanagers(t, amBin, srv.URL+"/")

	dir := t.TempDir()
	flag := filepath.Join(dir, "down")
	if err := os.WriteFile(flag, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	conf := func(state string) string {
		return writeConf(t, map[string]string{"monsta.conf": `[main]
statedir = ` + state + `
user = root
[Check_flag]
type = script
command = test ! -e ` + flag + `
timeout = 5
[Test_web]
checks = flag
interval = 2
notify = 1:am
[Notification_am]
type = alertmanager
url = http://` + ams[0].web + ` http://` + ams[1].web + `
labels = instance=pair severity=page
`})
	}
	m1 := startDaemon(t, conf(filepath.Join(dir, "state1")))
	m2 := startDaemon(t, conf(filepath.Join(dir, "state2")))
	hook.wait(t, "firing", 30*time.Second)
	// Both instances keep re-sending; the cluster has one alert.
	m1.waitLog(`notification sent.*test=web`, 2, 20*time.Second)
	m2.waitLog(`notification sent.*test=web`, 2, 20*time.Second)
	for _, a := range ams {
		out, err := exec.Command(amtool, "--alertmanager.url=http://"+a.web, "alert", "query", "-o", "json").Output()
		if err != nil {
			t.Fatalf("amtool alert query: %v", err)
		}
		var alerts []struct {
			Labels map[string]string `json:"labels"`
		}
		if err := json.Unmarshal(out, &alerts); err != nil {
			t.Fatalf("amtool output %q: %v", out, err)
		}
		if len(alerts) != 1 || alerts[0].Labels["alertname"] != "web" || alerts[0].Labels["instance"] != "pair" {
			t.Errorf("amtool alert query on %s: %s, want one alert web/pair", a.web, out)
		}
	}

	// Stop one monsta and one Alertmanager: the alert stays firing.
	m1.stop(syscall.SIGKILL)
	ams[0].stop()
	m2.waitLog(`notification sent.*test=web`, 4, 20*time.Second)

	// The survivor sees the recovery and resolves the alert.
	if err := os.Remove(flag); err != nil {
		t.Fatal(err)
	}
	m2.waitLog(`test recovered.*test=web`, 1, 20*time.Second)
	hook.wait(t, "resolved", 30*time.Second)
	// Nothing more arrives: the pair paged once and resolved once.
	select {
	case s := <-hook.note:
		t.Errorf("extra %s notification; all: %v", s, hook.statuses())
	case <-time.After(3 * time.Second):
	}
	if got := hook.statuses(); len(got) != 2 {
		t.Errorf("webhook got %v, want [firing resolved]", got)
	}
}
