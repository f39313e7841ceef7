// Package textx renders text that came from a peer (a server's reply, a
// script's output, a Lua message) for people: quoted without doubling the
// backslashes and quotes a reader needs to see as they are, and with every
// control character made visible, so that nothing a server sends can move
// a terminal's cursor, change its title or clear its screen.
package textx

import (
	"strings"
	"unicode/utf8"
)

const hex = "0123456789abcdef"

// Quote returns s between double quotes with control characters, DEL,
// C1 controls and invalid UTF-8 escaped (\n, \r, \t, \xNN, \u0085), and
// backslashes and quotes left as they are: `\\srv\share` reads
// "\\srv\share", not "\\\\srv\\share".
func Quote(s string) string {
	return `"` + Safe(s) + `"`
}

// Safe returns s with control characters escaped as Quote does, without
// the quotes; newlines are escaped too. It returns s itself when nothing
// needs escaping.
func Safe(s string) string {
	return escape(s, false)
}

// Terminal returns s safe to print on a terminal: like Safe, but newlines
// and tabs are kept, so multi-line output stays readable.
func Terminal(s string) string {
	return escape(s, true)
}

func escape(s string, keepLines bool) string {
	if clean(s, keepLines) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			writeByte(&b, s[i])
		case keepLines && (r == '\n' || r == '\t'):
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			writeByte(&b, byte(r))
		case r >= 0x80 && r < 0xa0:
			b.WriteString(`\u00`)
			b.WriteByte(hex[r>>4])
			b.WriteByte(hex[r&0xf])
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

func writeByte(b *strings.Builder, c byte) {
	b.WriteString(`\x`)
	b.WriteByte(hex[c>>4])
	b.WriteByte(hex[c&0xf])
}

// clean reports whether s has nothing to escape.
func clean(s string, keepLines bool) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x80 {
			return cleanUTF8(s[i:])
		}
		if c < 0x20 && !(keepLines && (c == '\n' || c == '\t')) || c == 0x7f {
			return false
		}
	}
	return true
}

func cleanUTF8(s string) bool {
	for _, r := range s {
		if r == utf8.RuneError || r < 0x20 || r == 0x7f || r >= 0x80 && r < 0xa0 {
			// RuneError here may be a real U+FFFD: escape() keeps that one.
			return false
		}
	}
	return true
}
