package builtins

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	"github.com/google/shlex"

	"github.com/monsta/monsta/runtime"
)

// scriptWaitDelay bounds how long a run waits for the output pipes after
// the command exited or was killed (a background child may hold them).
const scriptWaitDelay = 500 * time.Millisecond

// scriptTail is how much of the output a failure message quotes.
const scriptTail = 300

func scriptDescriptor() runtime.Descriptor {
	return runtime.Descriptor{
		Kind:        runtime.KindCheck,
		Name:        "script",
		Description: "run a command and require exit code 0",
		Help: "The command is split into words the way a shell would (quotes and backslashes), " +
			"but it is run without a shell: write `sh -c '...'` for pipes and redirections. " +
			"Standard output and standard error are captured together (the last 64 KiB). " +
			"On timeout the command's whole process group is killed, and so is whatever the command " +
			"leaves running in its group when it exits.",
		Options: []runtime.Option{
			{Name: "command", Required: true, Help: "Command and arguments, split like a shell would but run without one."},
			{Name: "timeout", Default: "10", Parse: runtime.PositiveSeconds, Help: "Seconds before the command is killed and the check fails."},
			{Name: "expect", Help: "Substring required in the combined standard output and standard error."},
		},
		Example: `[Check_disk]
type = script
command = /usr/lib/nagios/plugins/check_disk -w 10% -c 5% -p /
timeout = 20
expect = DISK OK
`,
		NewCheck: newScript,
	}
}

// Script passes when its command exits with code 0 within the timeout and,
// if expect is set, its output contains expect.
type Script struct {
	argv   []string
	expect []byte
}

func newScript(o *runtime.Options) (runtime.Check, error) {
	argv, err := shlex.Split(o.String("command"))
	if err != nil {
		return nil, fmt.Errorf("command: %w", err)
	}
	if len(argv) == 0 {
		return nil, errors.New("command: must not be empty")
	}
	s := &Script{argv: argv}
	if e := o.String("expect"); e != "" {
		s.expect = []byte(e)
	}
	return s, nil
}

// Run implements runtime.Check. The command runs in a process group of its
// own; when ctx is done the whole group is killed, and whatever is left of
// the group when the command has exited is killed too, so no process of a
// run outlives it.
func (s *Script) Run(ctx context.Context) (runtime.Stats, error) {
	name := s.argv[0]
	out := newCappedOutput(outputCap)
	cmd := exec.CommandContext(ctx, name, s.argv[1:]...)
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return killGroup(cmd.Process.Pid) }
	cmd.WaitDelay = scriptWaitDelay

	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, startCause(err))
	}
	waitErr := cmd.Wait() // always reaps the command
	// Background children left in the group: they must not outlive the run.
	killGroup(cmd.Process.Pid)
	stats := runtime.Stats{"run_seconds": time.Since(start).Seconds()}
	code := -1
	if cmd.ProcessState != nil {
		code = cmd.ProcessState.ExitCode()
	}
	if code >= 0 {
		stats["exit_code"] = float64(code)
	}

	switch {
	case ctx.Err() != nil && (waitErr != nil || code != 0):
		return stats, fmt.Errorf("run %s: %w (process group killed)%s", name, ctx.Err(), outputSuffix(out))
	case code > 0:
		return stats, fmt.Errorf("run %s: exit code %d%s", name, code, outputSuffix(out))
	case code < 0: // killed by a signal from elsewhere
		return stats, fmt.Errorf("run %s: %w%s", name, waitErr, outputSuffix(out))
	case waitErr != nil && !errors.Is(waitErr, exec.ErrWaitDelay):
		// ErrWaitDelay: the command passed, a background child held the
		// output open and was killed above.
		return stats, fmt.Errorf("run %s: %w", name, waitErr)
	}
	if s.expect != nil && !bytes.Contains(out.Bytes(), s.expect) {
		return stats, fmt.Errorf("output of %s does not contain %q%s", name, s.expect, outputSuffix(out))
	}
	return stats, nil
}

// killGroup sends SIGKILL to the process group pgid; a group that is gone
// already is os.ErrProcessDone.
func killGroup(pgid int) error {
	err := syscall.Kill(-pgid, syscall.SIGKILL)
	if errors.Is(err, syscall.ESRCH) {
		return os.ErrProcessDone
	}
	return err
}

// startCause strips the wrappers of os/exec that repeat the command name.
func startCause(err error) error {
	var ee *exec.Error
	if errors.As(err, &ee) {
		return ee.Err
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// outputSuffix quotes the end of the output for a failure message.
func outputSuffix(out *cappedOutput) string {
	if len(bytes.TrimSpace(out.Bytes())) == 0 {
		return ""
	}
	label := "; output: "
	if note := out.Note(); note != "" {
		label = "; output (" + note + "): "
	}
	return label + strconv.Quote(out.Tail(scriptTail))
}
