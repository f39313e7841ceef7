// Package proc runs the commands of probes (the script check, Lua's
// monsta.exec) the same way everywhere: in a process group of their own,
// killed as a group at the deadline, with whatever the command leaves
// behind in its group killed when it exits, output capped (Output), and
// the same wait delays. It also makes the daemon a child subreaper and
// reaps the orphans that come to it (Reaper), without taking the exit
// status of a command away from the run that waits for it.
package proc

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/monsta/monsta/internal/fdlimit"
)

// WaitDelay bounds how long a run waits for the output pipes after the
// command exited or was killed (a background child may hold them open).
const WaitDelay = 500 * time.Millisecond

// StartError is a command that could not be started: `start NAME: no such
// file or directory`.
type StartError struct {
	Name string
	Err  error // without os/exec's wrappers that repeat the name
}

// Error implements error.
func (e *StartError) Error() string { return "start " + e.Name + ": " + e.Err.Error() }

// Unwrap returns the cause.
func (e *StartError) Unwrap() error { return e.Err }

// Run runs argv[0] with the arguments argv[1:] (looked up in PATH, no
// shell) in a process group of its own, with standard output and standard
// error both written to out. When ctx is done the whole group is killed.
// When the command has exited, whatever is left of its group is killed as
// well, so that no process of a run outlives it.
//
// A command that could not be started returns a nil state and a
// *StartError; so does one for which fdlimit.Checks has no descriptors
// left (`start NAME: descriptor budget exhausted`). Otherwise the state is
// the command's and err is what exec.Cmd.Wait returned: nil, an
// *exec.ExitError, or exec.ErrWaitDelay when the command exited but a
// child held its output open past WaitDelay.
func Run(ctx context.Context, argv []string, out io.Writer) (*os.ProcessState, error) {
	if len(argv) == 0 {
		return nil, &StartError{Err: errors.New("no command")}
	}
	// The output pipe's two ends, from fdlimit.Checks while the command runs.
	fds := fdlimit.Checks()
	if err := fds.AcquireN(2); err != nil {
		return nil, &StartError{Name: argv[0], Err: err}
	}
	defer fds.ReleaseN(2)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return KillGroup(cmd.Process.Pid) }
	cmd.WaitDelay = WaitDelay
	if err := start(cmd); err != nil {
		return nil, &StartError{Name: argv[0], Err: startCause(err)}
	}
	err := cmd.Wait() // always reaps the command
	owned.release(cmd.Process.Pid)
	// Background children left in the group must not outlive the run.
	_ = KillGroup(cmd.Process.Pid)
	return cmd.ProcessState, err
}

// KillGroup sends SIGKILL to the process group pgid; a group that is gone
// already is os.ErrProcessDone.
func KillGroup(pgid int) error {
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

// owned is the set of children that Run started and has not waited for
// yet: the reaper leaves them to their Run. It is process-wide because
// children and SIGCHLD are.
var owned = pidSet{pids: map[int]struct{}{}}

// pidSet is a set of pids. starting is held (shared) by Run from before a
// fork until its pid is in the set, and (exclusive) by the reaper while it
// reaps, so that a command which exits at once is never mistaken for an
// orphan.
type pidSet struct {
	starting sync.RWMutex
	mu       sync.Mutex
	pids     map[int]struct{}
}

// start starts cmd and adds its pid to owned.
func start(cmd *exec.Cmd) error {
	owned.starting.RLock()
	defer owned.starting.RUnlock()
	if err := cmd.Start(); err != nil {
		return err
	}
	owned.mu.Lock()
	owned.pids[cmd.Process.Pid] = struct{}{}
	owned.mu.Unlock()
	return nil
}

func (s *pidSet) release(pid int) {
	s.mu.Lock()
	delete(s.pids, pid)
	s.mu.Unlock()
}

func (s *pidSet) has(pid int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.pids[pid]
	return ok
}
