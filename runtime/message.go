package runtime

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Message is one notification about a test: the facts, and the two forms
// every channel renders from. Short is one line (SMS, log, chat titles,
// mail subjects); Long is the whole report (mail and XMPP bodies,
// webhooks). Render fills both from the facts; hooks may rewrite them.
type Message struct {
	Test  string
	State State
	Host  string // the monitoring host, shown in both forms
	// Failures is the failure count after this run; for RECOVERED it is
	// the number of failed runs of the outage that just ended.
	Failures int
	// Since is when the first failure of the streak was seen (FAIL and
	// RECOVERED); zero when unknown.
	Since time.Time
	// Duration is how long the test has been failing (FAIL) or how long
	// the outage lasted (RECOVERED); zero when unknown.
	Duration   time.Duration
	Reminder   bool // a renotify reminder of a failure already paged
	RequireAny bool // the test passes when any one check passes
	Time       time.Time
	Checks     []CheckResult
	Short      string
	Long       string
	// Reason explains a message that is not about one run's result
	// (FLAPPING: how often the state changed).
	Reason string `json:",omitempty"`
	// Interval is the test's interval: how soon the next run will say
	// more (the alertmanager notifier sets its alerts' endsAt from it).
	Interval time.Duration `json:",omitempty"`
	// CheckNames names every check of the test, failing or not, in
	// configuration order.
	CheckNames []string `json:",omitempty"`
	// URL links to the status page of the monsta that sent the message;
	// empty when [main] listen is off.
	URL string `json:",omitempty"`
	// Digest holds the messages a digest stands for (group_window); nil
	// for a message about one test.
	Digest []Message `json:",omitempty"`
}

// UnmarshalJSON reads a message, including ones stored in the outbox by
// versions that called the two forms Subject and Body.
func (m *Message) UnmarshalJSON(data []byte) error {
	type plain Message
	var v struct {
		plain
		Subject, Body string
	}
	if err := json.Unmarshal(data, &v); err != nil {
		return err
	}
	*m = Message(v.plain)
	if m.Short == "" {
		m.Short = v.Subject
	}
	if m.Long == "" {
		m.Long = v.Body
	}
	return nil
}

// Outage is what the escalation knows about the current failure streak
// when a message is built.
type Outage struct {
	Since    time.Time // first failure of the streak; zero: unknown
	Failures int       // failed runs so far (FAIL) or in the outage (RECOVERED)
	Reminder bool
}

// NewMessage builds and renders the message about one test run.
func NewMessage(host string, r TestResult, state State, requireAny bool, o Outage) Message {
	m := Message{Test: r.Test, State: state, Host: host, Failures: r.Failures, Time: r.Time, Checks: r.Checks,
		Since: o.Since, Reminder: o.Reminder, RequireAny: requireAny}
	if o.Failures > 0 {
		m.Failures = o.Failures
	}
	if !o.Since.IsZero() && !r.Time.IsZero() && (state == StateFail || state == StateRecovered) {
		m.Duration = max(r.Time.Sub(o.Since), 0)
	}
	m.Render()
	return m
}

// Render sets Short and Long from the message's facts.
func (m *Message) Render() {
	m.Short = m.RenderShort()
	m.Long = m.RenderLong()
}

// firstFailure returns the first failing check and its first error.
func (m *Message) firstFailure() (check, err string, more int) {
	found := false
	for _, c := range m.Checks {
		if c.OK {
			continue
		}
		if found {
			more++
			continue
		}
		found, check, err = true, c.Check, "failed"
		if len(c.Errors) > 0 {
			err = OneLine(c.Errors[0])
		}
	}
	return check, err, more
}

// passing returns the names of the passing and the failing checks.
func (m *Message) passing() (pass, fail []string) {
	for _, c := range m.Checks {
		if c.OK {
			pass = append(pass, c.Check)
		} else {
			fail = append(fail, c.Check)
		}
	}
	return pass, fail
}

