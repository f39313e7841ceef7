package netx

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

// ErrLineTooLong is returned by ReadLine with the first max bytes of a line
// that has no end within them.
var ErrLineTooLong = errors.New("line too long")

// ReadLine reads one line from r and returns it without its line ending
// ("\n" or "\r\n"). A stream that ends after some bytes ends the line; one
// that ends before any byte is io.EOF. A line longer than max bytes is
// returned cut to max bytes with ErrLineTooLong, and the rest of it is left
// unread (in part). When the line and its ending fit r's buffer, no byte is
// copied and the line is valid until the next read from r; a buffer of
// max+2 bytes makes that so for every line.
func ReadLine(r *bufio.Reader, max int) ([]byte, error) {
	limit := max + 2 // room for "\r\n"
	var acc []byte   // only for lines longer than r's buffer
	for {
		frag, err := r.ReadSlice('\n')
		if acc == nil && len(frag) <= limit && err != bufio.ErrBufferFull {
			if err != nil && (err != io.EOF || len(frag) == 0) {
				return nil, err
			}
			return capLine(trimEOL(frag), max)
		}
		if room := limit - len(acc); len(frag) > room {
			return append(acc, frag[:room]...)[:max], ErrLineTooLong
		}
		acc = append(acc, frag...)
		switch {
		case err == nil, err == io.EOF:
			return capLine(trimEOL(acc), max)
		case err != bufio.ErrBufferFull:
			return nil, err
		}
	}
}

func capLine(line []byte, max int) ([]byte, error) {
	if len(line) > max {
		return line[:max], ErrLineTooLong
	}
	return line, nil
}

func trimEOL(b []byte) []byte {
	b = bytes.TrimSuffix(b, []byte{'\n'})
	return bytes.TrimSuffix(b, []byte{'\r'})
}

// CutLine finds the first line in b, the bytes read so far of a stream, by
// the rules of ReadLine: ok is false while more bytes could still change
// the answer (no line ending yet, b shorter than max+2 and the stream not
// at its end). Once ok, line is the line without its ending, cut to max
// bytes with ErrLineTooLong, or err is io.EOF for a stream that ended
// before any byte. line is a part of b.
func CutLine(b []byte, max int, atEOF bool) (line []byte, ok bool, err error) {
	limit := max + 2 // room for "\r\n"
	if i := bytes.IndexByte(b, '\n'); i >= 0 && i < limit {
		line, err = capLine(trimEOL(b[:i+1]), max)
		return line, true, err
	}
	switch {
	case len(b) >= limit:
		return b[:max], true, ErrLineTooLong
	case atEOF && len(b) == 0:
		return nil, true, io.EOF
	case atEOF:
		line, err = capLine(trimEOL(b), max)
		return line, true, err
	}
	return nil, false, nil
}
