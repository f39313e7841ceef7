package statedir

import (
	"fmt"
	"os"
	"time"

	"github.com/monsta/monsta/internal/fileread"
)

// MaxFileSize is the largest state, outbox or failed file the directory
// reads: 1 MiB. A test state is a few hundred bytes; Put keeps an outbox
// file below it (it drops stats, then long texts, see fitMessage). A
// larger file was not written by monsta and is moved aside unread.
const MaxFileSize = 1 << 20

// ErrNotRegular is the error of a file that is a FIFO, a device, a socket
// or a directory where a state file goes (fileread's).
var ErrNotRegular = fileread.ErrNotRegular

// ErrTooLarge is the error of a file larger than the reader's cap
// (fileread's).
var ErrTooLarge = fileread.ErrTooLarge

// ReadFile reads the regular file at path, of at most max bytes, without
// ever blocking on what is there instead (fileread.Read): a FIFO opens at
// once, anything that is not a regular file (ErrNotRegular) and a file
// larger than max (ErrTooLarge) is refused before a byte is read. The
// silences file is read with it too.
func ReadFile(path string, max int64) ([]byte, error) {
	data, err := fileread.Read(path, max, "the most a state file can be")
	if err != nil && !Refused(err) {
		return nil, &os.PathError{Op: "read", Path: path, Err: err}
	}
	return data, err
}

// Refused tells whether err is ReadFile's refusal of what it found
// (ErrNotRegular, ErrTooLarge): such a file is moved aside as NAME.bad-TIME.
func Refused(err error) bool { return fileread.Refused(err) }

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
