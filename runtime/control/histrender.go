package control

import (
	"bytes"
	"html/template"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/monsta/monsta/runtime/history"
)

// histCSS styles the history parts of the status page and the test page.
const histCSS = `.hist{display:flex;gap:10px;flex-wrap:wrap;align-items:center;flex-basis:100%}
.bar rect{width:4px;height:16px}.bar .n{fill:#d5d9e0}.bar .u5{fill:#2e9d58}.bar .u4{fill:#67b346}
.bar .u3{fill:#c9b72c}.bar .u2{fill:#e58b2b}.bar .u1{fill:#d93535}
.ch{background:#f1f3f6}.ch path{fill:none;stroke:#3b6fd1;stroke-width:1.2;vector-effect:non-scaling-stroke}
.ch text{font-size:10px;fill:#9aa3b2}.up{color:#5b6475;font-family:ui-monospace,monospace;font-size:12px}
`

// Geometry of the bar and the chart, in SVG units.
const (
	cellPitch   = 5 // a 4-unit cell and a 1-unit gap
	barHeight   = 16
	chartPoints = int(ChartSpan / ChartStep)
	chartHeight = 30
)

// testHref is the link from the status page to a test's page.
func testHref(name string) string { return "tests/" + url.PathEscape(name) }

// writeHistory writes a test's history block: its bar, chart, uptimes,
// streak and budget; every value escaped.
func writeHistory(b *bytes.Buffer, name string, sm *summary, now time.Time, dt *dater) {
	esc := template.HTMLEscapeString
	b.WriteString(`<span class="hist"><a href="` + esc(testHref(name)) + `">`)
	writeBar(b, sm.days, dt)
	b.WriteString(`</a>`)
	writeChart(b, sm.chart, now.Add(-ChartSpan))
	b.WriteString(`<span class="up">` + esc(uptimeLine(sm, now)) + `</span>`)
	if sm.err != nil {
		b.WriteString(`<span class="err">` + esc(sm.err.Error()) + `</span>`)
	}
	b.WriteString(`</span>`)
}

// uptimeLine is the uptime over every window, the streak and the budget.
func uptimeLine(sm *summary, now time.Time) string {
	var parts []string
	for i, w := range uptimeWindows {
		parts = append(parts, w.label+" "+percent(sm.uptime[i]))
	}
	switch {
	case sm.streakSince.IsZero():
		parts = append(parts, "never run")
	case sm.streakUp:
		parts = append(parts, "up for "+ago(now.Sub(sm.streakSince)))
	default:
		parts = append(parts, "down for "+ago(now.Sub(sm.streakSince)))
	}
	if sm.target > 0 {
		parts = append(parts, budgetText(sm.target, sm.allowed, sm.leftOver))
	}
	return strings.Join(parts, " · ")
}

// budgetText says how much of this month's error budget is left.
func budgetText(target float64, allowed, left time.Duration) string {
	t := "SLA " + strconv.FormatFloat(target, 'f', -1, 64) + "%: "
	if left < 0 {
		return t + "budget exceeded by " + ago(-left) + " this month"
	}
	return t + ago(left) + " of " + ago(allowed) + " budget left this month"
}

// percent renders an uptime: "100%", "99.95%" (rounded down, so that
// anything short of 100 never shows as 100), or "–" when nothing counted.
func percent(u float64) string {
	if u < 0 || math.IsNaN(u) {
		return "–"
	}
	if u >= 100 {
		return "100%"
	}
	return strconv.FormatFloat(math.Floor(u*100+1e-9)/100, 'f', 2, 64) + "%"
}

// dayClass is a day's colour class by its uptime.
func dayClass(u float64) string {
	switch {
	case u < 0:
		return "n"
	case u >= 100:
		return "u5"
	case u >= 99.9:
		return "u4"
	case u >= 99:
		return "u3"
	case u >= 95:
		return "u2"
	}
	return "u1"
}

// dater formats the days of the bars in a time zone, remembering the
// last date of each cell: every test's bar has the same days.
type dater struct {
	loc   *time.Location
	start [BarDays]time.Time
	label [BarDays]string
}

func newDater(loc *time.Location) *dater {
	if loc == nil {
		loc = time.UTC
	}
	return &dater{loc: loc}
}

// date is the date of the day starting at t, the bar's cell i.
func (d *dater) date(i int, t time.Time) string {
	if i < 0 || i >= BarDays {
		return t.In(d.loc).Format("2006-01-02")
	}
	if d.label[i] == "" || !d.start[i].Equal(t) {
		d.start[i], d.label[i] = t, t.In(d.loc).Format("2006-01-02")
	}
	return d.label[i]
}

