package builtins

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestScript(t *testing.T) {
	tests := []struct {
		name     string
		command  string
		expect   string
		timeout  time.Duration
		wantErr  string // substring; "" means pass
		wantCode float64
		noCode   bool // no exit_code stat (killed)
	}{
		{name: "exit 0", command: "true"},
		{name: "exit 3", command: `sh -c 'echo broken; exit 3'`, wantCode: 3,
			wantErr: `run sh: exit code 3; output: "broken"`},
		{name: "expect present", command: `sh -c 'echo "DISK OK - free"; echo warn >&2'`, expect: "DISK OK"},
		{name: "expect on stderr", command: `sh -c 'echo DISK OK >&2'`, expect: "DISK OK"},
		{name: "expect missing", command: "echo DISK CRITICAL", expect: "DISK OK",
			wantErr: `output of echo does not contain "DISK OK"; output: "DISK CRITICAL"`},
		{name: "output shown as printed, backslashes and quotes single", command: `printf '%s\n' '\\srv\share {"error":1}'`, expect: "OK",
			wantErr: `output: "\\srv\share {"error":1}"`},
		{name: "control bytes in output escaped", command: `printf 'a\033[2Jb'`, expect: "OK",
			wantErr: `output: "a\x1b[2Jb"`},
		{name: "quoting keeps a b together", command: `sh -c 'echo "a b"'`, expect: "a b"},
		{name: "quoted argument is one word", command: `printf '[%s]\n' "a b"`, expect: "[a b]"},
		{name: "not in PATH", command: "no-such-command-monsta --version",
			wantErr: "start no-such-command-monsta: executable file not found in $PATH", noCode: true},
		{name: "no such file", command: "/nonexistent/monsta-check",
			wantErr: "start /nonexistent/monsta-check: no such file or directory", noCode: true},
		{name: "killed by a signal", command: `sh -c 'kill -9 $$'`, wantErr: "run sh: signal: killed", noCode: true},
		{name: "timeout", command: "sleep 60", timeout: 200 * time.Millisecond,
			wantErr: "run sleep: context deadline exceeded (process group killed)", noCode: true},
		{name: "huge output is capped", command: `sh -c 'yes | head -c 81920; exit 1'`, wantCode: 1,
			wantErr: `run sh: exit code 1; output (captured 65536 of 81920 bytes): "…`},
		{name: "expect at the end of huge output", command: `sh -c 'yes | head -c 81920; echo THE END'`, expect: "THE END"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := newTestCheck(t, scriptDescriptor(), map[string]string{"command": tt.command, "expect": tt.expect})
			if err != nil {
				t.Fatalf("NewCheck() error = %v", err)
			}
			stats, err := runWantErr(t, c, tt.timeout, tt.wantErr)
			if tt.timeout != 0 && !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Run() error = %v, want errors.Is context.DeadlineExceeded", err)
			}
			code, ok := stats["exit_code"]
			switch {
			case tt.noCode && ok:
				t.Errorf("stats[exit_code] = %v, want none", code)
			case !tt.noCode && (!ok || code != tt.wantCode):
				t.Errorf("stats[exit_code] = %v (set: %v), want %v", code, ok, tt.wantCode)
			}
			if _, ok := stats["run_seconds"]; !ok && !strings.HasPrefix(tt.wantErr, "start ") {
				t.Errorf("stats = %v, want run_seconds", stats)
			}
		})
	}
}

func TestScriptCommandValidation(t *testing.T) {
	tests := []struct {
		name, command, wantErr string
	}{
		{name: "unbalanced single quote", command: "echo 'a", wantErr: "command: "},
		{name: "unbalanced double quote", command: `echo "a`, wantErr: "command: "},
		{name: "empty", command: "   ", wantErr: "command: must not be empty"},
		{name: "missing", wantErr: "command: required option missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := map[string]string{"command": tt.command}
			if tt.name == "missing" {
				raw = map[string]string{}
			}
			_, err := newTestCheck(t, scriptDescriptor(), raw)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("NewCheck() error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

// TestScriptKillsProcessTree runs commands that leave processes behind and
// checks that none of them outlives the run.
func TestScriptKillsProcessTree(t *testing.T) {
	tests := []struct {
		name    string
		script  string // %s is the pid file
		timeout time.Duration
		wantErr bool
	}{
		{name: "timeout kills leader and grandchild", script: `sleep 60 & echo $$ $! > "%s"; sleep 60`,
			timeout: 300 * time.Millisecond, wantErr: true},
		{name: "background child holding the output is killed after exit", script: `sleep 60 & echo $! > "%s"`,
			timeout: 5 * time.Second},
		{name: "background child without the output is killed after exit",
			script: `sleep 60 >/dev/null 2>&1 & echo $! > "%s"`, timeout: 5 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pidFile := filepath.Join(t.TempDir(), "pids")
			command := "sh -c '" + strings.ReplaceAll(tt.script, "%s", pidFile) + "'"
			c, err := newTestCheck(t, scriptDescriptor(), map[string]string{"command": command})
			if err != nil {
				t.Fatalf("NewCheck() error = %v", err)
			}
			_, err = runGuarded(t, c, tt.timeout)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Run() error = %v, want error: %v", err, tt.wantErr)
			}
			data, err := os.ReadFile(pidFile)
			if err != nil {
				t.Fatalf("read pid file: %v", err)
			}
			fields := strings.Fields(string(data))
			if len(fields) == 0 {
				t.Fatalf("pid file %q is empty", data)
			}
			for _, f := range fields {
				pid, err := strconv.Atoi(f)
				if err != nil {
					t.Fatalf("pid file %q: %v", data, err)
				}
				waitGone(t, pid)
			}
		})
	}
}

// waitGone polls up to 5 s until pid no longer runs: it does not exist or
// is a zombie waiting for init to reap it.
func waitGone(t *testing.T, pid int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			return
		}
		stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			return
		}
		// The state follows the command name in parentheses.
		if i := strings.LastIndexByte(string(stat), ')'); i >= 0 && strings.HasPrefix(string(stat[i+1:]), " Z") {
			return
		}
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("process %d still runs 5 s after Run returned: %s", pid, stat)
		}
	}
}