// streakText is "3 failures since 03:12 UTC", with the reminder's "failing
// for" when it is one.
func (m *Message) streakText(compact bool) string {
	var s string
	if compact {
		s = fmt.Sprintf("%dx", m.Failures)
	} else {
		s = fmt.Sprintf("%d %s", m.Failures, plural(m.Failures, "failure", "failures"))
	}
	if !m.Since.IsZero() {
		s += " since " + clockTime(m.Since, m.Time)
	}
	if m.Reminder {
		r := "reminder"
		if m.Duration > 0 {
			r += ": failing for " + HumanDuration(m.Duration)
		}
		s = r + ", " + s
	}
	return s
}

// failSuffix is the end of a FAIL's one-line form: " (3 failures since
// 03:12 UTC)", with the reason when there is one (a page released by the
// end of a hold says since when the test fails and what held it).
func (m *Message) failSuffix(compact bool) string {
	s := m.streakText(compact)
	if m.Reason != "" {
		s += "; " + OneLine(m.Reason)
	}
	return " (" + s + ")"
}

// RenderShort returns the one-line form, e.g.
// "FAIL web on vm: www: connect 127.0.0.1:8080: connection refused (3 failures since 03:12 UTC)".
func (m *Message) RenderShort() string {
	return m.short(false, true)
}

// short renders the one-line form; compact uses fewer words for the
// streak, withHost keeps " on HOST".
func (m *Message) short(compact, withHost bool) string {
	if len(m.Digest) > 0 {
		return m.digestShort(withHost)
	}
	head := strings.TrimSpace(string(m.State) + " " + m.Test)
	if withHost && m.Host != "" {
		head += " on " + m.Host
	}
	switch m.State {
	case StateFlapping:
		return head + ": " + m.Reason
	case StateFail:
		return m.shortFail(head, compact)
	case StateRecovered:
		return m.shortRecovered(head)
	case StateOK:
		return m.shortOK(head)
	}
	return head
}

// shortFail is the one-line form of a FAIL after its head.
func (m *Message) shortFail(head string, compact bool) string {
	s := head
	if check, err, more := m.firstFailure(); check != "" || err != "" {
		s += ": " + check + ": " + err
		if more > 0 {
			s += fmt.Sprintf("; %d more %s failing", more, plural(more, "check", "checks"))
		}
	}
	return s + m.failSuffix(compact)
}

// shortRecovered is the one-line form of a RECOVERED after its head.
func (m *Message) shortRecovered(head string) string {
	var parts []string
	if m.Duration > 0 {
		parts = append(parts, "down "+HumanDuration(m.Duration))
	}
	if m.Failures > 0 {
		runs := fmt.Sprintf("%d failed %s", m.Failures, plural(m.Failures, "run", "runs"))
		if !m.Since.IsZero() {
			runs += " since " + clockTime(m.Since, m.Time)
		}
		parts = append(parts, runs)
	}
	s := head
	if len(parts) > 0 {
		s += " after " + strings.Join(parts, ", ")
	}
	if _, fail := m.passing(); m.RequireAny && len(fail) > 0 {
		s += "; still failing: " + strings.Join(fail, ", ")
	}
	return s
}

// shortOK is the one-line form of an OK after its head.
func (m *Message) shortOK(head string) string {
	pass, fail := m.passing()
	if len(m.Checks) == 0 {
		return head
	}
	s := fmt.Sprintf("%s: %d of %d %s passed", head, len(pass), len(m.Checks), plural(len(m.Checks), "check", "checks"))
	if len(fail) > 0 {
		check, err, _ := m.firstFailure()
		s += "; failing: " + check + ": " + err
	}
	return s
}

