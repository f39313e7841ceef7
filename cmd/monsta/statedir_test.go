package main

import (
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/monsta/monsta/runtime"
	"github.com/monsta/monsta/runtime/statedir"
)

// ownerConf is one passing test and a log notification, run as USER.
const ownerConf = `
[main]
user = USER
statedir = STATEDIR
[Check_ok]
type = script
command = true
[Notification_page]
type = log
recipient = warn
[Test_ok]
checks = ok
interval = 1
notify = 1:page
`

// asNobodyDir returns a directory that nobody can reach, with the config
// for user written into it, and the path of its state directory.
func asNobodyDir(t *testing.T, user string) (conf, sd string) {
	t.Helper()
	dir := t.TempDir()
	for p := dir; p != os.TempDir() && p != "/"; p = filepath.Dir(p) {
		os.Chmod(p, 0o755)
	}
	sd = filepath.Join(dir, "state")
	body := strings.NewReplacer("USER", user, "STATEDIR", sd).Replace(ownerConf)
	conf = filepath.Join(dir, "monsta.conf")
	if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return conf, sd
}

// uids returns the owner of every entry below dir, links not followed.
func uids(t *testing.T, dir string) map[string]uint32 {
	t.Helper()
	out := map[string]uint32{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		out[p] = fi.Sys().(*syscall.Stat_t).Uid
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func needRootAndNobody(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: the state directory's owner only matters when monsta starts as root")
	}
	if _, err := user.Lookup("nobody"); err != nil {
		t.Skip("no user nobody")
	}
}

// TestLintAndRunLeaveStateDirAlone: --lint and --run, run as root for a
// daemon that runs as nobody, neither create the state directory nor add,
// remove or re-own anything in an existing one.
func TestLintAndRunLeaveStateDirAlone(t *testing.T) {
	needRootAndNobody(t)
	t.Parallel()
	conf, sd := asNobodyDir(t, "nobody")
	for _, args := range [][]string{{"--lint"}, {"--run", "Check_ok"}, {"--run", "Test_ok"}} {
		if r := monsta(t, append([]string{"--config", conf}, args...)...); r.code != 0 {
			t.Fatalf("%v: exit %d\n%s%s", args, r.code, r.stdout, r.stderr)
		}
		if _, err := os.Stat(sd); !os.IsNotExist(err) {
			t.Fatalf("%v created the state directory (%v)", args, err)
		}
	}
	// An existing one, owned by nobody, with one undelivered page: --lint
	// reports the page and changes nothing.
	if err := os.MkdirAll(filepath.Join(sd, "failed", "page"), 0o750); err != nil {
		t.Fatal(err)
	}
	env := `{"notification":"page","message":{"Test":"ok","State":"FAIL"},"reason":"refused"}`
	if err := os.WriteFile(filepath.Join(sd, "failed", "page", "1.json"), []byte(env), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := filepath.WalkDir(sd, func(p string, _ fs.DirEntry, err error) error { return os.Lchown(p, 65534, 65534) }); err != nil {
		t.Fatal(err)
	}
	before := uids(t, sd)
	r := monsta(t, "--config", conf, "--lint")
	if r.code != 0 || !strings.Contains(r.stdout, "undelivered: Notification_page, test ok") {
		t.Errorf("--lint: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := monsta(t, "--config", conf, "--run", "Test_ok"); r.code != 0 {
		t.Errorf("--run Test_ok: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if after := uids(t, sd); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("state directory changed:\nbefore %v\nafter  %v", before, after)
	}
}

// TestRootOwnedStateDirFixedAtStart: a state directory left to root (by
// an old --lint as root, or a daemon that ran as root) is given to [main]
// user before the daemon drops to it, so the daemon resumes the pending
// page; changing user= later re-owns it the same way; a link out of the
// directory is refused with a message naming [main] statedir.
func TestRootOwnedStateDirFixedAtStart(t *testing.T) {
	needRootAndNobody(t)
	if _, err := user.Lookup("daemon"); err != nil {
		t.Skip("no user daemon")
	}
	t.Parallel()
	conf, sd := asNobodyDir(t, "nobody")
	// Root's state directory, as root's --lint used to leave it, holding a
	// page that was never delivered.
	d, err := statedir.Open(sd, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Put("page", runtime.Message{Test: "ok", State: runtime.StateFail, Failures: 3, Time: time.Now()}); err != nil {
		t.Fatal(err)
	}
	daemon := startDaemon(t, conf)
	log := daemon.waitLog(`msg=notification .*test=ok state=FAIL failures=3`, 1, 20*time.Second)
	daemon.waitLog(`msg="test passed"|test=ok`, 1, 20*time.Second)
	if code := daemon.stop(syscall.SIGTERM); code != 0 {
		t.Errorf("exit %d", code)
	}
	if strings.Contains(log, "level=ERROR") {
		t.Errorf("errors in the log:\n%s", log)
	}
	for p, uid := range uids(t, sd) {
		if uid != 65534 {
			t.Errorf("%s owned by %d, want nobody", p, uid)
		}
	}

	// user= changed: the next start gives it all to the new user.
	b, _ := os.ReadFile(conf)
	os.WriteFile(conf, []byte(strings.Replace(string(b), "user = nobody", "user = daemon", 1)), 0o644)
	daemon = startDaemon(t, conf)
	daemon.waitLog(`msg="monsta started"`, 1, 20*time.Second)
	daemon.stop(syscall.SIGTERM)
	for p, uid := range uids(t, sd) {
		if uid != 1 {
			t.Errorf("after user=daemon: %s owned by %d, want daemon", p, uid)
		}
	}

	// A link leading out of the state directory: refused, nothing chowned
	// through it.
	if err := os.Symlink("/etc/passwd", filepath.Join(sd, "state", "x.json")); err != nil {
		t.Fatal(err)
	}
	r := monsta(t, "--foreground", "--config", conf)
	if r.code == 0 || !strings.Contains(r.stderr, "[main] statedir "+sd+": ") || !strings.Contains(r.stderr, "points outside the state directory") {
		t.Errorf("link outside: exit %d\n%s", r.code, r.stderr)
	}
	if fi, _ := os.Stat("/etc/passwd"); fi.Sys().(*syscall.Stat_t).Uid != 0 {
		t.Fatal("/etc/passwd changed owner")
	}
}

// TestUnusableStateDirRefusedWhenNotRoot: a daemon started as an ordinary
// user refuses a state directory it cannot use, naming [main] statedir,
// instead of running without its state.
func TestUnusableStateDirRefusedWhenNotRoot(t *testing.T) {
	needRootAndNobody(t)
	t.Parallel()
	conf, sd := asNobodyDir(t, "nobody")
	if _, err := statedir.Open(sd, nil); err != nil { // root's
		t.Fatal(err)
	}
	// A copy of the binary that nobody may run, written by cp: a file
	// this process had open for writing could be inherited by a parallel
	// test's fork, and exec would fail with "text file busy".
	bin := filepath.Join(filepath.Dir(conf), "monsta")
	if out, err := exec.Command("cp", monstaBin, bin).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	if err := os.Chmod(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--foreground", "--config", conf)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	want := "[main] statedir " + sd + ": " + sd + " is owned by uid 0, not by uid 65534 the daemon runs as"
	if err == nil || !strings.Contains(string(out), want) {
		t.Errorf("as nobody: %v\n%s\nwant %q", err, out, want)
	}
	// A restart cannot mend it: exit status 2, which the unit does not
	// restart.
	if code := cmd.ProcessState.ExitCode(); code != exitConfig {
		t.Errorf("as nobody: exit status %d, want %d", code, exitConfig)
	}
}
