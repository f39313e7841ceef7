package textx

import "testing"

func TestBytes(t *testing.T) {
	tests := []struct {
		n    int64
		want string
	}{
		{0, "0 bytes"},
		{100, "100 bytes"},
		{1024, "1 KiB"},
		{1025, "1025 bytes"},
		{12 << 10, "12 KiB"},
		{1 << 20, "1 MiB"},
		{48 << 20, "48 MiB"},
		{1<<20 + 1024, "1025 KiB"},
		{1048577, "1048577 bytes"},
	}
	for _, tc := range tests {
		if got := Bytes(tc.n); got != tc.want {
			t.Errorf("Bytes(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
}
