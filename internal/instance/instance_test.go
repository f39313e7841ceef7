package instance

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestSecondAcquireNamesTheHolder(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	l, err := Acquire(dir, -1, -1)
	if err != nil {
		t.Fatalf("Acquire() error = %v", err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, FileName))
	if got := strings.TrimSpace(string(b)); got != strconv.Itoa(os.Getpid()) {
		t.Errorf("lock file = %q, want our pid", got)
	}
	// A second open file description conflicts even in the same process.
	_, err = Acquire(dir, -1, -1)
	var held *HeldError
	if !errors.As(err, &held) || held.Pid != os.Getpid() || held.Dir != dir {
		t.Fatalf("second Acquire() error = %v, want HeldError with our pid", err)
	}
	if !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), strconv.Itoa(os.Getpid())) {
		t.Errorf("error %q does not name the directory and the pid", err)
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	l2, err := Acquire(dir, -1, -1)
	if err != nil {
		t.Fatalf("Acquire() after Release error = %v", err)
	}
	l2.Release()
}

func TestStaleFileDoesNotBlock(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, FileName), []byte("999999\n"), 0o644)
	l, err := Acquire(dir, -1, -1)
	if err != nil {
		t.Fatalf("Acquire() over a stale file error = %v", err)
	}
	l.Release()
}

func TestMissingDirectory(t *testing.T) {
	t.Parallel()
	_, err := Acquire(filepath.Join(t.TempDir(), "nope"), -1, -1)
	var held *HeldError
	if err == nil || errors.As(err, &held) {
		t.Fatalf("Acquire() error = %v, want an open error", err)
	}
}

// TestFIFOLockFile: a FIFO where the lock file goes neither blocks nor
// stops the start; it is moved aside.
func TestFIFOLockFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, FileName)
	if err := syscall.Mkfifo(p, 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		l, err := Acquire(dir, -1, -1)
		if err == nil {
			l.Release()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Acquire() with a FIFO as lock file error = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Acquire() did not return within 10 s")
	}
	if fi, err := os.Lstat(p); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("lock file after Acquire: %v, %v; want a regular file", fi, err)
	}
	if m, _ := filepath.Glob(p + ".bad-*"); len(m) != 1 {
		t.Errorf("FIFO not moved aside: %v", m)
	}
}
