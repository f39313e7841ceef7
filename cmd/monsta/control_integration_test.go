//go:build integration

package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestStatusPageAndMetricsForReal serves the HTTP API of a real daemon:
// /metrics passes promtool's checks, and the status page loaded in a
// headless Chromium shows the failing test first with its error.
func TestStatusPageAndMetricsForReal(t *testing.T) {
	for _, tool := range []string{"promtool", "chromium"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not installed (Debian packages prometheus and chromium): %v", tool, err)
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	conf := writeConf(t, map[string]string{"monsta.conf": `
[main]
statedir = STATEDIR
user = root
listen = ` + addr + `
[Check_ok]
type = script
command = true
[Check_broken]
type = script
command = sh -c "echo disk full; exit 1"
[Test_alpha]
checks = ok
interval = 1
[Test_zeta]
checks = broken
interval = 1
`})
	d := startDaemon(t, conf)
	d.waitLog(`msg="test failed" test=zeta`, 1, 15*time.Second)
	d.waitLog(`msg="HTTP API listening"`, 1, 15*time.Second)
	base := "http://" + addr

	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `monsta_test_up{test="zeta"} 0`) {
		t.Errorf("/metrics lacks zeta down:\n%s", body)
	}
	check := exec.Command("promtool", "check", "metrics")
	check.Stdin = strings.NewReader(string(body))
	if out, err := check.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}

	// Changes over TCP without a token: 401; reading works.
	resp, err = http.Post(base+"/api/v1/silences", "application/json", strings.NewReader(`{"pattern":"zeta","duration":"1h"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("POST silence over TCP without token = %d, want 401", resp.StatusCode)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "chromium", "--headless", "--no-sandbox", "--disable-gpu",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
		"--user-data-dir="+t.TempDir(), "--dump-dom", base+"/").Output()
	if err != nil {
		t.Fatalf("chromium --dump-dom: %v", err)
	}
	dom := string(out)
	zeta, alpha := strings.Index(dom, `id="test-zeta"`), strings.Index(dom, `id="test-alpha"`)
	if zeta < 0 || alpha < 0 || zeta > alpha {
		t.Errorf("the failing test zeta is not shown first (zeta at %d, alpha at %d):\n%s", zeta, alpha, dom)
	}
	if i := strings.Index(dom, `class="err">broken: `); i < zeta || !strings.Contains(dom[i:], "disk full") {
		t.Errorf("the page lacks zeta's error:\n%s", dom)
	}
	d.stop(syscall.SIGTERM)
}
