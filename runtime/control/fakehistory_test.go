package control

import (
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/monsta/monsta/runtime/history"
)

// fakeHistory is a history.Reader over data held in memory, answering as
// the store does: Events with the last Up or Down before from and the
// holds still on at from, Buckets in the
// window, Recent newest first.
type fakeHistory struct {
	mu       sync.Mutex
	events   map[string][]history.Event
	buckets  map[string][]history.Bucket
	runs     map[string][]history.Run // oldest first
	sessions []history.Session
	fail     error // every read fails with it
	asked    []time.Duration
}

var _ history.Reader = (*fakeHistory)(nil)

func newFakeHistory() *fakeHistory {
	return &fakeHistory{events: map[string][]history.Event{}, buckets: map[string][]history.Bucket{}, runs: map[string][]history.Run{}}
}

func (f *fakeHistory) Tests() ([]string, error) {
	if f.fail != nil {
		return nil, f.fail
	}
	var names []string
	for n := range f.events {
		names = append(names, n)
	}
	for n := range f.buckets {
		if _, ok := f.events[n]; !ok {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names, nil
}

func (f *fakeHistory) Events(test string, from, to time.Time) ([]history.Event, error) {
	if f.fail != nil {
		return nil, f.fail
	}
	all := f.events[test]
	in := 0
	for in < len(all) && all[in].At.Before(from) {
		in++
	}
	lo := in
	for i := in - 1; i >= 0; i-- {
		if all[i].Kind == history.Up || all[i].Kind == history.Down {
			lo = i // the last state before from, so that the state at from is known
			break
		}
	}
	hi := in
	for hi < len(all) && all[hi].At.Before(to) {
		hi++
	}
	var prior []history.Event
	first := in
	for i := range in {
		if e := all[i]; i == lo || e.Kind == history.HoldOn && holdOpen(all[i+1:in], &e) {
			prior = append(prior, e)
			first = min(first, i)
		}
	}
	if len(prior) == in-first {
		lo = first
		return all[lo:hi:hi], nil // contiguous: no copy, as a store's cache would answer
	}
	return append(prior, all[in:hi]...), nil
}

func (f *fakeHistory) Sessions(from, to time.Time) ([]history.Session, error) {
	if f.fail != nil {
		return nil, f.fail
	}
	var out []history.Session
	for _, s := range f.sessions {
		if s.End.After(from) && s.Start.Before(to) {
			out = append(out, s)
		}
	}
	return out, nil
}

func (f *fakeHistory) Buckets(test, check string, from, to time.Time, step time.Duration) ([]history.Bucket, error) {
	if f.fail != nil {
		return nil, f.fail
	}
	f.mu.Lock()
	f.asked = append(f.asked, step)
	f.mu.Unlock()
	if check != "" {
		return nil, errors.New("the fake keeps no checks")
	}
	all := f.buckets[test]
	lo, _ := slices.BinarySearchFunc(all, from, func(b history.Bucket, t time.Time) int { return b.Start.Compare(t) })
	hi, _ := slices.BinarySearchFunc(all, to, func(b history.Bucket, t time.Time) int { return b.Start.Compare(t) })
	return all[lo:hi:hi], nil
}

func (f *fakeHistory) Recent(test string, n int) ([]history.Run, error) {
	if f.fail != nil {
		return nil, f.fail
	}
	runs := f.runs[test]
	var out []history.Run
	for i := len(runs) - 1; i >= 0 && len(out) < n; i-- {
		out = append(out, runs[i])
	}
	return out, nil
}

const day = 24 * time.Hour

// dayBuckets are a day of 5-minute buckets ending at now, with a mean
// that moves (a slow wave and a spike), as a real target's would.
func dayBuckets(now time.Time, base time.Duration) []history.Bucket {
	from := now.Add(-ChartSpan).Truncate(ChartStep)
	var out []history.Bucket
	for i := 0; i < chartPoints; i++ {
		m := base + time.Duration(i%48)*base/24
		if i%97 == 0 {
			m *= 4
		}
		out = append(out, history.Bucket{Start: from.Add(time.Duration(i) * ChartStep), Step: ChartStep, Runs: 5, Failures: 0,
			Min: m / 2, Mean: m, Max: 2 * m, P95: m * 3 / 2})
	}
	return out
}

// seedHistory fills h with the tests of a realistic 90 days before now:
// db had an outage three days ago (paged, silenced) and is down since 2h,
// web was up all along, x (named <b>x</b>) had an outage with HTML in its
// error, and new never ran. monsta was stopped for 6 hours 40 days ago.
func seedHistory(h *fakeHistory, now time.Time) {
	start := now.Add(-100 * day)
	stop := now.Add(-40 * day)
	h.sessions = []history.Session{{Start: start, End: stop, Clean: true}, {Start: stop.Add(6 * time.Hour), End: now}}
	o1 := now.Add(-3*day - 10*time.Hour)
	h.events["db"] = []history.Event{
		{Test: "db", At: start, Kind: history.Up},
		{Test: "db", At: o1, Kind: history.Down, Error: "connect 127.0.0.1:5432: connection refused"},
		{Test: "db", At: o1.Add(time.Minute), Kind: history.Page, Paged: []string{"oncall"}, Level: 1},
		{Test: "db", At: o1.Add(5 * time.Minute), Kind: history.HoldOn, Hold: history.HoldSilence, HoldName: "s1"},
		{Test: "db", At: o1.Add(25 * time.Minute), Kind: history.Up},
		{Test: "db", At: o1.Add(25 * time.Minute), Kind: history.HoldOff, Hold: history.HoldSilence, HoldName: "s1"},
		{Test: "db", At: now.Add(-2 * time.Hour), Kind: history.Down, Error: "connect 127.0.0.1:5432: connection refused"},
	}
	h.events["web"] = []history.Event{{Test: "web", At: start, Kind: history.Up}}
	h.events["mail"] = []history.Event{
		{Test: "mail", At: start, Kind: history.Up},
		{Test: "mail", At: now.Add(-12 * day), Kind: history.Down, Error: "smtp 127.0.0.1:25: 451 try again later"},
		{Test: "mail", At: now.Add(-12*day + 95*time.Minute), Kind: history.Up},
		{Test: "mail", At: now.Add(-30 * time.Minute), Kind: history.HoldOn, Hold: history.HoldSilence, HoldName: "disk swap"},
		{Test: "mail", At: now.Add(-20 * time.Minute), Kind: history.Down, Error: "smtp 127.0.0.1:25: connection refused"},
	}
	h.buckets["mail"] = dayBuckets(now.Add(-20*time.Minute), 90*time.Millisecond)
	h.buckets["web"] = dayBuckets(now, 20*time.Millisecond)
	h.buckets["db"] = dayBuckets(now, 200*time.Millisecond)
	h.events["<b>x</b>"] = []history.Event{
		{Test: "<b>x</b>", At: start, Kind: history.Up},
		{Test: "<b>x</b>", At: now.Add(-day), Kind: history.Down, Error: "<script>alert(1)</script>"},
		{Test: "<b>x</b>", At: now.Add(-day + 10*time.Minute), Kind: history.Up},
	}
	for i := range 60 {
		at := now.Add(-time.Duration(60-i) * time.Minute)
		r := history.Run{Test: "db", At: at, OK: i < 58, Duration: 150 * time.Millisecond,
			Checks: []history.CheckRun{{Check: "down", OK: i < 58, Duration: 150 * time.Millisecond}}}
		if !r.OK {
			r.Checks[0].Error = "connection refused"
		}
		h.runs["db"] = append(h.runs["db"], r)
	}
}
