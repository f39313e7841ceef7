package proc

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// sweepEvery is how often the reaper looks for orphans without a SIGCHLD,
// in case a list of children it read was incomplete.
const sweepEvery = 10 * time.Second

// StartReaper makes the calling process a child subreaper
// (PR_SET_CHILD_SUBREAPER) and reaps the orphans that are then handed to
// it, in a goroutine, until ctx is done: the grandchildren of a script
// check that were killed after their parent exited, say. As PID 1 (in a
// container) a process is their reaper anyway; without the flag they would
// go to the host's init, with it the daemon takes care of its own
// descendants either way.
//
// On every SIGCHLD it reaps each child that is not a command run by Run
// (whose exit status belongs to that Run) and not in the daemon's own
// process group (a child started with plain os/exec, which someone will
// wait for; as PID 1 these are reaped too). Every command a daemon starts
// must therefore go through Run. The error says why it could not start.
func StartReaper(ctx context.Context) error {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return os.NewSyscallError("prctl PR_SET_CHILD_SUBREAPER", err)
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGCHLD)
	go func() {
		defer signal.Stop(sigs)
		t := time.NewTicker(sweepEvery)
		defer t.Stop()
		for {
			ReapOrphans()
			select {
			case <-ctx.Done():
				return
			case <-sigs:
			case <-t.C:
			}
		}
	}()
	return nil
}

// ReapOrphans reaps, without blocking, every exited child that is an
// orphan in the sense of Reaper, and returns their pids.
func ReapOrphans() []int {
	owned.starting.Lock()
	defer owned.starting.Unlock()
	self := os.Getpid()
	group := syscall.Getpgrp()
	var reaped []int
	for _, pid := range children(self) {
		if owned.has(pid) {
			continue
		}
		if g, err := syscall.Getpgid(pid); err != nil || (g == group && self != 1) {
			continue
		}
		var ws syscall.WaitStatus
		if got, err := syscall.Wait4(pid, &ws, syscall.WNOHANG, nil); err == nil && got == pid {
			reaped = append(reaped, pid)
		}
	}
	return reaped
}

// children lists the children of process self from
// /proc/self/task/*/children, or by scanning /proc when the kernel has no
// such files.
func children(self int) []int {
	tasks, _ := filepath.Glob("/proc/self/task/*/children")
	if len(tasks) == 0 {
		return scanChildren(self)
	}
	var pids []int
	for _, f := range tasks {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, w := range bytes.Fields(b) {
			if pid, err := strconv.Atoi(string(w)); err == nil {
				pids = append(pids, pid)
			}
		}
	}
	return pids
}

// scanChildren finds the processes whose parent is self in /proc/*/stat.
func scanChildren(self int) []int {
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, _, err := Stat(pid); err == nil && ppid == self {
			pids = append(pids, pid)
		}
	}
	return pids
}

// Stat returns the parent pid and the state letter (R, S, Z…) of pid from
// /proc/PID/stat.
func Stat(pid int) (ppid int, state byte, err error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, err
	}
	// pid (comm) state ppid …; comm may contain spaces and parentheses.
	i := bytes.LastIndexByte(b, ')')
	f := bytes.Fields(b[i+1:])
	if i < 0 || len(f) < 2 || len(f[0]) != 1 {
		return 0, 0, errors.New("malformed /proc/" + strconv.Itoa(pid) + "/stat")
	}
	ppid, err = strconv.Atoi(string(f[1]))
	return ppid, f[0][0], err
}
