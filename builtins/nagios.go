package builtins

import (
	"bytes"
	"strconv"
	"strings"
)

// nagiosWarning is the exit code of WARNING in the Nagios plugin API (0 OK,
// 1 WARNING, 2 CRITICAL, 3 UNKNOWN).
const nagiosWarning = 1

// maxPerfData caps how many performance data items become stats.
const maxPerfData = 64

// nagiosOutput is a command's output read as the Nagios plugin API defines
// it: `STATUS LINE | PERFDATA`, then optional lines of long text, the first
// of them with a `|` starting performance data that may go on over every
// line after it.
type nagiosOutput struct {
	status string      // the first line up to "|", without surrounding space
	perf   []perfDatum // in the order written
}

// perfDatum is one performance data item with its value in a base unit.
type perfDatum struct {
	label string
	value float64
	unit  string // "s", "B", "%", "c" or "" (a number of things, or a unit monsta does not know)
}

// parseNagios reads out; items it cannot read are left out.
func parseNagios(out []byte) nagiosOutput {
	var n nagiosOutput
	first, rest, _ := bytes.Cut(out, []byte{'\n'})
	status, perf, _ := bytes.Cut(first, []byte{'|'})
	n.status = string(bytes.TrimSpace(status))
	var all strings.Builder
	all.Write(perf)
	if i := bytes.IndexByte(rest, '|'); i >= 0 {
		all.WriteByte(' ')
		all.Write(rest[i+1:]) // and every line after it
	}
	n.perf = parsePerfData(all.String())
	return n
}

// parsePerfData reads space-separated items
// `'label'=value[UOM];[warn];[crit];[min];[max]`. A label may be quoted in
// single quotes (needed for spaces, "=" and quotes), a quote inside it
// written twice. warn, crit, min and max are not kept. A value of "U"
// (undetermined) or one that is not a number is left out.
func parsePerfData(s string) []perfDatum {
	var out []perfDatum
	for len(out) < maxPerfData {
		s = strings.TrimLeft(s, " \t\r\n")
		if s == "" {
			return out
		}
		var label string
		if s[0] == '\'' {
			var b strings.Builder
			i := 1
			for ; i < len(s); i++ {
				if s[i] == '\'' {
					if i+1 < len(s) && s[i+1] == '\'' {
						b.WriteByte('\'')
						i++
						continue
					}
					break
				}
				b.WriteByte(s[i])
			}
			label, s = b.String(), s[min(i+1, len(s)):]
			if !strings.HasPrefix(s, "=") {
				s = skipItem(s)
				continue
			}
			s = s[1:]
		} else {
			end := strings.IndexAny(s, "= \t\r\n")
			if end < 0 || s[end] != '=' {
				s = skipItem(s)
				continue
			}
			label, s = s[:end], s[end+1:]
		}
		end := strings.IndexAny(s, " \t\r\n")
		if end < 0 {
			end = len(s)
		}
		field, _, _ := strings.Cut(s[:end], ";")
		s = s[end:]
		if d, ok := perfValue(label, field); ok {
			out = append(out, d)
		}
	}
	return out
}

// skipItem drops the rest of a malformed item.
func skipItem(s string) string {
	if end := strings.IndexAny(s, " \t\r\n"); end >= 0 {
		return s[end:]
	}
	return ""
}

// perfUnits maps a unit of measurement to its base unit and factor.
// Byte multiples are binary, as the monitoring plugins compute them.
var perfUnits = map[string]struct {
	unit   string
	factor float64
}{
	"":   {"", 1},
	"s":  {"s", 1},
	"ms": {"s", 1e-3},
	"us": {"s", 1e-6},
	"ns": {"s", 1e-9},
	"%":  {"%", 1},
	"B":  {"B", 1},
	"KB": {"B", 1 << 10}, "kB": {"B", 1 << 10}, "KiB": {"B", 1 << 10},
	"MB": {"B", 1 << 20}, "MiB": {"B", 1 << 20},
	"GB": {"B", 1 << 30}, "GiB": {"B", 1 << 30},
	"TB": {"B", 1 << 40}, "TiB": {"B", 1 << 40},
	"c": {"c", 1},
}

// perfValue reads `value[UOM]`.
func perfValue(label, field string) (perfDatum, bool) {
	if label == "" {
		return perfDatum{}, false
	}
	i := 0
	for i < len(field) && strings.IndexByte("0123456789.,+-eE", field[i]) >= 0 {
		// An "e" starts an exponent only when a digit or sign follows.
		if (field[i] == 'e' || field[i] == 'E') && (i+1 >= len(field) || strings.IndexByte("0123456789+-", field[i+1]) < 0) {
			break
		}
		i++
	}
	num := field[:i]
	if !strings.Contains(num, ".") {
		num = strings.Replace(num, ",", ".", 1) // a decimal comma of some locales
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return perfDatum{}, false
	}
	u, ok := perfUnits[field[i:]]
	if !ok {
		return perfDatum{label: label, value: v}, true
	}
	return perfDatum{label: label, value: v * u.factor, unit: u.unit}, true
}

// statName names the stat of d: its label with the base unit as a suffix
// ("time" in s: "time_seconds"; "/" in MB: "/_bytes"; "pl" in %:
// "pl_percent"), unless the label ends with it already.
func (d perfDatum) statName() string {
	suffix := map[string]string{"s": "_seconds", "B": "_bytes", "%": "_percent"}[d.unit]
	if strings.HasSuffix(d.label, suffix) {
		return d.label
	}
	return d.label + suffix
}
