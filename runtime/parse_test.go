package runtime

import (
	"strings"
	"testing"
	"time"
)

// TestParseDuration: every duration option goes through ParseDuration, so
// a bare number stays seconds and the units of Go's time.ParseDuration,
// plus days, are accepted; anything else is refused with a message that
// says what is expected.
func TestParseDuration(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr string
	}{
		{"300", 300 * time.Second, ""},
		{" 10 ", 10 * time.Second, ""},
		{"0.5", 500 * time.Millisecond, ""},
		{"0", 0, ""},
		{"1e3", 1000 * time.Second, ""},
		{"90s", 90 * time.Second, ""},
		{"5m", 5 * time.Minute, ""},
		{"2h", 2 * time.Hour, ""},
		{"1d", 24 * time.Hour, ""},
		{"1.5d", 36 * time.Hour, ""},
		{"1d12h", 36 * time.Hour, ""},
		{"1d0.5h", 24*time.Hour + 30*time.Minute, ""},
		{"1h30m", 90 * time.Minute, ""},
		{"250ms", 250 * time.Millisecond, ""},
		{"1m30s500ms", 90*time.Second + 500*time.Millisecond, ""},
		{"5M", 5 * time.Minute, ""},
		{"2H", 2 * time.Hour, ""},
		{"0s", 0, ""},
		{"", 0, "is not a duration"},
		{"  ", 0, "is not a duration"},
		{"soon", 0, `"soon" is not a duration (seconds, or such as 90s, 5m, 2h, 1d)`},
		{"5 m", 0, "is not a duration"},
		{"5x", 0, "is not a duration"},
		{"d", 0, "is not a duration"},
		{"1dd", 0, "is not a duration"},
		{"1d-2h", 0, "is not a duration"},
		{"12h1d", 0, "is not a duration"},
		{"0x1d", 0, "is not a duration"},
		{"nan", 0, "is not a duration"},
		{"inf", 0, "is not a duration"},
		{"-5", 0, "must not be negative"},
		{"-1h", 0, "must not be negative"},
		{"-1d", 0, "must not be negative"},
		{"1000000001", 0, "too long"},
		{"12000d", 0, "too long"},
		{"11574d2h", 0, "too long"},
		{"1e300", 0, "too long"},
	}
	for _, tt := range tests {
		got, err := ParseDuration(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseDuration(%q) = %v, %v; want an error with %q", tt.in, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

// TestDurationParsersTakeUnits: the option parsers built on ParseDuration
// (timeouts, intervals, waits) take units and keep their own bounds.
func TestDurationParsersTakeUnits(t *testing.T) {
	tests := []struct {
		name    string
		parse   func(string) (any, error)
		in      string
		want    time.Duration
		wantErr string
	}{
		{"seconds unit", Seconds, "90s", 90 * time.Second, ""},
		{"duration unit", Duration, "5m", 5 * time.Minute, ""},
		{"timeout unit", PositiveSeconds, "10s", 10 * time.Second, ""},
		{"timeout zero unit", PositiveSeconds, "0s", 0, "must be more than 0 seconds"},
		{"interval unit", AtLeastSeconds(MinInterval), "5m", 5 * time.Minute, ""},
		{"interval too short", AtLeastSeconds(MinInterval), "500ms", 0, `"500ms": must be at least 1 second`},
		{"interval days", AtLeastSeconds(MinInterval), "1d", 24 * time.Hour, ""},
		{"length unit", Length, "90m", 90 * time.Minute, ""},
		{"length days", Length, "1d", 24 * time.Hour, ""},
		{"length seconds", Length, "7200", 2 * time.Hour, ""},
		{"length empty", Length, "", 0, ""},
		{"length zero", Length, "0s", 0, "is not a length"},
		{"length junk", Length, "soon", 0, "is not a length"},
	}
	for _, tt := range tests {
		got, err := tt.parse(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s: parse(%q) = %v, %v; want an error with %q", tt.name, tt.in, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%s: parse(%q) = %v, %v; want %v", tt.name, tt.in, got, err, tt.want)
		}
	}
}
