package lua

import (
	"bytes"
	"errors"
	"fmt"
	"os/exec"
	"syscall"
	"time"

	glua "github.com/yuin/gopher-lua"
)

// maxExecOutput is how much output monsta.exec keeps.
const maxExecOutput = 64 << 10

// cappedBuffer keeps the first max bytes written to it and counts the rest.
type cappedBuffer struct {
	buf   bytes.Buffer
	max   int
	total int
}

func (c *cappedBuffer) Write(p []byte) (int, error) {
	c.total += len(p)
	if room := c.max - c.buf.Len(); room > 0 {
		if len(p) > room {
			c.buf.Write(p[:room])
		} else {
			c.buf.Write(p)
		}
	}
	return len(p), nil
}

// exec lua monsta.exec{"prog", "arg", …, timeout=seconds} returns (code,
// output) or (nil, err). It runs the program without a shell, with stdout
// and stderr combined (the first 64 KiB, then a line saying how much was
// captured), and kills its process group at the deadline. Only available
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
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second
	out := &cappedBuffer{max: maxExecOutput}
	cmd.Stdout, cmd.Stderr = out, out
	err := cmd.Run()
	if ctx.Err() != nil {
		return pushErr(L, fmt.Errorf("exec %s: %w", argv[0], ctx.Err()))
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		return pushErr(L, fmt.Errorf("exec %s: %w", argv[0], err))
	}
	text := out.buf.String()
	if out.total > out.max {
		text += fmt.Sprintf("\n[monsta: captured %d of %d bytes]", out.max, out.total)
	}
	L.Push(glua.LNumber(cmd.ProcessState.ExitCode()))
	L.Push(glua.LString(text))
	return 2
}
