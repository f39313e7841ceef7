package history

import (
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	sqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Options configures a Store; zero fields take their defaults.
type Options struct {
	Logger    *slog.Logger
	Now       func() time.Time // nil: time.Now
	Retention time.Duration    // ledger, sessions, coarse buckets; default 90 days ([main] history_retention)
	Recent    int              // ring size per test; default 50 ([main] history_recent)
	QueueSize int              // writer queue; default 65536

	// FlushEvery is how often the writer commits what is pending (and
	// marks the session alive); default 1 s. A crash loses at most it.
	FlushEvery time.Duration
	// FlushRecords makes the writer commit early once this many records
	// are pending; default 4096.
	FlushRecords int
	// DetailEvery is how often a flush also writes the open buckets and
	// the ring (the ledger and the session's mark go every flush);
	// default 10 s. Rows a test changes between two such writes are
	// written once, which is what keeps the writer cheap; a crash loses
	// at most this much of the aggregates and the ring.
	DetailEvery time.Duration

	maxPages int // tests: PRAGMA max_page_count, a full disk on demand
}

// The defaults of Options.
const (
	DefaultRetention    = 90 * 24 * time.Hour
	DefaultRecent       = 50
	DefaultQueueSize    = 1 << 16
	DefaultFlushEvery   = time.Second
	DefaultFlushRecords = 4096
	DefaultDetailEvery  = 10 * time.Second
)

// withDefaults fills the zero fields.
func (o Options) withDefaults() Options {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Retention <= 0 {
		o.Retention = DefaultRetention
	}
	if o.Recent <= 0 {
		o.Recent = DefaultRecent
	}
	if o.QueueSize <= 0 {
		o.QueueSize = DefaultQueueSize
	}
	if o.FlushEvery <= 0 {
		o.FlushEvery = DefaultFlushEvery
	}
	if o.DetailEvery <= 0 {
		o.DetailEvery = DefaultDetailEvery
	}
	if o.FlushRecords <= 0 {
		o.FlushRecords = DefaultFlushRecords
	}
	return o
}

// Store is the history database: a Recorder whose writes go through a
// bounded queue to one writer goroutine, and a Reader. A Store opened by
// OpenReadOnly only reads.
type Store struct {
	path string
	o    Options
	log  *slog.Logger
	now  func() time.Time

	rdb     *sql.DB // readers; WAL lets them read while the writer writes
	runs    chan Run
	events  chan Event
	syncs   chan chan error
	stop    chan struct{}
	done    chan struct{}
	dropped atomic.Uint64
	off     atomic.Bool  // nothing more is written: closed, read-only or disabled
	session atomic.Int64 // the id of this store's session; 0: none
	lock    *os.File

	closeOnce sync.Once
	closeErr  error // set by the writer before done closes
	w         *writer
}

// Open opens (creating or migrating) the history database at path,
// normally STATEDIR/history.db, starts its writer and a new session. A
// corrupt database is moved aside (path.corrupt-TIME) with one log line
// and a new one started. A database that another process holds, or that
// cannot be opened or written (unwritable, full disk, newer schema),
// makes Open return a nil Store and an error that the caller logs once
// and then runs without history: history never stops paging.
func Open(path string, o Options) (*Store, error) {
	o = o.withDefaults()
	s := newStore(path, o)
	lock, err := lockPath(path + ".lock")
	if err != nil {
		return nil, err
	}
	s.lock = lock
	w, err := openWriter(s)
	if err != nil && isCorrupt(err) {
		aside, merr := moveAside(path, s.now())
		if merr != nil {
			s.unlock()
			return nil, fmt.Errorf("move corrupt history database aside: %w", errors.Join(err, merr))
		}
		s.log.Error("history database corrupt; moved aside, starting a new one", "path", path, "moved_to", aside, "err", err)
		w, err = openWriter(s)
	}
	if err != nil {
		s.unlock()
		return nil, fmt.Errorf("open history database %s: %w", path, err)
	}
	if s.rdb, err = openReader(path); err != nil {
		_ = w.st.close()
		_ = w.db.Close()
		s.unlock()
		return nil, fmt.Errorf("open history database %s: %w", path, err)
	}
	s.w = w
	go w.run()
	return s, nil
}

// OpenReadOnly opens the history database at path for reading only, for
// --history and --report; it works while a daemon writes it (WAL). Its
// Result and Event drop what they get, and Sessions ends the last
// session at its last mark (at most FlushEvery behind a running daemon).
func OpenReadOnly(path string) (*Store, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("open history database: %w", err)
	}
	s := newStore(path, Options{}.withDefaults())
	s.off.Store(true)
	close(s.done)
	var err error
	if s.rdb, err = openReader(path); err != nil {
		return nil, fmt.Errorf("open history database %s: %w", path, err)
	}
	var v int
	if err := s.rdb.QueryRow("PRAGMA user_version").Scan(&v); err != nil {
		_ = s.rdb.Close()
		return nil, fmt.Errorf("open history database %s: %w", path, err)
	}
	if v != schemaVersion {
		_ = s.rdb.Close()
		return nil, fmt.Errorf("open history database %s: schema version %d, this monsta reads %d (the daemon migrates it when it starts)", path, v, schemaVersion)
	}
	return s, nil
}

