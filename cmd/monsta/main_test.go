package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/monsta/monsta/internal/testkit/loopback"
	"github.com/monsta/monsta/internal/testkit/testconf"
)

var monstaBin string

func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "monsta-bin")
	if err != nil {
		panic(err)
	}
	monstaBin = filepath.Join(dir, "monsta")
	var out []byte
	err = errors.New("not built with -race")
	if raceEnabled {
		out, err = exec.Command("go", "build", "-race", "-o", monstaBin, ".").CombinedOutput()
	}
	if err != nil {
		// Without -race when the tests run without it, or where the
		// toolchain lacks it.
		out2, err2 := exec.Command("go", "build", "-o", monstaBin, ".").CombinedOutput()
		if err2 != nil {
			fmt.Fprintf(os.Stderr, "build monsta: %v\n%s\n%s", err2, out, out2)
			os.Exit(2)
		}
	}
	// A race-enabled binary sleeps a second at exit unless told not to;
	// these tests run it a hundred times.
	os.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// result is one finished monsta command.
type result struct {
	code           int
	stdout, stderr string
}

func monsta(t *testing.T, args ...string) result {
	t.Helper()
	cmd := exec.Command(monstaBin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{code, out.String(), errb.String()}
}

// writeConf writes files (name → content) into a new directory and returns
// the path of its monsta.conf. "STATEDIR" in content becomes a fresh
// directory, and "user=" lines are added so a root test run keeps root.
func writeConf(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "conf.d"), 0o755)
	for name, body := range files {
		body = strings.ReplaceAll(body, "STATEDIR", filepath.Join(dir, "state"))
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, "monsta.conf")
}

func TestVersionAndUsage(t *testing.T) {
	t.Parallel()
	if r := monsta(t, "--version"); r.code != 0 || !strings.HasPrefix(r.stdout, "monsta ") {
		t.Errorf("--version = %d %q", r.code, r.stdout)
	}
	if r := monsta(t, "--help"); r.code != 0 || !strings.Contains(r.stdout, "--run SECTION") {
		t.Errorf("--help = %d %q", r.code, r.stdout)
	}
	if r := monsta(t, "--bogus"); r.code != exitConfig {
		t.Errorf("--bogus exit = %d, want 2", r.code)
	}
	if r := monsta(t, "--help", "widget"); r.code != exitConfig {
		t.Errorf("--help widget exit = %d, want 2", r.code)
	}
	if r := monsta(t, "--help", "check", "nope"); r.code != exitConfig || !strings.Contains(r.stderr, `no check type "nope"`) {
		t.Errorf("--help check nope = %d %q", r.code, r.stderr)
	}
}

func TestHelpListsTypes(t *testing.T) {
	t.Parallel()
	r := monsta(t, "--config", "/nonexistent/monsta.conf", "--help", "check")
	if r.code != 0 || !strings.Contains(r.stdout, "portconnect") || !strings.Contains(r.stdout, "script") {
		t.Errorf("--help check = %d\n%s", r.code, r.stdout)
	}
	r = monsta(t, "--config", "/nonexistent/monsta.conf", "--help", "notification", "log")
	if r.code != 0 || !strings.Contains(r.stdout, "recipient") || !strings.Contains(r.stdout, "required") {
		t.Errorf("--help notification log = %d\n%s", r.code, r.stdout)
	}
}

func TestLintReportsEveryProblemWithPositions(t *testing.T) {
	t.Parallel()
	conf := writeConf(t, map[string]string{
		"monsta.conf":        "[main]\nstatedir=STATEDIR\n[Check_a]\ntype=portconnect\nhost=127.0.0.1\nport=80x\n",
		"conf.d/10-web.conf": "[Test_web]\nchecks=a b\ninterval=soon\nnotify=2:bob\n",
	})
	r := monsta(t, "--lint", "--config", conf)
	if r.code != exitConfig {
		t.Fatalf("--lint exit = %d, want 2\n%s%s", r.code, r.stdout, r.stderr)
	}
	want := []string{
		`monsta.conf:6: [Check_a] port: "80x" is not a port number`,
		`conf.d/10-web.conf:2: [Test_web] checks: no check named "b"`,
		`conf.d/10-web.conf:3: [Test_web] interval: "soon" is not a duration (seconds, or such as 90s, 5m, 2h, 1d)`,
		`conf.d/10-web.conf:4: [Test_web] notify: no notification named "bob"`,
		`configuration invalid: 4 problems`,
	}
	for _, w := range want {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("--lint output lacks %q:\n%s", w, r.stderr)
		}
	}
	if strings.Contains(r.stderr, "goroutine") || strings.Contains(r.stderr, "panic") {
		t.Errorf("--lint printed a stack trace:\n%s", r.stderr)
	}
}

