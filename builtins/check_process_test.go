package builtins

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// childEnv makes the test binary act as the child that TestProcessChild
// looks for instead of running the tests.
const childEnv = "MONSTA_BUILTINS_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		// The Go runtime has faulted in its pages by now, so the kernel's
		// RSS counter for this process is past its per-CPU batch and reads
		// above zero. Stay until the parent closes stdin (or dies).
		fmt.Println("ready")
		io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// startChild runs the test binary, through a symlink with a unique name of
// at most 15 bytes (so that no other process on the machine matches it), as
// a child that has started up, and returns the name and the running
// command; it is stopped when the test ends.
//
// It waits for the child to say it is ready: right after Start the child
// may not have run yet, and the kernel's RSS counter for it then reads 0
// (it is summed per CPU and folded in batches).
func startChild(t *testing.T) (string, *exec.Cmd) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 5)
	rand.Read(b)
	name := "mst" + hex.EncodeToString(b)
	bin := filepath.Join(t.TempDir(), name)
	if err := os.Symlink(self, bin); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "300")
	// argv[0] differs from the file name: name must match through comm.
	cmd.Args[0] = "monsta-child-" + name
	cmd.Env = append(os.Environ(), childEnv+"=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); cmd.Process.Kill(); cmd.Wait() })
	if line, err := bufio.NewReader(stdout).ReadString('\n'); line != "ready\n" {
		t.Fatalf("child did not start: %q, %v", line, err)
	}
	return name, cmd
}

func TestProcessChild(t *testing.T) {
	t.Parallel()
	name, cmd := startChild(t)
	pidfile := filepath.Join(t.TempDir(), "child.pid")
	if err := os.WriteFile(pidfile, []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		raw     map[string]string
		wantErr []string
		count   float64
	}{
		{name: "by executable name", raw: map[string]string{"name": name}, count: 1},
		{name: "by command line", raw: map[string]string{"name": "/^monsta-child-" + name + " 300$/"}, count: 1},
		{name: "by pidfile", raw: map[string]string{"pidfile": pidfile}, count: 1},
		{name: "too few", raw: map[string]string{"name": name, "min_count": "2"}, count: 1,
			wantErr: []string{fmt.Sprintf("1 processes named %q are running, fewer than min_count 2", name)}},
		{name: "too many", raw: map[string]string{"name": name, "min_count": "0", "max_count": "0"}, count: 1,
			wantErr: []string{"more than max_count 0"}},
		{name: "too big", raw: map[string]string{"name": name, "max_rss": "1K"}, count: 1,
			wantErr: []string{"of memory (RSS), more than max_rss 1.0 KiB"}},
		{name: "none", raw: map[string]string{"name": name + "x"},
			wantErr: []string{fmt.Sprintf("no process named %q is running", name+"x")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := newTestCheck(t, processDescriptor(), tt.raw)
			if err != nil {
				t.Fatal(err)
			}
			stats, err := runGuarded(t, c, 5*time.Second)
			checkErrs(t, err, tt.wantErr)
			if stats["count"] != tt.count {
				t.Errorf("count = %v, want %v", stats["count"], tt.count)
			}
			if tt.count > 0 && stats["rss_bytes"] <= 0 {
				t.Errorf("rss_bytes = %v, want > 0", stats["rss_bytes"])
			}
		})
	}
	// Once the child is gone, the pidfile names a dead process.
	c, err := newTestCheck(t, processDescriptor(), map[string]string{"pidfile": pidfile})
	if err != nil {
		t.Fatal(err)
	}
	cmd.Process.Kill()
	cmd.Wait()
	runWantErr(t, c, 0, fmt.Sprintf("no process with pid %d from %s is running", cmd.Process.Pid, pidfile))
}

// TestProcessCPU measures CPU between two runs over a fake /proc and an
// injected clock.
func TestProcessCPU(t *testing.T) {
	t.Parallel()
	stat := func(pid int, comm string, start, utime, stime, rss int) string {
		// pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime
		// cutime cstime priority nice threads itrealvalue starttime vsize rss ...
		return fmt.Sprintf("%d (%s) S 1 1 1 0 -1 0 0 0 0 0 %d %d 0 0 20 0 1 0 %d 1000 %d 0 0\n", pid, comm, utime, stime, start, rss)
	}
	write := func(dir string, pid int, comm, stat string) {
		d := filepath.Join(dir, strconv.Itoa(pid))
		os.MkdirAll(d, 0o755)
		os.WriteFile(filepath.Join(d, "comm"), []byte(comm+"\n"), 0o644)
		os.WriteFile(filepath.Join(d, "cmdline"), []byte("/usr/sbin/"+comm+"\x00-f\x00"), 0o644)
		os.WriteFile(filepath.Join(d, "stat"), []byte(stat), 0o644)
	}
	proc := t.TempDir()
	write(proc, 10, "busyd", stat(10, "busyd", 500, 100, 50, 10))
	write(proc, 11, "busyd", stat(11, "busyd", 600, 0, 0, 10))
	write(proc, 12, "other", stat(12, "other", 700, 0, 0, 10))
	write(proc, 13, "busyd", "13 (busyd) Z 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 800 0 0 0 0\n")
	c, err := newTestCheck(t, processDescriptor(), map[string]string{"name": "busyd", "max_cpu": "20"})
	if err != nil {
		t.Fatal(err)
	}
	p := c.(*Process)
	p.proc = proc
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p.now = func() time.Time { return now }
	stats, err := runGuarded(t, c, 5*time.Second)
	if err != nil || stats["count"] != 2 {
		t.Fatalf("first run = %v, %v; want count 2 (zombie left out), no error", stats, err)
	}
	if _, ok := stats["cpu_percent"]; ok {
		t.Errorf("first run has cpu_percent %v, want none", stats["cpu_percent"])
	}
	// 10 s later: pid 10 used 300 ticks (3 s), pid 11 was replaced by a new
	// process with the same pid, whose ticks do not count.
	now = now.Add(10 * time.Second)
	write(proc, 10, "busyd", stat(10, "busyd", 500, 300, 150, 10))
	write(proc, 11, "busyd", stat(11, "busyd", 900, 5000, 0, 10))
	runWantErr(t, c, 0, "processes named \"busyd\" used 30.0% CPU over the last 10s, more than max_cpu 20%")
	now = now.Add(10 * time.Second)
	write(proc, 10, "busyd", stat(10, "busyd", 500, 400, 150, 10))
	stats, _ = runWantErr(t, c, 0, "")
	if stats["cpu_percent"] != 10 {
		t.Errorf("cpu_percent = %v, want 10", stats["cpu_percent"])
	}
}

func TestProcessOptions(t *testing.T) {
	t.Parallel()
	d := processDescriptor()
	wantNewCheckErr(t, d, map[string]string{}, "pidfile, name: set exactly one")
	wantNewCheckErr(t, d, map[string]string{"name": "x", "pidfile": "/run/x.pid"}, "set exactly one")
	wantNewCheckErr(t, d, map[string]string{"name": "/usr/sbin/nginx"}, "an executable name has no slash")
	wantNewCheckErr(t, d, map[string]string{"name": "/(/"}, "not a regular expression")
	wantNewCheckErr(t, d, map[string]string{"name": "x", "min_count": "3", "max_count": "2"}, "less than min_count 3")
}
