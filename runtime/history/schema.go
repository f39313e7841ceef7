package history

import (
	"database/sql"
	"fmt"
)

// migrations are the schema's steps, in order: migrations[i] takes the
// database from user_version i to i+1. A step is only ever appended,
// never changed, so a database of any older version migrates itself.
//
// Times are integers: events and sessions in Unix nanoseconds (exact to
// the run), buckets in Unix seconds; durations in microseconds. A
// bucket's series is one test (check "") or one check of a test with
// more than one check.
var migrations = []string{
	// 1: the ledger and the sessions.
	`CREATE TABLE tests (
		id   INTEGER PRIMARY KEY,
		name TEXT NOT NULL UNIQUE
	);
	CREATE TABLE events (
		id        INTEGER PRIMARY KEY,
		test      INTEGER NOT NULL,
		at        INTEGER NOT NULL,
		kind      INTEGER NOT NULL,
		error     TEXT NOT NULL DEFAULT '',
		hold      TEXT NOT NULL DEFAULT '',
		hold_name TEXT NOT NULL DEFAULT '',
		paged     TEXT NOT NULL DEFAULT '',
		level     INTEGER NOT NULL DEFAULT 0
	);
	CREATE INDEX events_test_at ON events (test, at);
	CREATE TABLE sessions (
		id    INTEGER PRIMARY KEY,
		start INTEGER NOT NULL,
		mark  INTEGER NOT NULL,
		clean INTEGER NOT NULL DEFAULT 0
	);`,
	// 2: the aggregates and the ring of recent runs.
	`CREATE TABLE series (
		id    INTEGER PRIMARY KEY,
		test  INTEGER NOT NULL,
		chk   TEXT NOT NULL,
		UNIQUE (test, chk)
	);
	CREATE TABLE buckets (
		series   INTEGER NOT NULL,
		res      INTEGER NOT NULL,
		start    INTEGER NOT NULL,
		runs     INTEGER NOT NULL,
		failures INTEGER NOT NULL,
		min_us   INTEGER NOT NULL,
		sum_us   INTEGER NOT NULL,
		max_us   INTEGER NOT NULL,
		p95_us   INTEGER NOT NULL,
		PRIMARY KEY (series, res, start)
	) WITHOUT ROWID;
	CREATE TABLE recent (
		test   INTEGER NOT NULL,
		slot   INTEGER NOT NULL,
		seq    INTEGER NOT NULL,
		at     INTEGER NOT NULL,
		ok     INTEGER NOT NULL,
		dur_us INTEGER NOT NULL,
		checks TEXT NOT NULL DEFAULT '',
		PRIMARY KEY (test, slot)
	) WITHOUT ROWID;`,
}

// schemaVersion is the user_version this code writes.
var schemaVersion = len(migrations)

// migrate brings db from its user_version to schemaVersion, one
// transaction per step. A database newer than this code is refused,
// never downgraded.
func migrate(db *sql.DB, upto int) error {
	var v int
	if err := db.QueryRow("PRAGMA user_version").Scan(&v); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if v > len(migrations) {
		return fmt.Errorf("schema version %d is newer than this monsta knows (%d)", v, len(migrations))
	}
	for ; v < upto; v++ {
		if err := step(db, v); err != nil {
			return err
		}
	}
	return nil
}

// step applies migrations[v] and sets user_version to v+1 in one
// transaction.
func step(db *sql.DB, v int) error {
	tx, err := db.Begin()
	if err != nil {
		return fmt.Errorf("migrate schema to %d: %w", v+1, err)
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.Exec(migrations[v]); err != nil {
		return fmt.Errorf("migrate schema to %d: %w", v+1, err)
	}
	if _, err := tx.Exec(fmt.Sprintf("PRAGMA user_version = %d", v+1)); err != nil {
		return fmt.Errorf("migrate schema to %d: %w", v+1, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrate schema to %d: %w", v+1, err)
	}
	return nil
}
