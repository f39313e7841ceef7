package main

import (
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"
	"time"
)

// evaluate fills in the metric rows, the warnings and the errors.
func (r *report) evaluate() {
	r.cpuMetrics()
	r.memoryMetrics()
	r.startMetrics()
	r.latenessMetrics()
	r.historyMetrics()
	// Sanity: a number is meaningless if what it counts went wrong.
	r.checkPhase(&r.Monsta, "")
	if r.MonstaNoHistory != nil {
		r.checkPhase(r.MonstaNoHistory, ", history off")
	}
	if r.MonstaHung != nil {
		r.checkPhase(r.MonstaHung, "")
	}
	r.checkPeer()
	r.checkLoops()
	r.checkListener()
}

func fp(v float64) *float64 { return &v }

// ratio is a / b, nil when b is not positive.
func ratio(a, b float64) *float64 {
	if b <= 0 {
		return nil
	}
	return fp(a / b)
}

// passMiss is a metric's status against its target.
func passMiss(ok bool) string {
	if ok {
		return "PASS"
	}
	return "MISS"
}

// sysPer is the system CPU per n events of w, in µs.
func sysPer(w windowResult, n int64) float64 {
	if n == 0 {
		return 0
	}
	return w.SysSeconds * 1e6 / float64(n)
}

// cpuTarget is the most CPU per check, as a multiple of the paced bare
// loop's, at the configuration's rate.
func (r *report) cpuTarget() float64 {
	if r.Params.Rate >= fastRate {
		return targetCPURatioFast
	}
	return targetCPURatioSlow
}

// cpuMetrics compares monsta's CPU per check with the bare loops' and the
// peer's.
func (r *report) cpuMetrics() {
	m, b := r.Monsta, r.Bare
	bareRatio := ratio(m.CPUPerCheckUS, b.Paced.CPUPerDialUS)
	limit := r.cpuTarget()
	r.Metrics = append(r.Metrics, metric{Name: "CPU per check", Unit: "µs", Monsta: m.CPUPerCheckUS,
		Versus: "bare loop", Other: fp(b.Paced.CPUPerDialUS), Ratio: bareRatio,
		Target: fmt.Sprintf("≤ %.1fx", limit), Status: passMiss(bareRatio != nil && *bareRatio <= limit)})
	r.Metrics = append(r.Metrics, metric{Name: "  of which system (kernel)", Unit: "µs",
		Monsta: sysPer(m.windowResult, m.Checks), Versus: "bare loop", Other: fp(sysPer(b.Paced.windowResult, b.Paced.Dials)),
		Ratio: ratio(sysPer(m.windowResult, m.Checks), sysPer(b.Paced.windowResult, b.Paced.Dials)), Status: "info"})
	if pr := r.Peer; pr != nil {
		peerRatio := ratio(m.CPUPerCheckUS, pr.CPUPerCheckUS)
		row := metric{Name: fmt.Sprintf("CPU per check (monit at its own %.0f/s)", pr.Rate), Unit: "µs", Monsta: m.CPUPerCheckUS,
			Versus: "monit", Other: fp(pr.CPUPerCheckUS), Ratio: peerRatio, Status: "info"}
		if r.Params.Rate >= fastRate {
			row.Target, row.Status = "≤ 1.0x", passMiss(peerRatio != nil && *peerRatio <= 1)
		}
		r.Metrics = append(r.Metrics, row)
		r.Metrics = append(r.Metrics, metric{Name: "  of which system (kernel)", Unit: "µs",
			Monsta: sysPer(m.windowResult, m.Checks), Versus: "monit", Other: fp(sysPer(pr.windowResult, pr.Checks)),
			Ratio: ratio(sysPer(m.windowResult, m.Checks), sysPer(pr.windowResult, pr.Checks)), Status: "info"})
	}
	if b.Spawned.Dials > 0 {
		r.Metrics = append(r.Metrics, metric{Name: "CPU per check vs goroutine+timeout per probe", Unit: "µs",
			Monsta: m.CPUPerCheckUS, Versus: "bare loop", Other: fp(b.Spawned.CPUPerDialUS),
			Ratio: ratio(m.CPUPerCheckUS, b.Spawned.CPUPerDialUS), Status: "info"})
	}
	if b.Unpaced.Dials > 0 {
		r.Metrics = append(r.Metrics, metric{Name: "CPU per check vs unpaced loop", Unit: "µs",
			Monsta: m.CPUPerCheckUS, Versus: "bare loop", Other: fp(b.Unpaced.CPUPerDialUS),
			Ratio: ratio(m.CPUPerCheckUS, b.Unpaced.CPUPerDialUS), Status: "info"})
	}
	r.Metrics = append(r.Metrics, metric{Name: "checks per second", Unit: "1/s", Monsta: m.Rate,
		Versus: "bare loop", Other: fp(b.Paced.Rate), Ratio: ratio(m.Rate, b.Paced.Rate), Status: "info"})
	if pr := r.Peer; pr != nil {
		r.Metrics = append(r.Metrics, metric{Name: "checks per second", Unit: "1/s", Monsta: m.Rate,
			Versus: "monit", Other: fp(pr.Rate), Ratio: ratio(m.Rate, pr.Rate), Status: "info"})
	}
}

