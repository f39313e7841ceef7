package main

import (
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// sanitize makes text from a server's reply or a Lua message safe to print
// to a terminal: every C0 and C1 control character (ESC included) except
// newline and tab, DEL, and every byte that is not UTF-8 is shown as a
// visible escape such as \x1b, so that no reply can retitle, clear or
// recolour the terminal of the person reading it.
func sanitize(s string) string {
	if !needsEscape(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case isControl(r):
			fmt.Fprintf(&b, `\x%02x`, r)
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// isControl reports a C0 or C1 control character, or DEL, other than
// newline and tab.
func isControl(r rune) bool {
	return (r < 0x20 && r != '\n' && r != '\t') || (r >= 0x7f && r <= 0x9f)
}

// needsEscape reports whether sanitize would change s.
func needsEscape(s string) bool {
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && n == 1) || isControl(r) {
			return true
		}
		i += n
	}
	return false
}

// termWriter sanitizes what is written through it. Each Write must hold
// whole characters, as fmt's and tabwriter's writes do.
type termWriter struct{ w io.Writer }

func (t termWriter) Write(p []byte) (int, error) {
	if _, err := io.WriteString(t.w, sanitize(string(p))); err != nil {
		return 0, err
	}
	return len(p), nil
}

// jsonWriter escapes the C1 control characters that encoding/json leaves
// raw (it escapes C0 itself) as \u0080 to \u009f: the JSON means the same,
// and a terminal shows it as text.
type jsonWriter struct{ w io.Writer }

func (j jsonWriter) Write(p []byte) (int, error) {
	s := string(p)
	if strings.ContainsFunc(s, func(r rune) bool { return r >= 0x80 && r <= 0x9f }) {
		var b strings.Builder
		for _, r := range s {
			if r >= 0x80 && r <= 0x9f {
				fmt.Fprintf(&b, `\u%04x`, r)
				continue
			}
			b.WriteRune(r)
		}
		s = b.String()
	}
	if _, err := io.WriteString(j.w, s); err != nil {
		return 0, err
	}
	return len(p), nil
}