// newStore returns a Store with its queues, not yet open.
func newStore(path string, o Options) *Store {
	return &Store{
		path: path, o: o, log: o.Logger, now: o.Now,
		runs:   make(chan Run, o.QueueSize),
		events: make(chan Event, max(1024, o.QueueSize/16)),
		syncs:  make(chan chan error),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
	}
}

// Result implements Recorder: it queues r for the writer, or drops and
// counts it when the queue is full. r is kept: the caller must not
// change r.Checks afterwards.
func (s *Store) Result(r Run) {
	if s.off.Load() {
		s.dropped.Add(1)
		return
	}
	select {
	case s.runs <- r:
	default:
		s.dropped.Add(1)
	}
}

// Event implements Recorder: it queues e for the writer (events have a
// queue of their own, so that a flood of results does not push out the
// ledger), or drops and counts it when that queue is full.
func (s *Store) Event(e Event) {
	if s.off.Load() {
		s.dropped.Add(1)
		return
	}
	select {
	case s.events <- e:
	default:
		s.dropped.Add(1)
	}
}

// Dropped returns how many results and events were dropped because a
// queue was full, the store was closed or history was disabled.
func (s *Store) Dropped() uint64 { return s.dropped.Load() }

// ErrClosed says the store no longer writes.
var ErrClosed = errors.New("history store closed")

// Sync returns once everything queued before it is committed, or the
// error that kept it from being (it stays pending for the next flush);
// it is for tests and for a caller that needs the history read back at
// once.
func (s *Store) Sync() error {
	ack := make(chan error, 1)
	select {
	case s.syncs <- ack:
		return <-ack
	case <-s.done:
		return ErrClosed
	}
}

// Close flushes what is queued, marks the session as ended by a stop and
// closes the database. Results and events after Close are dropped.
func (s *Store) Close() error {
	var err error
	s.closeOnce.Do(func() {
		s.off.Store(true)
		if s.w != nil {
			close(s.stop)
			<-s.done
			err = s.closeErr
			if s.w.db != nil {
				err = errors.Join(err, s.w.st.close(), s.w.db.Close())
			}
		}
		if s.rdb != nil {
			err = errors.Join(err, s.rdb.Close())
		}
		s.unlock()
	})
	return err
}

// disable stops recording: the writer has no database any more.
func (s *Store) disable() { s.off.Store(true) }

// unlock releases the writer's lock file.
func (s *Store) unlock() {
	if s.lock != nil {
		_ = s.lock.Close()
		s.lock = nil
	}
}

// ErrLocked says another process writes the history database.
var ErrLocked = errors.New("another process writes it")

// lockPath takes an exclusive flock on path (created if need be), so
// that two daemons never write one history. A separate file, because
// closing any descriptor of the database itself would drop SQLite's
// own POSIX locks.
func lockPath(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock history database: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("lock history database %s: %w", path, ErrLocked)
		}
		return nil, fmt.Errorf("lock history database %s: %w", path, err)
	}
	return f, nil
}

// uri returns the file: URI of path with the given query.
func uri(path, query string) string {
	esc := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
	return "file:" + esc + "?" + query
}

// openReader opens the pool the queries use.
func openReader(path string) (*sql.DB, error) {
	db, err := sql.Open("sqlite", uri(path, "mode=ro&_pragma=busy_timeout(5000)"))
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(4)
	if err := db.Ping(); err != nil {
		_ = db.Close()
		return nil, err
	}
	return db, nil
}

// openWriter opens the writer's connection: WAL, synchronous=NORMAL (a
// commit survives a crash of monsta; a power cut may lose the last
// ones), the schema migrated, the names known, a new session started.
func openWriter(s *Store) (*writer, error) {
	q := "_pragma=busy_timeout(1000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)"
	if s.o.maxPages > 0 {
		q += fmt.Sprintf("&_pragma=max_page_count(%d)", s.o.maxPages)
	}
	db, err := sql.Open("sqlite", uri(s.path, q))
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	w, err := startWriter(s, db)
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	return w, nil
}

// startWriter migrates db, loads the known names and starts a session.
func startWriter(s *Store, db *sql.DB) (*writer, error) {
	if err := migrate(db, schemaVersion); err != nil {
		return nil, err
	}
	w := &writer{s: s, db: db, tests: map[string]*testState{}}
	var err error
	if w.known, w.series, err = loadNames(db); err != nil {
		return nil, err
	}
	if w.st, err = prepare(db); err != nil {
		return nil, err
	}
	now := s.now().UnixNano()
	res, err := db.Exec("INSERT INTO sessions (start, mark) VALUES (?, ?)", now, now)
	if err == nil {
		w.session, err = res.LastInsertId()
	}
	if err != nil {
		_ = w.st.close()
		return nil, fmt.Errorf("start session: %w", err)
	}
	w.mark = now
	s.session.Store(w.session)
	return w, nil
}