func TestLintWarnsButPasses(t *testing.T) {
	t.Parallel()
	conf := writeConf(t, map[string]string{"monsta.conf": `
[main]
statedir = STATEDIR
strict = no
[Check_a]
type = portconnect
host = 127.0.0.1
port = 1
prot = 2
[Check_unused]
type = script
command = true
[Notification_log]
type = log
recipient = warn
[Test_t]
checks = a
notify = 1:log
`})
	r := monsta(t, "--lint", "--config", conf)
	if r.code != 0 {
		t.Fatalf("--lint exit = %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, w := range []string{`prot: unknown option for type portconnect, ignored (did you mean "port"?)`, `[Check_unused] check is not used by any test`, "configuration OK: 1 test, 2 checks, 1 notification"} {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("--lint output lacks %q:\n%s", w, r.stdout)
		}
	}
}

func TestLintMissingConfig(t *testing.T) {
	t.Parallel()
	r := monsta(t, "--lint", "--config", "/nonexistent/monsta.conf")
	if r.code != exitConfig || !strings.Contains(r.stderr, "/nonexistent/monsta.conf") {
		t.Errorf("--lint on a missing file = %d %q", r.code, r.stderr)
	}
}

func TestRunSections(t *testing.T) {
	t.Parallel()
	port := loopback.Port(loopback.Serve(t, func(c net.Conn) { c.Write([]byte("220 hello\r\n")) }))
	closedPort := loopback.ClosedPort(t)
	conf := writeConf(t, map[string]string{"monsta.conf": fmt.Sprintf(`
[main]
statedir = STATEDIR
[Check_up]
type = portconnect
host = 127.0.0.1
port = %d
expect = 220
[Check_down]
type = portconnect
host = 127.0.0.1
port = %d
[Notification_log]
type = log
recipient = info
[Test_both]
checks = up down
requires = any
notify = 1:log
[Test_all]
checks = up down
[Test_behind]
checks = down
depends = all
`, port, closedPort)})
	tests := []struct {
		section string
		code    int
		want    []string
	}{
		{"Check_up", 0, []string{"Check_up: OK", "connect_seconds: "}},
		{"Check_down", 1, []string{"Check_down: FAIL", "connection refused"}},
		{"Test_both", 0, []string{"Test_both: OK (1 of 2 checks passed, requires=any)"}},
		{"Test_all", 1, []string{"Test_all: FAIL (1 of 2 checks passed, requires=all)", "connection refused"}},
		{"Test_behind", 1, []string{"Test_behind: FAIL, UNREACHABLE: depends on all, which fails; the daemon would page nobody for it (0 of 1 checks passed"}},
		{"Notification_log", 0, []string{"Notification_log: OK (test message sent)"}},
	}
	for _, tc := range tests {
		t.Run(tc.section, func(t *testing.T) {
			r := monsta(t, "--run", tc.section, "--config", conf)
			if r.code != tc.code {
				t.Fatalf("--run %s exit = %d, want %d\n%s%s", tc.section, r.code, tc.code, r.stdout, r.stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(r.stdout, w) {
					t.Errorf("--run %s output lacks %q:\n%s", tc.section, w, r.stdout)
				}
			}
		})
	}
	if r := monsta(t, "--run", "Check_nope", "--config", conf); r.code != exitConfig {
		t.Errorf("--run Check_nope exit = %d, want 2", r.code)
	}
	// issue 17: --run NAME suggests the sections of that name.
	for run, want := range map[string]string{
		"up":         `monsta: --run "up": want a Check_, Test_ or Notification_ section; did you mean Check_up?` + "\n",
		"both":       `monsta: --run "both": want a Check_, Test_ or Notification_ section; did you mean Test_both?` + "\n",
		"log":        `monsta: --run "log": want a Check_, Test_ or Notification_ section; did you mean Notification_log?` + "\n",
		"check_down": `monsta: --run "check_down": want a Check_, Test_ or Notification_ section; did you mean Check_down?` + "\n",
		"nope":       `monsta: --run "nope": want a Check_, Test_ or Notification_ section` + "\n",
	} {
		if r := monsta(t, "--run", run, "--config", conf); r.code != exitConfig || r.stderr != want {
			t.Errorf("--run %s = %d %q, want 2 %q", run, r.code, r.stderr, want)
		}
	}
}

// daemon is a monsta process in the foreground whose log is collected.
type daemon struct {
	t    *testing.T
	cmd  *exec.Cmd
	mu   sync.Mutex
	log  strings.Builder
	done chan struct{}
}

// startDaemon runs monsta in the foreground on conf and collects its log.
func startDaemon(t *testing.T, conf string) *daemon {
	t.Helper()
	return startDaemonEnv(t, conf)
}

// startDaemonEnv is startDaemon with extra environment variables.
func startDaemonEnv(t *testing.T, conf string, env ...string) *daemon {
	t.Helper()
	d := &daemon{t: t, cmd: exec.Command(monstaBin, "--foreground", "--config", conf), done: make(chan struct{})}
	d.cmd.Env = append(os.Environ(), env...)
	pr, pw := io.Pipe()
	d.cmd.Stderr = pw
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			d.mu.Lock()
			d.log.WriteString(sc.Text() + "\n")
			d.mu.Unlock()
		}
	}()
	go func() { d.cmd.Wait(); pw.Close(); close(d.done) }()
	t.Cleanup(func() { d.cmd.Process.Kill(); <-d.done })
	return d
}

