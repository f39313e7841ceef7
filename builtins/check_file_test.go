package builtins

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	write := func(name, content string, age time.Duration) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, now.Add(-age), now.Add(-age)); err != nil {
			t.Fatal(err)
		}
		return p
	}
	fresh := write("fresh", "-- dump completed\n", 2*time.Hour)
	stale := write("stale", strings.Repeat("x", 100), 30*time.Hour)
	// The marker sits beyond the first 64 KiB, where expect does not look.
	big := write("big", strings.Repeat("x", fileExpectMax)+"MARKER", time.Hour)
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		raw     map[string]string
		wantErr []string
		want    map[string]float64
	}{
		{name: "fresh", raw: map[string]string{"path": fresh, "max_age": "26h", "expect": "dump completed$"},
			want: map[string]float64{"age_seconds": 7200, "size_bytes": 18}},
		{name: "stale", raw: map[string]string{"path": stale, "max_age": "26h"},
			wantErr: []string{"last modified 2026-02-28T06:00:00Z (30h0m0s ago), older than max_age 26h0m0s"}},
		{name: "too small", raw: map[string]string{"path": stale, "min_size": "1K"},
			wantErr: []string{"100 B, smaller than min_size 1.0 KiB"}},
		{name: "content", raw: map[string]string{"path": fresh, "expect": "(?i)error"},
			wantErr: []string{`first 18 B do not match expect "(?i)error"`}},
		{name: "only first 64 KiB", raw: map[string]string{"path": big, "expect": "MARKER"},
			wantErr: []string{"first 64.0 KiB do not match"}},
		{name: "missing", raw: map[string]string{"path": filepath.Join(dir, "nope")},
			wantErr: []string{"stat " + filepath.Join(dir, "nope") + ": no such file or directory"}},
		{name: "directory age", raw: map[string]string{"path": sub, "max_age": "1h"},
			wantErr: []string{"older than max_age"}},
		{name: "directory content", raw: map[string]string{"path": sub, "expect": "x"},
			wantErr: []string{"is a directory"}},
	}
	if err := os.Chtimes(sub, now.Add(-2*time.Hour), now.Add(-2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := newTestCheck(t, fileDescriptor(), tt.raw)
			if err != nil {
				t.Fatal(err)
			}
			c.(*File).now = func() time.Time { return now }
			stats, err := runGuarded(t, c, 5*time.Second)
			checkErrs(t, err, tt.wantErr)
			for k, v := range tt.want {
				if stats[k] != v {
					t.Errorf("stats[%s] = %v, want %v", k, stats[k], v)
				}
			}
		})
	}
}

func TestFileOptions(t *testing.T) {
	t.Parallel()
	wantNewCheckErr(t, fileDescriptor(), map[string]string{"path": "/x", "max_age": "soon"}, "not a duration")
	wantNewCheckErr(t, fileDescriptor(), map[string]string{"path": "/x", "expect": "(a"}, "not a regular expression")
	wantNewCheckErr(t, fileDescriptor(), map[string]string{"path": ""}, "path: must not be empty")
}
