package history

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

var _ Reader = (*Store)(nil)
var _ Recorder = (*Store)(nil)

// Tests implements Reader: the names of every test with a row, sorted.
func (s *Store) Tests() ([]string, error) {
	rows, err := s.rdb.Query("SELECT name FROM tests ORDER BY name")
	if err != nil {
		return nil, fmt.Errorf("read tests: %w", err)
	}
	defer func() { _ = rows.Close() }()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, fmt.Errorf("read tests: %w", err)
		}
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read tests: %w", err)
	}
	return out, nil
}

const eventCols = "at, kind, error, hold, hold_name, paged, level, id"

// Events implements Reader. Before the window's events come those that
// give the state at from: the last Up or Down before from, and each hold
// whose last event before from is a HoldOn (still held at from), in time
// order.
func (s *Store) Events(test string, from, to time.Time) ([]Event, error) {
	f, t := from.UnixNano(), to.UnixNano()
	prior, err := s.queryEvents(test, `SELECT `+eventCols+` FROM events WHERE test = ?1 AND at < ?2 AND kind IN (1, 2)
		ORDER BY at DESC, id DESC LIMIT 1`, f)
	if err != nil {
		return nil, err
	}
	holds, err := s.queryEvents(test, `SELECT `+eventCols+` FROM events e WHERE test = ?1 AND at < ?2 AND kind = 3
		AND id = (SELECT id FROM events h WHERE h.test = ?1 AND h.at < ?2 AND h.kind IN (3, 4)
			AND h.hold = e.hold AND h.hold_name = e.hold_name ORDER BY at DESC, id DESC LIMIT 1)`, f)
	if err != nil {
		return nil, err
	}
	prior = append(prior, holds...)
	sort.SliceStable(prior, func(i, j int) bool { return prior[i].At.Before(prior[j].At) })
	in, err := s.queryEvents(test, `SELECT `+eventCols+` FROM events WHERE test = ?1 AND at >= ?2 AND at < ?3
		ORDER BY at, id`, f, t)
	if err != nil {
		return nil, err
	}
	return append(prior, in...), nil
}

// queryEvents runs one events query; ?1 is the test's id.
func (s *Store) queryEvents(test, q string, args ...any) ([]Event, error) {
	id, err := s.testID(test)
	if err != nil || id == 0 {
		return nil, err
	}
	rows, err := s.rdb.Query(q, append([]any{id}, args...)...)
	if err != nil {
		return nil, fmt.Errorf("read events of %q: %w", test, err)
	}
	defer func() { _ = rows.Close() }()
	var out []Event
	for rows.Next() {
		e := Event{Test: test}
		var at, rowid int64
		var kind int
		var paged string
		if err := rows.Scan(&at, &kind, &e.Error, &e.Hold, &e.HoldName, &paged, &e.Level, &rowid); err != nil {
			return nil, fmt.Errorf("read events of %q: %w", test, err)
		}
		e.At, e.Kind, e.Paged = time.Unix(0, at), Kind(kind), splitPaged(paged)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read events of %q: %w", test, err)
	}
	return out, nil
}

// testID returns the id of test, 0 if the history does not know it.
func (s *Store) testID(test string) (int64, error) {
	var id int64
	err := s.rdb.QueryRow("SELECT id FROM tests WHERE name = ?", test).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read test %q: %w", test, err)
	}
	return id, nil
}

// Sessions implements Reader. This store's own session ends at now; in a
// read-only store every session ends at its last mark.
func (s *Store) Sessions(from, to time.Time) ([]Session, error) {
	cur := s.session.Load()
	rows, err := s.rdb.Query(`SELECT id, start, mark, clean FROM sessions
		WHERE start < ? AND (mark >= ? OR id = ?) ORDER BY start, id`, to.UnixNano(), from.UnixNano(), cur)
	if err != nil {
		return nil, fmt.Errorf("read sessions: %w", err)
	}
	defer func() { _ = rows.Close() }()
	var out []Session
	for rows.Next() {
		var id, start, mark int64
		var clean bool
		if err := rows.Scan(&id, &start, &mark, &clean); err != nil {
			return nil, fmt.Errorf("read sessions: %w", err)
		}
		se := Session{Start: time.Unix(0, start), End: time.Unix(0, mark), Clean: clean}
		if id == cur && !s.off.Load() {
			if now := s.now(); now.After(se.End) {
				se.End = now
			}
		}
		out = append(out, se)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read sessions: %w", err)
	}
	return out, nil
}

// pickResolution returns the resolution Buckets reads for a window from
// from at step, of a test or (check) a check: the coarsest one kept no
// coarser than step that still holds from; else the finest one kept that
// holds from; else the coarsest.
func pickResolution(now, from time.Time, step time.Duration, check bool, retention time.Duration) int {
	holds := func(i int) bool {
		keep := keepOf(i, check, retention)
		return keep != noKeep && !from.Before(now.Add(-keep))
	}
	pick := -1
	for i := range resolutions {
		if holds(i) && resolutions[i].step <= step {
			pick = i
		}
	}
	if pick >= 0 {
		return pick
	}
	for i := range resolutions {
		if holds(i) {
			return i
		}
	}
	return nres - 1
}

