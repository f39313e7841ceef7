package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// serviceConf is one passing and one failing test, run every second.
const serviceConf = `
[main]
user = root
statedir = STATEDIR
%s
[Check_ok]
type = script
command = true
[Check_bad]
type = script
command = false
[Test_ok]
checks = ok
interval = 1
[Test_bad]
checks = bad
interval = 1
`

// TestSecondDaemonExitsNamingTheFirst: one daemon per state directory; the
// second exits 2 naming the directory and the first one's pid, while
// --lint and --run, which take no lock, still work.
func TestSecondDaemonExitsNamingTheFirst(t *testing.T) {
	t.Parallel()
	conf := writeConf(t, map[string]string{"monsta.conf": fmt.Sprintf(serviceConf, "")})
	first := startDaemon(t, conf)
	first.waitLog(`monsta started`, 1, 20*time.Second)
	r := monsta(t, "--foreground", "--config", conf)
	statedir := filepath.Join(filepath.Dir(conf), "state")
	pid := strconv.Itoa(first.cmd.Process.Pid)
	if r.code != exitConfig || !strings.Contains(r.stderr, statedir) || !strings.Contains(r.stderr, "pid "+pid) {
		t.Errorf("second daemon: exit %d, want 2 naming %s and pid %s\n%s", r.code, statedir, pid, r.stderr)
	}
	if r := monsta(t, "--lint", "--no-login", "--config", conf); r.code != 0 {
		t.Errorf("--lint beside a running daemon: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := monsta(t, "--run", "Check_ok", "--config", conf); r.code != 0 {
		t.Errorf("--run beside a running daemon: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if code := first.stop(syscall.SIGTERM); code != 0 {
		t.Errorf("first daemon exit = %d", code)
	}
	// The lock went with the first daemon.
	again := startDaemon(t, conf)
	again.waitLog(`monsta started`, 1, 20*time.Second)
	again.stop(syscall.SIGTERM)
}

// notifyListener collects the datagrams a daemon sends to NOTIFY_SOCKET.
type notifyListener struct {
	path string
	mu   sync.Mutex
	msgs []string
}

func listenNotify(t *testing.T) *notifyListener {
	t.Helper()
	n := &notifyListener{path: filepath.Join(t.TempDir(), "notify")}
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: n.path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	go func() {
		buf := make([]byte, 4096)
		for {
			k, err := conn.Read(buf)
			if err != nil {
				return
			}
			n.mu.Lock()
			n.msgs = append(n.msgs, strings.Split(string(buf[:k]), "\n")...)
			n.mu.Unlock()
		}
	}()
	return n
}

func (n *notifyListener) all() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.msgs...)
}

// indexAfter returns the index of the first message after from that starts
// with prefix, or -1.
func indexAfter(msgs []string, from int, prefix string) int {
	for i := from + 1; i < len(msgs); i++ {
		if strings.HasPrefix(msgs[i], prefix) {
			return i
		}
	}
	return -1
}

// countBetween counts the messages equal to m in msgs(from, to).
func countBetween(msgs []string, from, to int, m string) int {
	n := 0
	for i := from + 1; i < to && i < len(msgs); i++ {
		if msgs[i] == m {
			n++
		}
	}
	return n
}

// TestSystemdNotify: READY=1 once running, WATCHDOG=1 keep-alives at the
// configured rate, RELOADING=1 then READY=1 around SIGHUP, STOPPING=1, and
// STATUS= lines with the failing and passing counts.
func TestSystemdNotify(t *testing.T) {
	t.Parallel()
	n := listenNotify(t)
	conf := writeConf(t, map[string]string{"monsta.conf": fmt.Sprintf(serviceConf, "")})
	// A 200 ms watchdog: keep-alives every 100 ms.
	d := startDaemonEnv(t, conf, "NOTIFY_SOCKET="+n.path, "WATCHDOG_USEC=200000")
	var ready int
	waitFor(t, "READY=1 and three keep-alives", func() bool {
		m := n.all()
		ready = indexAfter(m, -1, "READY=1")
		return ready >= 0 && countBetween(m, ready, len(m), "WATCHDOG=1") >= 3
	})
	waitFor(t, "a STATUS= with one failing and one passing test", func() bool {
		for _, s := range n.all() {
			if strings.HasPrefix(s, "STATUS=") && strings.Contains(s, "1 failing") && strings.Contains(s, "1 passing") {
				return true
			}
		}
		return false
	})
	d.cmd.Process.Signal(syscall.SIGHUP)
	var reloading, ready2 int
	waitFor(t, "RELOADING=1, READY=1 and keep-alives after the reload", func() bool {
		m := n.all()
		reloading = indexAfter(m, ready, "RELOADING=1")
		ready2 = indexAfter(m, reloading, "READY=1")
		return reloading > 0 && ready2 > 0 && countBetween(m, ready2, len(m), "WATCHDOG=1") >= 2
	})
	if code := d.stop(syscall.SIGTERM); code != 0 {
		t.Errorf("exit = %d", code)
	}
	m := n.all()
	if countBetween(m, ready, reloading, "WATCHDOG=1") < 3 {
		t.Errorf("fewer than 3 keep-alives between READY=1 and RELOADING=1: %q", m)
	}
	if stopping := indexAfter(m, ready2, "STOPPING=1"); stopping < 0 {
		t.Errorf("no STOPPING=1 after the reload's READY=1: %q", m)
	}
}

