package silence

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/monsta/monsta/runtime"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestStoreLifecycle(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	clk := &clock{time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	s, err := Open(dir, clk.now)
	if err != nil {
		t.Fatal(err)
	}
	web, err := s.Add("Test_web*", 90*time.Minute, "deploy")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Add("db", time.Hour, ""); err != nil {
		t.Fatal(err)
	}
	hold := func(st *Store, test string) (runtime.Hold, bool) {
		return st.Hold(runtime.GateQuery{Test: test, Now: clk.t})
	}
	if h, ok := hold(s, "web1"); !ok || h.Reason != runtime.HoldSilenced || h.By != web.ID || h.Detail != "deploy" {
		t.Errorf("Hold(web1) = %+v %v, want SILENCED by %s", h, ok, web.ID)
	}
	if _, ok := hold(s, "mail"); ok {
		t.Error("Hold(mail) held; no silence matches it")
	}
	// Reopened from disk, as after kill -9.
	s2, err := Open(dir, clk.now)
	if err != nil {
		t.Fatal(err)
	}
	if got := s2.List(); len(got) != 2 || got[0].Pattern != "db" || got[1].Pattern != "web*" {
		t.Fatalf("List() after reopen = %+v, want db then web*", got)
	}
	// db expires on its own.
	clk.t = clk.t.Add(time.Hour)
	if _, ok := hold(s2, "db"); ok {
		t.Error("Hold(db) still held after its end")
	}
	if got := s2.List(); len(got) != 1 {
		t.Errorf("List() after db's end = %+v, want only web*", got)
	}
	// Removed by pattern (with or without Test_).
	gone, err := s2.Remove("Test_web*")
	if err != nil || len(gone) != 1 {
		t.Fatalf("Remove() = %v %v, want one silence", gone, err)
	}
	if _, ok := hold(s2, "web1"); ok {
		t.Error("Hold(web1) held after Remove")
	}
	s3, _ := Open(dir, clk.now)
	if got := s3.List(); len(got) != 0 {
		t.Errorf("List() after Remove and reopen = %+v, want none", got)
	}
}

func TestRemoveByID(t *testing.T) {
	t.Parallel()
	s, _ := Open(t.TempDir(), nil)
	a, _ := s.Add("a", time.Hour, "")
	s.Add("a", time.Hour, "")
	if gone, _ := s.Remove(a.ID); len(gone) != 1 || gone[0].ID != a.ID {
		t.Errorf("Remove(id) = %+v, want only %s", gone, a.ID)
	}
	if gone, _ := s.Remove("nope"); gone != nil {
		t.Errorf("Remove(nope) = %+v, want none", gone)
	}
}

func TestBadInput(t *testing.T) {
	t.Parallel()
	s, _ := Open(t.TempDir(), nil)
	for _, p := range []string{"", "Test_", "web["} {
		if _, err := s.Add(p, time.Hour, ""); err == nil {
			t.Errorf("Add(%q) accepted", p)
		}
	}
	for _, d := range []string{"", "0", "-1h", "soon", "xd"} {
		if _, err := ParseDuration(d); err == nil {
			t.Errorf("ParseDuration(%q) accepted", d)
		}
	}
	for in, want := range map[string]time.Duration{"90m": 90 * time.Minute, "2h": 2 * time.Hour, "1d": 24 * time.Hour} {
		if got, err := ParseDuration(in); err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, FileName), []byte("{"), 0o600)
	if s, err := Open(dir, nil); err == nil || s == nil || len(s.List()) != 0 {
		t.Errorf("Open() of a broken file = %v, %v; want an empty store and an error", s, err)
	}
	if _, err := os.Stat(filepath.Join(dir, FileName)); !os.IsNotExist(err) {
		t.Error("the broken file was not moved aside")
	}
}

// TestMoveTo: a reload that changes statedir moves the silences; they join
// those kept in the new directory, hold from there, survive a reopen of
// the new directory, and are gone from the old one.
func TestMoveTo(t *testing.T) {
	t.Parallel()
	oldDir, newDir := t.TempDir(), t.TempDir()
	clk := &clock{time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	old, err := Open(oldDir, clk.now)
	if err != nil {
		t.Fatal(err)
	}
	web, _ := old.Add("web", time.Hour, "deploy")
	there, _ := Open(newDir, clk.now)
	db, _ := there.Add("db", 2*time.Hour, "")
	moved, err := old.MoveTo(newDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range []*Store{moved, mustOpen(t, newDir, clk.now)} {
		if h, ok := st.Hold(runtime.GateQuery{Test: "web", Now: clk.t}); !ok || h.By != web.ID {
			t.Errorf("moved store: Hold(web) = %+v %v, want by %s", h, ok, web.ID)
		}
		if h, ok := st.Hold(runtime.GateQuery{Test: "db", Now: clk.t}); !ok || h.By != db.ID {
			t.Errorf("moved store: Hold(db) = %+v %v, want by %s", h, ok, db.ID)
		}
	}
	if _, err := os.Stat(filepath.Join(oldDir, FileName)); !os.IsNotExist(err) {
		t.Errorf("old silences file still there: %v", err)
	}
	if n := len(mustOpen(t, oldDir, clk.now).List()); n != 0 {
		t.Errorf("old directory still holds %d silences", n)
	}
}

func mustOpen(t *testing.T, dir string, now func() time.Time) *Store {
	t.Helper()
	s, err := Open(dir, now)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
