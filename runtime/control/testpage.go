package control

import (
	"bytes"
	"errors"
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/monsta/monsta/runtime/history"
)

// RecentRuns is how many of a test's last runs its page lists.
const RecentRuns = 50

// testPageTemplate is a test's page, /tests/NAME: its state, bar, chart
// and uptimes, its outages over the bar's 90 days and its last runs.
var testPageTemplate = template.Must(template.New("test").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Name}} - monsta</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1d2330}
header{padding:12px 20px;background:#1d2330;color:#fff}header a{color:#c9ceda}
header h1{margin:0;font-size:18px}main{padding:12px 20px}
section{background:#fff;border:1px solid #dde1e8;border-radius:4px;margin:0 0 10px;padding:8px 12px}
h2{font-size:15px;margin:0 0 6px}table{border-collapse:collapse;font-size:13px}
td,th{padding:3px 12px 3px 0;text-align:left;vertical-align:top}th{color:#5b6475;font-weight:600}
.fail{color:#d93535;font-weight:600}.ok{color:#2e9d58;font-weight:600}.err{color:#a32020;font-family:ui-monospace,monospace}
{{.CSS}}</style>
</head>
<body>
<header><p><a href="../">all tests</a></p><h1 id="name">{{.Name}}{{if .State}} · {{.State}}{{end}}</h1></header>
<main>
{{if .Note}}<section><p id="history-note">{{.Note}}</p></section>{{else}}
<section id="overview">{{.History}}</section>
<section id="outages"><h2>Outages, the last {{.Days}} days</h2>
{{if .Outages}}<table><tr><th>start</th><th>end</th><th>duration</th><th>first error</th><th>paged</th><th>holds met</th></tr>
{{range .Outages}}<tr><td>{{.Start}}</td><td>{{if .Ongoing}}ongoing{{else}}{{.End}}{{end}}</td><td>{{.Duration}}</td><td class="err">{{.FirstError}}</td><td>{{.Paged}}</td><td>{{.Held}}</td></tr>
{{end}}</table>{{else}}<p>No outages.</p>{{end}}</section>
<section id="runs"><h2>Last runs</h2>
{{if .Runs}}<table><tr><th>ended</th><th>result</th><th>time</th><th>errors</th></tr>
{{range .Runs}}<tr><td>{{.At}}</td>{{if .OK}}<td class="ok">OK</td>{{else}}<td class="fail">FAIL</td>{{end}}<td>{{.Duration}}</td><td class="err">{{.Errors}}</td></tr>
{{end}}</table>{{else}}<p>Not run yet.</p>{{end}}</section>{{end}}
</main>
</body>
</html>
`))

type testPageData struct {
	Name, State, Note string
	CSS               template.CSS
	History           template.HTML // written by writeHistory, escaped there
	Days              int
	Outages           []outageRow
	Runs              []runRow
}

type outageRow struct {
	Start, End, Duration, FirstError, Paged, Held string
	Ongoing                                       bool
}

type runRow struct {
	At, Duration, Errors string
	OK                   bool
}

// testPage serves /tests/NAME.
func (s *Server) testPage(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.PathValue("name"), "Test_")
	d := testPageData{Name: name, CSS: template.CSS(histCSS), Days: BarDays}
	if e := s.Engine(); e != nil {
		st, ok := e.TestStatus(name)
		if !ok {
			http.Error(w, "no test named "+name, http.StatusNotFound)
			return
		}
		d.State = NewTest(st).State
	}
	if err := s.fillTestPage(&d, name); err != nil {
		d.Note = err.Error()
	}
	var buf bytes.Buffer
	if err := testPageTemplate.Execute(&buf, d); err != nil {
		s.o.Logger.Error("test page", "test", name, "err", err)
		http.Error(w, "cannot render the test's page", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(buf.Bytes())
}

// fillTestPage reads the history of the test's page.
func (s *Server) fillTestPage(d *testPageData, name string) error {
	if s.o.History == nil {
		return errHistoryOff
	}
	now := s.now()
	hist, note := s.pageHistory(now)
	if hist == nil {
		return errors.New(note)
	}
	sm := hist(name)
	var b bytes.Buffer
	loc := s.location()
	writeHistory(&b, name, &sm, now, newDater(loc))
	d.History = template.HTML(strings.Replace(b.String(), `href="tests/`, `href="`, 1)) // a sibling of this page
	outages, err := s.outages(name, now.Add(-BarDays*24*time.Hour), now)
	if err != nil {
		return err
	}
	for i := len(outages) - 1; i >= 0; i-- { // newest first
		d.Outages = append(d.Outages, newOutageRow(&outages[i], loc))
	}
	runs, err := s.o.History.Recent(name, RecentRuns)
	if err != nil {
		return err
	}
	for _, r := range runs {
		d.Runs = append(d.Runs, newRunRow(&r, loc))
	}
	return nil
}

const stampLayout = "2006-01-02 15:04:05"

func newOutageRow(o *history.Outage, loc *time.Location) outageRow {
	row := outageRow{Start: o.Start.In(loc).Format(stampLayout), Duration: ago(o.Duration), FirstError: o.FirstError,
		Paged: strings.Join(o.Paged, ", "), Held: strings.Join(o.Held, ", "), Ongoing: o.Ongoing}
	if !o.End.IsZero() {
		row.End = o.End.In(loc).Format(stampLayout)
	}
	return row
}

func newRunRow(r *history.Run, loc *time.Location) runRow {
	var errs []string
	for _, c := range r.Checks {
		if c.Error != "" {
			errs = append(errs, c.Check+": "+c.Error)
		}
	}
	return runRow{At: r.At.In(loc).Format(stampLayout), Duration: seconds(r.Duration), Errors: strings.Join(errs, "; "), OK: r.OK}
}