// historyMetrics compares the daemon with history = yes (Monsta) with the
// one with history = no, when -history ran both.
func (r *report) historyMetrics() {
	off := r.MonstaNoHistory
	if off == nil {
		return
	}
	on := r.Monsta
	rt := ratio(on.CPUPerCheckUS, off.CPUPerCheckUS)
	more := float64(on.PeakRSS - off.PeakRSS)
	r.Metrics = append(r.Metrics,
		metric{Name: "CPU per check, history on", Unit: "µs", Monsta: on.CPUPerCheckUS, Versus: "history off",
			Other: fp(off.CPUPerCheckUS), Ratio: rt, Target: fmt.Sprintf("≤ %.2fx", targetHistoryCPU),
			Status: passMiss(rt != nil && *rt <= targetHistoryCPU)},
		metric{Name: "peak RSS more with history on", Unit: "MiB", Monsta: more / (1 << 20), Versus: "history off",
			Other: fp(mib(off.PeakRSS)), Target: fmt.Sprintf("≤ %d", targetHistoryPeak>>20),
			Status: passMiss(on.PeakRSS > 0 && off.PeakRSS > 0 && more <= targetHistoryPeak)},
		metric{Name: "history database per test (end of the window)", Unit: "KiB",
			Monsta: float64(on.HistoryBytes) / 1024 / float64(max(on.Tests, 1)), Status: "info"},
	)
	if on.HistoryBytes == 0 {
		r.Warnings = append(r.Warnings, "history = yes wrote no history database: the store is not in this build, or it failed to open (see the daemon's log)")
	}
}

// memoryMetrics reports peak and steady memory.
func (r *report) memoryMetrics() {
	m := r.Monsta
	peak := float64(m.PeakRSS) / (1 << 20)
	if pr := r.Peer; pr != nil {
		rt := ratio(float64(m.PeakRSS), float64(pr.PeakRSS))
		r.Metrics = append(r.Metrics, metric{Name: "peak RSS (VmHWM), start-up included", Unit: "MiB", Monsta: peak,
			Versus: "monit", Other: fp(mib(pr.PeakRSS)), Ratio: rt,
			Target: fmt.Sprintf("≤ %.1fx", targetPeakVsPeer), Status: passMiss(rt != nil && *rt <= targetPeakVsPeer)})
	}
	limit := targetPeak100k * float64(r.Params.Tests) / 100000
	row := metric{Name: "peak RSS (VmHWM), start-up included", Unit: "MiB", Monsta: peak, Status: "info"}
	if r.Params.Tests >= 100000 {
		row.Target = fmt.Sprintf("≤ %.0f", limit/(1<<20))
		row.Status = passMiss(m.PeakRSS > 0 && float64(m.PeakRSS) <= limit)
	}
	r.Metrics = append(r.Metrics, row)
	steady := metric{Name: "steady RSS (end of the window)", Unit: "MiB", Monsta: mib(m.Loaded.RSS), Status: "info"}
	if pr := r.Peer; pr != nil {
		steady.Versus, steady.Other, steady.Ratio = "monit", fp(mib(pr.RSS)), ratio(float64(m.Loaded.RSS), float64(pr.RSS))
	}
	r.Metrics = append(r.Metrics, steady,
		metric{Name: "RSS per configured test", Unit: "B", Monsta: m.RSSPerTest, Status: "info"},
		metric{Name: "Go heap per test after GC", Unit: "B", Monsta: m.HeapPerTest, Status: "info"},
	)
}