// loadNames reads the ids of the tests and series.
func loadNames(db *sql.DB) (map[string]int64, map[seriesKey]int64, error) {
	tests := map[string]int64{}
	rows, err := db.Query("SELECT id, name FROM tests")
	if err != nil {
		return nil, nil, fmt.Errorf("read tests: %w", err)
	}
	for rows.Next() {
		var id int64
		var name string
		if err := rows.Scan(&id, &name); err != nil {
			_ = rows.Close()
			return nil, nil, fmt.Errorf("read tests: %w", err)
		}
		tests[name] = id
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, nil, fmt.Errorf("read tests: %w", err)
	}
	series := map[seriesKey]int64{}
	rows, err = db.Query("SELECT id, test, chk FROM series")
	if err != nil {
		return nil, nil, fmt.Errorf("read series: %w", err)
	}
	defer func() { _ = rows.Close() }()
	for rows.Next() {
		var id int64
		var k seriesKey
		if err := rows.Scan(&id, &k.test, &k.chk); err != nil {
			return nil, nil, fmt.Errorf("read series: %w", err)
		}
		series[k] = id
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("read series: %w", err)
	}
	return tests, series, nil
}

// stmts are the writer's prepared statements.
type stmts struct {
	loadBucket, ringSeq, insertTest, testID, insertSeries, seriesID *sql.Stmt
	insertEvent, putBucket, putRecent, mark                         *sql.Stmt
}

// prepare prepares the writer's statements.
func prepare(db *sql.DB) (*stmts, error) {
	st := &stmts{}
	for _, p := range []struct {
		dst **sql.Stmt
		sql string
	}{
		{&st.loadBucket, "SELECT runs, failures, min_us, sum_us, max_us, p95_us FROM buckets WHERE series = ? AND res = ? AND start = ?"},
		{&st.ringSeq, "SELECT COALESCE(MAX(seq), 0) FROM recent WHERE test = ?"},
		{&st.insertTest, "INSERT OR IGNORE INTO tests (name) VALUES (?)"},
		{&st.testID, "SELECT id FROM tests WHERE name = ?"},
		{&st.insertSeries, "INSERT OR IGNORE INTO series (test, chk) VALUES (?, ?)"},
		{&st.seriesID, "SELECT id FROM series WHERE test = ? AND chk = ?"},
		{&st.insertEvent, "INSERT INTO events (test, at, kind, error, hold, hold_name, paged, level) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"},
		{&st.putBucket, "INSERT OR REPLACE INTO buckets (series, res, start, runs, failures, min_us, sum_us, max_us, p95_us) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"},
		{&st.putRecent, "INSERT OR REPLACE INTO recent (test, slot, seq, at, ok, dur_us, checks) VALUES (?, ?, ?, ?, ?, ?, ?)"},
		{&st.mark, "UPDATE sessions SET mark = MAX(mark, ?) WHERE id = ?"},
	} {
		var err error
		if *p.dst, err = db.Prepare(p.sql); err != nil {
			_ = st.close()
			return nil, fmt.Errorf("prepare %q: %w", p.sql, err)
		}
	}
	return st, nil
}

// close closes the prepared statements.
func (st *stmts) close() error {
	if st == nil {
		return nil
	}
	var errs []error
	for _, p := range []*sql.Stmt{st.loadBucket, st.ringSeq, st.insertTest, st.testID, st.insertSeries,
		st.seriesID, st.insertEvent, st.putBucket, st.putRecent, st.mark} {
		if p != nil {
			errs = append(errs, p.Close())
		}
	}
	return errors.Join(errs...)
}

// isCorrupt says whether err is SQLite's "malformed" or "not a database".
func isCorrupt(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB:
			return true
		}
	}
	return err != nil && (strings.Contains(err.Error(), "file is not a database") ||
		strings.Contains(err.Error(), "database disk image is malformed"))
}

// moveAside renames a corrupt database (and its WAL) to
// path.corrupt-TIME and removes its shared-memory file.
func moveAside(path string, now time.Time) (string, error) {
	aside := path + ".corrupt-" + now.UTC().Format("20060102T150405Z")
	if err := os.Rename(path, aside); err != nil {
		return "", fmt.Errorf("move %s aside: %w", path, err)
	}
	if err := os.Rename(path+"-wal", aside+"-wal"); err != nil && !errors.Is(err, os.ErrNotExist) {
		return aside, fmt.Errorf("move %s-wal aside: %w", path, err)
	}
	if err := os.Remove(path + "-shm"); err != nil && !errors.Is(err, os.ErrNotExist) {
		return aside, fmt.Errorf("remove %s-shm: %w", path, err)
	}
	return aside, nil
}
