package main

import (
	"github.com/monsta/monsta/runtime/history"
)

// historyDB is the history database opened read-only.
type historyDB interface {
	history.Reader
	Close() error
}

// openHistoryDB opens STATEDIR/history.db read-only, for --history and
// --report when no daemon runs (it works while a daemon writes it).
func openHistoryDB(path string) (historyDB, error) {
	return history.OpenReadOnly(path)
}