// TestLogFileReopened: after logrotate's rename, SIGUSR1 (and SIGHUP) make
// the daemon log into a new file of the configured name.
func TestLogFileReopened(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	logPath := filepath.Join(dir, "monsta.log")
	conf := writeConf(t, map[string]string{"monsta.conf": fmt.Sprintf(serviceConf, "logfile = "+logPath)})
	d := startDaemon(t, conf)
	read := func(p string) string { b, _ := os.ReadFile(p); return string(b) }
	waitFor(t, "the log file", func() bool { return strings.Contains(read(logPath), "monsta started") })
	for i, sig := range []syscall.Signal{syscall.SIGUSR1, syscall.SIGHUP} {
		rotated := fmt.Sprintf("%s.%d", logPath, i+1)
		if err := os.Rename(logPath, rotated); err != nil {
			t.Fatal(err)
		}
		d.cmd.Process.Signal(sig)
		waitFor(t, "a new log file after "+sig.String(), func() bool {
			return strings.Contains(read(logPath), "log file reopened") && strings.Contains(read(logPath), "test failed")
		})
		// The rotated file holds the previous reopen's line, not this one's.
		if strings.Count(read(rotated), "log file reopened") != i {
			t.Errorf("the rotated file %s got lines after the reopen:\n%s", rotated, read(rotated))
		}
	}
	if code := d.stop(syscall.SIGTERM); code != 0 {
		t.Errorf("exit = %d", code)
	}
	if !strings.Contains(read(logPath), "monsta stopped") {
		t.Errorf("the new log file lacks the stop:\n%s", read(logPath))
	}
}

// TestJournalFormat: with stderr a journal stream, lines carry <N>
// priorities and no timestamp.
func TestJournalFormat(t *testing.T) {
	t.Parallel()
	conf := writeConf(t, map[string]string{"monsta.conf": fmt.Sprintf(serviceConf, "")})
	errPath := filepath.Join(t.TempDir(), "stderr")
	f, err := os.Create(errPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(monstaBin, "--foreground", "--config", conf)
	cmd.Env = append(os.Environ(), fmt.Sprintf("JOURNAL_STREAM=%d:%d", st.Dev, st.Ino))
	cmd.Stderr = f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	read := func() string { b, _ := os.ReadFile(errPath); return string(b) }
	waitFor(t, "a warning", func() bool { return strings.Contains(read(), "<4>") })
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()
	for _, l := range strings.Split(strings.TrimSpace(read()), "\n") {
		if len(l) < 3 || l[0] != '<' || l[2] != '>' || strings.Contains(l, "time=") {
			t.Errorf("not a journal line: %q", l)
		}
	}
	if out := read(); !strings.Contains(out, `<6>level=INFO msg="monsta started"`) {
		t.Errorf("no <6> start line:\n%s", out)
	}
}

// TestPidFileGoneAsNobody: started as root with user=nobody and
// daemonize=1, the daemon makes the pid file's directory its own, so it can
// remove the pid file after dropping privileges.
func TestPidFileGoneAsNobody(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to drop privileges")
	}
	if _, err := user.Lookup("nobody"); err != nil {
		t.Skip("no user nobody")
	}
	t.Parallel()
	dir := t.TempDir()
	// nobody must reach the files below dir.
	for p := dir; p != os.TempDir() && p != "/"; p = filepath.Dir(p) {
		os.Chmod(p, 0o755)
	}
	pidfile := filepath.Join(dir, "run", "monsta.pid")
	conf := filepath.Join(dir, "monsta.conf")
	body := fmt.Sprintf(serviceConf, fmt.Sprintf("daemonize = 1\npidfile = %s\nlogfile = %s\n", pidfile, filepath.Join(dir, "monsta.log")))
	body = strings.Replace(body, "user = root", "user = nobody", 1)
	body = strings.Replace(body, "STATEDIR", filepath.Join(dir, "state"), 1)
	if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	r := monsta(t, "--config", conf)
	if r.code != 0 {
		t.Fatalf("daemonize: exit %d\n%s", r.code, r.stderr)
	}
	pid := waitPidFile(t, pidfile)
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
	waitFor(t, "privileges dropped", func() bool {
		b, _ := os.ReadFile(filepath.Join(dir, "monsta.log"))
		return strings.Contains(string(b), "dropped privileges")
	})
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the pid file to be removed", func() bool { _, err := os.Stat(pidfile); return os.IsNotExist(err) })
	b, _ := os.ReadFile(filepath.Join(dir, "monsta.log"))
	if !strings.Contains(string(b), "monsta stopped") || strings.Contains(string(b), "pid file") && strings.Contains(string(b), "level=ERROR") {
		t.Errorf("log:\n%s", b)
	}
}
