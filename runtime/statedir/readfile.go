package statedir

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"
)

// MaxFileSize is the largest state, outbox or failed file the directory
// reads: 1 MiB. A test state is a few hundred bytes; Put keeps an outbox
// file below it (it drops stats, then long texts, see fitMessage). A
// larger file was not written by monsta and is moved aside unread.
const MaxFileSize = 1 << 20

// ErrNotRegular is the error of a file that is a FIFO, a device, a socket
// or a directory where a state file goes.
var ErrNotRegular = errors.New("not a regular file")

// ErrTooLarge is the error of a file larger than the reader's cap.
var ErrTooLarge = errors.New("larger than a state file can be")

// ReadFile reads the regular file at path, of at most max bytes, without
// ever blocking on what is there instead: it opens with O_NONBLOCK (a FIFO
// opens at once, with no writer), refuses anything that is not a regular
// file (ErrNotRegular) and a file larger than max (ErrTooLarge) before
// reading a byte, and reads no more than max+1 bytes in case it grows.
// The silences file is read with it too.
func ReadFile(path string, max int64) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if errors.Is(err, syscall.ENXIO) { // a unix socket
		if fi, lerr := os.Lstat(path); lerr == nil && !fi.Mode().IsRegular() {
			return nil, fmt.Errorf("%w (%s)", ErrNotRegular, fileType(fi.Mode()))
		}
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%w (%s)", ErrNotRegular, fileType(fi.Mode()))
	}
	if fi.Size() > max {
		return nil, fmt.Errorf("%w: %d bytes, at most %d", ErrTooLarge, fi.Size(), max)
	}
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, max)
	}
	return data, nil
}

// fileType names a mode's file type for an error.
func fileType(m os.FileMode) string {
	switch {
	case m&os.ModeNamedPipe != 0:
		return "a FIFO"
	case m&os.ModeSocket != 0:
		return "a socket"
	case m&os.ModeDevice != 0:
		return "a device"
	case m.IsDir():
		return "a directory"
	default:
		return "mode " + m.String()
	}
}

// Refused tells whether err is ReadFile's refusal of what it found
// (ErrNotRegular, ErrTooLarge): such a file is moved aside as NAME.bad-TIME.
func Refused(err error) bool {
	return errors.Is(err, ErrNotRegular) || errors.Is(err, ErrTooLarge)
}

// MoveAside renames path to NAME.bad-TIME when err is a refusal (Refused),
// else to NAME.corrupt-TIME, and returns the new name.
func MoveAside(path string, err error, now time.Time) (string, error) {
	kind := "corrupt"
	if Refused(err) {
		kind = "bad"
	}
	dst := fmt.Sprintf("%s.%s-%s", path, kind, now.UTC().Format("20060102T150405.000000000"))
	if rerr := os.Rename(path, dst); rerr != nil {
		return "", rerr
	}
	return dst, nil
}
