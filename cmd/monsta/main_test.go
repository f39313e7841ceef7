package main

import (
	"bufio"
	"bytes"
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

	"github.com/monsta/monsta/internal/loopback"
)

var monstaBin string

func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "monsta-bin")
	if err != nil {
		panic(err)
	}
	monstaBin = filepath.Join(dir, "monsta")
	out, err := exec.Command("go", "build", "-race", "-o", monstaBin, ".").CombinedOutput()
	if err != nil {
		// Without -race where the toolchain lacks it.
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
		`conf.d/10-web.conf:3: [Test_web] interval: "soon" is not a number of seconds`,
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
	for _, w := range []string{`prot: unknown option for check type portconnect, ignored (did you mean "port"?)`, `[Check_unused] check is not used by any test`, "configuration OK: 1 test, 2 checks, 1 notification"} {
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

func startDaemon(t *testing.T, conf string) *daemon {
	t.Helper()
	d := &daemon{t: t, cmd: exec.Command(monstaBin, "--foreground", "--config", conf), done: make(chan struct{})}
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

// exampleConf copies examples/monsta.conf with its own state directory.
func exampleConf(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile("../../examples/monsta.conf")
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(data), "statedir = /tmp/monsta-example", "statedir = STATEDIR", 1)
	s = strings.Replace(s, "user = nobody ", "user = root ", 1)
	return writeConf(t, map[string]string{"monsta.conf": s})
}

func TestExampleRunsAndEscalates(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, exampleConf(t))
	d.waitLog(`msg="monsta started"`, 1, 10*time.Second)
	log := d.waitLog(`level=ERROR msg=notification test=closed_port state=FAIL failures=3`, 1, 60*time.Second)
	for _, w := range []string{
		`level=WARN msg=notification test=closed_port state=FAIL failures=1`,
		`msg=notification test=shell state=OK`,
	} {
		if !strings.Contains(log, w) {
			t.Errorf("log lacks %q", w)
		}
	}
	if code := d.stop(syscall.SIGTERM); code != 0 {
		t.Errorf("exit after SIGTERM = %d, want 0", code)
	}
	if s := d.waitLog(`monsta stopped`, 1, time.Second); strings.Contains(s, "panic") {
		t.Errorf("log has a panic:\n%s", s)
	}
}

const failingConf = `
[main]
statedir = STATEDIR
user = root
[Check_down]
type = portconnect
host = 127.0.0.1
port = 1
timeout = 1
[Notification_page]
type = log
recipient = error
[Test_down]
checks = down
interval = 2
notify = 2:page
`

func TestRestartContinuesEscalation(t *testing.T) {
	t.Parallel()
	conf := writeConf(t, map[string]string{"monsta.conf": failingConf})
	d := startDaemon(t, conf)
	d.waitLog(`msg="test failed" test=down failures=1`, 1, 10*time.Second)
	// kill -9 after the first failure: the second failure, counted after the
	// restart, must still page.
	d.cmd.Process.Kill()
	<-d.done
	if strings.Contains(d.log.String(), "msg=notification") {
		t.Fatal("the second run happened before the kill; the test's interval is too short for this machine")
	}
	d2 := startDaemon(t, conf)
	log := d2.waitLog(`msg=notification test=down state=FAIL failures=2`, 1, 10*time.Second)
	if strings.Contains(log, "failures=1 ") && strings.Index(log, "failures=1 ") < strings.Index(log, "failures=2") {
		t.Errorf("escalation started over after the restart:\n%s", log)
	}
	d2.stop(syscall.SIGTERM)
}

func TestReloadKeepsStateAndRejectsBrokenFiles(t *testing.T) {
	t.Parallel()
	conf := writeConf(t, map[string]string{"monsta.conf": failingConf + `
[Check_shell]
type = script
command = true
[Test_shell]
checks = shell
interval = 1
`})
	d := startDaemon(t, conf)
	d.waitLog(`msg="test failed" test=down failures=1`, 1, 10*time.Second)
	// A broken file is rejected and the old configuration keeps running.
	broken := filepath.Join(filepath.Dir(conf), "conf.d", "50-broken.conf")
	os.WriteFile(broken, []byte("[Test_x]\nchecks = nope\n"), 0o644)
	d.cmd.Process.Signal(syscall.SIGHUP)
	d.waitLog(`reload rejected, configuration kept" problem=".*50-broken.conf:2: \[Test_x\] checks: no check named \\"nope\\"`, 1, 10*time.Second)
	d.waitLog(`msg=notification test=down state=FAIL failures=2`, 1, 10*time.Second)
	// A valid change to another test keeps the failure count of this one.
	os.WriteFile(broken, []byte("[Test_shell]\ninterval = 2\n"), 0o644)
	d.cmd.Process.Signal(syscall.SIGHUP)
	d.waitLog(`configuration reloaded`, 1, 10*time.Second)
	log := d.waitLog(`msg="test failed" test=down failures=4`, 1, 15*time.Second)
	after := log[strings.Index(log, "configuration reloaded"):]
	if strings.Contains(after, "failures=1 ") {
		t.Errorf("the failure count restarted after a reload that did not change the test:\n%s", after)
	}
	if code := d.stop(syscall.SIGINT); code != 0 {
		t.Errorf("exit after SIGINT = %d", code)
	}
}

// TestCommandLineErrors: issue 17's command-line repros, each with its exact
// message and exit status 2.
func TestCommandLineErrors(t *testing.T) {
	t.Parallel()
	conf := writeConf(t, map[string]string{"monsta.conf": "[main]\nstatedir = STATEDIR\n"})
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--run"}, "monsta: flag needs an argument: --run (see --help)\n"},
		{[]string{"--config"}, "monsta: flag needs an argument: --config (see --help)\n"},
		{[]string{"--bogus"}, "monsta: flag provided but not defined: --bogus (see --help)\n"},
		{[]string{"-bogus"}, "monsta: flag provided but not defined: --bogus (see --help)\n"},
		{[]string{"--lint", "--run", "Check_x", "--config", conf}, "monsta: --lint and --run cannot be used together; give one of them (see --help)\n"},
		{[]string{"--version", "--lint"}, "monsta: --version and --lint cannot be used together; give one of them (see --help)\n"},
		{[]string{"--no-login", "--config", conf}, "monsta: --no-login only applies to --lint (see --help)\n"},
		{[]string{"--max-file-size", "lots"}, `monsta: invalid value "lots" for flag --max-file-size: want a size such as 1048576, 512KiB or 4MiB (see --help)` + "\n"},
		{[]string{"--lint", "--config", "/nonexistent/monsta.conf"}, "monsta: /nonexistent/monsta.conf: no such file; name the configuration with --config FILE\n"},
		{[]string{"--run", "Check_x", "--config", "/nonexistent/monsta.conf"}, "monsta: /nonexistent/monsta.conf: no such file; name the configuration with --config FILE\n"},
	}
	for _, tc := range tests {
		r := monsta(t, tc.args...)
		if r.code != exitConfig || r.stderr != tc.want || r.stdout != "" {
			t.Errorf("monsta %q = %d\nstdout %q\nstderr %q\nwant 2 and stderr %q", tc.args, r.code, r.stdout, r.stderr, tc.want)
		}
	}
}

