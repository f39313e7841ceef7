package runtime

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
)

// Optional wraps a parser so that an empty value means "not set": it parses
// to nil instead of reaching p. Use it for limits that are off by default.
func Optional(p func(string) (any, error)) func(string) (any, error) {
	return func(s string) (any, error) {
		if strings.TrimSpace(s) == "" {
			return nil, nil
		}
		return p(s)
	}
}

// sizeUnits are the multipliers of Size, powers of 1024 as df -h and free -h
// print them.
var sizeUnits = map[string]float64{
	"": 1, "b": 1,
	"k": 1 << 10, "kb": 1 << 10, "kib": 1 << 10,
	"m": 1 << 20, "mb": 1 << 20, "mib": 1 << 20,
	"g": 1 << 30, "gb": 1 << 30, "gib": 1 << 30,
	"t": 1 << 40, "tb": 1 << 40, "tib": 1 << 40,
	"p": 1 << 50, "pb": 1 << 50, "pib": 1 << 50,
}

var sizeRE = regexp.MustCompile(`^([0-9]+(?:\.[0-9]+)?)\s*([a-z]*)$`)

// Size parses a byte count with an optional unit ("512M", "5G", "1.5T",
// "4096"; K, M, G, T, P are powers of 1024, also written KB or KiB) into an
// int64 of bytes.
func Size(s string) (any, error) {
	m := sizeRE.FindStringSubmatch(strings.ToLower(strings.TrimSpace(s)))
	if m == nil {
		return nil, fmt.Errorf("%q is not a size (such as 512M or 5G)", s)
	}
	mult, ok := sizeUnits[m[2]]
	if !ok {
		return nil, fmt.Errorf("%q: unknown unit %q (use K, M, G, T or P)", s, m[2])
	}
	f, _ := strconv.ParseFloat(m[1], 64)
	b := f * mult
	if b >= math.MaxInt64 {
		return nil, fmt.Errorf("%q: too large", s)
	}
	return int64(b), nil
}

// Percent parses a percentage from 0 to 100, written "10%" or "10", into a
// float64.
func Percent(s string) (any, error) {
	t := strings.TrimSuffix(strings.TrimSpace(s), "%")
	f, err := strconv.ParseFloat(strings.TrimSpace(t), 64)
	if err != nil || math.IsNaN(f) || f < 0 || f > 100 {
		return nil, fmt.Errorf("%q is not a percentage from 0 to 100", s)
	}
	return f, nil
}

// Amount is a byte count or a share of a total, as parsed by SizeOrPercent.
type Amount struct {
	Bytes   int64   // used when IsPercent is false
	Percent float64 // 0-100, used when IsPercent is true
	// IsPercent tells which of the two the value is.
	IsPercent bool
}

// Of returns the amount in bytes out of total.
func (a Amount) Of(total uint64) float64 {
	if a.IsPercent {
		return float64(total) * a.Percent / 100
	}
	return float64(a.Bytes)
}

// String renders the amount as it would be written in a configuration.
func (a Amount) String() string {
	if a.IsPercent {
		return strconv.FormatFloat(a.Percent, 'f', -1, 64) + "%"
	}
	return FormatSize(float64(a.Bytes))
}

// SizeOrPercent parses "10%" (a share of a total) or a Size ("5G") into an
// Amount.
func SizeOrPercent(s string) (any, error) {
	if strings.HasSuffix(strings.TrimSpace(s), "%") {
		p, err := Percent(s)
		if err != nil {
			return nil, err
		}
		return Amount{Percent: p.(float64), IsPercent: true}, nil
	}
	b, err := Size(s)
	if err != nil {
		return nil, fmt.Errorf("%q is neither a percentage (10%%) nor a size (5G)", s)
	}
	return Amount{Bytes: b.(int64)}, nil
}

// FormatSize renders a byte count for messages: "512 B", "1.5 KiB",
// "4.2 GiB".
func FormatSize(b float64) string {
	const units = "KMGTPE"
	if b < 1024 {
		return strconv.FormatFloat(b, 'f', 0, 64) + " B"
	}
	i := -1
	for b >= 1024 && i < len(units)-1 {
		b /= 1024
		i++
	}
	return strconv.FormatFloat(b, 'f', 1, 64) + " " + units[i:i+1] + "iB"
}

// Duration is Seconds, under the name the option parsers of limits use
// (max_age, max_rtt).
func Duration(s string) (any, error) { return Seconds(s) }

// Float parses a non-negative number into a float64.
func Float(s string) (any, error) {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 {
		return nil, fmt.Errorf("%q is not a non-negative number", s)
	}
	return f, nil
}

// Regexp compiles a regular expression (Go's RE2 syntax) into a
// *regexp.Regexp.
func Regexp(s string) (any, error) {
	re, err := regexp.Compile(s)
	if err != nil {
		return nil, fmt.Errorf("%q is not a regular expression: %w", s, err)
	}
	return re, nil
}
