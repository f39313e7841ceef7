package main

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/monsta/monsta/cmd/internal/app"
	"github.com/monsta/monsta/config"
	"github.com/monsta/monsta/runtime"
	"github.com/monsta/monsta/runtime/control"
)

// historyDBName is the history database's name in the state directory.
const historyDBName = "history.db"

// histAsk sends a GET to the daemon; when none runs, it serves the same
// request itself from STATEDIR/history.db, opened read-only.
func (c *ctlClient) histAsk(path string, out any) error {
	err := c.do("GET", path, nil, out)
	if !errors.Is(err, errNoDaemon) || c.stateDir == "" {
		return err
	}
	targets := map[string]float64{}
	if c.cfg != nil {
		var cerr error
		if targets, cerr = slaTargets(c.cfg); cerr != nil {
			return &app.ConfigError{Err: cerr}
		}
	}
	st, oerr := openHistoryDB(filepath.Join(c.stateDir, historyDBName))
	if oerr != nil {
		return fmt.Errorf("%w; and the history database: %w", err, oerr)
	}
	defer st.Close()
	srv := control.New(control.Options{History: st, Accounting: c.accounting, SLA: func(test string) float64 { return targets[test] }})
	local := &ctlClient{socket: c.socket, http: &http.Client{Transport: handlerTransport{srv.Handler(false, "")}}}
	return local.do("GET", path, nil, out)
}

// handlerTransport serves requests with a handler in this process.
type handlerTransport struct{ h http.Handler }

// RoundTrip implements http.RoundTripper.
func (t handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	w := httptest.NewRecorder()
	t.h.ServeHTTP(w, r)
	return w.Result(), nil
}

// slaTargets reads the tests' sla keys, for the command line that reads
// the history database itself ([main]'s history keys come resolved).
func slaTargets(cfg *config.Config) (map[string]float64, error) {
	targets := map[string]float64{}
	for _, s := range cfg.Sections() {
		name, ok := strings.CutPrefix(s.Name, "Test_")
		if !ok || strings.TrimSpace(s.Value("sla")) == "" {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(s.Value("sla")), "%"), 64)
		if err != nil || v <= 0 || v > 100 {
			k, _ := s.Key("sla")
			return nil, config.Errorf(k.Pos, s.Name, "sla", "%q: want a percentage such as 99.9", s.Value("sla"))
		}
		targets[name] = v
	}
	return targets, nil
}

// sinceOr is --since, or def.
func sinceOr(o *options, def string) string {
	if o.since != "" {
		return o.since
	}
	return def
}

// testHistory is what --history --json prints.
type testHistory struct {
	Report  control.ReportRow     `json:"report"`
	Outages []control.OutageJSON  `json:"outages"`
	History control.HistoryAnswer `json:"history"`
}

// cmdHistory prints one test's uptime, outages and response times over
// --since (default 7d).
func cmdHistory(o *options, stdout, stderr io.Writer) int {
	c, err := newCtlClient(o)
	if err != nil {
		return ctlFail(stderr, err)
	}
	name := strings.TrimPrefix(o.history, "Test_")
	since := url.QueryEscape(sinceOr(o, "7d"))
	test := url.PathEscape(name)
	var th testHistory
	var rep control.ReportAnswer
	for _, q := range []struct {
		path string
		out  any
	}{
		{"/api/v1/report?since=" + since + "&test=" + url.QueryEscape(name), &rep},
		{"/api/v1/tests/" + test + "/outages?since=" + since, &control.OutagesAnswer{}},
		{"/api/v1/tests/" + test + "/history?since=" + since, &th.History},
	} {
		if err := c.histAsk(q.path, q.out); err != nil {
			return ctlFail(stderr, err)
		}
		if oa, ok := q.out.(*control.OutagesAnswer); ok {
			th.Outages = oa.Outages
		}
	}
	if len(rep.Tests) == 1 {
		th.Report = rep.Tests[0]
	}
	if o.jsonOut {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(th)
		return exitOK
	}
	printHistory(stdout, &th, sinceOr(o, "7d"))
	return exitOK
}

// printHistory writes a test's history for people.
func printHistory(w io.Writer, th *testHistory, since string) {
	r := &th.Report
	fmt.Fprintf(w, "%s over %s: uptime %s, %d %s, down %s (longest %s), MTTR %s, MTBF %s, no data %s\n",
		r.Test, since, uptimeText(r.Uptime), r.Outages, pluralize(r.Outages, "outage", "outages"), secs(r.DownSeconds),
		secs(r.LongestSeconds), secs(r.MTTRSeconds), secs(r.MTBFSeconds), secs(r.NoDataSeconds))
	if r.Target > 0 {
		fmt.Fprintf(w, "SLA %s%%: %s, budget %s, left %s\n", strconv.FormatFloat(r.Target, 'f', -1, 64),
			map[bool]string{true: "met", false: "MISSED"}[r.Met != nil && *r.Met], secs(r.BudgetSeconds), secs(r.BudgetLeftSeconds))
	}
	if runs, mean, p95 := responseOf(th.History.Buckets); runs > 0 {
		fmt.Fprintf(w, "response: %d runs, mean %s, worst p95 %s\n", runs, secs(mean), secs(p95))
	}
	if len(th.Outages) == 0 {
		fmt.Fprintln(w, "no outages")
		return
	}
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "START\tEND\tDURATION\tFIRST ERROR\tPAGED\tHELD")
	for _, o := range th.Outages {
		end := "ongoing"
		if !o.End.IsZero() {
			end = o.End.Local().Format("2006-01-02 15:04:05")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", o.Start.Local().Format("2006-01-02 15:04:05"), end, secs(o.DurationSeconds),
			dash(strings.ReplaceAll(o.FirstError, "\t", " ")), dash(strings.Join(o.Paged, " ")), dash(strings.Join(o.Held, ", ")))
	}
	tw.Flush()
}