// startMetrics reports how fast monsta starts checking.
func (r *report) startMetrics() {
	m := r.Monsta
	first := metric{Name: "start to first check", Unit: "s", Monsta: m.FirstCheckSeconds, Status: "info"}
	if pr := r.Peer; pr != nil {
		first.Versus, first.Other = "monit", fp(pr.FirstCheckSeconds)
	}
	r.Metrics = append(r.Metrics, first, metric{Name: "start to every test scheduled", Unit: "s", Monsta: m.ScheduledSeconds,
		Target: fmt.Sprintf("≤ %v", targetScheduled),
		Status: passMiss(m.ScheduledSeconds > 0 && m.ScheduledSeconds <= targetScheduled.Seconds())})
}

// latenessMetrics reports how late checks started, with hung tests when
// that phase ran.
func (r *report) latenessMetrics() {
	m, b := r.Monsta, r.Bare
	lat := m.Lateness
	hungNote := "no hung tests"
	if r.MonstaHung != nil {
		lat = r.MonstaHung.Lateness
		hungNote = fmt.Sprintf("%d hung", r.MonstaHung.Hung)
	}
	r.Metrics = append(r.Metrics,
		metric{Name: "start lateness p99, " + hungNote, Unit: "ms", Monsta: lat.P99US / 1e3,
			Target: fmt.Sprintf("≤ %v", targetP99), Status: passMiss(lat.N > 0 && lat.P99US <= float64(targetP99.Microseconds()))},
		metric{Name: "start lateness p50, " + hungNote, Unit: "ms", Monsta: lat.P50US / 1e3, Status: "info"},
		metric{Name: "start lateness max, " + hungNote, Unit: "ms", Monsta: lat.MaxUS / 1e3, Status: "info"},
	)
	if h := r.MonstaHung; h != nil {
		r.Metrics = append(r.Metrics,
			metric{Name: "start lateness p99, no hung tests", Unit: "ms", Monsta: m.Lateness.P99US / 1e3, Status: "info"},
			metric{Name: "CPU per check, " + hungNote, Unit: "µs", Monsta: h.CPUPerCheckUS, Versus: "bare loop", Other: fp(b.Paced.CPUPerDialUS),
				Ratio: ratio(h.CPUPerCheckUS, b.Paced.CPUPerDialUS), Status: "info"})
	}
}

