package history

import (
	"math/bits"
	"time"
)

// The resolutions of the aggregates and how long each is kept: for a
// test, fine buckets for the last two days, hourly ones for two weeks,
// daily ones for the retention; for each check of a test with more than
// one check (tests of one check get no check rows: they would repeat the
// test's), hourly ones for a week and daily ones for the retention, so
// that a test of three checks stays within 100 KiB on disk.
var resolutions = [nres]struct {
	step      time.Duration
	keep      time.Duration // 0: the retention
	checkKeep time.Duration // 0: the retention; noKeep: none kept
}{
	{5 * time.Minute, 48 * time.Hour, noKeep},
	{time.Hour, 14 * 24 * time.Hour, 7 * 24 * time.Hour},
	{24 * time.Hour, 0, 0},
}

// noKeep marks a resolution not kept.
const noKeep = -1

// keepOf returns how long resolution res is kept for a test (check
// false) or a check, within retention; noKeep if it is not kept.
func keepOf(res int, check bool, retention time.Duration) time.Duration {
	k := resolutions[res].keep
	if check {
		k = resolutions[res].checkKeep
	}
	if k == noKeep {
		return noKeep
	}
	if k == 0 || k > retention {
		k = retention
	}
	return k
}

// nres is the number of resolutions.
const nres = 3

// histBins is the size of the duration histogram: four bins per octave
// of microseconds from 4 µs to 2^33 µs (2.4 h), so a p95 read from it is
// within 12.5 % of the true one (and clamped to the bucket's min and max).
const histBins = 128

// hist is a small log-scale histogram of durations in microseconds. Its
// counts saturate by halving all of them, which keeps their proportions.
type hist [histBins]uint16

// histBin returns the bin of a duration of us microseconds.
func histBin(us int64) int {
	if us < 4 {
		if us < 0 {
			return 0
		}
		return int(us)
	}
	e := bits.Len64(uint64(us)) - 1 // 2 ≤ e
	i := 4 + (e-2)*4 + int((us>>(e-2))&3)
	if i >= histBins {
		return histBins - 1
	}
	return i
}

// histMid returns the middle of bin i in microseconds.
func histMid(i int) int64 {
	if i < 4 {
		return int64(i)
	}
	e := (i-4)/4 + 2
	sub := int64((i - 4) % 4)
	lo := (4 + sub) << (e - 2)
	return lo + (int64(1)<<(e-2))/2
}

// add counts one duration.
func (h *hist) add(us int64) {
	i := histBin(us)
	if h[i] == ^uint16(0) {
		for j := range h {
			h[j] /= 2
		}
	}
	h[i]++
}

// quantile returns the q-quantile (0 < q ≤ 1) in microseconds, or 0 for
// an empty histogram.
func (h *hist) quantile(q float64) int64 {
	var n uint64
	for _, c := range h {
		n += uint64(c)
	}
	if n == 0 {
		return 0
	}
	rank := uint64(q*float64(n) + 0.999999)
	var seen uint64
	for i, c := range h {
		seen += uint64(c)
		if seen >= rank {
			return histMid(i)
		}
	}
	return histMid(histBins - 1)
}

// agg is an open bucket of one series at one resolution, kept in the
// writer's memory until it closes.
type agg struct {
	start          int64 // Unix seconds; 0: none open yet
	runs, failures int64
	min, max, sum  int64 // microseconds
	basep95        int64 // p95 of what an earlier session wrote into this bucket
	dirty          bool  // changed since it was last written
	h              hist
}

// row is one bucket as written.
type row struct {
	series, res, start int64
	runs, failures     int64
	min, sum, max, p95 int64
}

// reset opens the bucket at start, empty.
func (a *agg) reset(start int64) {
	*a = agg{start: start}
}

// seed merges what the database already holds for this bucket (written
// by an earlier session, or before a clock step back): runs, failures,
// min, max and sum exactly, p95 as the larger of the two.
func (a *agg) seed(r row) {
	a.runs, a.failures, a.sum = r.runs, r.failures, r.sum
	a.min, a.max, a.basep95 = r.min, r.max, r.p95
}

// add counts one run of us microseconds.
func (a *agg) add(us int64, ok bool) {
	if a.runs == 0 || us < a.min {
		a.min = us
	}
	if us > a.max {
		a.max = us
	}
	a.runs++
	if !ok {
		a.failures++
	}
	a.sum += us
	a.h.add(us)
	a.dirty = true
}

// row returns the bucket as written, with its p95 clamped to [min, max].
func (a *agg) row(series int64, res int) row {
	p := max(a.h.quantile(0.95), a.basep95)
	p = min(max(p, a.min), a.max)
	return row{
		series: series, res: int64(resolutions[res].step / time.Second), start: a.start,
		runs: a.runs, failures: a.failures, min: a.min, sum: a.sum, max: a.max, p95: p,
	}
}

// bucketStart returns the start of the bucket of resolution res that
// holds t, in Unix seconds (buckets are aligned to the Unix epoch, so
// days are UTC days).
func bucketStart(t time.Time, res int) int64 {
	s := int64(resolutions[res].step / time.Second)
	u := t.Unix()
	return u - ((u%s)+s)%s
}
