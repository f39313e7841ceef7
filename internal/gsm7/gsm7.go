// Package gsm7 measures and produces text in the GSM 03.38 default
// alphabet, the 7-bit character set of a single-part SMS (160 septets).
package gsm7

import (
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// The basic alphabet (one septet each) and the extension table (two
// septets each: escape plus the character).
const (
	Basic = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
		"¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
	Extension = "^{}\\[~]|€\f"
)

// SingleSMS is how many septets one SMS holds.
const SingleSMS = 160

// Septets returns the length of s in septets, or -1 when s has a
// character outside the alphabet.
func Septets(s string) int {
	n := 0
	for _, r := range s {
		switch c := runeSeptets(r); c {
		case 0:
			return -1
		default:
			n += c
		}
	}
	return n
}

// Size is Septets for text that Transliterate produced; it counts a
// character outside the alphabet as the one "?" it becomes.
func Size(s string) int {
	n := 0
	for _, r := range s {
		n += max(runeSeptets(r), 1)
	}
	return n
}

func runeSeptets(r rune) int {
	switch {
	case strings.ContainsRune(Basic, r):
		return 1
	case strings.ContainsRune(Extension, r):
		return 2
	}
	return 0
}

// replacements are characters outside the alphabet that have a
// readable stand-in; the rest lose their accents or become "?".
var replacements = map[rune]string{
	'µ': "u", 'μ': "u", '`': "'", '´': "'", '‘': "'", '’': "'", '‚': "'", '‛': "'", '′': "'",
	'“': "\"", '”': "\"", '„': "\"", '″': "\"", '«': "\"", '»': "\"", '‹': "'", '›': "'",
	'‐': "-", '‑': "-", '‒': "-", '–': "-", '—': "-", '―': "-", '−': "-",
	'…': "...", '•': "*", '·': ".", '×': "x", '÷': "/", '°': "deg", '±': "+/-",
	'→': "->", '←': "<-", '⇒': "=>", '≤': "<=", '≥': ">=", '≠': "!=", '✓': "v", '✔': "v", '✗': "x", '✘': "x",
	'\t': " ", '\u00a0': " ", '\u2009': " ", '\u202f': " ", '\u200b': "",
	'ł': "l", 'Ł': "L", 'đ': "d", 'Đ': "D", 'ħ': "h", 'ı': "i", 'œ': "oe", 'Œ': "OE", 'þ': "th", 'Þ': "Th", 'ð': "d",
	'©': "(c)", '®': "(R)", '™': "TM", '¢': "c", '¦': "|",
}

// Transliterate returns s in the GSM alphabet: characters outside it are
// replaced by a look-alike (µ→u, “→", …→...), lose their accents (ê→e), or
// become "?". The text never needs UCS-2, so it never costs a whole SMS's
// capacity for one symbol.
func Transliterate(s string) string {
	if Septets(s) >= 0 {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if runeSeptets(r) > 0 {
			b.WriteRune(r)
			continue
		}
		if rep, ok := replacements[r]; ok {
			b.WriteString(rep)
			continue
		}
		if base, ok := stripMarks(r); ok {
			b.WriteString(base)
			continue
		}
		if unicode.IsSpace(r) {
			b.WriteByte(' ')
			continue
		}
		if unicode.IsControl(r) || unicode.Is(unicode.Mn, r) {
			continue
		}
		b.WriteByte('?')
	}
	return b.String()
}

// stripMarks decomposes r and keeps its base characters when they are all
// in the alphabet (ê → e, Ć → C).
func stripMarks(r rune) (string, bool) {
	var b strings.Builder
	for _, d := range norm.NFD.String(string(r)) {
		if unicode.Is(unicode.Mn, d) {
			continue
		}
		if runeSeptets(d) == 0 {
			return "", false
		}
		b.WriteRune(d)
	}
	return b.String(), b.Len() > 0
}
