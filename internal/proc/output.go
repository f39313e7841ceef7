package proc

import (
	"bytes"
	"strconv"
)

// Output keeps the head and the tail of what a command writes, with a
// marker for what was dropped between them, and counts every byte: a
// chatty command cannot make the daemon grow, and an admin still sees how
// the output began (a Nagios plugin's status line) and how it ended (the
// error a script died with). Write never fails. It is not safe for
// concurrent use; os/exec serialises writes when Stdout and Stderr are the
// same writer.
type Output struct {
	head  []byte // the first max/2 bytes
	tail  []byte // ring of the last max-max/2 bytes once head is full
	next  int    // where the ring writes next
	full  bool   // the ring wrapped
	max   int
	total int64
}

// NewOutput returns an Output that keeps at most max bytes (max/2 of the
// head, the rest of the tail).
func NewOutput(max int) *Output { return &Output{max: max} }

// Write implements io.Writer.
func (o *Output) Write(p []byte) (int, error) {
	n := len(p)
	o.total += int64(n)
	if room := o.max/2 - len(o.head); room > 0 {
		k := min(room, len(p))
		o.head = append(o.head, p[:k]...)
		p = p[k:]
	}
	size := o.max - o.max/2
	if len(p) == 0 || size == 0 {
		return n, nil
	}
	if o.tail == nil {
		o.tail = make([]byte, 0, size)
	}
	if len(p) >= size { // only the end of p stays
		p = p[len(p)-size:]
		o.tail = append(o.tail[:0], p...)
		o.next, o.full = 0, true
		return n, nil
	}
	if !o.full {
		if k := size - len(o.tail); len(p) <= k {
			o.tail = append(o.tail, p...)
			o.next = len(o.tail) % size
			o.full = len(o.tail) == size
			return n, nil
		}
		o.tail = o.tail[:size]
		o.full = true
	}
	for len(p) > 0 {
		k := copy(o.tail[o.next:], p)
		p = p[k:]
		o.next = (o.next + k) % size
	}
	return n, nil
}

// Total is the number of bytes written.
func (o *Output) Total() int64 { return o.total }

// Kept is the number of bytes kept.
func (o *Output) Kept() int { return len(o.head) + len(o.tail) }

// Capped tells whether output was dropped.
func (o *Output) Capped() bool { return o.total > int64(o.Kept()) }

// Note says how much was kept, e.g. "captured 65536 of 81920 bytes", or ""
// when nothing was dropped.
func (o *Output) Note() string {
	if !o.Capped() {
		return ""
	}
	return "captured " + strconv.Itoa(o.Kept()) + " of " + strconv.FormatInt(o.total, 10) + " bytes"
}

// Marker is what Bytes puts where output was dropped.
func Marker(dropped int64) string {
	return "\n[monsta: " + strconv.FormatInt(dropped, 10) + " bytes omitted]\n"
}

// Bytes returns the output: all of it, or its head, Marker and its tail.
func (o *Output) Bytes() []byte {
	b := make([]byte, 0, o.Kept()+40)
	b = append(b, o.head...)
	if o.Capped() {
		b = append(b, Marker(o.total-int64(o.Kept()))...)
	}
	return o.appendTail(b)
}

func (o *Output) appendTail(b []byte) []byte {
	if o.full {
		b = append(b, o.tail[o.next:]...)
		return append(b, o.tail[:o.next]...)
	}
	return append(b, o.tail...)
}

// String returns Bytes as a string.
func (o *Output) String() string { return string(o.Bytes()) }

// FirstLine returns the first line of the output without its line ending.
func (o *Output) FirstLine() string {
	b := o.head
	if len(o.tail) > 0 && !o.Capped() {
		b = o.Bytes()
	}
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		b = b[:i]
	}
	return string(bytes.TrimSuffix(b, []byte{'\r'}))
}

// Last returns at most n bytes of the end of the output without
// surrounding white space, for a message; it starts at a line when the cut
// falls inside one and then begins with "…".
func (o *Output) Last(n int) string {
	var t []byte
	if o.Capped() {
		t = bytes.TrimSpace(o.appendTail(nil))
	} else {
		t = bytes.TrimSpace(o.Bytes())
	}
	if len(t) > n {
		t = t[len(t)-n:]
		if i := bytes.IndexByte(t, '\n'); i >= 0 && i < len(t)-1 {
			t = t[i+1:]
		}
		t = append([]byte("…"), t...)
	}
	return string(t)
}
