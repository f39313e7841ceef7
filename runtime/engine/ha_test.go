package engine

import (
	"testing"
	"time"
)

// TestFirstRunAlignsInstances: instances started at different times run a
// test on the same wall-clock slots, whatever the interval.
func TestFirstRunAlignsInstances(t *testing.T) {
	t.Parallel()
	base := time.Date(2026, 11, 24, 3, 0, 0, 0, time.UTC)
	for _, ivl := range []time.Duration{time.Second, 7 * time.Second, time.Minute, 300 * time.Second, 3 * time.Hour} {
		for _, name := range []string{"web", "dns", "mail_roundtrip"} {
			a := firstRun(name, ivl, base.Add(1300*time.Millisecond))
			b := firstRun(name, ivl, base.Add(ivl*5/2+17*time.Millisecond))
			if a.Before(base.Add(1300*time.Millisecond)) || a.Sub(base.Add(1300*time.Millisecond)) >= ivl {
				t.Errorf("%s/%v: first run %v not within one interval of start", name, ivl, a)
			}
			if d := b.Sub(a); d%ivl != 0 {
				t.Errorf("%s/%v: slots %v and %v are %v apart, not a whole number of intervals", name, ivl, a, b, d)
			}
		}
	}
}

func TestStatusURL(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ listen, want string }{
		{"", ""},
		{"127.0.0.1:8080", "http://127.0.0.1:8080/"},
		{":8080", "http://vm1:8080/"},
		{"0.0.0.0:80", "http://vm1:80/"},
		{"[::]:9", "http://vm1:9/"},
		{"[::1]:9", "http://[::1]:9/"},
	} {
		if got := StatusURL(tt.listen, "vm1"); got != tt.want {
			t.Errorf("StatusURL(%q) = %q, want %q", tt.listen, got, tt.want)
		}
	}
}
