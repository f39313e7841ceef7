package control

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	monsta "github.com/monsta/monsta/runtime"
	"github.com/monsta/monsta/runtime/history"
)

// Defaults of the history API's windows.
const (
	DefaultHistorySince = 7 * 24 * time.Hour
	DefaultReportSince  = 30 * 24 * time.Hour
)

// BucketJSON is one aggregate of runs in the history API.
type BucketJSON struct {
	Start       time.Time `json:"start"`
	StepSeconds float64   `json:"step_seconds"`
	Runs        int       `json:"runs"`
	Failures    int       `json:"failures"`
	MinSeconds  float64   `json:"min_seconds"`
	MeanSeconds float64   `json:"mean_seconds"`
	MaxSeconds  float64   `json:"max_seconds"`
	P95Seconds  float64   `json:"p95_seconds"`
}

// EventJSON is one ledger entry in the history API.
type EventJSON struct {
	At       time.Time `json:"at"`
	Kind     string    `json:"kind"` // down, up, hold_on, hold_off, page
	Error    string    `json:"error,omitempty"`
	Hold     string    `json:"hold,omitempty"`
	HoldName string    `json:"hold_name,omitempty"`
	Paged    []string  `json:"paged,omitempty"`
	Level    *int      `json:"level,omitempty"` // page: the escalation level, -1 a recovery
}

// HistoryAnswer is the body of GET /api/v1/tests/NAME/history.
type HistoryAnswer struct {
	Test        string       `json:"test"`
	From        time.Time    `json:"from"`
	To          time.Time    `json:"to"`
	StepSeconds float64      `json:"step_seconds"`
	Buckets     []BucketJSON `json:"buckets"`
	Events      []EventJSON  `json:"events"`
}

// OutageJSON is one outage in the API.
type OutageJSON struct {
	Start           time.Time `json:"start"`
	End             time.Time `json:"end,omitzero"` // absent while ongoing
	Ongoing         bool      `json:"ongoing"`
	DurationSeconds float64   `json:"duration_seconds"` // counted downtime in the window
	FirstError      string    `json:"first_error,omitempty"`
	Paged           []string  `json:"paged"`
	Held            []string  `json:"held"`
}

// OutagesAnswer is the body of GET /api/v1/tests/NAME/outages.
type OutagesAnswer struct {
	Test    string       `json:"test"`
	From    time.Time    `json:"from"`
	To      time.Time    `json:"to"`
	Outages []OutageJSON `json:"outages"`
}

// ReportRow is one test's line of the SLA report.
type ReportRow struct {
	Test string `json:"test"`
	// Uptime is the percent of counted time up; null when nothing counted.
	Uptime             *float64 `json:"uptime"`
	UpSeconds          float64  `json:"up_seconds"`
	DownSeconds        float64  `json:"down_seconds"`
	MaintenanceSeconds float64  `json:"maintenance_seconds"`
	UnreachableSeconds float64  `json:"unreachable_seconds"`
	NoDataSeconds      float64  `json:"no_data_seconds"`
	Outages            int      `json:"outages"`
	LongestSeconds     float64  `json:"longest_seconds"`
	MTTRSeconds        float64  `json:"mttr_seconds"`
	MTBFSeconds        float64  `json:"mtbf_seconds"`
	// Target is the test's SLA in percent ([Test_] sla), with the error
	// budget over the report's window; absent without a target.
	Target            float64 `json:"sla_target,omitempty"`
	BudgetSeconds     float64 `json:"budget_seconds,omitempty"`
	BudgetLeftSeconds float64 `json:"budget_left_seconds,omitempty"`
	Met               *bool   `json:"sla_met,omitempty"`
}

// ReportAnswer is the body of GET /api/v1/report.
type ReportAnswer struct {
	From  time.Time   `json:"from"`
	To    time.Time   `json:"to"`
	Tests []ReportRow `json:"tests"`
}

// historyOff answers a history request when history is off.
func historyOff(w http.ResponseWriter) {
	writeError(w, http.StatusNotFound, "%v", errHistoryOff)
}