// waitLog waits until the log matches re (at least n times) and returns
// the log.
func (d *daemon) waitLog(re string, n int, within time.Duration) string {
	d.t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(within)
	for {
		d.mu.Lock()
		s := d.log.String()
		d.mu.Unlock()
		if len(rx.FindAllStringIndex(s, -1)) >= n {
			return s
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("log never matched %q %d times within %v:\n%s", re, n, within, s)
		}
		select {
		case <-d.done:
			d.mu.Lock()
			s = d.log.String()
			d.mu.Unlock()
			if len(rx.FindAllStringIndex(s, -1)) >= n {
				return s
			}
			d.t.Fatalf("daemon exited (%v) before the log matched %q:\n%s", d.cmd.ProcessState, re, s)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (d *daemon) stop(sig syscall.Signal) int {
	d.t.Helper()
	d.cmd.Process.Signal(sig)
	select {
	case <-d.done:
	case <-time.After(30 * time.Second):
		d.t.Fatal("daemon did not stop within 30s")
	}
	return d.cmd.ProcessState.ExitCode()
}

// failingConf is a test that fails on every run and pages from its second
// failure, for a daemon that runs as root (the tests' user).
var failingConf = strings.Replace(testconf.Failing, "[main]\n", "[main]\nuser = root\n", 1)

// TestReloadOnSIGHUP: SIGHUP reloads; a broken file is rejected with its
// position and the daemon carries on; SIGINT stops it cleanly. That the
// failure counts and the log survive a reload is cmd/internal/app's
// TestReloadCarriesStateAndSwapsLog, on a fake clock.
func TestReloadOnSIGHUP(t *testing.T) {
	t.Parallel()
	conf := writeConf(t, map[string]string{"monsta.conf": failingConf})
	d := startDaemon(t, conf)
	d.waitLog(`msg="monsta started"`, 1, 10*time.Second)
	broken := filepath.Join(filepath.Dir(conf), "conf.d", "50-broken.conf")
	os.WriteFile(broken, []byte("[Test_x]\nchecks = nope\n"), 0o644)
	d.cmd.Process.Signal(syscall.SIGHUP)
	d.waitLog(`reload rejected, configuration kept" problem=".*50-broken.conf:2: \[Test_x\] checks: no check named \\"nope\\"`, 1, 10*time.Second)
	os.WriteFile(broken, []byte("[Test_down]\ninterval = 3\n"), 0o644)
	d.cmd.Process.Signal(syscall.SIGHUP)
	d.waitLog(`configuration reloaded`, 1, 10*time.Second)
	if code := d.stop(syscall.SIGINT); code != 0 {
		t.Errorf("exit after SIGINT = %d", code)
	}
}

// TestRunWithoutTests: --run of a check or a notification needs no
// [Test_] section (it is how a check is tried before its test is
// written); the daemon and --lint still refuse a configuration that
// defines checks and no test.
func TestRunWithoutTests(t *testing.T) {
	t.Parallel()
	port := loopback.Port(loopback.Serve(t, func(c net.Conn) { c.Write([]byte("220 hello\r\n")) }))
	conf := writeConf(t, map[string]string{"monsta.conf": fmt.Sprintf(`
[main]
statedir = STATEDIR
user = root
[Check_x]
type = portconnect
host = 127.0.0.1
port = %d
expect = 220
[Notification_log]
type = log
recipient = info
`, port)})
	for _, run := range []string{"Check_x", "Notification_log"} {
		if r := monsta(t, "--run", run, "--config", conf); r.code != exitOK || !strings.Contains(r.stdout, run+": OK") {
			t.Errorf("--run %s on a checks-only configuration = %d\n%s%s", run, r.code, r.stdout, r.stderr)
		}
	}
	const noTest = "no [Test_NAME] section: nothing would be monitored"
	for _, args := range [][]string{{"--lint", "--no-login"}, {"--foreground"}} {
		r := monsta(t, append(args, "--config", conf)...)
		if r.code != exitConfig || !strings.Contains(r.stdout+r.stderr, noTest) {
			t.Errorf("monsta %v on a checks-only configuration = %d, want 2 and %q\n%s%s", args, r.code, noTest, r.stdout, r.stderr)
		}
	}
}

// TestReloadMovesStateDirThroughTheBinary: a SIGHUP that changes
// statedir moves the daemon whole: --status on the new configuration
// reaches it, a second daemon on the new directory is refused naming it,
// and --status still works.
func TestReloadMovesStateDirThroughTheBinary(t *testing.T) {
	t.Parallel()
	conf := writeConf(t, map[string]string{"monsta.conf": failingConf})
	dir := filepath.Dir(conf)
	d := startDaemon(t, conf)
	d.waitLog(`control socket listening`, 1, 10*time.Second)
	moved := filepath.Join(dir, "moved")
	body := strings.ReplaceAll(failingConf, "STATEDIR", moved)
	if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	d.cmd.Process.Signal(syscall.SIGHUP)
	d.waitLog(`msg="configuration reloaded"`, 1, 10*time.Second)
	status := func() {
		t.Helper()
		if r := monsta(t, "--status", "--config", conf); r.code == exitConfig || !strings.Contains(r.stdout, "down") {
			t.Errorf("--status after the move = %d\n%s%s", r.code, r.stdout, r.stderr)
		}
	}
	status()
	r := monsta(t, "--foreground", "--config", conf)
	pid := fmt.Sprintf("pid %d", d.cmd.Process.Pid)
	if r.code != exitConfig || !strings.Contains(r.stderr, "running on state directory "+moved) || !strings.Contains(r.stderr, pid) {
		t.Errorf("second daemon on the new directory: exit %d, want 2 naming %s and %s\n%s", r.code, moved, pid, r.stderr)
	}
	status()
	if log := d.waitLog(`.`, 1, time.Second); !strings.Contains(log, `msg="state directory moved"`) {
		t.Errorf("log does not say the state directory moved:\n%s", log)
	}
	if code := d.stop(syscall.SIGTERM); code != 0 {
		t.Errorf("exit after SIGTERM = %d", code)
	}
}