// Buckets implements Reader. Buckets without runs are left out. When
// step is coarser than the resolution read, its buckets are merged into
// buckets of step (aligned to the Unix epoch), whose P95 is the largest
// of the merged ones (an upper bound); when step is finer than any
// resolution kept for the window, the buckets come at that resolution
// (Bucket.Step says which).
func (s *Store) Buckets(test, check string, from, to time.Time, step time.Duration) ([]Bucket, error) {
	res := pickResolution(s.now(), from, step, check != "", s.o.Retention)
	rstep := resolutions[res].step
	id, err := s.testID(test)
	if err != nil || id == 0 {
		return nil, err
	}
	rows, err := s.rdb.Query(`SELECT b.start, b.runs, b.failures, b.min_us, b.sum_us, b.max_us, b.p95_us
		FROM buckets b JOIN series x ON x.id = b.series
		WHERE x.test = ? AND x.chk = ? AND b.res = ? AND b.start >= ? AND b.start < ? ORDER BY b.start`,
		id, check, int64(rstep/time.Second), bucketFloor(from, rstep), to.Unix())
	if err != nil {
		return nil, fmt.Errorf("read buckets of %q: %w", test, err)
	}
	defer func() { _ = rows.Close() }()
	m := merger{step: max(step, rstep)}
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.start, &r.runs, &r.failures, &r.min, &r.sum, &r.max, &r.p95); err != nil {
			return nil, fmt.Errorf("read buckets of %q: %w", test, err)
		}
		m.add(r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read buckets of %q: %w", test, err)
	}
	return m.done(), nil
}

// bucketFloor returns the start of the bucket of step that holds t.
func bucketFloor(t time.Time, step time.Duration) int64 {
	s := int64(step / time.Second)
	u := t.Unix()
	return u - ((u%s)+s)%s
}

// merger merges rows, in start order, into buckets of step.
type merger struct {
	step time.Duration
	out  []Bucket
	sums []int64
}

// add merges one row into the last bucket or starts the next one.
func (m *merger) add(r row) {
	start := bucketFloor(time.Unix(r.start, 0), m.step)
	us := func(v int64) time.Duration { return time.Duration(v) * time.Microsecond }
	if n := len(m.out); n > 0 && m.out[n-1].Start.Unix() == start {
		b := &m.out[n-1]
		b.Runs += int(r.runs)
		b.Failures += int(r.failures)
		b.Min, b.Max, b.P95 = min(b.Min, us(r.min)), max(b.Max, us(r.max)), max(b.P95, us(r.p95))
		m.sums[n-1] += r.sum
		return
	}
	m.out = append(m.out, Bucket{
		Start: time.Unix(start, 0), Step: m.step, Runs: int(r.runs), Failures: int(r.failures),
		Min: us(r.min), Max: us(r.max), P95: us(r.p95),
	})
	m.sums = append(m.sums, r.sum)
}

// done returns the buckets with their means.
func (m *merger) done() []Bucket {
	for i := range m.out {
		if m.out[i].Runs > 0 {
			m.out[i].Mean = time.Duration(m.sums[i]/int64(m.out[i].Runs)) * time.Microsecond
		}
	}
	return m.out
}

// Recent implements Reader.
func (s *Store) Recent(test string, n int) ([]Run, error) {
	id, err := s.testID(test)
	if err != nil || id == 0 || n <= 0 {
		return nil, err
	}
	rows, err := s.rdb.Query("SELECT at, ok, dur_us, checks FROM recent WHERE test = ? ORDER BY seq DESC LIMIT ?", id, n)
	if err != nil {
		return nil, fmt.Errorf("read recent runs of %q: %w", test, err)
	}
	defer func() { _ = rows.Close() }()
	var out []Run
	for rows.Next() {
		r := Run{Test: test}
		var at, us int64
		var checks string
		if err := rows.Scan(&at, &r.OK, &us, &checks); err != nil {
			return nil, fmt.Errorf("read recent runs of %q: %w", test, err)
		}
		r.At, r.Duration = time.Unix(0, at), time.Duration(us)*time.Microsecond
		if r.Checks, err = decodeChecks(checks); err != nil {
			return nil, fmt.Errorf("read recent runs of %q: %w", test, err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read recent runs of %q: %w", test, err)
	}
	return out, nil
}

// storedCheck is a CheckRun as the ring stores it.
type storedCheck struct {
	C  string `json:"c"`
	OK bool   `json:"ok"`
	US int64  `json:"us"`
	E  string `json:"e,omitempty"`
}

// encodeChecks returns the ring's text of a run's checks.
func encodeChecks(cs []CheckRun) string {
	if len(cs) == 0 {
		return ""
	}
	out := make([]storedCheck, len(cs))
	for i, c := range cs {
		out[i] = storedCheck{C: c.Check, OK: c.OK, US: c.Duration.Microseconds(), E: c.Error}
	}
	b, _ := json.Marshal(out) // strings, bools and ints always marshal
	return string(b)
}

// decodeChecks reads encodeChecks' text.
func decodeChecks(s string) ([]CheckRun, error) {
	if s == "" {
		return nil, nil
	}
	var in []storedCheck
	if err := json.Unmarshal([]byte(s), &in); err != nil {
		return nil, fmt.Errorf("decode checks: %w", err)
	}
	out := make([]CheckRun, len(in))
	for i, c := range in {
		out[i] = CheckRun{Check: c.C, OK: c.OK, Duration: time.Duration(c.US) * time.Microsecond, Error: c.E}
	}
	return out, nil
}

// joinPaged and splitPaged store a Page event's names one a line
// (section names hold no line break).
func joinPaged(p []string) string { return strings.Join(p, "\n") }

func splitPaged(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}
