package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/monsta/monsta/internal/testkit/loopback"
)

// tmpfsNS mounts a tmpfs of size bytes at dir in a mount namespace of its
// own, which a holder process keeps alive until the test ends: the
// daemons run in it (nsenter), and the test reaches its files through
// /proc/PID/root. Nothing is mounted where the rest of the machine sees it.
func tmpfsNS(t *testing.T, dir string, size int) (pid int) {
	t.Helper()
	cmd := exec.Command("unshare", "-m", "--propagation", "private", "sh", "-c",
		fmt.Sprintf("mount -t tmpfs -o size=%d tmpfs %s && echo mounted && exec sleep 3600", size, dir))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("unshare: %v", err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "mounted\n" {
		t.Fatalf("mount a tmpfs in a mount namespace: %q, %v", line, err)
	}
	return cmd.Process.Pid
}

// outboxIDs lists the outbox files under root (a state directory seen
// through /proc/PID/root).
func outboxIDs(t *testing.T, root string) map[string]bool {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(root, "outbox", "*", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, p := range m {
		ids[strings.TrimSuffix(filepath.Base(p), ".json")] = true
	}
	return ids
}

// pagesAtRisk asks the daemon's control socket for pages_at_risk.
func pagesAtRisk(t *testing.T, sock string) int {
	t.Helper()
	c := http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}, Timeout: 10 * time.Second}
	resp, err := c.Get("http://monsta/api/v1/tests")
	if err != nil {
		t.Fatalf("GET /api/v1/tests: %v", err)
	}
	defer resp.Body.Close()
	var v struct {
		PagesAtRisk int `json:"pages_at_risk"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v.PagesAtRisk
}

// fill writes zeros to path until the file system is full.
func fill(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("fill %s: %v", path, err)
			}
			return
		}
	}
}

// TestFullDiskThenKill fills the state directory's disk (a small tmpfs)
// while tests page through a notifier that is down, so every page stays in
// the outbox. The pages accepted meanwhile cannot be written: the daemon
// says they are at risk, keeps them in memory and writes them once the
// disk has room again. Then kill -9: every one of them is on disk, and a
// new daemon resumes them.
func TestFullDiskThenKill(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	if err := os.Mkdir(state, 0o750); err != nil {
		t.Fatal(err)
	}
	ns := tmpfsNS(t, state, 4<<20)
	seen := filepath.Join("/proc", strconv.Itoa(ns), "root") + state // the tmpfs, from here
	var conf strings.Builder
	fmt.Fprintf(&conf, "[main]\nstatedir = %s\nuser = root\nnotify_retry_initial = 60\n", state)
	fmt.Fprintf(&conf, "[Check_down]\ntype = portconnect\nhost = 127.0.0.1\nport = %d\ntimeout = 1\n", loopback.ClosedPort(t))
	fmt.Fprintf(&conf, "[Notification_page]\ntype = smtp\nhost = 127.0.0.1\nport = %d\nsender = m@localhost\nrecipient = ops@localhost\n", loopback.ClosedPort(t))
	for i := range 10 {
		fmt.Fprintf(&conf, "[Test_t%d]\nchecks = down\ninterval = 1\nnotify = 0:page\n", i)
	}
	cf := filepath.Join(dir, "monsta.conf")
	if err := os.WriteFile(cf, []byte(conf.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	start := func() *daemon {
		d := &daemon{t: t, cmd: exec.Command("nsenter", "-t", strconv.Itoa(ns), "-m", monstaBin, "--foreground", "--config", cf), done: make(chan struct{})}
		pr, pw, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		d.cmd.Stderr = pw
		if err := d.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		pw.Close()
		go func() {
			sc := bufio.NewScanner(pr)
			for sc.Scan() {
				d.mu.Lock()
				d.log.WriteString(sc.Text() + "\n")
				d.mu.Unlock()
			}
		}()
		go func() { d.cmd.Wait(); close(d.done) }()
		t.Cleanup(func() { d.cmd.Process.Kill(); <-d.done })
		return d
	}
	d := start()
	d.waitLog(`msg="test failed" test=t9`, 1, 20*time.Second)
	sock := filepath.Join(seen, "monsta.sock")
	waitFor(t, "the first pages in the outbox", func() bool { return len(outboxIDs(t, seen)) >= 10 })

	fill(t, filepath.Join(seen, "fill"))
	d.waitLog(`PAGES AT RISK: outbox write failed`, 20, 30*time.Second)
	if n := pagesAtRisk(t, sock); n == 0 {
		t.Errorf("pages_at_risk = 0 while the disk is full")
	}
	os.Remove(filepath.Join(seen, "fill"))
	waitFor(t, "no page at risk", func() bool { return pagesAtRisk(t, sock) == 0 })

	// Every page accepted while the disk was full, by the file the log
	// named, is on disk now: kill -9 cannot lose it.
	d.cmd.Process.Kill()
	<-d.done
	d.mu.Lock()
	log := d.log.String()
	d.mu.Unlock()
	rx := regexp.MustCompile(`PAGES AT RISK: outbox write failed.* file=\S*/outbox/page/(\S+)\.json`)
	risked := rx.FindAllStringSubmatch(log, -1)
	on := outboxIDs(t, seen)
	lost := 0
	for _, m := range risked {
		if !on[m[1]] {
			lost++
			t.Errorf("page %s, accepted on the full disk, not in the outbox after kill -9", m[1])
		}
	}
	t.Logf("%d pages accepted on the full disk, %d lost; %d in the outbox after kill -9", len(risked), lost, len(on))
	if !strings.Contains(log, "outbox written again; no page at risk") {
		t.Error("the daemon never said the pages were written")
	}

	d2 := start()
	resumed := d2.waitLog(`msg="resuming undelivered notifications" notification=page count=\d+`, 1, 20*time.Second)
	m := regexp.MustCompile(`resuming undelivered notifications" notification=page count=(\d+)`).FindStringSubmatch(resumed)
	if n, _ := strconv.Atoi(m[1]); n < len(on) {
		t.Errorf("the restarted daemon resumed %d notifications, want the %d in the outbox", n, len(on))
	}
	// (Not SIGTERM: it would wait the grace for the notifier that is down.)
	d2.cmd.Process.Kill()
	<-d2.done
}

// TestFIFOInStateDir puts FIFOs where a test state, an outbox file and
// the silences file go: the daemon starts, moves them aside and logs
// them, and stops on SIGTERM.
func TestFIFOInStateDir(t *testing.T) {
	t.Parallel()
	conf := writeConf(t, map[string]string{"monsta.conf": failingConf})
	state := filepath.Join(filepath.Dir(conf), "state")
	fifos := []string{
		filepath.Join(state, "state", "down.json"),
		filepath.Join(state, "outbox", "page", "00000000000000000001-00000001.json"),
		filepath.Join(state, "silences.json"),
	}
	for _, p := range fifos {
		if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Mkfifo(p, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	d := startDaemon(t, conf)
	log := d.waitLog(`msg="monsta started"`, 1, 20*time.Second)
	if code := d.stop(syscall.SIGTERM); code != 0 {
		t.Errorf("exit status after SIGTERM = %d, want 0", code)
	}
	for _, p := range fifos {
		if m, _ := filepath.Glob(p + ".bad-*"); len(m) != 1 {
			t.Errorf("FIFO %s not moved aside as NAME.bad-TIME: %v", p, m)
		}
	}
	if n := strings.Count(log, "not a regular file (a named pipe)"); n < len(fifos) {
		t.Errorf("the log names %d FIFOs, want %d:\n%s", n, len(fifos), log)
	}
}
