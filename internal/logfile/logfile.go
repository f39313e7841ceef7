// Package logfile is a log file that can be reopened, so that logrotate
// may rename it and signal the daemon instead of copying and truncating.
package logfile

import (
	"fmt"
	"os"
	"sync"
)

// File appends to a path and reopens it on request. It is safe for
// concurrent use; a reopen never loses or splits a write.
type File struct {
	path string
	mu   sync.Mutex
	f    *os.File
}

// Open opens (creating with mode 0640) path for appending.
func Open(path string) (*File, error) {
	f, err := open(path)
	if err != nil {
		return nil, err
	}
	return &File{path: path, f: f}, nil
}

func open(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("open log file: %w", err)
	}
	return f, nil
}

// Path returns the path the file was opened with.
func (l *File) Path() string { return l.path }

// Write implements io.Writer.
func (l *File) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return 0, os.ErrClosed
	}
	return l.f.Write(p)
}

// Chown sets the owner of the open file (when running as root, before
// privileges are dropped, so the daemon's user can reopen it later).
func (l *File) Chown(uid, gid int) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return os.ErrClosed
	}
	return l.f.Chown(uid, gid)
}

// Reopen opens the path again and switches to it, so a file renamed away
// stops growing. When the path cannot be opened, writes keep going to the
// old file and the error says why.
func (l *File) Reopen() error {
	nf, err := open(l.path)
	if err != nil {
		return err
	}
	l.mu.Lock()
	old := l.f
	l.f = nf
	l.mu.Unlock()
	if old != nil {
		old.Close()
	}
	return nil
}

// Close closes the file; later writes fail.
func (l *File) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}
