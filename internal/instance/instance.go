// Package instance makes sure one daemon at a time uses a state directory:
// it holds an exclusive flock on STATEDIR/monsta.lock for the life of the
// process, with the holder's pid written in the file for the next one to name.
package instance

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// FileName is the lock file's name inside the state directory.
const FileName = "monsta.lock"

// HeldError says that another process holds the lock of Dir.
type HeldError struct {
	Dir string
	Pid int // 0 when the holder has not written its pid yet
}

// Error names the directory and, when known, the holder's pid.
func (e *HeldError) Error() string {
	if e.Pid > 0 {
		return fmt.Sprintf("another monsta (pid %d) is running on state directory %s", e.Pid, e.Dir)
	}
	return fmt.Sprintf("another monsta is running on state directory %s", e.Dir)
}

// Lock is a held instance lock. The kernel releases it when the process
// exits, however it exits, so a stale lock file never blocks a start.
type Lock struct {
	f *os.File
}

// Acquire takes the lock of dir without waiting. When another process holds
// it, the error is a *HeldError. uid and gid, when not negative, become the
// lock file's owner, so a daemon that drops privileges can still rewrite it.
func Acquire(dir string, uid, gid int) (*Lock, error) {
	path := filepath.Join(dir, FileName)
	// A FIFO or the like where the lock file goes (a script check can put
	// one there) is moved aside, so that it cannot stop every start.
	if fi, err := os.Lstat(path); err == nil && !fi.Mode().IsRegular() {
		if err := os.Rename(path, path+".bad-"+time.Now().UTC().Format("20060102T150405.000000000")); err != nil {
			return nil, fmt.Errorf("lock file %s is not a regular file, and cannot be moved aside: %w", path, err)
		}
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|syscall.O_CLOEXEC|syscall.O_NONBLOCK, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, &HeldError{Dir: dir, Pid: holder(path)}
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if uid >= 0 || gid >= 0 {
		if err := f.Chown(uid, gid); err != nil {
			f.Close()
			return nil, fmt.Errorf("chown lock file: %w", err)
		}
	}
	l := &Lock{f: f}
	if err := l.writePid(); err != nil {
		f.Close()
		return nil, err
	}
	return l, nil
}

// writePid replaces the file's content with this process's pid.
func (l *Lock) writePid() error {
	if err := l.f.Truncate(0); err != nil {
		return fmt.Errorf("write lock file: %w", err)
	}
	if _, err := l.f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0); err != nil {
		return fmt.Errorf("write lock file: %w", err)
	}
	return nil
}

// Release gives the lock up. The file stays: removing it would let a third
// process lock a new file while a second one still waits on the old one.
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}

// holder reads the pid the lock's holder wrote (0 if unknown).
func holder(path string) int {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return 0
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 64))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}
