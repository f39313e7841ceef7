package runtime

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// NewMessage renders the subject and body of a message about a test run.
func NewMessage(host string, r TestResult, state State) Message {
	m := Message{Test: r.Test, State: state, Failures: r.Failures, Time: r.Time, Checks: r.Checks}
	switch state {
	case StateFail:
		m.Subject = fmt.Sprintf("FAIL %s (%d %s)", r.Test, r.Failures, plural(r.Failures, "failure", "failures"))
	default:
		m.Subject = fmt.Sprintf("%s %s", state, r.Test)
	}
	if host != "" {
		m.Subject += " on " + host
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Test:     %s\nState:    %s\nFailures: %d\nTime:     %s\n", r.Test, state, r.Failures, r.Time.Format(time.RFC3339))
	if host != "" {
		fmt.Fprintf(&b, "Host:     %s\n", host)
	}
	for _, c := range r.Checks {
		b.WriteString("\n")
		writeCheck(&b, c)
	}
	m.Body = b.String()
	return m
}

// FormatCheck renders one check result as the lines used in messages and by
// --run: status line, one line per error, then the stats.
func FormatCheck(c CheckResult) string {
	var b strings.Builder
	writeCheck(&b, c)
	return b.String()
}

func writeCheck(b *strings.Builder, c CheckResult) {
	status := "OK"
	if !c.OK {
		status = "FAIL"
	}
	fmt.Fprintf(b, "Check %s (%s): %s in %s\n", c.Check, c.Type, status, c.Duration.Round(time.Microsecond))
	for _, e := range c.Errors {
		fmt.Fprintf(b, "  error: %s\n", e)
	}
	names := make([]string, 0, len(c.Stats))
	for k := range c.Stats {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		fmt.Fprintf(b, "  %s: %s\n", k, strconv.FormatFloat(c.Stats[k], 'f', -1, 64))
	}
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
