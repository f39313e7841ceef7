// Package metrics exposes the daemon's state to Prometheus. It uses a
// private registry, never the global one, and reads the engine at scrape
// time, so labels come only from the configuration (tests, checks,
// notifications) and vanish with them on a reload.
package metrics

import (
	"net/http"
	goruntime "runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/monsta/monsta/runtime"
	"github.com/monsta/monsta/runtime/engine"
)

// Metrics is the daemon's metrics registry.
type Metrics struct {
	reg      *prometheus.Registry
	lateness prometheus.Histogram
	handler  http.Handler
}

// New registers the collectors; current returns the engine of the moment
// (nil while starting).
func New(current func() *engine.Engine, version string) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.lateness = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "monsta_check_start_lateness_seconds",
		Help:    "How late checks started against their schedule.",
		Buckets: []float64{0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5},
	})
	build := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "monsta_build_info",
		Help:        "Always 1; the labels say which monsta runs.",
		ConstLabels: prometheus.Labels{"version": version, "goversion": goruntime.Version()},
	})
	build.Set(1)
	m.reg.MustRegister(m.lateness, build, &engineCollector{current: current},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.handler = promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
	return m
}

// ObserveLateness records how late a check started; pass it as
// engine.Options.OnCheckStart.
func (m *Metrics) ObserveLateness(late time.Duration) { m.lateness.Observe(late.Seconds()) }

// Registry returns the private registry.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// ServeHTTP serves the metrics in the exposition format.
func (m *Metrics) ServeHTTP(w http.ResponseWriter, r *http.Request) { m.handler.ServeHTTP(w, r) }

var (
	descUp          = prometheus.NewDesc("monsta_test_up", "1 when the test's last run passed, 0 when it failed; absent before its first run.", []string{"test"}, nil)
	descFailures    = prometheus.NewDesc("monsta_test_failures", "Consecutive failures of the test.", []string{"test"}, nil)
	descLastRun     = prometheus.NewDesc("monsta_test_last_run_timestamp_seconds", "When the test last ran, as a Unix time.", []string{"test"}, nil)
	descHeld        = prometheus.NewDesc("monsta_test_held", "1 while the test's notifications are held, by reason (SILENCED, MAINTENANCE, ...).", []string{"test", "reason"}, nil)
	descCheckOK     = prometheus.NewDesc("monsta_check_success", "1 when the check passed in its test's last run.", []string{"test", "check", "type"}, nil)
	descCheckDur    = prometheus.NewDesc("monsta_check_duration_seconds", "How long the check took in its test's last run.", []string{"test", "check", "type"}, nil)
	descHeldTotal   = prometheus.NewDesc("monsta_tests_held", "Tests whose notifications are held now, by reason.", []string{"reason"}, nil)
	descTests       = prometheus.NewDesc("monsta_tests", "Configured tests.", nil, nil)
	descNotifs      = prometheus.NewDesc("monsta_notifications_total", "Notification delivery outcomes by notification: sent, retried (a failed attempt retried later) or failed (given up).", []string{"notification", "result"}, nil)
	descOutbox      = prometheus.NewDesc("monsta_outbox_messages", "Notifications waiting for delivery, by notification.", []string{"notification"}, nil)
	descOverruns    = prometheus.NewDesc("monsta_scheduler_overruns_total", "Runs skipped because the previous run of the same test was still going.", nil, nil)
	heldReasons     = []runtime.HoldReason{runtime.HoldSilenced, runtime.HoldMaintenance}
	engineCollected = []*prometheus.Desc{descUp, descFailures, descLastRun, descHeld, descCheckOK, descCheckDur, descHeldTotal, descTests, descNotifs, descOutbox, descOverruns}
)

// engineCollector reads the engine at each scrape.
type engineCollector struct {
	current func() *engine.Engine
}

// Describe implements prometheus.Collector.
func (c *engineCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range engineCollected {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *engineCollector) Collect(ch chan<- prometheus.Metric) {
	e := c.current()
	if e == nil {
		return
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	held := map[runtime.HoldReason]int{}
	for _, r := range heldReasons {
		held[r] = 0
	}
	status := e.Status()
	gauge(descTests, float64(len(status)))
	for _, t := range status {
		if t.Shard == runtime.ShardOut {
			continue // another shard runs it and reports it
		}
		gauge(descFailures, float64(t.Failures), t.Name)
		if t.Held != nil {
			held[t.Held.Reason]++
			gauge(descHeld, 1, t.Name, string(t.Held.Reason))
		}
		if t.LastRun.IsZero() {
			continue
		}
		up := 0.0
		if t.LastOK {
			up = 1
		}
		gauge(descUp, up, t.Name)
		gauge(descLastRun, float64(t.LastRun.UnixNano())/1e9, t.Name)
		for _, ck := range t.Checks {
			ok := 0.0
			if ck.OK {
				ok = 1
			}
			gauge(descCheckOK, ok, t.Name, ck.Check, ck.Type)
			gauge(descCheckDur, ck.Duration.Seconds(), t.Name, ck.Check, ck.Type)
		}
	}
	for r, n := range held {
		gauge(descHeldTotal, float64(n), string(r))
	}
	for name, n := range e.Dispatcher().Counts() {
		ch <- prometheus.MustNewConstMetric(descNotifs, prometheus.CounterValue, float64(n.Sent), name, "sent")
		ch <- prometheus.MustNewConstMetric(descNotifs, prometheus.CounterValue, float64(n.Retried), name, "retried")
		ch <- prometheus.MustNewConstMetric(descNotifs, prometheus.CounterValue, float64(n.Failed), name, "failed")
		gauge(descOutbox, float64(n.Queued), name)
	}
	ch <- prometheus.MustNewConstMetric(descOverruns, prometheus.CounterValue, float64(e.Overruns()))
}
