package runtime

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// maxDuration is the longest duration an option takes (about 31 years):
// longer is a typo, and the sum of the parts of one cannot overflow.
const maxDuration = 1e9 * time.Second

// ParseDuration is the one parser of every duration option: a bare number
// of seconds ("300", "0.5", unchanged from monsta's original format), or a
// Go duration (time.ParseDuration: "90s", "5m", "2h", "1h30m", "250ms"),
// optionally led by a count of days ("1d", "1.5d", "1d12h"). Units are
// case-insensitive. The duration must not be negative nor longer than
// about 31 years.
func ParseDuration(s string) (time.Duration, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	if f, err := strconv.ParseFloat(t, 64); err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) {
		return durationOf(s, f*float64(time.Second))
	}
	days, rest, ok := cutDays(t)
	ns := days * 24 * float64(time.Hour)
	if ok && rest != "" {
		d, err := time.ParseDuration(rest)
		ok = err == nil
		ns += float64(d)
	}
	if !ok {
		return 0, fmt.Errorf("%q is not a duration (seconds, or such as 90s, 5m, 2h, 1d)", s)
	}
	return durationOf(s, ns)
}

// cutDays splits a leading count of days ("1.5d" from "1.5d12h") from t;
// t without a "d" has none. It is false for an empty t, and when what is
// around the "d" is not a number of days followed by a Go duration
// without a sign.
func cutDays(t string) (float64, string, bool) {
	n, rest, found := strings.Cut(t, "d")
	if !found {
		return 0, t, t != ""
	}
	f, err := strconv.ParseFloat(n, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || strings.ContainsAny(n, "xp_") ||
		(rest != "" && (rest[0] < '0' || rest[0] > '9') && rest[0] != '.') {
		return 0, t, false
	}
	return f, rest, true
}

// durationOf checks ns, the nanoseconds s stands for, against the bounds
// of a duration option.
func durationOf(s string, ns float64) (time.Duration, error) {
	switch {
	case ns < 0:
		return 0, fmt.Errorf("%q: must not be negative", s)
	case ns > float64(maxDuration):
		return 0, fmt.Errorf("%q: too long (at most %d seconds)", s, int64(maxDuration/time.Second))
	}
	return time.Duration(ns), nil
}

// Seconds parses a non-negative duration with ParseDuration: a number of
// seconds ("10", "0.5") or a duration with a unit ("90s", "5m", "2h",
// "1d"), into a time.Duration.
func Seconds(s string) (any, error) {
	d, err := ParseDuration(s)
	if err != nil {
		return nil, err
	}
	return d, nil
}

// PositiveSeconds is Seconds that refuses zero: for timeouts, which bound a
// run and so must leave it some time.
func PositiveSeconds(s string) (any, error) {
	v, err := Seconds(s)
	if err != nil {
		return nil, err
	}
	if v.(time.Duration) <= 0 {
		return nil, fmt.Errorf("%q: must be more than 0 seconds", s)
	}
	return v, nil
}

// AtLeastSeconds returns a parser like Seconds that refuses less than min:
// for intervals and waits, which bound how often something happens.
func AtLeastSeconds(min time.Duration) func(string) (any, error) {
	return func(s string) (any, error) {
		v, err := Seconds(s)
		if err != nil {
			return nil, err
		}
		if v.(time.Duration) < min {
			unit := " seconds"
			if min == time.Second {
				unit = " second"
			}
			return nil, fmt.Errorf("%q: must be at least %s%s", s, strconv.FormatFloat(min.Seconds(), 'f', -1, 64), unit)
		}
		return v, nil
	}
}

// MinInterval is the shortest interval between two runs of a test, and the
// shortest wait before retrying a notification: anything shorter floods the
// log and the peers.
const MinInterval = time.Second

// Port parses a TCP/UDP port number 1-65535 into an int.
func Port(s string) (any, error) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 1 || n > 65535 {
		return nil, fmt.Errorf("%q is not a port number", s)
	}
	return n, nil
}

// Int parses a non-negative integer.
func Int(s string) (any, error) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 0 {
		return nil, fmt.Errorf("%q is not a non-negative whole number", s)
	}
	return n, nil
}

// Bool parses yes/no, true/false, on/off and 1/0 (any case).
func Bool(s string) (any, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "yes", "true", "on", "1":
		return true, nil
	case "no", "false", "off", "0", "":
		return false, nil
	}
	return nil, fmt.Errorf("%q is not yes or no", s)
}

// Words splits a space-separated list into a []string.
func Words(s string) (any, error) { return strings.Fields(s), nil }

// OneOf returns a parser accepting exactly one of the given (lower-case)
// values, case-insensitively, into a string.
func OneOf(values ...string) func(string) (any, error) {
	return func(s string) (any, error) {
		v := strings.ToLower(strings.TrimSpace(s))
		for _, ok := range values {
			if v == ok {
				return v, nil
			}
		}
		return nil, fmt.Errorf("%q is not one of %s", s, strings.Join(values, ", "))
	}
}
