package proc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// helperEnv makes the test binary run a helper instead of the tests: the
// subreaper flag cannot be taken back, so it is set in a child process.
const helperEnv = "MONSTA_PROC_HELPER"

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		if err := helper(mode); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// leaveOrphans is a script that exits at once and leaves two sleeping
// grandchildren behind; Run kills them, and they become zombies of the
// subreaper.
var leaveOrphans = []string{"sh", "-c", "sleep 60 >/dev/null & sleep 60 >/dev/null & echo started"}

func helper(mode string) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	switch mode {
	case "reap":
		if err := StartReaper(ctx); err != nil {
			return err
		}
		for i := 0; i < 3; i++ {
			if st, err := Run(ctx, leaveOrphans, NewOutput(1024)); st == nil {
				return err
			}
		}
		return waitZombies(func(n int) bool { return n == 0 }, "no zombie")
	case "flag-only": // the control: without the reaper, zombies stay
		if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
			return err
		}
		if st, err := Run(ctx, leaveOrphans, NewOutput(1024)); st == nil {
			return err
		}
		return waitZombies(func(n int) bool { return n >= 2 }, "two zombies")
	case "no-steal": // exit statuses stay with their Run
		if err := StartReaper(ctx); err != nil {
			return err
		}
		var wg sync.WaitGroup
		errs := make(chan error, 40)
		for i := 0; i < 40; i++ {
			wg.Go(func() {
				// Half leave orphans behind, so the reaper is busy.
				argv := []string{"sh", "-c", "exit 7"}
				if i%2 == 0 {
					argv = []string{"sh", "-c", "sleep 60 & exit 7"}
				}
				st, err := Run(ctx, argv, NewOutput(64))
				if st == nil || st.ExitCode() != 7 {
					errs <- fmt.Errorf("run %d: state %v, error %v; want exit code 7", i, st, err)
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			return err
		}
		return waitZombies(func(n int) bool { return n == 0 }, "no zombie")
	}
	return errors.New("unknown helper mode " + mode)
}

// waitZombies polls the zombie children of this process until ok accepts
// their number; after 10 s it gives up (a hang guard, not a timing
// assertion).
func waitZombies(ok func(int) bool, want string) error {
	n := 0
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		n = 0
		for _, pid := range scanChildren(os.Getpid()) {
			if _, state, err := Stat(pid); err == nil && state == 'Z' {
				n++
			}
		}
		if ok(n) {
			return nil
		}
	}
	return fmt.Errorf("%d zombie children after 10 s, want %s", n, want)
}

// TestReaper runs the helpers in a child process of the test binary.
func TestReaper(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"reap", "flag-only", "no-steal"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), helperEnv+"="+mode)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("helper %s: %v\n%s", mode, err, out)
			}
		})
	}
}

func TestRun(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		argv     []string
		timeout  time.Duration
		wantCode int // -1: killed
		wantErr  string
		wantOut  string
		started  bool
	}{
		{name: "exit 0", argv: []string{"echo", "hi"}, wantOut: "hi\n", started: true},
		{name: "exit 3", argv: []string{"sh", "-c", "echo out; echo err >&2; exit 3"}, wantCode: 3,
			wantErr: "exit status 3", wantOut: "out\nerr\n", started: true},
		{name: "not in PATH", argv: []string{"no-such-command-monsta"},
			wantErr: "start no-such-command-monsta: executable file not found in $PATH"},
		{name: "no such file", argv: []string{"/nonexistent/monsta"},
			wantErr: "start /nonexistent/monsta: no such file or directory"},
		{name: "timeout kills the group", argv: []string{"sh", "-c", "sleep 60 & sleep 60"},
			timeout: 100 * time.Millisecond, wantCode: -1, wantErr: "signal: killed", started: true},
		{name: "child holding the output", argv: []string{"sh", "-c", "sleep 60 & echo done"},
			wantErr: exec.ErrWaitDelay.Error(), wantOut: "done\n", started: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if tt.timeout == 0 {
				tt.timeout = 10 * time.Second
			}
			ctx, cancel := context.WithTimeout(context.Background(), tt.timeout)
			defer cancel()
			out := NewOutput(1024)
			st, err := Run(ctx, tt.argv, out)
			if (st != nil) != tt.started {
				t.Fatalf("Run() state = %v, want started: %v (error %v)", st, tt.started, err)
			}
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || err.Error() != tt.wantErr) {
				t.Errorf("Run() error = %v, want %q", err, tt.wantErr)
			}
			if st != nil && st.ExitCode() != tt.wantCode {
				t.Errorf("exit code = %d, want %d", st.ExitCode(), tt.wantCode)
			}
			if tt.wantOut != "" && out.String() != tt.wantOut {
				t.Errorf("output = %q, want %q", out, tt.wantOut)
			}
			var se *StartError
			if !tt.started && !errors.As(err, &se) {
				t.Errorf("Run() error = %#v, want a *StartError", err)
			}
		})
	}
}

// TestRunKillsLeftovers checks that nothing a command started outlives
// its run, whether it ended by itself or at the deadline.
func TestRunKillsLeftovers(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name    string
		script  string
		timeout time.Duration
	}{
		{name: "exited", script: `sleep 60 >/dev/null 2>&1 & echo $! > "$0"`, timeout: 10 * time.Second},
		{name: "deadline", script: `sleep 60 & echo $! > "$0"; sleep 60`, timeout: 200 * time.Millisecond},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			pidFile := filepath.Join(t.TempDir(), "pid")
			ctx, cancel := context.WithTimeout(context.Background(), tt.timeout)
			defer cancel()
			Run(ctx, []string{"sh", "-c", tt.script, pidFile}, NewOutput(64))
			b, err := os.ReadFile(pidFile)
			if err != nil {
				t.Fatal(err)
			}
			pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
			if err != nil {
				t.Fatal(err)
			}
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
				_, state, err := Stat(pid)
				if err != nil || state == 'Z' || errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) {
					break
				}
				if time.Now().After(deadline) {
					syscall.Kill(pid, syscall.SIGKILL)
					t.Fatalf("process %d still runs 10 s after Run returned", pid)
				}
			}
		})
	}
}
