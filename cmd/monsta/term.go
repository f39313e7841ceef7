package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/monsta/monsta/internal/textx"
)

// sanitize makes text from a server's reply or a Lua message safe to print
// to a terminal (textx.Terminal): every control character but newline and
// tab, and every byte that is not UTF-8, is shown as a visible escape such
// as \x1b, so that no reply can retitle, clear or recolour the terminal of
// the person reading it.
func sanitize(s string) string { return textx.Terminal(s) }

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
