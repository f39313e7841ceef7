package control

import (
	"bytes"
	"fmt"
	"html/template"
	"io"
	"maps"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// pageHead and pageFoot are the status page around its rows:
// server-rendered, inline CSS, no scripts and no outside assets;
// <details> expands a test's checks. The rows are written between them
// straight into the answer (writeRow): at 10,000 tests the template
// engine's reflection, and a copy of the rows, would cost most of the
// page's time.
var (
	pageHead = template.Must(template.New("head").Parse(pageText[:strings.Index(pageText, rowsMark)]))
	pageFoot = template.Must(template.New("foot").Parse(pageText[strings.Index(pageText, rowsMark)+len(rowsMark):]))
)

const rowsMark = "{{/* rows */}}"

const pageText = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="{{.Refresh}}">
<title>{{if .Failing}}{{.Failing}} failing - {{end}}monsta</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1d2330}
header{padding:12px 20px;background:#1d2330;color:#fff}
header h1{margin:0;font-size:18px}header p{margin:4px 0 0;color:#c9ceda}
main{padding:12px 20px}
details{background:#fff;border:1px solid #dde1e8;border-left:6px solid #2e9d58;border-radius:4px;margin:0 0 6px}
details.FAIL{border-left-color:#d93535}details.SILENCED{border-left-color:#8a63d2}
details.MAINTENANCE{border-left-color:#d9a035}details.PENDING{border-left-color:#9aa3b2}
summary{padding:6px 10px;cursor:pointer;display:flex;gap:12px;flex-wrap:wrap;align-items:baseline}
.st{font-weight:700;min-width:7.5em}.FAIL .st{color:#d93535}.SILENCED .st{color:#8a63d2}.MAINTENANCE .st{color:#a87414}
.n{font-weight:600;min-width:12em}.m{color:#5b6475}.err{color:#a32020;font-family:ui-monospace,monospace;flex-basis:100%}
table{border-collapse:collapse;margin:0 10px 10px;font-size:13px}
td,th{padding:3px 10px 3px 0;text-align:left;vertical-align:top}th{color:#5b6475;font-weight:600}
td.fail{color:#d93535;font-weight:600}td.ok{color:#2e9d58;font-weight:600}
ul{margin:0;padding-left:1.2em}.stats{color:#5b6475;font-family:ui-monospace,monospace}
{{.CSS}}</style>
</head>
<body>
<header><h1>monsta{{if .Host}} on {{.Host}}{{end}}</h1>
<p id="summary">{{.Total}} tests: {{.Failing}} failing, {{.Silenced}} silenced, {{.Maintenance}} in maintenance, {{.Passing}} passing{{if .Pending}}, {{.Pending}} not run yet{{end}} · {{.Now}} · refreshes every {{.Refresh}} s{{if .HistoryNote}} · <span id="history-note">{{.HistoryNote}}</span>{{end}}</p></header>
<main id="tests">
{{/* rows */}}{{if not .Total}}<p>No tests are configured.</p>{{end}}
</main>
</body>
</html>
`

type pageData struct {
	Host, Now                                               string
	Refresh                                                 int
	Total, Failing, Silenced, Maintenance, Passing, Pending int
	// HistoryNote says why the history is not shown ("history is off").
	HistoryNote string
	CSS         template.CSS
}

// RenderPage writes the status page for tests (sorted for people here),
// without history.
func RenderPage(w io.Writer, tests []Test, host string, now time.Time, refresh time.Duration) error {
	SortForPeople(tests)
	return renderPage(w, tests, rowWriter{now: now, loc: time.UTC}, errHistoryOff.Error(), host, now, refresh)
}

// renderPage writes the status page for tests, their rows by rw, with a
// note on the history when there is none.
func renderPage(w io.Writer, tests []Test, rw rowWriter, note, host string, now time.Time, refresh time.Duration) error {
	d := pageData{Host: host, Now: now.Format("2006-01-02 15:04:05 MST"), Refresh: int(refresh / time.Second), Total: len(tests),
		HistoryNote: note, CSS: template.CSS(histCSS)}
	for i := range tests {
		switch tests[i].State {
		case StateFail:
			d.Failing++
		case StateOK:
			d.Passing++
		case StatePending:
			d.Pending++
		case "SILENCED":
			d.Silenced++
		case "MAINTENANCE":
			d.Maintenance++
		}
	}
	var head, foot bytes.Buffer
	if err := pageHead.Execute(&head, d); err != nil {
		return err
	}
	if err := pageFoot.Execute(&foot, d); err != nil {
		return err
	}
	if _, err := w.Write(head.Bytes()); err != nil {
		return err
	}
	if err := rw.write(w, tests); err != nil {
		return err
	}
	_, err := w.Write(foot.Bytes())
	return err
}

// rowBlock is how many rows a worker writes at a time.
const rowBlock = 128

// rowWriter writes the status page's rows.
type rowWriter struct {
	now  time.Time
	loc  *time.Location
	hist func(test string) summary // a test's history; nil: none
}

// write writes the rows of tests in their order to w, in blocks of
// rowBlock that every processor writes, each block sent as soon as it
// and those before it are done: the page's memory is a few blocks, not
// the page, and each summary is dropped once written.
func (rw rowWriter) write(w io.Writer, tests []Test) error {
	workers := runtime.GOMAXPROCS(0)
	n := (len(tests) + rowBlock - 1) / rowBlock
	slots := make([]chan *bytes.Buffer, n)
	for i := range slots {
		slots[i] = make(chan *bytes.Buffer, 1)
	}
	ahead := make(chan struct{}, 2*workers) // blocks written but not yet sent
	stop := make(chan struct{})
	free := sync.Pool{New: func() any { return new(bytes.Buffer) }}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			dt := newDater(rw.loc)
			for {
				select {
				case ahead <- struct{}{}:
				case <-stop:
					return
				}
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				b := free.Get().(*bytes.Buffer)
				b.Reset()
				rw.block(b, tests[i*rowBlock:min((i+1)*rowBlock, len(tests))], dt)
				slots[i] <- b
			}
		})
	}
	defer wg.Wait()
	for i := range n {
		b := <-slots[i]
		_, err := w.Write(b.Bytes())
		free.Put(b)
		<-ahead
		if err != nil {
			close(stop)
			return err
		}
	}
	return nil
}

// block writes the rows of tests into b.
func (rw rowWriter) block(b *bytes.Buffer, tests []Test, dt *dater) {
	for i := range tests {
		var sm *summary
		if rw.hist != nil {
			x := rw.hist(tests[i].Name)
			sm = &x
		}
		writeRow(b, &tests[i], sm, rw.now, dt) // escapes every value
	}
}

// writeRow writes one test as a <details> element that expands to its
// checks, with its history when sm is not nil; every value is escaped.
func writeRow(b *bytes.Buffer, t *Test, sm *summary, now time.Time, dt *dater) {
	esc := template.HTMLEscapeString
	b.WriteString(`<details class="` + esc(t.State) + `" id="test-` + esc(t.Name) + `"><summary><span class="st">` + esc(t.State) +
		`</span><span class="n">` + esc(t.Name) + `</span><span class="m">` + esc(meta(t, now)) + `</span>`)
	if e := t.FirstError(); e != "" {
		b.WriteString(`<span class="err">` + esc(e) + `</span>`)
	}
	if sm != nil {
		writeHistory(b, t.Name, sm, now, dt)
	}
	b.WriteString("</summary>\n<table><tr><th>check</th><th>type</th><th>result</th><th>time</th><th>errors and stats</th></tr>\n")
	if len(t.Checks) == 0 {
		b.WriteString("<tr><td colspan=\"5\">not run yet</td></tr>\n")
	}
	for _, c := range t.Checks {
		b.WriteString("<tr><td>" + esc(c.Name) + "</td><td>" + esc(c.Type) + "</td>")
		if c.OK {
			b.WriteString(`<td class="ok">OK</td>`)
		} else {
			b.WriteString(`<td class="fail">FAIL</td>`)
		}
		b.WriteString("<td>" + strconv.FormatFloat(c.DurationSeconds, 'f', 3, 64) + " s</td><td>")
		if len(c.Errors) > 0 {
			b.WriteString("<ul>")
			for _, e := range c.Errors {
				b.WriteString("<li>" + esc(e) + "</li>")
			}
			b.WriteString("</ul>")
		}
		if len(c.Stats) > 0 {
			b.WriteString(`<span class="stats">`)
			for i, k := range slices.Sorted(maps.Keys(c.Stats)) {
				if i > 0 {
					b.WriteString(" ")
				}
				b.WriteString(esc(k) + "=" + strconv.FormatFloat(c.Stats[k], 'g', 6, 64))
			}
			b.WriteString("</span>")
		}
		b.WriteString("</td></tr>\n")
	}
	b.WriteString("</table></details>\n")
}

// meta is a test's summary line: failures and since when, the hold, runs.
func meta(t *Test, now time.Time) string {
	var meta []string
	if !t.OK && !t.LastRun.IsZero() {
		meta = append(meta, fmt.Sprintf("%d %s", t.Failures, plural(t.Failures, "failure", "failures")))
		if !t.Since.IsZero() {
			meta = append(meta, "failing since "+t.Since.Format("2006-01-02 15:04:05")+" ("+ago(now.Sub(t.Since))+")")
		}
	}
	if t.Hold != nil {
		h := strings.ToLower(string(t.Hold.Reason))
		if t.Hold.By != "" {
			h += " by " + t.Hold.By
		}
		if !t.Hold.Until.IsZero() {
			h += " until " + t.Hold.Until.Format("2006-01-02 15:04")
		}
		if t.Hold.Detail != "" {
			h += ": " + t.Hold.Detail
		}
		meta = append(meta, h)
	}
	if !t.LastRun.IsZero() {
		meta = append(meta, "last run "+ago(now.Sub(t.LastRun))+" ago")
	}
	if !t.NextRun.IsZero() {
		meta = append(meta, "next in "+ago(t.NextRun.Sub(now)))
	}
	return strings.Join(meta, " · ")
}

// ago renders a duration for people: 45s, 12m, 3h20m, 2d4h.
func ago(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	switch {
	case d < time.Minute:
		return strconv.Itoa(int(d/time.Second)) + "s"
	case d < time.Hour:
		return strconv.Itoa(int(d/time.Minute)) + "m"
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d/time.Hour), int(d%time.Hour/time.Minute))
	}
	return fmt.Sprintf("%dd%dh", int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour))
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func (s *Server) page(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	e := s.Engine()
	if e == nil {
		http.Error(w, "the daemon is starting", http.StatusServiceUnavailable)
		return
	}
	now := e.Clock().Now()
	tests := s.Tests()
	SortForPeople(tests)
	hist, note := s.pageHistory(now)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := renderPage(w, tests, rowWriter{now: now, loc: s.location(), hist: hist}, note, s.o.Host, now, s.o.Refresh); err != nil {
		s.o.Logger.Debug("status page", "err", err) // the client went away
	}
}
