package runtime

import (
	"strings"
	"testing"
	"time"
)

func TestParsers(t *testing.T) {
	tests := []struct {
		name    string
		parse   func(string) (any, error)
		in      string
		want    any
		wantErr string
	}{
		{"size bytes", Size, "4096", int64(4096), ""},
		{"size K", Size, "1k", int64(1024), ""},
		{"size M", Size, "512M", int64(512 << 20), ""},
		{"size GiB", Size, "5 GiB", int64(5 << 30), ""},
		{"size fraction", Size, "1.5G", int64(3 << 29), ""},
		{"size unit", Size, "5X", nil, `unknown unit "x"`},
		{"size negative", Size, "-5G", nil, "is not a size"},
		{"size too large", Size, "9000000P", nil, "too large"},
		{"percent", Percent, "10%", 10.0, ""},
		{"percent bare", Percent, "2.5", 2.5, ""},
		{"percent over", Percent, "101%", nil, "from 0 to 100"},
		{"amount percent", SizeOrPercent, "10%", Amount{Percent: 10, IsPercent: true}, ""},
		{"amount size", SizeOrPercent, "5G", Amount{Bytes: 5 << 30}, ""},
		{"amount bad", SizeOrPercent, "lots", nil, "neither a percentage"},
		{"duration seconds", Duration, "90", 90 * time.Second, ""},
		{"duration hours", Duration, "26h", 26 * time.Hour, ""},
		{"duration ms", Duration, "250ms", 250 * time.Millisecond, ""},
		{"duration days", Duration, "2d", 48 * time.Hour, ""},
		{"duration days hours", Duration, "1d12h", 36 * time.Hour, ""},
		{"duration negative", Duration, "-1h", nil, "must not be negative"},
		{"duration junk", Duration, "soon", nil, "not a duration"},
		{"float", Float, "1.5", 1.5, ""},
		{"float negative", Float, "-1", nil, "non-negative"},
		{"optional empty", Optional(Size), " ", nil, ""},
		{"optional set", Optional(Size), "1K", int64(1024), ""},
		{"regexp bad", Regexp, "(a", nil, "not a regular expression"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.parse(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parse(%q) error = %v, want %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("parse(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestAmount(t *testing.T) {
	if got := (Amount{Percent: 10, IsPercent: true}).Of(1000); got != 100 {
		t.Errorf("10%% of 1000 = %v", got)
	}
	if got := (Amount{Bytes: 5}).Of(1000); got != 5 {
		t.Errorf("5 B of 1000 = %v", got)
	}
	for in, want := range map[string]string{"10%": "10%", "5G": "5.0 GiB", "100": "100 B", "1536": "1.5 KiB"} {
		a, _ := SizeOrPercent(in)
		if got := a.(Amount).String(); got != want {
			t.Errorf("SizeOrPercent(%q).String() = %q, want %q", in, got, want)
		}
	}
}
