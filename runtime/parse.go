package runtime

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Seconds parses a non-negative number of seconds ("10", "0.5") into a
// time.Duration.
func Seconds(s string) (any, error) {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, fmt.Errorf("%q is not a number of seconds", s)
	}
	if f < 0 {
		return nil, fmt.Errorf("%q: seconds must not be negative", s)
	}
	if f > 1e9 {
		return nil, fmt.Errorf("%q: too many seconds", s)
	}
	return time.Duration(f * float64(time.Second)), nil
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