// Fit returns the short form within limit as measured by size (SMS
// septets, bytes): it drops the host, shortens the streak, then cuts the
// error text, and never drops the state, the test's name or the start of
// the first error. A short form a hook rewrote is cut at its end, with
// "STATE test: " put first when the cut would lose them.
func (m *Message) Fit(limit int, size func(string) int) string {
	const ellipsis = "..."
	rendered := m.RenderShort()
	if m.Short != "" && m.Short != rendered {
		s := OneLine(m.Short)
		if size(s) <= limit {
			return s
		}
		if head := strings.TrimSpace(string(m.State) + " " + m.Test); !strings.HasPrefix(s, head) {
			s = head + ": " + s
		}
		return cutTo(s, limit, size, ellipsis)
	}
	for _, c := range []struct{ compact, host bool }{{false, true}, {false, false}, {true, false}} {
		if s := m.short(c.compact, c.host); size(s) <= limit {
			return s
		}
	}
	if m.State != StateFail || len(m.Digest) > 0 {
		return cutTo(m.short(true, false), limit, size, ellipsis)
	}
	// Cut the error, keeping what follows it.
	head := strings.TrimSpace(string(m.State) + " " + m.Test)
	check, err, more := m.firstFailure()
	prefix := head + ": " + check + ": "
	suffix := m.failSuffix(true)
	if more > 0 {
		suffix = fmt.Sprintf("; +%d more", more) + suffix
	}
	room := limit - size(prefix) - size(suffix)
	if room >= 20 {
		return prefix + cutTo(err, room, size, ellipsis) + suffix
	}
	return cutTo(prefix+err, limit, size, ellipsis)
}

// cutTo cuts s to at most limit by size, ending it in ellipsis.
func cutTo(s string, limit int, size func(string) int, ellipsis string) string {
	if size(s) <= limit {
		return s
	}
	budget := limit - size(ellipsis)
	var b strings.Builder
	used := 0
	for _, r := range s {
		n := size(string(r))
		if used+n > budget {
			break
		}
		b.WriteRune(r)
		used += n
	}
	return strings.TrimRight(b.String(), " ") + ellipsis
}

// RenderLong returns the whole report: the facts, then every check with its
// errors and its stats in units a person reads.
func (m *Message) RenderLong() string {
	if len(m.Digest) > 0 {
		return m.digestLong()
	}
	var b strings.Builder
	line := func(k, v string) {
		if v != "" {
			fmt.Fprintf(&b, "%-9s %s\n", k+":", v)
		}
	}
	line("Test", m.Test)
	state := string(m.State)
	if m.Reminder {
		state += " (reminder)"
	}
	line("State", state)
	line("Host", m.Host)
	line("Reason", m.Reason)
	switch m.State {
	case StateFail:
		line("Failures", m.failuresLine())
	case StateRecovered:
		line("Outage", m.outageLine())
	}
	if !m.Time.IsZero() {
		line("Time", fullTime(m.Time))
	}
	if m.RequireAny && len(m.Checks) > 0 {
		line("Requires", m.requiresLine())
	}
	for _, c := range m.Checks {
		b.WriteString("\n")
		writeCheck(&b, c, m.RequireAny)
	}
	return b.String()
}

// failuresLine is the long form's "Failures:" of a FAIL.
func (m *Message) failuresLine() string {
	f := fmt.Sprintf("%d in a row", m.Failures)
	if !m.Since.IsZero() {
		f += ", first at " + fullTime(m.Since)
	}
	// A first failure has no outage to measure yet: its "duration" would
	// only be the length of the run.
	if m.Duration > 0 && m.Failures > 1 {
		f += ", failing for " + HumanDuration(m.Duration)
	}
	return f
}

// outageLine is the long form's "Outage:" of a RECOVERED; "" says nothing.
func (m *Message) outageLine() string {
	var parts []string
	if m.Duration > 0 {
		parts = append(parts, HumanDuration(m.Duration))
	}
	if m.Failures > 0 {
		parts = append(parts, fmt.Sprintf("%d failed %s", m.Failures, plural(m.Failures, "run", "runs")))
	}
	if !m.Since.IsZero() {
		parts = append(parts, "from "+fullTime(m.Since)+" to "+fullTime(m.Time))
	}
	return strings.Join(parts, ", ")
}

// requiresLine is the long form's "Requires:" of a requires=any test.
func (m *Message) requiresLine() string {
	pass, fail := m.passing()
	r := "any one check passing"
	if len(pass) > 0 {
		r += "; passing: " + strings.Join(pass, ", ")
	}
	if len(fail) > 0 {
		r += "; failing: " + strings.Join(fail, ", ")
	}
	return r
}

