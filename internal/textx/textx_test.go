package textx

import "testing"

func TestQuote(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{name: "plain", in: "550 unknown user", want: `"550 unknown user"`},
		{name: "backslashes stay single", in: `\\srv\share`, want: `"\\srv\share"`},
		{name: "quotes stay single", in: `{"error":"bad"}`, want: `"{"error":"bad"}"`},
		{name: "newline and CR", in: "a\r\nb", want: `"a\r\nb"`},
		{name: "escape sequence", in: "\x1b]0;owned\x07\x1b[2J", want: `"\x1b]0;owned\x07\x1b[2J"`},
		{name: "DEL", in: "a\x7fb", want: `"a\x7fb"`},
		{name: "C1 control", in: "a\u009bb", want: `"a\u009bb"`},
		{name: "invalid UTF-8", in: "a\xffb", want: `"a\xffb"`},
		{name: "real replacement character kept", in: "a\uFFFDb", want: "\"a\uFFFDb\""},
		{name: "UTF-8 kept", in: "Zürich ☃", want: `"Zürich ☃"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Quote(tc.in); got != tc.want {
				t.Errorf("Quote(%q) = %s, want %s", tc.in, got, tc.want)
			}
		})
	}
}

func TestTerminal(t *testing.T) {
	tests := []struct{ in, want string }{
		{in: "line 1\n\tline 2\n", want: "line 1\n\tline 2\n"},
		{in: "title \x1b]0;x\x07 clear \x1b[2J\r", want: `title \x1b]0;x\x07 clear \x1b[2J\r`},
		{in: "ok", want: "ok"},
	}
	for _, tc := range tests {
		if got := Terminal(tc.in); got != tc.want {
			t.Errorf("Terminal(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func FuzzSafe(f *testing.F) {
	for _, s := range []string{"", "a\x1b[2J", "\xff\xfe", "\u0085", "\\\""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, out := range []string{Safe(s), Terminal(s)} {
			for _, c := range []byte(out) {
				if c < 0x20 && c != '\n' && c != '\t' || c == 0x7f {
					t.Fatalf("output %q of %q holds control byte %#x", out, s, c)
				}
			}
		}
		for _, c := range []byte(Safe(s)) {
			if c == '\n' || c == '\t' {
				t.Fatalf("Safe(%q) holds a raw newline or tab", s)
			}
		}
	})
}