// unknownTest answers 404 for a test the running daemon does not have
// (without a daemon, the history is all there is to ask).
func (s *Server) unknownTest(w http.ResponseWriter, name string) bool {
	e := s.Engine()
	if e == nil {
		return false
	}
	if _, ok := e.TestStatus(name); ok {
		return false
	}
	writeError(w, http.StatusNotFound, "no test named %q", name)
	return true
}

// testHistory serves GET /api/v1/tests/NAME/history?since=7d&step=5m.
func (s *Server) testHistory(w http.ResponseWriter, r *http.Request, name string) {
	if s.o.History == nil {
		historyOff(w)
		return
	}
	if s.unknownTest(w, name) {
		return
	}
	since, err := parseSince(r, DefaultHistorySince)
	if err != nil {
		writeError(w, http.StatusBadRequest, "%v", err)
		return
	}
	step, err := parseStep(r, since)
	if err != nil {
		writeError(w, http.StatusBadRequest, "%v", err)
		return
	}
	to := s.now()
	from := to.Add(-since)
	events, err := s.o.History.Events(name, from, to)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "read the ledger of %s: %v", name, err)
		return
	}
	buckets, err := s.o.History.Buckets(name, "", from, to, step)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "read the durations of %s: %v", name, err)
		return
	}
	writeJSON(w, http.StatusOK, HistoryAnswer{Test: name, From: from, To: to, StepSeconds: step.Seconds(),
		Buckets: bucketsJSON(buckets), Events: eventsJSON(events)})
}

// parseStep reads ?step= (default: about 300 points over since, at
// least 5 minutes).
func parseStep(r *http.Request, since time.Duration) (time.Duration, error) {
	v := r.URL.Query().Get("step")
	if v == "" {
		return max(ChartStep, (since / 300).Truncate(time.Minute)), nil
	}
	d, err := monsta.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("step: %w", err)
	}
	if d < time.Minute {
		return 0, fmt.Errorf("step %q: want at least 1m", v)
	}
	return d, nil
}

func bucketsJSON(bs []history.Bucket) []BucketJSON {
	out := make([]BucketJSON, 0, len(bs))
	for _, b := range bs {
		out = append(out, BucketJSON{Start: b.Start, StepSeconds: b.Step.Seconds(), Runs: b.Runs, Failures: b.Failures,
			MinSeconds: b.Min.Seconds(), MeanSeconds: b.Mean.Seconds(), MaxSeconds: b.Max.Seconds(), P95Seconds: b.P95.Seconds()})
	}
	return out
}

func eventsJSON(es []history.Event) []EventJSON {
	out := make([]EventJSON, 0, len(es))
	for _, e := range es {
		j := EventJSON{At: e.At, Kind: e.Kind.String(), Error: e.Error, Hold: e.Hold, HoldName: e.HoldName, Paged: e.Paged}
		if e.Kind == history.Page {
			j.Level = &e.Level
		}
		out = append(out, j)
	}
	return out
}

// testOutages serves GET /api/v1/tests/NAME/outages?since=30d.
func (s *Server) testOutages(w http.ResponseWriter, r *http.Request, name string) {
	if s.o.History == nil {
		historyOff(w)
		return
	}
	if s.unknownTest(w, name) {
		return
	}
	since, err := parseSince(r, DefaultReportSince)
	if err != nil {
		writeError(w, http.StatusBadRequest, "%v", err)
		return
	}
	to := s.now()
	from := to.Add(-since)
	outages, err := s.outages(name, from, to)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "%v", err)
		return
	}
	writeJSON(w, http.StatusOK, OutagesAnswer{Test: name, From: from, To: to, Outages: outagesJSON(outages)})
}

