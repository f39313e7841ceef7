package app

import (
	"log/slog"
	"path/filepath"

	"github.com/monsta/monsta/runtime"
	"github.com/monsta/monsta/runtime/history"
)

// HistoryStore is what the app holds of the history database: the
// engines record into it, the control API reads it, and Close flushes it
// once the last engine has stopped.
type HistoryStore interface {
	history.Recorder
	history.Reader
	Close() error
}

// HistoryOpener opens the history database at path with [main]'s history
// settings.
type HistoryOpener func(path string, p runtime.HistoryPolicy, logger *slog.Logger) (HistoryStore, error)

// HistoryFile is the history database's name in the state directory.
const HistoryFile = "history.db"

// openHistory opens STATEDIR/history.db when [main] history = yes. A
// database that cannot be opened is logged loudly and the daemon runs
// without history: it never stops paging for it.
func (a *App) openHistory(g *Generation, stateDir string) {
	p := g.Main.History
	if !p.On {
		return
	}
	open := a.o.OpenHistory
	if open == nil {
		open = openStore
	}
	path := filepath.Join(stateDir, HistoryFile)
	st, err := open(path, p, g.Logger)
	if err != nil {
		g.Logger.Error("HISTORY OFF: cannot open the history database; the daemon runs without history", "path", path, "err", err)
		return
	}
	a.mu.Lock()
	a.hist = st
	a.mu.Unlock()
}

// openStore opens the history store (history.Open) with [main]'s
// retention.
func openStore(path string, p runtime.HistoryPolicy, logger *slog.Logger) (HistoryStore, error) {
	st, err := history.Open(path, history.Options{Logger: logger, Retention: p.Retention, Recent: p.Recent})
	if err != nil {
		return nil, err
	}
	return st, nil
}

// History returns the history store, nil when history is off or before
// Start. It is the same store for every generation: a reload keeps it
// open, so the history has no gap.
func (a *App) History() HistoryStore {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.hist
}

// closeHistory closes the history store, after the last engine stopped:
// it flushes what is queued and marks the session clean.
func (a *App) closeHistory(logger *slog.Logger) {
	a.mu.Lock()
	st := a.hist
	a.hist = nil
	a.mu.Unlock()
	if st == nil {
		return
	}
	if err := st.Close(); err != nil {
		logger.Error("close history database", "err", err)
	}
}

// historyChanged lists the history settings a reload changed that only a
// restart applies: the store stays open as it was started, in the state
// directory it was started in.
func historyChanged(old, next runtime.Main) []string {
	var out []string
	if old.History.On && old.StateDir != next.StateDir {
		out = append(out, "history (history.db stays in the old statedir)")
	}
	if old, next := old.History, next.History; old.On != next.On {
		out = append(out, "history")
	}
	if old.History.Retention != next.History.Retention {
		out = append(out, "history_retention")
	}
	if old.History.Recent != next.History.Recent {
		out = append(out, "history_recent")
	}
	return out
}

// accounting is how [main] says reports count: maintenance and the time
// zone of days and months.
func accounting(m runtime.Main) history.Accounting {
	return history.Accounting{Maintenance: m.History.Maintenance, Location: m.History.Location}
}

// slaTargets returns the tests' [Test_] sla targets by name, nil when no
// test has one.
func slaTargets(p *runtime.Plan) func(string) float64 {
	targets := map[string]float64{}
	for _, t := range p.Tests {
		if t.SLA > 0 {
			targets[t.Name] = t.SLA
		}
	}
	if len(targets) == 0 {
		return nil
	}
	return func(test string) float64 { return targets[test] }
}
