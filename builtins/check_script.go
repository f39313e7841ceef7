package builtins

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"time"

	"github.com/google/shlex"

	"github.com/monsta/monsta/internal/proc"
	"github.com/monsta/monsta/internal/textx"
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
		Description: "run a command (any Nagios plugin) and require exit code 0",
		Help: "The command is split into words the way a shell would (quotes and backslashes), " +
			"but it is run without a shell: write `sh -c '...'` for pipes and redirections. " +
			"Standard output and standard error are captured together (the first and the last 32 KiB). " +
			"On timeout the command's whole process group is killed, and so is whatever the command " +
			"leaves running in its group when it exits. " +
			"The command speaks the Nagios plugin protocol, so any check_* plugin works unchanged: exit code 0 is OK, " +
			"2 CRITICAL and 3 UNKNOWN; 1 (WARNING) fails too unless warning=ok. A failure quotes the first line of the " +
			"output up to `|`. Performance data (`label=value[UOM];warn;crit;min;max`, after `|` on the first line " +
			"and on the lines after the first `|` of the long text) become stats named after the label, in base units: " +
			"s, ms and us as `LABEL_seconds`, B, KB, MB, GB and TB as `LABEL_bytes` (binary multiples), % as " +
			"`LABEL_percent`, counters (c) and plain numbers as `LABEL`.",
		Options: []runtime.Option{
			{Name: "command", Required: true, Help: "Command and arguments, split like a shell would but run without one."},
			{Name: "timeout", Default: "10", Parse: runtime.PositiveSeconds, Help: "Seconds (or 90s, 5m, 2h, 1d) before the command is killed and the check fails."},
			{Name: "expect", Help: "Substring required in the combined standard output and standard error."},
			{Name: "warning", Default: "fail", Parse: runtime.OneOf("fail", "ok"),
				Help: "What exit code 1 (a Nagios plugin's WARNING) means: fail, or ok."},
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

// Script passes when its command exits with code 0 (or 1 with warning=ok)
// within the timeout and, if expect is set, its output contains expect.
// The output's Nagios performance data become stats.
type Script struct {
	argv      []string
	expect    []byte
	warningOK bool
}

func newScript(o *runtime.Options) (runtime.Check, error) {
	argv, err := shlex.Split(o.String("command"))
	if err != nil {
		return nil, fmt.Errorf("command: %w", err)
	}
	if len(argv) == 0 {
		return nil, errors.New("command: must not be empty")
	}
	s := &Script{argv: argv, warningOK: o.String("warning") == "ok"}
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

	plugin := readPlugin(out, stats)
	switch {
	case ctx.Err() != nil && (waitErr != nil || code != 0):
		return stats, fmt.Errorf("run %s: %w (process group killed)%s", name, ctx.Err(), outputSuffix(out))
	case code == nagiosWarning && s.warningOK:
	case code > 0:
		return stats, fmt.Errorf("run %s: exit code %d%s", name, code, pluginSuffix(out, plugin))
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

// readPlugin reads out as a Nagios plugin's output and adds its
// performance data to stats, never replacing a stat already there.
func readPlugin(out *proc.Output, stats runtime.Stats) nagiosOutput {
	plugin := parseNagios(out.Bytes())
	if out.Capped() { // only the status line is sure to be whole
		plugin = parseNagios([]byte(out.FirstLine()))
	}
	for _, d := range plugin.perf {
		if k := d.statName(); k != "run_seconds" && k != "exit_code" {
			if _, dup := stats[k]; !dup {
				stats[k] = d.value
			}
		}
	}
	return plugin
}

// pluginSuffix quotes a plugin's status line (the first line up to "|")
// for a failure message, or the end of the output when there is none or the
// output was capped.
func pluginSuffix(out *proc.Output, plugin nagiosOutput) string {
	if out.Capped() || plugin.status == "" {
		return outputSuffix(out)
	}
	msg := plugin.status
	if len(msg) > scriptTail {
		msg = msg[:scriptTail] + "…"
	}
	return "; output: " + textx.Quote(msg)
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
	return label + textx.Quote(last)
}
