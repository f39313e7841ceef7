package main

import (
	"fmt"

	"github.com/monsta/monsta/runtime/history"
)

// historyDB is the history database opened read-only.
type historyDB interface {
	history.Reader
	Close() error
}

// openHistoryDB opens STATEDIR/history.db read-only, for --history and
// --report when no daemon runs. Until the history store (history.OpenReadOnly)
// is merged, this build has none to open.
func openHistoryDB(path string) (historyDB, error) {
	return nil, fmt.Errorf("read %s: this build of monsta has no history store yet", path)
}