// checkPhase records what went wrong in one daemon phase; what is added
// to its name ("monsta (0 hung, history off)").
func (r *report) checkPhase(d *daemonResult, what string) {
	name := fmt.Sprintf("monsta (%d hung%s)", d.Hung, what)
	if d.Tests != r.Params.Tests || d.Hung != 0 && d.Hung != r.Params.Hung {
		r.Errors = append(r.Errors, fmt.Sprintf("%s: plan has %d tests + %d hung, want %d", name, d.Tests, d.Hung, r.Params.Tests))
	}
	if d.OK == 0 {
		r.Errors = append(r.Errors, name+": no check passed in the window")
	}
	if d.Failed > 0 {
		r.Errors = append(r.Errors, fmt.Sprintf("%s: %d of %d checks failed, e.g. %s", name, d.Failed, d.OK+d.Failed, strings.Join(d.FailSamples, " | ")))
	}
	if d.Lateness.N == 0 || d.Lateness.Dropped > 0 {
		r.Errors = append(r.Errors, fmt.Sprintf("%s: %d check starts recorded, %d dropped", name, d.Lateness.N, d.Lateness.Dropped))
	}
	r.checkHung(name, d)
	if d.Overruns > 0 {
		r.Warnings = append(r.Warnings, fmt.Sprintf("%s: %d runs skipped because the previous run was still going", name, d.Overruns))
	}
	r.busy(name, d.windowResult)
	want := float64(d.Tests+d.Hung) / r.Params.Interval.Seconds()
	if d.Rate < 0.95*want || d.Rate > 1.05*want {
		r.Warnings = append(r.Warnings, fmt.Sprintf("%s: %.0f checks/s, scheduled %.0f/s", name, d.Rate, want))
	}
}

// checkHung records what went wrong with the tests against the silent peer.
func (r *report) checkHung(name string, d *daemonResult) {
	if d.Hung > 0 && d.HungResults == 0 {
		r.Errors = append(r.Errors, name+": no hung test finished in the window")
	}
	if d.HungPassed > 0 {
		r.Errors = append(r.Errors, fmt.Sprintf("%s: %d runs against the silent peer passed", name, d.HungPassed))
	}
}

// checkPeer records what went wrong with the peer.
func (r *report) checkPeer() {
	pr := r.Peer
	if pr == nil {
		return
	}
	if pr.Checks == 0 {
		r.Errors = append(r.Errors, pr.Name+": no check in the window")
	}
	if pr.Failed > 0 {
		r.Errors = append(r.Errors, fmt.Sprintf("%s: %d failures in its log, e.g. %s", pr.Name, pr.Failed, pr.FailSample))
	}
	r.busy(pr.Name, pr.windowResult)
}

// checkLoops records what went wrong in the bare loops.
func (r *report) checkLoops() {
	b := r.Bare
	for _, l := range []struct {
		name string
		res  loopResult
		on   bool
	}{{"bare loop (paced)", b.Paced, true}, {"bare loop (goroutine per probe)", b.Spawned, r.Params.Spawned > 0},
		{"bare loop (unpaced)", b.Unpaced, r.Params.Unpaced > 0}} {
		if !l.on {
			continue
		}
		r.busy(l.name, l.res.windowResult)
		if l.res.Dials == 0 {
			r.Errors = append(r.Errors, l.name+": no probe in the window")
		}
		if l.res.Errors > 0 {
			r.Errors = append(r.Errors, fmt.Sprintf("%s: %d of %d probes failed, e.g. %s", l.name, l.res.Errors, l.res.Dials, l.res.FirstError))
		}
	}
	if len(r.BarePaced) == 2 {
		a, b := r.BarePaced[0].CPUPerDialUS, r.BarePaced[1].CPUPerDialUS
		if lo, hi := min(a, b), max(a, b); lo > 0 && hi > 1.1*lo {
			r.Warnings = append(r.Warnings, fmt.Sprintf("the bare loop cost %.1fµs per probe before monsta and %.1fµs after: the machine drifted, ratios are uncertain by about %.0f%%",
				a, b, (hi/lo-1)*100))
		}
	}
}

// checkListener records what went wrong in the listener.
func (r *report) checkListener() {
	if r.Accepted.Accepted == 0 {
		r.Errors = append(r.Errors, "listener accepted no connection")
	}
	if r.Accepted.AcceptErrors > 0 {
		r.Errors = append(r.Errors, fmt.Sprintf("listener: %d accept errors", r.Accepted.AcceptErrors))
	}
	if r.Params.Hung > 0 && r.Accepted.SilentAccepted == 0 {
		r.Errors = append(r.Errors, "silent listener accepted no connection")
	}
}

