package lua

import (
	"errors"
	"fmt"
	"os/exec"

	glua "github.com/yuin/gopher-lua"

	"github.com/monsta/monsta/internal/proc"
)

// maxExecOutput is how much output monsta.exec keeps.
const maxExecOutput = 64 << 10

// exec lua monsta.exec{"prog", "arg", …, timeout=seconds} returns (code,
// output) or (nil, err). It runs the program without a shell, with stdout
// and stderr combined (at most 64 KiB: the first and the last 32 KiB with a
// marker between them, then a line saying how much was captured), and kills
// its process group at the deadline and what it leaves behind (proc.Run). Only available
// with lua_exec=yes in [main].
func (s *state) exec(L *glua.LState) int {
	if !s.f.e.cfg.AllowExec {
		L.RaiseError("monsta.exec is disabled; set lua_exec=yes in [main] to allow it")
	}
	t := L.CheckTable(1)
	var argv []string
	for i := 1; i <= t.Len(); i++ {
		a, ok := t.RawGetInt(i).(glua.LString)
		if !ok {
			L.ArgError(1, fmt.Sprintf("argument %d is not a string", i))
		}
		argv = append(argv, string(a))
	}
	if len(argv) == 0 {
		L.ArgError(1, "a program is required")
	}
	ctx := s.ctx()
	if v, ok := t.RawGetString("timeout").(glua.LNumber); ok && v > 0 {
		var cancel func()
		ctx, cancel = contextWithSeconds(ctx, float64(v))
		defer cancel()
	}
	out := proc.NewOutput(maxExecOutput)
	state, err := proc.Run(ctx, argv, out)
	if ctx.Err() != nil {
		return pushErr(L, fmt.Errorf("exec %s: %w", argv[0], ctx.Err()))
	}
	var ee *exec.ExitError
	if state == nil || err != nil && !errors.As(err, &ee) && !errors.Is(err, exec.ErrWaitDelay) {
		return pushErr(L, fmt.Errorf("exec %s: %w", argv[0], err))
	}
	text := out.String()
	if note := out.Note(); note != "" {
		text += "\n[monsta: " + note + "]"
	}
	L.Push(glua.LNumber(state.ExitCode()))
	L.Push(glua.LString(text))
	return 2
}