// responseOf sums buckets: runs, their mean and the worst p95 (seconds).
func responseOf(bs []control.BucketJSON) (runs int, mean, p95 float64) {
	var total float64
	for _, b := range bs {
		runs += b.Runs
		total += b.MeanSeconds * float64(b.Runs)
		p95 = max(p95, b.P95Seconds)
	}
	if runs > 0 {
		mean = total / float64(runs)
	}
	return runs, mean, p95
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// uptimeText renders an uptime in percent, "-" when nothing counted.
func uptimeText(u *float64) string {
	if u == nil {
		return "-"
	}
	return strconv.FormatFloat(*u, 'f', 3, 64) + "%"
}

// secs renders seconds as a duration for people (1h2m3s, 250ms).
func secs(s float64) string {
	d := time.Duration(s * float64(time.Second))
	if d >= time.Second || d <= -time.Second {
		d = d.Round(time.Second)
	}
	return d.String()
}

// cmdReport prints the SLA table of every test over --since (default
// 30d): a table, --json or --csv.
func cmdReport(o *options, stdout, stderr io.Writer) int {
	c, err := newCtlClient(o)
	if err != nil {
		return ctlFail(stderr, err)
	}
	var rep control.ReportAnswer
	if err := c.histAsk("/api/v1/report?since="+url.QueryEscape(sinceOr(o, "30d")), &rep); err != nil {
		return ctlFail(stderr, err)
	}
	switch {
	case o.jsonOut:
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(rep)
	case o.csv:
		if err := writeReportCSV(stdout, &rep); err != nil {
			return ctlFail(stderr, err)
		}
	default:
		printReport(stdout, &rep)
	}
	return exitOK
}

// reportHeader is the CSV's header row.
var reportHeader = []string{"test", "uptime_percent", "outages", "down_seconds", "longest_seconds", "mttr_seconds", "mtbf_seconds",
	"up_seconds", "maintenance_seconds", "unreachable_seconds", "no_data_seconds", "sla_target_percent", "budget_seconds",
	"budget_left_seconds", "sla_met"}

// writeReportCSV writes the report as RFC 4180 CSV: a header row, CRLF
// line ends, plain numbers (seconds, percent without a sign), empty
// cells where there is no value.
func writeReportCSV(w io.Writer, rep *control.ReportAnswer) error {
	cw := csv.NewWriter(w)
	cw.UseCRLF = true
	cw.Write(reportHeader)
	num := func(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
	for _, r := range rep.Tests {
		row := []string{sanitize(r.Test), "", strconv.Itoa(r.Outages), num(r.DownSeconds), num(r.LongestSeconds), num(r.MTTRSeconds),
			num(r.MTBFSeconds), num(r.UpSeconds), num(r.MaintenanceSeconds), num(r.UnreachableSeconds), num(r.NoDataSeconds), "", "", "", ""}
		if r.Uptime != nil {
			row[1] = strconv.FormatFloat(*r.Uptime, 'f', 4, 64)
		}
		if r.Target > 0 {
			row[11], row[12], row[13] = num(r.Target), num(r.BudgetSeconds), num(r.BudgetLeftSeconds)
			row[14] = strconv.FormatBool(r.Met != nil && *r.Met)
		}
		cw.Write(row)
	}
	cw.Flush()
	return cw.Error()
}

// printReport writes the report as a table for people.
func printReport(w io.Writer, rep *control.ReportAnswer) {
	fmt.Fprintf(w, "from %s to %s\n", rep.From.Local().Format("2006-01-02 15:04"), rep.To.Local().Format("2006-01-02 15:04"))
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TEST\tUPTIME\tOUTAGES\tDOWN\tLONGEST\tMTTR\tMTBF\tNO DATA\tSLA\tBUDGET LEFT")
	for _, r := range rep.Tests {
		sla, left := "-", "-"
		if r.Target > 0 {
			sla = strconv.FormatFloat(r.Target, 'f', -1, 64) + "%"
			left = secs(r.BudgetLeftSeconds)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Test, uptimeText(r.Uptime), r.Outages, secs(r.DownSeconds),
			secs(r.LongestSeconds), secs(r.MTTRSeconds), secs(r.MTBFSeconds), secs(r.NoDataSeconds), sla, left)
	}
	tw.Flush()
}

// checkHistory rejects --since and --csv without their mode.
func (o *options) checkHistory() error {
	switch {
	case o.since != "" && o.history == "" && !o.report:
		return errors.New("--since goes with --history TEST or --report")
	case o.csv && !o.report:
		return errors.New("--csv goes with --report")
	case o.csv && o.jsonOut:
		return errors.New("--csv and --json cannot be used together; give one of them")
	}
	if o.since != "" {
		if _, err := runtime.ParseDuration(o.since); err != nil {
			return fmt.Errorf("--since: %w", err)
		}
	}
	return nil
}