// busyCPUs is how many CPUs other processes (the listener excluded) may
// keep busy on average before a window's timings are called disturbed.
const busyCPUs = 0.5

// busy warns when the rest of the machine was busy during w.
func (r *report) busy(name string, w windowResult) {
	if w.OtherCPUs > busyCPUs {
		r.Warnings = append(r.Warnings, fmt.Sprintf("%s: other processes kept %.2f CPUs busy during the window (load %.1f): timings are disturbed", name, w.OtherCPUs, w.Load1))
	}
}

// missed tells whether a target row is a MISS.
func (r *report) missed() bool {
	for _, m := range r.Metrics {
		if m.Status == "MISS" {
			return true
		}
	}
	return false
}

// num formats a table number.
func num(v float64) string {
	switch {
	case math.IsNaN(v):
		return "-"
	case math.Abs(v) >= 100:
		return fmt.Sprintf("%.0f", v)
	case math.Abs(v) >= 10:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.2f", v)
}

func printReport(w io.Writer, r *report) {
	p, mc := r.Params, r.Machine
	fmt.Fprintf(w, "monsta-bench %s: %d CPUs (GOMAXPROCS %d), %s %s/%s, kernel %s, load %.1f at the start\n",
		r.Start.Format(time.RFC3339), mc.NumCPU, mc.GOMAXPROCS, mc.GoVersion, mc.OS, mc.Arch, mc.Kernel, r.Bare.Paced.Load1)
	what := "connect and close"
	if p.banner() {
		what = "connect, read the 220 banner (expect=220), close"
	}
	fmt.Fprintf(w, "%d tests (portconnect: %s) every %v = %.0f checks/s over %d listener addresses; %d hung tests (silent peer, timeout %v); warm-up %v, window %v\n",
		p.Tests, what, p.Interval, p.Rate, p.Addrs, p.Hung, p.HungTimeout, p.Warmup, p.Duration)
	if p.Main != "" {
		fmt.Fprintf(w, "monsta [main]: %s\n", strings.Join(strings.Fields(strings.ReplaceAll(p.Main, " = ", "=")), ", "))
	}
	if pr := r.Peer; pr != nil {
		fmt.Fprintf(w, "peer: %s, set daemon 1, one check host per test\n", pr.Version)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "metric\tunit\tmonsta\tvs\tother\tratio\ttarget\tresult")
	for _, m := range r.Metrics {
		other, ratio, vs := "-", "-", m.Versus
		if m.Other != nil {
			other = num(*m.Other)
		}
		if m.Ratio != nil {
			ratio = fmt.Sprintf("%.2fx", *m.Ratio)
		}
		if vs == "" {
			vs = "-"
		}
		target := m.Target
		if target == "" {
			target = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", m.Name, m.Unit, num(m.Monsta), vs, other, ratio, target, m.Status)
	}
	tw.Flush()
	mo := r.Monsta
	fmt.Fprintf(w, "\nmonsta: %d checks in %.1fs, %.2fs CPU (listener %.2f, others %.2f CPUs); RSS %.1f MiB idle, %.1f MiB steady (%.1f after GC), %.1f MiB peak; heap %.1f MiB (spans %.1f, stacks %.1f, runtime %.1f); %d goroutines, GOMAXPROCS %d; load %.2fs, scheduled %.2fs, first check %.2fs\n",
		mo.Checks, mo.WindowSeconds, mo.CPUSeconds, mo.ListenerCPUs, mo.OtherCPUs, mib(mo.Baseline.RSS), mib(mo.Loaded.RSS), mib(mo.Loaded.RSSAfterGC),
		mib(mo.PeakRSS), mib(mo.Loaded.Heap), mib(mo.Loaded.HeapInuse), mib(mo.Loaded.Stacks), mib(mo.Loaded.RuntimeSys), mo.Goroutines, mo.GOMAXPROCS, mo.LoadSeconds, mo.ScheduledSeconds, mo.FirstCheckSeconds)
	if h := r.MonstaHung; h != nil {
		fmt.Fprintf(w, "monsta with hung: %d checks (%d hung, e.g. %q) in %.1fs, %.2fs CPU (listener %.2f, others %.2f CPUs); lateness n=%d p50 %.3fms p99 %.3fms max %.3fms, %d over 5ms\n",
			h.Checks, h.HungResults, h.HungSample, h.WindowSeconds, h.CPUSeconds, h.ListenerCPUs, h.OtherCPUs, h.Lateness.N,
			h.Lateness.P50US/1e3, h.Lateness.P99US/1e3, h.Lateness.MaxUS/1e3, h.Lateness.Over5ms)
	}
	if pr := r.Peer; pr != nil {
		fmt.Fprintf(w, "%s: %d checks in %.1fs (%.0f/s), %.2fs CPU (listener %.2f, others %.2f CPUs); RSS %.1f MiB steady, %.1f MiB peak; first check %.2fs, every test once %.2fs\n",
			pr.Name, pr.Checks, pr.WindowSeconds, pr.Rate, pr.CPUSeconds, pr.ListenerCPUs, pr.OtherCPUs, mib(pr.RSS), mib(pr.PeakRSS),
			pr.FirstCheckSeconds, pr.AllCheckedSeconds)
	}
	for i, l := range r.BarePaced {
		fmt.Fprintf(w, "bare paced, %s: %.1fµs per probe (%d probes, %.2fs CPU, others %.2f CPUs)\n",
			[]string{"first", "last"}[min(i, 1)], l.CPUPerDialUS, l.Dials, l.CPUSeconds, l.OtherCPUs)
	}
	fmt.Fprintf(w, "listener: %d accepted, %d silent\n", r.Accepted.Accepted, r.Accepted.SilentAccepted)
	for _, s := range r.Warnings {
		fmt.Fprintln(w, "warning:", s)
	}
	for _, s := range r.Errors {
		fmt.Fprintln(w, "ERROR:", s)
	}
}

// printSummary prints one line per configuration run.
func printSummary(w io.Writer, all []*report) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "tests\trate/s\tmonsta µs\tbare µs\tvs bare\tmonit µs (rate/s)\tvs monit\tpeak MiB\tmonit peak MiB\tvs monit\tscheduled s\tp99 ms (hung)\tload\tresult")
	for _, r := range all {
		m := r.Monsta
		monit, vsMonit, monitPeak, vsPeak := "-", "-", "-", "-"
		if pr := r.Peer; pr != nil {
			monit = fmt.Sprintf("%s (%.0f)", num(pr.CPUPerCheckUS), pr.Rate)
			if x := ratio(m.CPUPerCheckUS, pr.CPUPerCheckUS); x != nil {
				vsMonit = fmt.Sprintf("%.2fx", *x)
			}
			monitPeak = num(mib(pr.PeakRSS))
			if x := ratio(float64(m.PeakRSS), float64(pr.PeakRSS)); x != nil {
				vsPeak = fmt.Sprintf("%.2fx", *x)
			}
		}
		vsBare := "-"
		if x := ratio(m.CPUPerCheckUS, r.Bare.Paced.CPUPerDialUS); x != nil {
			vsBare = fmt.Sprintf("%.2fx", *x)
		}
		p99 := "-"
		if h := r.MonstaHung; h != nil {
			p99 = num(h.Lateness.P99US / 1e3)
		}
		result := "PASS"
		switch {
		case len(r.Errors) > 0:
			result = "ERROR"
		case r.missed():
			result = "MISS"
		}
		fmt.Fprintf(tw, "%d\t%.0f\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.1f\t%s\n", r.Params.Tests, r.Params.Rate,
			num(m.CPUPerCheckUS), num(r.Bare.Paced.CPUPerDialUS), vsBare, monit, vsMonit, num(mib(m.PeakRSS)), monitPeak, vsPeak,
			num(m.ScheduledSeconds), p99, r.Bare.Paced.Load1, result)
	}
	tw.Flush()
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }
