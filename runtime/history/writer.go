package history

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// writer is the one goroutine that writes the database. It drains the
// store's queues, keeps the open buckets and the pending ring entries in
// memory, and writes them with the pending events in one transaction a
// flush: every FlushEvery, or after FlushRecords records.
type writer struct {
	s      *Store
	db     *sql.DB // one connection
	st     *stmts
	tests  map[string]*testState
	known  map[string]int64    // test name → id, as in the database
	series map[seriesKey]int64 // series → id, as in the database

	events []Event  // pending ledger entries
	rows   []row    // closed buckets, pending
	dirty  []aggRef // open buckets changed since the last flush
	ring   []*testState
	n      int // records since the last flush

	detailed time.Time // when the open buckets and the ring were last written
	session  int64     // id of this session's row
	mark     int64     // its last mark, Unix ns; never goes back
	lastErr  time.Time
	dropLog  time.Time
	dropSeen uint64
	prune    pruner
}

// testState is what the writer keeps of one test.
type testState struct {
	name    string
	id      int64
	all     *series
	checks  map[string]*series // only for tests with more than one check
	pending []Run              // runs for the ring since the last flush, at most Recent
	seq     int64              // the ring's last sequence number written
	inRing  bool               // listed in writer.ring
}

// series is one test or one check's open buckets.
type series struct {
	id    int64
	check bool // a check's: resolutions without checkKeep are skipped
	aggs  [nres]agg
}

type seriesKey struct {
	test int64
	chk  string
}

type aggRef struct {
	s   *series
	res int
}

// maxPending bounds the events kept across failed flushes; beyond it
// they are dropped and counted.
const maxPending = 1 << 16

// run is the writer's loop; it returns when the store stops.
func (w *writer) run() {
	defer close(w.s.done)
	t := time.NewTicker(w.s.o.FlushEvery)
	defer t.Stop()
	for {
		select {
		case r := <-w.s.runs:
			w.addRun(r)
		case e := <-w.s.events:
			w.addEvent(e)
		case <-t.C:
			_ = w.flush(false) // failed logs it
			w.prune.step(w)
		case ack := <-w.s.syncs:
			w.drain()
			ack <- w.flush(true)
		case <-w.s.stop:
			w.drain()
			if err := w.flush(true); err != nil && !errors.Is(err, ErrClosed) {
				w.s.closeErr = fmt.Errorf("flush history: %w", err)
			}
			w.closeSession()
			return
		}
	}
}

// drain takes what is queued now (not what arrives meanwhile).
func (w *writer) drain() {
	for i := len(w.s.events); i > 0; i-- {
		w.addEvent(<-w.s.events)
	}
	for i := len(w.s.runs); i > 0; i-- {
		w.addRun(<-w.s.runs)
	}
}

// record counts one record and flushes when FlushRecords are pending.
func (w *writer) record() {
	w.n++
	if w.n >= w.s.o.FlushRecords {
		_ = w.flush(false) // failed logs it
	}
}

// addEvent queues one ledger entry for the next flush.
func (w *writer) addEvent(e Event) {
	if w.db == nil || len(w.events) >= maxPending {
		w.s.dropped.Add(1)
		return
	}
	w.events = append(w.events, e)
	w.record()
}

// addRun counts one run into its test's buckets (and its checks', for a
// test with more than one check) and its ring.
func (w *writer) addRun(r Run) {
	if w.db == nil {
		w.s.dropped.Add(1)
		return
	}
	ts := w.test(r.Test)
	if ts == nil {
		w.s.dropped.Add(1)
		return
	}
	w.count(ts.all, r.At, r.Duration, r.OK)
	if len(r.Checks) > 1 {
		for _, c := range r.Checks {
			if cs := w.checkSeries(ts, c.Check); cs != nil {
				w.count(cs, r.At, c.Duration, c.OK)
			}
		}
	}
	w.addRing(ts, r)
	w.record()
}

// addRing keeps r for the ring, at most Recent runs per test between
// flushes (older ones would be overwritten anyway).
func (w *writer) addRing(ts *testState, r Run) {
	if len(ts.pending) >= w.s.o.Recent {
		copy(ts.pending, ts.pending[1:])
		ts.pending = ts.pending[:len(ts.pending)-1]
	}
	ts.pending = append(ts.pending, r)
	if !ts.inRing {
		ts.inRing = true
		w.ring = append(w.ring, ts)
	}
}

// count adds one run to a series at every resolution.
func (w *writer) count(s *series, at time.Time, d time.Duration, ok bool) {
	us := d.Microseconds()
	for res := range s.aggs {
		if s.check && resolutions[res].checkKeep == noKeep {
			continue
		}
		a := &s.aggs[res]
		if start := bucketStart(at, res); a.start != start {
			w.open(s, res, start)
		}
		if !a.dirty {
			w.dirty = append(w.dirty, aggRef{s, res})
		}
		a.add(us, ok)
	}
}

// open closes the series' bucket at res (keeping its row for the next
// flush) and opens the one at start, seeded from what the database holds
// for it.
func (w *writer) open(s *series, res int, start int64) {
	a := &s.aggs[res]
	if a.start != 0 && a.dirty {
		w.rows = append(w.rows, a.row(s.id, res))
	}
	if start < a.start && len(w.rows) > 0 {
		// A clock step back may reopen a bucket whose row is still
		// pending: write it first, so that the seed below sees it.
		_ = w.flush(true) // failed logs it
	}
	a.reset(start)
	r := row{}
	err := w.st.loadBucket.QueryRow(s.id, int64(resolutions[res].step/time.Second), start).
		Scan(&r.runs, &r.failures, &r.min, &r.sum, &r.max, &r.p95)
	if err == nil {
		a.seed(r)
	}
}

// test returns the writer's state of the test named name, creating its
// row on first sight; nil if the database cannot.
func (w *writer) test(name string) *testState {
	if ts, ok := w.tests[name]; ok {
		return ts
	}
	id, ok := w.known[name]
	if !ok {
		var err error
		if id, err = w.insertTest(name); err != nil {
			w.failed(err)
			return nil
		}
		w.known[name] = id
	}
	all, err := w.seriesFor(id, "")
	if err != nil {
		w.failed(err)
		return nil
	}
	ts := &testState{name: name, id: id, all: all}
	_ = w.st.ringSeq.QueryRow(id).Scan(&ts.seq)
	w.tests[name] = ts
	return ts
}

// checkSeries returns the series of one check of ts.
func (w *writer) checkSeries(ts *testState, chk string) *series {
	if s, ok := ts.checks[chk]; ok {
		return s
	}
	s, err := w.seriesFor(ts.id, chk)
	if err != nil {
		w.failed(err)
		return nil
	}
	if ts.checks == nil {
		ts.checks = make(map[string]*series)
	}
	ts.checks[chk] = s
	return s
}

// insertTest writes a new test's row and returns its id.
func (w *writer) insertTest(name string) (int64, error) {
	if _, err := w.st.insertTest.Exec(name); err != nil {
		return 0, fmt.Errorf("add test %q: %w", name, err)
	}
	var id int64
	if err := w.st.testID.QueryRow(name).Scan(&id); err != nil {
		return 0, fmt.Errorf("add test %q: %w", name, err)
	}
	return id, nil
}

// seriesFor returns the series of test and check, writing its row on
// first sight.
func (w *writer) seriesFor(test int64, chk string) (*series, error) {
	k := seriesKey{test, chk}
	id, ok := w.series[k]
	if !ok {
		if _, err := w.st.insertSeries.Exec(test, chk); err != nil {
			return nil, fmt.Errorf("add series: %w", err)
		}
		if err := w.st.seriesID.QueryRow(test, chk).Scan(&id); err != nil {
			return nil, fmt.Errorf("add series: %w", err)
		}
		w.series[k] = id
	}
	return &series{id: id, check: chk != ""}, nil
}

// flush writes what is pending in one transaction: the ledger and the
// session's mark always, the buckets and the ring when detail is forced
// or DetailEvery has passed. On failure the events stay pending for the
// next flush (up to maxPending) and the open buckets stay in memory; a
// corrupt database is moved aside. It returns the error of the write.
func (w *writer) flush(detail bool) error {
	w.logDrops()
	w.n = 0
	if w.db == nil {
		return ErrClosed
	}
	now := w.s.now()
	detail = detail || now.Sub(w.detailed) >= w.s.o.DetailEvery || now.Before(w.detailed)
	if !detail && len(w.events) == 0 && w.mark >= now.UnixNano() {
		return nil
	}
	if err := w.write(detail); err != nil {
		w.failed(err)
		return err
	}
	w.events = w.events[:0]
	if detail {
		w.detailed = now
		w.written()
	}
	return nil
}

// written forgets the buckets and ring entries a flush wrote.
func (w *writer) written() {
	w.rows = w.rows[:0]
	for _, r := range w.dirty {
		r.s.aggs[r.res].dirty = false
	}
	w.dirty = w.dirty[:0]
	for _, ts := range w.ring {
		ts.seq += int64(len(ts.pending))
		ts.pending = ts.pending[:0]
		ts.inRing = false
	}
	w.ring = w.ring[:0]
}

// write is flush's transaction.
func (w *writer) write(detail bool) error {
	ids, err := w.eventTests()
	if err != nil {
		return err
	}
	tx, err := w.db.Begin()
	if err != nil {
		return fmt.Errorf("begin flush: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	steps := []func(*sql.Tx) error{func(tx *sql.Tx) error { return w.writeEvents(tx, ids) }, w.writeMark}
	if detail {
		steps = append(steps, w.writeBuckets, w.writeRing)
	}
	for _, f := range steps {
		if err := f(tx); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit flush: %w", err)
	}
	return nil
}

// eventTests resolves the pending events' test ids (before the
// transaction: the writer has one connection).
func (w *writer) eventTests() ([]int64, error) {
	ids := make([]int64, len(w.events))
	for i, e := range w.events {
		ts := w.test(e.Test)
		if ts == nil {
			return nil, fmt.Errorf("add test %q: no row", e.Test)
		}
		ids[i] = ts.id
	}
	return ids, nil
}

// writeEvents inserts the pending events.
func (w *writer) writeEvents(tx *sql.Tx, ids []int64) error {
	st := tx.Stmt(w.st.insertEvent)
	for i, e := range w.events {
		if _, err := st.Exec(ids[i], e.At.UnixNano(), int(e.Kind), e.Error, e.Hold, e.HoldName,
			joinPaged(e.Paged), e.Level); err != nil {
			return fmt.Errorf("write event: %w", err)
		}
	}
	return nil
}

// writeBuckets writes the closed buckets and the open ones that changed.
func (w *writer) writeBuckets(tx *sql.Tx) error {
	st := tx.Stmt(w.st.putBucket)
	put := func(r row) error {
		_, err := st.Exec(r.series, r.res, r.start, r.runs, r.failures, r.min, r.sum, r.max, r.p95)
		if err != nil {
			return fmt.Errorf("write bucket: %w", err)
		}
		return nil
	}
	for _, r := range w.rows {
		if err := put(r); err != nil {
			return err
		}
	}
	for _, ref := range w.dirty {
		if a := &ref.s.aggs[ref.res]; a.dirty {
			if err := put(a.row(ref.s.id, ref.res)); err != nil {
				return err
			}
		}
	}
	return nil
}

// writeRing writes the pending runs into each test's ring.
func (w *writer) writeRing(tx *sql.Tx) error {
	st := tx.Stmt(w.st.putRecent)
	n := int64(w.s.o.Recent)
	for _, ts := range w.ring {
		for i, r := range ts.pending {
			seq := ts.seq + int64(i) + 1
			if _, err := st.Exec(ts.id, seq%n, seq, r.At.UnixNano(), r.OK, r.Duration.Microseconds(),
				encodeChecks(r.Checks)); err != nil {
				return fmt.Errorf("write recent run: %w", err)
			}
		}
	}
	return nil
}

// writeMark moves the session's last-alive mark to now, never back.
func (w *writer) writeMark(tx *sql.Tx) error {
	now := max(w.s.now().UnixNano(), w.mark)
	if _, err := tx.Stmt(w.st.mark).Exec(now, w.session); err != nil {
		return fmt.Errorf("mark session: %w", err)
	}
	w.mark = now
	return nil
}

// closeSession marks the session ended by a stop.
func (w *writer) closeSession() {
	if w.db == nil {
		return
	}
	now := max(w.s.now().UnixNano(), w.mark)
	if _, err := w.db.Exec("UPDATE sessions SET mark = MAX(mark, ?), clean = 1 WHERE id = ?", now, w.session); err != nil {
		w.s.closeErr = fmt.Errorf("mark session clean: %w", err)
	}
}

// failed handles a write error: a corrupt database is moved aside and
// replaced; any other (full disk, locked, unwritable) is logged at most
// once a minute, and the writer tries again at the next flush.
func (w *writer) failed(err error) {
	if isCorrupt(err) {
		w.replace(err)
		return
	}
	if len(w.events) > maxPending {
		w.s.dropped.Add(uint64(len(w.events) - maxPending))
		w.events = w.events[:maxPending]
	}
	now := w.s.now()
	if w.lastErr.IsZero() || now.Sub(w.lastErr) >= time.Minute || now.Before(w.lastErr) {
		w.lastErr = now
		w.s.log.Error("history write failed; paging goes on, the history retries", "path", w.s.path,
			"pending_events", len(w.events), "err", err)
	}
}

// replace moves a corrupt database aside and starts a fresh one; what was
// in memory of the old one is dropped.
func (w *writer) replace(cause error) {
	_ = w.st.close()
	_ = w.db.Close()
	aside, err := moveAside(w.s.path, w.s.now())
	w.s.log.Error("history database corrupt; moved aside, starting a new one", "path", w.s.path,
		"moved_to", aside, "err", errors.Join(cause, err))
	fresh, err := openWriter(w.s)
	if err != nil {
		w.s.log.Error("history off: cannot start a new database", "path", w.s.path, "err", err)
		w.db, w.st = nil, nil
		w.s.disable()
		return
	}
	w.s.dropped.Add(uint64(len(w.events)))
	*w = *fresh
}

// logDrops logs, at most once a minute, how many records the full queue
// dropped since the last such line.
func (w *writer) logDrops() {
	d := w.s.dropped.Load()
	if d == w.dropSeen {
		return
	}
	now := w.s.now()
	if !w.dropLog.IsZero() && now.Sub(w.dropLog) < time.Minute && !now.Before(w.dropLog) {
		return
	}
	w.s.log.Warn("history queue full: results and events dropped", "dropped", d-w.dropSeen, "dropped_total", d)
	w.dropLog, w.dropSeen = now, d
}

// pruner deletes what is past its retention, a slice of the tests at
// each tick, one pass an hour.
type pruner struct {
	last  time.Time
	queue []int64 // test ids left in this pass
}

// pruneSlice is how many tests one tick prunes.
const pruneSlice = 256

// step prunes the next slice of tests, starting a pass once an hour.
func (p *pruner) step(w *writer) {
	if w.db == nil {
		return
	}
	now := w.s.now()
	if len(p.queue) == 0 {
		if !p.last.IsZero() && now.Sub(p.last) < time.Hour && !now.Before(p.last) {
			return
		}
		p.last = now
		p.queue = w.pass(now)
	}
	n := min(pruneSlice, len(p.queue))
	if err := w.pruneTests(p.queue[:n], now); err != nil {
		w.failed(err)
	}
	p.queue = p.queue[n:]
}

// pass starts a pruning pass: the sessions at once, and the list of
// tests to go through.
func (w *writer) pass(now time.Time) []int64 {
	cut := now.Add(-w.s.o.Retention).UnixNano()
	if _, err := w.db.Exec("DELETE FROM sessions WHERE mark < ? AND id != ?", cut, w.session); err != nil {
		w.failed(fmt.Errorf("prune sessions: %w", err))
	}
	ids := make([]int64, 0, len(w.known))
	for _, id := range w.known {
		ids = append(ids, id)
	}
	return ids
}

// pruneTests deletes, for each test, the events past the retention but
// the last Up or Down before it (so that the state at its start stays
// known), the buckets past their resolution's keep, and ring entries
// beyond Recent.
func (w *writer) pruneTests(ids []int64, now time.Time) error {
	tx, err := w.db.BeginTx(context.Background(), nil)
	if err != nil {
		return fmt.Errorf("begin prune: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	cut := now.Add(-w.s.o.Retention)
	for _, id := range ids {
		if _, err := tx.Exec(`DELETE FROM events WHERE test = ?1 AND at < ?2 AND id != COALESCE(
			(SELECT id FROM events WHERE test = ?1 AND at < ?2 AND kind IN (1, 2) ORDER BY at DESC, id DESC LIMIT 1), 0)`,
			id, cut.UnixNano()); err != nil {
			return fmt.Errorf("prune events: %w", err)
		}
		if err := w.pruneBuckets(tx, id, now); err != nil {
			return err
		}
		if _, err := tx.Exec("DELETE FROM recent WHERE test = ?1 AND seq <= (SELECT MAX(seq) FROM recent WHERE test = ?1) - ?2",
			id, w.s.o.Recent); err != nil {
			return fmt.Errorf("prune recent runs: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit prune: %w", err)
	}
	return nil
}

// pruneBuckets deletes one test's buckets past their keep.
func (w *writer) pruneBuckets(tx *sql.Tx, test int64, now time.Time) error {
	for res, r := range resolutions {
		for _, check := range []bool{false, true} {
			keep := keepOf(res, check, w.s.o.Retention)
			if keep == noKeep {
				continue
			}
			if _, err := tx.Exec("DELETE FROM buckets WHERE series IN (SELECT id FROM series WHERE test = ? AND (chk != '') = ?) AND res = ? AND start < ?",
				test, check, int64(r.step/time.Second), now.Add(-keep).Unix()); err != nil {
				return fmt.Errorf("prune buckets: %w", err)
			}
		}
	}
	return nil
}
