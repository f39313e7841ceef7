package builtins

import (
	"bytes"
	"strconv"
)

// outputCap is how much of a command's output the script check keeps.
const outputCap = 64 * 1024

// cappedOutput keeps the last max bytes written to it and counts every
// byte, so that a chatty command cannot make the daemon grow and the
// message can say what was dropped. Write never fails. It is not safe for
// concurrent use; os/exec serialises writes when Stdout and Stderr are the
// same writer.
type cappedOutput struct {
	max   int
	buf   []byte
	total int64
}

func newCappedOutput(max int) *cappedOutput { return &cappedOutput{max: max} }

// Write implements io.Writer.
func (b *cappedOutput) Write(p []byte) (int, error) {
	b.total += int64(len(p))
	switch {
	case len(p) >= b.max:
		b.buf = append(b.buf[:0], p[len(p)-b.max:]...)
	case len(b.buf)+len(p) > b.max:
		keep := b.max - len(p)
		n := copy(b.buf, b.buf[len(b.buf)-keep:])
		b.buf = append(b.buf[:n], p...)
	default:
		b.buf = append(b.buf, p...)
	}
	return len(p), nil
}

// Bytes returns the kept output (the last max bytes).
func (b *cappedOutput) Bytes() []byte { return b.buf }

// Capped tells whether output was dropped.
func (b *cappedOutput) Capped() bool { return b.total > int64(len(b.buf)) }

// Note says how much was kept, e.g. "captured 65536 of 81920 bytes", or ""
// when nothing was dropped.
func (b *cappedOutput) Note() string {
	if !b.Capped() {
		return ""
	}
	return "captured " + strconv.Itoa(len(b.buf)) + " of " + strconv.FormatInt(b.total, 10) + " bytes"
}

// Tail returns at most n bytes of the end of the output without surrounding
// white space, starting at a line when the cut falls inside one.
func (b *cappedOutput) Tail(n int) string {
	t := bytes.TrimSpace(b.buf)
	if len(t) > n {
		t = t[len(t)-n:]
		if i := bytes.IndexByte(t, '\n'); i >= 0 && i < len(t)-1 {
			t = t[i+1:]
		}
		t = append([]byte("…"), t...)
	}
	return string(t)
}
