package main

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/monsta/monsta/builtins"
	"github.com/monsta/monsta/config"
	monsta "github.com/monsta/monsta/runtime"
)

// TestMain lets the test binary stand in for monsta-bench when the bench
// re-executes itself as the listener, the daemon or the bare loop.
func TestMain(m *testing.M) {
	if code, ok := childMain(); ok {
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// TestBenchTinyScale runs the whole bench at a tiny scale and checks that
// the report is complete and sane. It asserts nothing about speed.
func TestBenchTinyScale(t *testing.T) {
	p := params{Tests: 200, Rate: 200, Check: "banner", Hung: 20, Duration: time.Second, Warmup: 500 * time.Millisecond,
		HungTimeout: 300 * time.Millisecond, Spawned: 300 * time.Millisecond, Unpaced: 300 * time.Millisecond, Addrs: 2, History: true}
	if _, err := os.Stat(monitPath); err == nil {
		p.Peer = "monit"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var progress bytes.Buffer
	r, err := bench(ctx, p, &progress, nil)
	if err != nil {
		t.Fatalf("bench() error = %v; progress:\n%s", err, progress.String())
	}
	if len(r.Errors) > 0 {
		t.Fatalf("report errors: %q", r.Errors)
	}

	checkPlainPhase(t, p, r.Monsta)
	if r.MonstaNoHistory == nil {
		t.Fatal("-history ran no phase with history = no")
	}
	checkPlainPhase(t, p, *r.MonstaNoHistory)
	if r.MonstaNoHistory.HistoryBytes != 0 {
		t.Errorf("history = no left a %d-byte history database", r.MonstaNoHistory.HistoryBytes)
	}
	checkHungPhase(t, p, r.MonstaHung)
	checkBareAndListener(t, r)
	checkPeer(t, p, r.Peer)
	checkMetrics(t, r)
	checkOutputs(t, r)
}

// checkPlainPhase checks the phase without hung tests.
func checkPlainPhase(t *testing.T, p params, m daemonResult) {
	t.Helper()
	if m.Tests != p.Tests || m.Hung != 0 {
		t.Errorf("plain phase ran %d tests + %d hung, want %d + 0", m.Tests, m.Hung, p.Tests)
	}
	if m.OK == 0 || m.Failed != 0 || m.Checks != m.OK {
		t.Errorf("plain phase: ok %d, failed %d, checks %d; want all passing", m.OK, m.Failed, m.Checks)
	}
	if m.CPUSeconds <= 0 || m.CPUPerCheckUS <= 0 {
		t.Errorf("plain phase: CPU %vs, %vµs per check; want > 0", m.CPUSeconds, m.CPUPerCheckUS)
	}
	if m.ScheduledSeconds <= 0 || m.FirstCheckSeconds <= 0 || m.PeakRSS < m.Loaded.RSS {
		t.Errorf("plain phase: scheduled after %vs, first check after %vs, peak RSS %d below steady %d", m.ScheduledSeconds, m.FirstCheckSeconds, m.PeakRSS, m.Loaded.RSS)
	}
	if m.Baseline.RSS <= 0 || m.Loaded.RSS <= 0 || m.Loaded.Heap <= 0 {
		t.Errorf("plain phase memory: baseline %+v, loaded %+v; want > 0", m.Baseline, m.Loaded)
	}
	if m.Lateness.N == 0 || m.Lateness.Dropped != 0 || m.Lateness.P50US > m.Lateness.P99US || m.Lateness.P99US > m.Lateness.MaxUS {
		t.Errorf("plain phase lateness = %+v; want n > 0, none dropped, p50 <= p99 <= max", m.Lateness)
	}
}

// checkPeer checks Monit's numbers, when it ran.
func checkPeer(t *testing.T, p params, pr *peerResult) {
	t.Helper()
	if p.Peer == "" {
		t.Log("no " + monitPath + ": the peer is not tested")
		return
	}
	if pr == nil {
		t.Fatal("no peer result")
	}
	if pr.Checks == 0 || pr.Failed != 0 || pr.CPUSeconds <= 0 || pr.PeakRSS <= 0 || pr.FirstCheckSeconds <= 0 {
		t.Errorf("peer = %+v; want checks, no failures, CPU, memory, a first check", *pr)
	}
}

// checkHungPhase checks the phase with tests against the silent peer.
func checkHungPhase(t *testing.T, p params, h *daemonResult) {
	t.Helper()
	if h == nil {
		t.Fatal("no phase with hung tests")
	}
	if h.Tests != p.Tests || h.Hung != p.Hung {
		t.Errorf("hung phase ran %d tests + %d hung, want %d + %d", h.Tests, h.Hung, p.Tests, p.Hung)
	}
	if h.OK == 0 || h.Failed != 0 || h.HungResults == 0 || h.HungPassed != 0 {
		t.Errorf("hung phase: ok %d, failed %d, hung results %d (passed %d); want passes, hung failures only",
			h.OK, h.Failed, h.HungResults, h.HungPassed)
	}
	if !strings.Contains(h.HungSample, "timeout") {
		t.Errorf("hung test failed with %q; want a timeout", h.HungSample)
	}
	if h.Lateness.N == 0 {
		t.Errorf("hung phase lateness = %+v; want n > 0", h.Lateness)
	}
}

// checkBareAndListener checks the bare loops, the listener and the machine.
func checkBareAndListener(t *testing.T, r *report) {
	t.Helper()
	for name, l := range map[string]loopResult{"paced": r.Bare.Paced, "spawned": r.Bare.Spawned, "unpaced": r.Bare.Unpaced} {
		if l.Dials == 0 || l.Errors != 0 || l.CPUPerDialUS <= 0 || l.WindowSeconds <= 0 {
			t.Errorf("bare %s loop = %+v; want dials, no errors, CPU > 0", name, l)
		}
	}
	if len(r.BarePaced) != 2 || r.BarePaced[0].Dials == 0 || r.BarePaced[1].Dials == 0 ||
		r.Bare.Paced.Dials != r.BarePaced[0].Dials+r.BarePaced[1].Dials {
		t.Errorf("paced bare runs = %+v, combined %+v; want two runs adding up", r.BarePaced, r.Bare.Paced)
	}
	if r.Accepted.Accepted == 0 || r.Accepted.SilentAccepted == 0 || r.Accepted.AcceptErrors != 0 {
		t.Errorf("listener = %+v; want accepts on both kinds, no errors", r.Accepted)
	}
	if r.Machine.NumCPU == 0 || r.Machine.GoVersion == "" {
		t.Errorf("machine = %+v; want CPUs and Go version", r.Machine)
	}
}

// checkMetrics checks that every target has its row, with a number and a
// verdict.
func checkMetrics(t *testing.T, r *report) {
	t.Helper()
	targets := map[string]bool{}
	for _, row := range r.Metrics {
		if math.IsNaN(row.Monsta) || math.IsInf(row.Monsta, 0) {
			t.Errorf("metric %q = %v", row.Name, row.Monsta)
		}
		if row.Status == "PASS" || row.Status == "MISS" {
			targets[row.Name] = true
		} else if row.Status != "info" {
			t.Errorf("metric %q status %q", row.Name, row.Status)
		}
	}
	for _, want := range []string{"CPU per check", "start to every test scheduled", "start lateness p99, 20 hung",
		"CPU per check, history on", "peak RSS more with history on"} {
		if !targets[want] {
			t.Errorf("no target row %q in %+v", want, r.Metrics)
		}
	}
}

// checkOutputs checks the printed table and the JSON report.
func checkOutputs(t *testing.T, r *report) {
	t.Helper()
	var table bytes.Buffer
	printReport(&table, r)
	for _, want := range []string{"metric", "monsta", "bare loop", "ratio", "target", "CPU per check", "peak RSS", "lateness p99"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
	js, err := json.Marshal(r)
	if err != nil {
		t.Fatalf("marshal report: %v", err)
	}
	var back report
	if err := json.Unmarshal(js, &back); err != nil || len(back.Metrics) != len(r.Metrics) {
		t.Errorf("report does not survive JSON: %v", err)
	}
}

// TestRunRejectsBadFlags checks the command line's refusals.
func TestRunRejectsBadFlags(t *testing.T) {
	for _, args := range [][]string{{"-tests", "0"}, {"-addrs", "0"}, {"-rate", "0"}, {"-rate", "x"}, {"-check", "ping"},
		{"-peer", "nagios"}, {"-runs", "0"}, {"extra"}, {"-nosuchflag"}} {
		var out, errw bytes.Buffer
		if code := run(args, &out, &errw); code != 2 {
			t.Errorf("run(%q) = %d, want 2; stderr %q", args, code, errw.String())
		}
	}
}

// TestLateRecorder checks the percentiles and that nothing is recorded
// outside the window or past the buffer.
func TestLateRecorder(t *testing.T) {
	r := newLateRecorder(100)
	r.record(time.Second) // before the window: ignored
	r.on.Store(true)
	for i := 1; i <= 100; i++ {
		r.record(time.Duration(i) * time.Millisecond)
	}
	r.record(time.Hour) // past the buffer: dropped
	st := r.stats()
	if st.N != 100 || st.Dropped != 1 {
		t.Fatalf("n %d dropped %d, want 100 and 1", st.N, st.Dropped)
	}
	if st.P50US != 50e3 || st.P99US != 99e3 || st.MaxUS != 100e3 || st.Over5ms != 95 {
		t.Errorf("stats = %+v; want p50 50ms, p99 99ms, max 100ms, 95 over 5ms", st)
	}
	r.record(time.Millisecond) // after stats: ignored
	if r.n.Load() != 101 {
		t.Errorf("recorded after the window: n = %d", r.n.Load())
	}
}

// TestWriteConfig checks that the generated configuration loads into the
// expected numbers of tests.
func TestWriteConfig(t *testing.T) {
	conf, confdir, err := writeConfig(t.TempDir(), confSpec{Tests: 7, Hung: 3, Interval: 1500 * time.Millisecond, Banner: true,
		HungTimeout: time.Second, Addrs: []string{"127.0.0.1:1", "127.0.0.2:2"}, Silent: "127.0.0.1:3"})
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(confdir + "/bench-000.conf")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"[Check_c000006]", "host = 127.0.0.2", "[Test_hung0002]", "expect = 220", "interval = 1.5"} {
		if !bytes.Contains(data, []byte(want)) {
			t.Errorf("bench-000.conf lacks %q", want)
		}
	}
	cfg, err := config.Load(conf, confdir)
	if err != nil {
		t.Fatalf("config.Load() error = %v", err)
	}
	reg := monsta.NewRegistry()
	if err := builtins.Register(reg, builtins.Env{}); err != nil {
		t.Fatal(err)
	}
	plan, warnings, err := monsta.NewResolver(cfg).Resolve(reg)
	if err != nil || len(warnings) > 0 {
		t.Fatalf("Resolve() error = %v, warnings %v", err, warnings)
	}
	if len(plan.Tests) != 10 || plan.Tests[0].Interval != 1500*time.Millisecond {
		t.Errorf("plan has %d tests, interval %v; want 10, 1.5s", len(plan.Tests), plan.Tests[0].Interval)
	}
}

// TestWriteMonitConfig checks Monit's control file: private, one check
// host per test, the banner expected, its files in the directory.
func TestWriteMonitConfig(t *testing.T) {
	dir := t.TempDir()
	rc, err := writeMonitConfig(dir, peerSpec{Tests: 3, Banner: true, Addrs: []string{"127.0.0.1:10", "127.0.0.2:20"}})
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(rc)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("control file %v, %v; want mode 0600", st, err)
	}
	data, _ := os.ReadFile(rc)
	for _, want := range []string{"set daemon 1\n", "set pidfile " + dir, "set statefile " + dir, "set idfile " + dir,
		"check host t000002 with address 127.0.0.1\n  if failed port 10 type tcp expect \"220\" then alert\n",
		"check host t000001 with address 127.0.0.2\n"} {
		if !strings.Contains(string(data), want) {
			t.Errorf("control file lacks %q:\n%s", want, data)
		}
	}
}
