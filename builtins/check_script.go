package builtins

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"time"

	"github.com/google/shlex"

	"github.com/monsta/monsta/internal/proc"
	"github.com/monsta/monsta/runtime"
)

// outputCap is how much of a command's output the script check keeps: the
// first and the last 32 KiB.
const outputCap = 64 * 1024

// scriptTail is how much of the output a failure message quotes.
const scriptTail = 300

func scriptDescriptor() runtime.Descriptor {
	return runtime.Descriptor{
		Kind:        runtime.KindCheck,
		Name:        "script",
		Description: "run a command and require exit code 0",
		Help: "The command is split into words the way a shell would (quotes and backslashes), " +
			"but it is run without a shell: write `sh -c '...'` for pipes and redirections. " +
			"Standard output and standard error are captured together (the first and the last 32 KiB). " +
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

// Run implements runtime.Check. The command runs through proc.Run: in a
// process group of its own, killed as a group when ctx is done, and
// whatever is left of the group when the command has exited is killed too,
// so no process of a run outlives it.
func (s *Script) Run(ctx context.Context) (runtime.Stats, error) {
	name := s.argv[0]
	out := proc.NewOutput(outputCap)
	start := time.Now()
	state, waitErr := proc.Run(ctx, s.argv, out)
	if state == nil {
		return nil, waitErr
	}
	stats := runtime.Stats{"run_seconds": time.Since(start).Seconds()}
	code := state.ExitCode()
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
		// output open and was killed.
		return stats, fmt.Errorf("run %s: %w", name, waitErr)
	}
	if s.expect != nil && !bytes.Contains(out.Bytes(), s.expect) {
		return stats, fmt.Errorf("output of %s does not contain %q%s", name, s.expect, outputSuffix(out))
	}
	return stats, nil
}

// outputSuffix quotes the end of the output for a failure message.
func outputSuffix(out *proc.Output) string {
	if out.Total() == 0 {
		return ""
	}
	last := out.Last(scriptTail)
	if last == "" {
		return ""
	}
	label := "; output: "
	if note := out.Note(); note != "" {
		label = "; output (" + note + "): "
	}
	return label + strconv.Quote(last)
}