// writeInt writes n in decimal.
func writeInt(b *bytes.Buffer, n int) { b.Write(strconv.AppendInt(b.AvailableBuffer(), int64(n), 10)) }

// writeBar writes the days as an SVG bar, a cell per day, each with a
// <title> naming the day's uptime and its outages (their errors are on
// the test's page: at 10,000 tests they would double the page).
func writeBar(b *bytes.Buffer, days []history.Day, dt *dater) {
	w := strconv.Itoa(len(days) * cellPitch)
	b.WriteString(`<svg class="bar" viewBox="0 0 ` + w + ` ` + strconv.Itoa(barHeight) + `" width="` + w +
		`" height="` + strconv.Itoa(barHeight) + `" role="img" aria-label="uptime per day, the last ` + strconv.Itoa(len(days)) + ` days">`)
	for i := range days {
		d := &days[i]
		b.WriteString(`<rect x="`)
		writeInt(b, i*cellPitch)
		b.WriteString(`" class="`)
		b.WriteString(dayClass(d.Uptime))
		b.WriteString(`"><title>`)
		writeDayTitle(b, i, d, dt)
		b.WriteString("</title></rect>")
	}
	b.WriteString("</svg>")
}

// writeDayTitle writes a day's tooltip: date, uptime, downtime, time
// without data, and its outages from and to.
func writeDayTitle(b *bytes.Buffer, i int, d *history.Day, dt *dater) {
	b.WriteString(dt.date(i, d.Start))
	loc := dt.loc
	if d.Uptime < 0 {
		b.WriteString(" no data")
		return
	}
	b.WriteString(" ")
	b.WriteString(percent(d.Uptime))
	if d.Down > 0 {
		b.WriteString(", down ")
		b.WriteString(ago(d.Down))
	}
	if d.NoData > 0 {
		b.WriteString(", no data ")
		b.WriteString(ago(d.NoData))
	}
	for _, o := range d.Outages {
		b.WriteString("\n")
		b.Write(o.Start.In(loc).AppendFormat(b.AvailableBuffer(), "15:04"))
		b.WriteString("–")
		if o.Ongoing {
			b.WriteString("now")
		} else {
			b.Write(o.End.In(loc).AppendFormat(b.AvailableBuffer(), "15:04"))
		}
	}
}

// writeChart writes the mean duration of the buckets since from as an
// SVG path, a point per ChartStep (relative steps, to keep it short); a
// gap in the buckets breaks the line.
func writeChart(b *bytes.Buffer, buckets []history.Bucket, from time.Time) {
	b.WriteString(`<svg class="ch" viewBox="0 0 ` + strconv.Itoa(chartPoints) + ` ` + strconv.Itoa(chartHeight) +
		`" width="` + strconv.Itoa(chartPoints) + `" height="` + strconv.Itoa(chartHeight) + `" preserveAspectRatio="none" role="img">`)
	var top time.Duration
	for i := range buckets {
		top = max(top, buckets[i].Mean)
	}
	if len(buckets) == 0 || top <= 0 {
		b.WriteString(`<title>response time: no runs in the last 24 hours</title><text x="4" y="19">no data</text></svg>`)
		return
	}
	b.WriteString(`<title>mean response time, the last 24 hours (top ` + seconds(top) + `)</title><path d="`)
	prev, prevY, run := -2, 0, 0
	for i := range buckets {
		x := int(buckets[i].Start.Sub(from) / ChartStep)
		if x < 0 || x >= chartPoints || x <= prev {
			continue
		}
		y := chartHeight - 1 - int(float64(chartHeight-2)*float64(buckets[i].Mean)/float64(top))
		switch {
		case x != prev+1:
			b.WriteString("M")
			writeInt(b, x)
			b.WriteString(" ")
			writeInt(b, y)
			run = 0
		case run == 1:
			b.WriteString("l1 ")
			writeInt(b, y-prevY)
		default:
			b.WriteString(" 1 ")
			writeInt(b, y-prevY)
		}
		prev, prevY, run = x, y, run+1
	}
	b.WriteString(`"/></svg>`)
}

// seconds renders a duration for the charts: 850ms, 1.25s.
func seconds(d time.Duration) string {
	if d < time.Second {
		return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 0, 64) + "ms"
	}
	return strconv.FormatFloat(d.Seconds(), 'f', 2, 64) + "s"
}
