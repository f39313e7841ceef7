package proc

import (
	"strings"
	"testing"
)

func TestOutput(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		writes   []string
		want     string
		wantNote string
	}{
		{name: "under the cap", writes: []string{"ab", "cd"}, want: "abcd"},
		{name: "exactly the cap", writes: []string{"abcdefgh"}, want: "abcdefgh"},
		{name: "one big write", writes: []string{"0123456789"}, want: "0123" + Marker(2) + "6789",
			wantNote: "captured 8 of 10 bytes"},
		{name: "many small writes", writes: []string{"abc", "def", "ghi", "jk"}, want: "abcd" + Marker(3) + "hijk",
			wantNote: "captured 8 of 11 bytes"},
		{name: "fill then big", writes: []string{"abcdefg", "123456789"}, want: "abcd" + Marker(8) + "6789",
			wantNote: "captured 8 of 16 bytes"},
		{name: "ring wraps", writes: []string{"abcd", "12", "34", "56", "7"}, want: "abcd" + Marker(3) + "4567",
			wantNote: "captured 8 of 11 bytes"},
		{name: "ring wraps within a write", writes: []string{"abcdefg", "12", "345"}, want: "abcd" + Marker(4) + "2345",
			wantNote: "captured 8 of 12 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := NewOutput(8)
			for _, w := range tt.writes {
				if n, err := o.Write([]byte(w)); n != len(w) || err != nil {
					t.Fatalf("Write(%q) = %d, %v; want %d, nil", w, n, err, len(w))
				}
			}
			if got := o.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
			if got := o.Note(); got != tt.wantNote {
				t.Errorf("Note() = %q, want %q", got, tt.wantNote)
			}
			if got := o.FirstLine(); !strings.HasPrefix(tt.want, got) {
				t.Errorf("FirstLine() = %q, want a prefix of %q", got, tt.want)
			}
		})
	}
}

func TestOutputLast(t *testing.T) {
	t.Parallel()
	o := NewOutput(1024)
	o.Write([]byte("first line\nsecond line\nthird\n\n"))
	if got, want := o.Last(100), "first line\nsecond line\nthird"; got != want {
		t.Errorf("Last(100) = %q, want %q", got, want)
	}
	if got, want := o.Last(14), "…third"; got != want {
		t.Errorf("Last(14) = %q, want %q", got, want)
	}
	if got, want := o.FirstLine(), "first line"; got != want {
		t.Errorf("FirstLine() = %q, want %q", got, want)
	}
	capped := NewOutput(16)
	capped.Write([]byte("OK - status\r\n" + strings.Repeat("x", 40) + "\nthe end\n"))
	if got, want := capped.FirstLine(), "OK - sta"; got != want {
		t.Errorf("capped FirstLine() = %q, want %q (the head is 8 bytes)", got, want)
	}
	if got, want := capped.Last(100), "the end"; got != want {
		t.Errorf("capped Last(100) = %q, want %q (the tail only)", got, want)
	}
}
