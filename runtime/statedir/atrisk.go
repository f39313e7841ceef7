package statedir

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// unwritten holds the outbox files that could not be written (a full
// disk, an I/O error): kept in memory and written again with backoff until
// they are on disk, or delivered or failed meanwhile. While one is there,
// its page is lost if the daemon dies: the pages are at risk, which the
// log, AtRisk (for --status and the API), Collector's metrics and the
// daemon's sd_notify STATUS say.
type unwritten struct {
	mu       sync.Mutex        // held while a retry writes, so Delete waits for it
	files    map[string][]byte // path → content; guarded by mu
	err      error             // the last write error while files is not empty
	retrying bool              // the retry goroutine runs
	failures atomic.Uint64     // outbox writes that failed, ever
}

// retryFirst and retryMax bound the backoff between two attempts to write
// the unwritten outbox files.
const (
	retryFirst = time.Second
	retryMax   = 30 * time.Second
)

// writeOutbox writes an outbox or failed file durably; d.write, when
// set, replaces writeAtomic (tests inject ENOSPC with it).
func (d *Dir) writeOutbox(path string, data []byte) error {
	if d.write != nil {
		return d.write(path, data)
	}
	return d.writeAtomic(path, data)
}

// keep holds an outbox file that could not be written, says so loudly,
// and starts the retries.
func (d *Dir) keep(path string, data []byte, err error) {
	d.risk.failures.Add(1)
	d.risk.mu.Lock()
	if d.risk.files == nil {
		d.risk.files = map[string][]byte{}
	}
	d.risk.files[path] = data
	d.risk.err = err
	n := len(d.risk.files)
	start := !d.risk.retrying
	d.risk.retrying = true
	d.risk.mu.Unlock()
	d.log.Error("PAGES AT RISK: outbox write failed; the notification is kept in memory and written again with backoff, and is lost if the daemon dies before that",
		"file", path, "pages_at_risk", n, "err", err)
	if start {
		go d.retry()
	}
}

// retry writes the unwritten files again, waiting longer after each round
// that leaves some (up to retryMax), until none is left.
func (d *Dir) retry() {
	wait := retryFirst
	if d.retryWait > 0 {
		wait = d.retryWait
	}
	for {
		time.Sleep(wait)
		if d.retryRound() {
			return
		}
		wait = min(2*wait, max(retryMax, d.retryWait))
	}
}

// retryRound tries every unwritten file once and tells whether none is
// left (the retries then stop).
func (d *Dir) retryRound() bool {
	d.risk.mu.Lock()
	defer d.risk.mu.Unlock()
	for path, data := range d.risk.files {
		err := os.MkdirAll(filepath.Dir(path), 0o750)
		if err == nil {
			err = d.writeOutbox(path, data)
		}
		if err != nil {
			d.risk.err = err
			d.risk.failures.Add(1)
			continue
		}
		delete(d.risk.files, path)
	}
	if n := len(d.risk.files); n > 0 {
		d.log.Error("PAGES AT RISK: outbox still cannot be written", "pages_at_risk", n, "err", d.risk.err)
		return false
	}
	d.risk.err, d.risk.retrying = nil, false
	d.log.Info("outbox written again; no page at risk")
	return true
}

// forget drops an unwritten file (delivered or failed before it reached
// the disk) and tells whether there was one; the content is returned.
func (d *Dir) forget(path string) ([]byte, bool) {
	d.risk.mu.Lock()
	defer d.risk.mu.Unlock()
	data, ok := d.risk.files[path]
	delete(d.risk.files, path)
	if ok && len(d.risk.files) == 0 {
		d.risk.err = nil
	}
	return data, ok
}

// unwrittenData returns an unwritten file's content.
func (d *Dir) unwrittenData(path string) ([]byte, bool) {
	d.risk.mu.Lock()
	defer d.risk.mu.Unlock()
	data, ok := d.risk.files[path]
	return data, ok
}

// AtRisk returns how many accepted notifications are only in memory,
// because their outbox files could not be written (a full disk), and the
// last write error; 0 and nil when every page is on disk. Those pages are
// lost if the daemon dies before the retries write them.
func (d *Dir) AtRisk() (int, error) {
	if d == nil {
		return 0, nil
	}
	d.risk.mu.Lock()
	defer d.risk.mu.Unlock()
	if len(d.risk.files) == 0 {
		return 0, nil
	}
	return len(d.risk.files), d.risk.err
}

// OutboxWriteFailures returns how many outbox writes failed since Open.
func (d *Dir) OutboxWriteFailures() uint64 { return d.risk.failures.Load() }

var (
	descAtRisk = prometheus.NewDesc("monsta_pages_at_risk",
		"Notifications accepted but only in memory, as their outbox files could not be written (a full disk); lost if the daemon dies.", nil, nil)
	descWriteFailures = prometheus.NewDesc("monsta_outbox_write_failures_total",
		"Outbox writes that failed (each is retried).", nil, nil)
)

// Collector returns the Prometheus collector of the state directory that
// dir returns at each scrape (it changes on a reload that moves statedir):
// monsta_pages_at_risk and monsta_outbox_write_failures_total.
func Collector(dir func() *Dir) prometheus.Collector { return collector{dir} }

type collector struct{ dir func() *Dir }

// Describe implements prometheus.Collector.
func (c collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descAtRisk
	ch <- descWriteFailures
}

// Collect implements prometheus.Collector.
func (c collector) Collect(ch chan<- prometheus.Metric) {
	d := c.dir()
	if d == nil {
		return
	}
	n, _ := d.AtRisk()
	ch <- prometheus.MustNewConstMetric(descAtRisk, prometheus.GaugeValue, float64(n))
	ch <- prometheus.MustNewConstMetric(descWriteFailures, prometheus.CounterValue, float64(d.OutboxWriteFailures()))
}

// AtRiskLine is the warning for a status line when pages are at risk
// ("" when none is): for sd_notify STATUS and --status.
func AtRiskLine(n int, err error) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf("%d PAGES AT RISK (outbox not writable: %v)", n, err)
}