// FormatCheck renders one check result as --run prints it: status line,
// one line per error, then the raw stats.
func FormatCheck(c CheckResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Check %s (%s): %s in %s\n", c.Check, c.Type, okWord(c.OK, false), HumanDuration(c.Duration))
	for _, e := range c.Errors {
		fmt.Fprintf(&b, "  error: %s\n", e)
	}
	for _, k := range sortedKeys(c.Stats) {
		fmt.Fprintf(&b, "  %s: %s\n", k, strconv.FormatFloat(c.Stats[k], 'f', -1, 64))
	}
	return b.String()
}

// writeCheck renders one check for the long form: its stats are rounded,
// durations in ms or s.
func writeCheck(b *strings.Builder, c CheckResult, any bool) {
	fmt.Fprintf(b, "Check %s (%s): %s in %s\n", c.Check, c.Type, okWord(c.OK, any), HumanDuration(c.Duration))
	for _, e := range c.Errors {
		fmt.Fprintf(b, "  error: %s\n", e)
	}
	for _, k := range sortedKeys(c.Stats) {
		fmt.Fprintf(b, "  %s\n", HumanStat(k, c.Stats[k]))
	}
}

func okWord(ok, any bool) string {
	switch {
	case any && ok:
		return "passing"
	case any:
		return "failing"
	case ok:
		return "OK"
	}
	return "FAIL"
}

func sortedKeys(s Stats) []string {
	names := make([]string, 0, len(s))
	for k := range s {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// HumanStat renders one stat for people: "connect: 0.7 ms" for a
// *_seconds stat, "exit code: 1" for others.
func HumanStat(name string, v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return strings.ReplaceAll(name, "_", " ") + ": " + strconv.FormatFloat(v, 'f', -1, 64)
	}
	if base, ok := strings.CutSuffix(name, "_seconds"); ok {
		return strings.ReplaceAll(base, "_", " ") + ": " + HumanDuration(time.Duration(v*float64(time.Second)))
	}
	return strings.ReplaceAll(name, "_", " ") + ": " + strconv.FormatFloat(v, 'g', 4, 64)
}

// HumanDuration renders d rounded, in ASCII: "0.05 ms", "4.7 ms", "45 ms", "2.3 s",
// "12m 5s", "3h 4m", "2d 3h".
func HumanDuration(d time.Duration) string {
	if d < 0 {
		return "-" + HumanDuration(-d)
	}
	switch {
	case d == 0:
		return "0 ms"
	case d < 995*time.Microsecond:
		return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 2, 64) + " ms"
	case d < 9950*time.Microsecond:
		return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 1, 64) + " ms"
	case d < 999500*time.Microsecond:
		return fmt.Sprintf("%d ms", d.Round(time.Millisecond)/time.Millisecond)
	case d < 9950*time.Millisecond:
		return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + " s"
	case d < 59500*time.Millisecond:
		return fmt.Sprintf("%d s", d.Round(time.Second)/time.Second)
	case d < time.Hour-500*time.Millisecond:
		d = d.Round(time.Second)
		return fmt.Sprintf("%dm %ds", d/time.Minute, d%time.Minute/time.Second)
	case d < 24*time.Hour-30*time.Second:
		d = d.Round(time.Minute)
		return fmt.Sprintf("%dh %dm", d/time.Hour, d%time.Hour/time.Minute)
	}
	d = d.Round(time.Hour)
	return fmt.Sprintf("%dd %dh", d/(24*time.Hour), d%(24*time.Hour)/time.Hour)
}

// clockTime renders t in UTC as "03:12 UTC", with the date ("Nov 23 23:12
// UTC") when it falls on another UTC day than now: "since 23:12" read at
// 00:30 must not pass for tonight.
func clockTime(t, now time.Time) string {
	t, now = t.UTC(), now.UTC()
	if now.IsZero() || t.YearDay() == now.YearDay() && t.Year() == now.Year() {
		return t.Format("15:04 UTC")
	}
	return t.Format("Jan 2 15:04 UTC")
}

// fullTime renders t in UTC as "2026-11-24 03:12:05 UTC".
func fullTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") }

// OneLine folds s onto one line, with single blanks.
func OneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
