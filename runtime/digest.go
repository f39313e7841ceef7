package runtime

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// NewDigest builds the one message that stands for several: its state is
// FAIL when one of them fails, else the first's; its time
// is the first's. Short and Long list them (see RenderShort and
// RenderLong).
func NewDigest(parts []Message) Message {
	m := Message{Test: fmt.Sprintf("%d tests", len(parts)), Digest: parts}
	if len(parts) > 0 {
		m.State, m.Host, m.Time = parts[0].State, parts[0].Host, parts[0].Time
	}
	if slices.ContainsFunc(parts, func(p Message) bool { return p.State == StateFail }) {
		m.State = StateFail
	}
	m.Render()
	return m
}

// digestNames is how many test names the short form of a digest shows.
const digestNames = 3

// digestShort renders a digest in one line, e.g. "FAIL 30 tests on vm:
// web1, web2, web3 … (+27)"; messages of several states are counted per
// state and each name is labelled: "FAIL 28, RECOVERED 2 on vm: FAIL web1,
// FAIL web2, RECOVERED db … (+27)".
func (m *Message) digestShort(withHost bool) string {
	var states []State
	count := map[State]int{}
	for _, p := range m.Digest {
		if count[p.State] == 0 {
			states = append(states, p.State)
		}
		count[p.State]++
	}
	mixed := len(states) > 1
	var head string
	if mixed {
		var c []string
		for _, s := range states {
			c = append(c, fmt.Sprintf("%s %d", s, count[s]))
		}
		head = strings.Join(c, ", ")
	} else {
		head = fmt.Sprintf("%s %d %s", states[0], len(m.Digest), plural(len(m.Digest), "test", "tests"))
	}
	if withHost && m.Host != "" {
		head += " on " + m.Host
	}
	var names []string
	for _, p := range m.Digest[:min(len(m.Digest), digestNames)] {
		if mixed {
			names = append(names, string(p.State)+" "+p.Test)
		} else {
			names = append(names, p.Test)
		}
	}
	s := head + ": " + strings.Join(names, ", ")
	if more := len(m.Digest) - digestNames; more > 0 {
		s += fmt.Sprintf(" … (+%d)", more)
	}
	return s
}

// digestLong renders a digest in full: one line per message, labelled
// with its state, with its test and first error.
func (m *Message) digestLong() string {
	var b strings.Builder
	line := func(k, v string) { fmt.Fprintf(&b, "%-9s %s\n", k+":", v) }
	first, last := m.Digest[0].Time, m.Digest[0].Time
	for _, p := range m.Digest {
		first, last = minTime(first, p.Time), maxTime(last, p.Time)
	}
	line("Digest", fmt.Sprintf("%d messages grouped by group_window", len(m.Digest)))
	if m.Host != "" {
		line("Host", m.Host)
	}
	if !first.IsZero() {
		line("Time", fullTime(first)+" to "+fullTime(last))
	}
	b.WriteString("\n")
	for _, p := range m.Digest {
		b.WriteString(OneLine(p.short(false, false)))
		b.WriteString("\n")
	}
	return b.String()
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