func TestByteSizeFlag(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]int64{"1048576": 1 << 20, "512KiB": 512 << 10, "4MiB": 4 << 20, "4M": 4 << 20, "2k": 2048, "1GiB": 1 << 30} {
		var b byteSize
		if err := b.Set(in); err != nil || int64(b) != want {
			t.Errorf("Set(%q) = %d, %v; want %d", in, b, err, want)
		}
	}
	for _, in := range []string{"", "0", "-1", "1TiB", "1.5M", "MiB", "1X", "99999999999999999999"} {
		var b byteSize
		if err := b.Set(in); err == nil {
			t.Errorf("Set(%q) = %d, want an error", in, b)
		}
	}
}

// TestLintBoundedInput: issue 17's configuration repros through the binary,
// every problem at once with its file and line, exit status 2.
func TestLintBoundedInput(t *testing.T) {
	t.Parallel()
	conf := writeConf(t, map[string]string{
		"monsta.conf": `[main]
statedir = STATEDIR
notify_retry_initial=0.000000001

[Check_web]
type=portconnect	# web
host = 127.0.0.1
port = 80
timeout=0

[Check_zone]
type = dnsserial
hosts = 127.0.0.1:53
  b:y
zone = example.org

[Test_web]
checks = web zone
interval=0.000000001
notify=1:log, log2

[check_a]
type = portconnect

[Notification_log]
type = log
recipient = warn
`,
		"conf.d/big.conf": "[Check_big]\ntype = portconnect\nhost = 127.0.0.1\nport = 1\n" + strings.Repeat("# padding\n", 1<<17),
	})
	dir := filepath.Dir(conf)
	if err := syscall.Mkfifo(filepath.Join(dir, "conf.d", "fifo.conf"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/dev/zero", filepath.Join(dir, "conf.d", "zero.conf")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "conf.d", "fifo.lua"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := monsta(t, "--lint", "--no-login", "--config", conf)
	want := strings.ReplaceAll(`DIR/conf.d/big.conf: file too large: 1310777 bytes, more than 1 MiB (the limit is set with --max-file-size)
DIR/conf.d/fifo.conf: not a regular file (a named pipe); only regular files (or links to them) are read
DIR/conf.d/zero.conf: not a regular file (a character device); only regular files (or links to them) are read
monsta: configuration invalid: 3 problems
`, "DIR", dir)
	if r.code != exitConfig || r.stderr != want {
		t.Errorf("--lint = %d\n%s\nwant 2 and\n%s", r.code, r.stderr, want)
	}
	// With the odd files gone (and the limit raised for the big one), the
	// rest of the problems show, each at its own line.
	os.Remove(filepath.Join(dir, "conf.d", "fifo.conf"))
	os.Remove(filepath.Join(dir, "conf.d", "zero.conf"))
	r = monsta(t, "--lint", "--no-login", "--max-file-size", "2MiB", "--config", conf)
	want = strings.ReplaceAll(`conf.d/fifo.lua: not a regular file (a named pipe); only regular files (or links to them) are read
DIR/monsta.conf:3: [main] notify_retry_initial: "0.000000001": must be at least 1 second
DIR/monsta.conf:9: [Check_web] timeout: "0": must be more than 0 seconds
DIR/monsta.conf:14: [Check_zone] hosts: server "b:y": "y" is not a port number
DIR/monsta.conf:19: [Test_web] interval: "0.000000001": must be at least 1 second
DIR/monsta.conf:20: [Test_web] notify: "1:log, log2": space after ","; write the names of one level without spaces: 1:log,log2
DIR/monsta.conf:22: [check_a] unknown section: section names are case-sensitive; did you mean [Check_a]?
monsta: configuration invalid: 7 problems
`, "DIR", dir)
	if r.code != exitConfig || r.stderr != want {
		t.Errorf("--lint = %d\n%s\nwant 2 and\n%s", r.code, r.stderr, want)
	}
}

// TestLintOriginalStyle: what Python's ConfigParser accepted in the
// original's configurations is accepted: a tab before an inline comment,
// outer quotes, [DEFAULT], continuation lines.
func TestLintOriginalStyle(t *testing.T) {
	t.Parallel()
	conf := writeConf(t, map[string]string{"monsta.conf": `[DEFAULT]
timeout = 5
[main]
statedir = STATEDIR
[Check_web]
type=portconnect	# web
host = "127.0.0.1"
port = 80
[Check_spf]
type = dnslookup
hosts = 127.0.0.1:53
record = example.org
recordtype = TXT
requiredanswers="v=spf1 mx -all"
[Test_web]
checks = web
	spf
notify = 1:log
  2:log
[Notification_log]
type = log
recipient = warn
`})
	r := monsta(t, "--lint", "--no-login", "--config", conf)
	if r.code != 0 || !strings.Contains(r.stdout, "configuration OK: 1 test, 2 checks, 1 notification") {
		t.Errorf("--lint = %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := monsta(t, "--run", "web", "--config", conf); r.code != exitConfig || !strings.Contains(r.stderr, "did you mean Check_web or Test_web?") {
		t.Errorf("--run web = %d %q", r.code, r.stderr)
	}
}