// outages reads test's outages in [from, to).
func (s *Server) outages(test string, from, to time.Time) ([]history.Outage, error) {
	events, err := s.o.History.Events(test, from, to)
	if err != nil {
		return nil, fmt.Errorf("read the ledger of %s: %w", test, err)
	}
	sessions, err := s.o.History.Sessions(from, to)
	if err != nil {
		return nil, fmt.Errorf("read sessions: %w", err)
	}
	return history.OutagesIn(events, sessions, from, to), nil
}

func outagesJSON(os []history.Outage) []OutageJSON {
	out := make([]OutageJSON, 0, len(os))
	for _, o := range os {
		out = append(out, OutageJSON{Start: o.Start, End: o.End, Ongoing: o.Ongoing, DurationSeconds: o.Duration.Seconds(),
			FirstError: o.FirstError, Paged: nonNil(o.Paged), Held: nonNil(o.Held)})
	}
	return out
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// report serves GET /api/v1/report?since=30d[&test=NAME]: the SLA table
// of every test (the engine's, else the history's), by name.
func (s *Server) report(w http.ResponseWriter, r *http.Request) {
	if s.o.History == nil {
		historyOff(w)
		return
	}
	since, err := parseSince(r, DefaultReportSince)
	if err != nil {
		writeError(w, http.StatusBadRequest, "%v", err)
		return
	}
	only := strings.TrimPrefix(r.URL.Query().Get("test"), "Test_")
	if only != "" && s.unknownTest(w, only) {
		return
	}
	names, err := s.reportTests(only)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "%v", err)
		return
	}
	to := s.now()
	ans, err := s.buildReport(names, to.Add(-since), to)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "%v", err)
		return
	}
	writeJSON(w, http.StatusOK, ans)
}

// reportTests names the tests of a report: only, or the engine's tests,
// or (no engine: the command line reading the database) the history's.
func (s *Server) reportTests(only string) ([]string, error) {
	if only != "" {
		return []string{only}, nil
	}
	if e := s.Engine(); e != nil {
		st := e.Status()
		names := make([]string, 0, len(st))
		for _, t := range st {
			names = append(names, t.Name)
		}
		slices.Sort(names)
		return names, nil
	}
	names, err := s.o.History.Tests()
	if err != nil {
		return nil, fmt.Errorf("list the tests of the history: %w", err)
	}
	slices.Sort(names)
	return names, nil
}

// buildReport computes the report of each test over [from, to).
func (s *Server) buildReport(names []string, from, to time.Time) (ReportAnswer, error) {
	sessions, err := s.o.History.Sessions(from, to)
	if err != nil {
		return ReportAnswer{}, fmt.Errorf("read sessions: %w", err)
	}
	ans := ReportAnswer{From: from, To: to, Tests: make([]ReportRow, 0, len(names))}
	for _, n := range names {
		events, err := s.o.History.Events(n, from, to)
		if err != nil {
			return ReportAnswer{}, fmt.Errorf("read the ledger of %s: %w", n, err)
		}
		ans.Tests = append(ans.Tests, s.reportRow(history.Compute(n, events, sessions, from, to, s.o.Accounting)))
	}
	return ans, nil
}

// reportRow is a Report as a line of the table, with the budget.
func (s *Server) reportRow(rp history.Report) ReportRow {
	row := ReportRow{Test: rp.Test, UpSeconds: rp.Up.Seconds(), DownSeconds: rp.Down.Seconds(),
		MaintenanceSeconds: rp.Maintenance.Seconds(), UnreachableSeconds: rp.Unreachable.Seconds(), NoDataSeconds: rp.NoData.Seconds(),
		Outages: rp.Outages, LongestSeconds: rp.Longest.Seconds(), MTTRSeconds: rp.MTTR.Seconds(), MTBFSeconds: rp.MTBF.Seconds()}
	if rp.Uptime >= 0 {
		u := rp.Uptime
		row.Uptime = &u
	}
	if t := s.target(rp.Test); t > 0 {
		allowed, _, left := history.Budget(t, rp)
		met := left >= 0
		row.Target, row.BudgetSeconds, row.BudgetLeftSeconds, row.Met = t, allowed.Seconds(), left.Seconds(), &met
	}
	return row
}
