// Package fileread reads the files monsta is given to load (configuration
// files, Lua sources and libraries) without ever blocking on what is not a
// regular file, and without reading more than a cap.
package fileread

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"

	"github.com/monsta/monsta/internal/textx"
)

// ErrNotRegular is what Read's refusal of a FIFO, a device, a socket or a
// directory is (errors.Is).
var ErrNotRegular = errors.New("not a regular file")

// ErrTooLarge is what Read's refusal of a file over its cap is (errors.Is).
var ErrTooLarge = errors.New("file too large")

// Read reads the file at path, which must be a regular file (or a link to
// one) of at most max bytes. Anything else is refused without being read,
// so that it can neither block nor exhaust memory: the path is checked
// before it is opened, opened without blocking, and checked again through
// the open descriptor, and no more than max+1 bytes are read in case the
// file grows. limit says where the cap comes from, in parentheses after
// a too-large error ("the limit is set with --max-file-size"); "" adds
// nothing.
//
// A refusal (see Refused) reads "not a regular file (a named pipe); only
// regular files (or links to them) are read" or "file too large: 2000000
// bytes, more than 1 MiB (LIMIT)". Other errors are the system's, without
// the path (callers show the file's name beside them): errors.Is(err,
// fs.ErrNotExist) still holds.
func Read(path string, max int64, limit string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, pathCause(err)
	}
	if err := check(fi, max, limit); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, pathCause(err)
	}
	defer f.Close()
	if fi, err = f.Stat(); err != nil {
		return nil, pathCause(err)
	}
	if err := check(fi, max, limit); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, pathCause(err)
	}
	if int64(len(data)) > max { // it grew since the check
		return nil, fmt.Errorf("%w: more than %s%s", ErrTooLarge, textx.Bytes(max), note(limit))
	}
	return data, nil
}

// Refused tells whether err is Read's refusal of what it found at the
// path (ErrNotRegular, ErrTooLarge), rather than a failure to read it.
func Refused(err error) bool {
	return errors.Is(err, ErrNotRegular) || errors.Is(err, ErrTooLarge)
}

// check refuses what Read must not read.
func check(fi fs.FileInfo, max int64, limit string) error {
	m := fi.Mode()
	if !m.IsRegular() {
		return fmt.Errorf("%w (%s); only regular files (or links to them) are read", ErrNotRegular, kind(m))
	}
	if fi.Size() > max {
		return fmt.Errorf("%w: %d bytes, more than %s%s", ErrTooLarge, fi.Size(), textx.Bytes(max), note(limit))
	}
	return nil
}

// note is limit in parentheses after a space, or "".
func note(limit string) string {
	if limit == "" {
		return ""
	}
	return " (" + limit + ")"
}

// kind names the kind of a file that is not regular: "a directory", "a
// named pipe", "a socket", "a character device", "a block device".
func kind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	}
	return "mode " + m.Type().String()
}

// pathCause drops the path of a *fs.PathError: the error is shown beside
// the file's name already.
func pathCause(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
