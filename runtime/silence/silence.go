// Package silence keeps the silences an admin sets on tests: a test name
// or glob, an end time and a reason. While a silence matches a test, the
// engine holds the test's notifications (see runtime.Gate). Silences are
// kept in one file in the state directory, written atomically, so they
// survive restarts and kill -9; they expire on their own.
package silence

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/monsta/monsta/runtime"
	"github.com/monsta/monsta/runtime/statedir"
)

// FileName is the silences file in the state directory.
const FileName = "silences.json"

// Silence holds the notifications of every test whose name matches
// Pattern from Start until End.
type Silence struct {
	ID      string    `json:"id"`
	Pattern string    `json:"pattern"` // a test name or glob, without Test_
	Reason  string    `json:"reason,omitempty"`
	Start   time.Time `json:"start"`
	End     time.Time `json:"end"`
	glob    bool      // Pattern has glob characters; set by the Store
}

func isGlob(p string) bool { return strings.ContainsAny(p, `*?[\`) }

// Matches tells whether the silence covers the test.
func (s *Silence) Matches(test string) bool {
	if !s.glob && !isGlob(s.Pattern) {
		return s.Pattern == test
	}
	ok, _ := path.Match(s.Pattern, test)
	return ok
}

// Store is the set of silences, backed by a file. It implements
// runtime.Gate. It is safe for concurrent use.
type Store struct {
	file string
	now  func() time.Time
	mu   sync.Mutex
	list []Silence // sorted by End
}

// MaxFileSize is the largest silences file Open reads: 16 MiB, tens of
// thousands of silences. A larger one, or a FIFO or device where the file
// goes, is moved aside unread (NAME.bad-TIME).
const MaxFileSize = 16 << 20

// Open reads the silences file of the state directory dir; a missing file
// is an empty set. now is the clock (nil: time.Now). A file that cannot
// be decoded is moved aside (NAME.corrupt-TIME; one that is not a file,
// or too large, NAME.bad-TIME) and Open returns an empty
// store together with the error, for the log: a broken file must not stop
// the daemon.
func Open(dir string, now func() time.Time) (*Store, error) {
	if now == nil {
		now = time.Now
	}
	s := &Store{file: dir + "/" + FileName, now: now}
	data, err := statedir.ReadFile(s.file, MaxFileSize)
	if errors.Is(err, os.ErrNotExist) {
		return s, nil
	}
	if err != nil && !statedir.Refused(err) {
		return nil, fmt.Errorf("read silences: %w", err)
	}
	if err == nil {
		err = json.Unmarshal(data, &s.list)
	}
	if err != nil {
		s.list = nil
		aside, rerr := statedir.MoveAside(s.file, err, now())
		if rerr != nil {
			return s, fmt.Errorf("silences file %s unreadable (%w) and cannot be moved aside: %v", s.file, err, rerr)
		}
		return s, fmt.Errorf("silences file %s unreadable, moved aside as %s: %w", s.file, aside, err)
	}
	slices.SortStableFunc(s.list, func(a, b Silence) int { return a.End.Compare(b.End) })
	for i := range s.list {
		s.list[i].glob = isGlob(s.list[i].Pattern)
	}
	return s, nil
}

// NormalizePattern strips a Test_ prefix and checks the glob.
func NormalizePattern(p string) (string, error) {
	p = strings.TrimPrefix(strings.TrimSpace(p), "Test_")
	if p == "" {
		return "", errors.New("empty pattern: give a test name or a glob such as web*")
	}
	if _, err := path.Match(p, ""); err != nil {
		return "", fmt.Errorf("pattern %q: %w", p, err)
	}
	return p, nil
}

// ParseDuration parses a silence length with runtime.ParseDuration, the
// parser of every duration option: seconds ("300"), a Go duration ("90m",
// "2h30m") or days ("2d"); it must be positive.
func ParseDuration(s string) (time.Duration, error) {
	d, err := runtime.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("duration %q: want a positive length such as 90m, 2h or 1d", strings.TrimSpace(s))
	}
	return d, nil
}

// Add creates a silence of pattern for d from now and stores it.
func (s *Store) Add(pattern string, d time.Duration, reason string) (Silence, error) {
	p, err := NormalizePattern(pattern)
	if err != nil {
		return Silence{}, err
	}
	if d <= 0 {
		return Silence{}, fmt.Errorf("duration %v: must be positive", d)
	}
	var b [4]byte
	rand.Read(b[:])
	now := s.now()
	sl := Silence{ID: hex.EncodeToString(b[:]), Pattern: p, Reason: reason, Start: now, End: now.Add(d), glob: isGlob(p)}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pruneLocked(now)
	list := append(slices.Clone(s.list), sl)
	slices.SortStableFunc(list, func(a, b Silence) int { return a.End.Compare(b.End) })
	if err := s.saveLocked(list); err != nil {
		return Silence{}, err
	}
	return sl, nil
}

// Remove ends every silence whose id or pattern is idOrPattern and returns
// them; none found is not an error.
func (s *Store) Remove(idOrPattern string) ([]Silence, error) {
	p := strings.TrimPrefix(strings.TrimSpace(idOrPattern), "Test_")
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pruneLocked(s.now())
	var keep, gone []Silence
	for _, sl := range s.list {
		if sl.ID == idOrPattern || sl.Pattern == p {
			gone = append(gone, sl)
		} else {
			keep = append(keep, sl)
		}
	}
	if len(gone) == 0 {
		return nil, nil
	}
	if err := s.saveLocked(keep); err != nil {
		return nil, err
	}
	return gone, nil
}

// List returns the silences in force, soonest end first.
func (s *Store) List() []Silence {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pruneLocked(s.now())
	return slices.Clone(s.list)
}

// Hold implements runtime.Gate: the silence ending last among those that
// match holds the test.
func (s *Store) Hold(q runtime.GateQuery) (runtime.Hold, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var best *Silence
	for i := range s.list {
		sl := &s.list[i]
		if (!sl.glob && sl.Pattern != q.Test) || q.Now.Before(sl.Start) || !q.Now.Before(sl.End) || (sl.glob && !sl.Matches(q.Test)) {
			continue
		}
		if best == nil || sl.End.After(best.End) {
			best = sl
		}
	}
	if best == nil {
		return runtime.Hold{}, false
	}
	return runtime.Hold{Reason: runtime.HoldSilenced, By: best.ID, Until: best.End, Detail: best.Reason}, true
}

// MoveTo moves the silences to the state directory dir (a reload that
// changed [main] statedir): they join those already kept there, and the
// file here is removed, so that they hold from one place. The store
// returned serves from dir. When the move fails, the silences stay here
// and this store is returned with the error.
func (s *Store) MoveTo(dir string) (*Store, error) {
	dst, err := Open(dir, s.now)
	if dst == nil {
		return s, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	dst.mu.Lock()
	defer dst.mu.Unlock()
	list := slices.Clone(dst.list)
	for _, sl := range s.list {
		if !slices.ContainsFunc(list, func(x Silence) bool { return x.ID == sl.ID }) {
			list = append(list, sl)
		}
	}
	slices.SortStableFunc(list, func(a, b Silence) int { return a.End.Compare(b.End) })
	if err := dst.saveLocked(list); err != nil {
		return s, fmt.Errorf("move silences to %s: %w", dir, err)
	}
	if err := os.Remove(s.file); err != nil && !errors.Is(err, os.ErrNotExist) {
		return dst, fmt.Errorf("move silences: %w", err)
	}
	return dst, nil
}

// pruneLocked drops expired silences from the file; a failed write only
// keeps them on disk (they no longer hold anything).
func (s *Store) pruneLocked(now time.Time) {
	i := 0
	for i < len(s.list) && !now.Before(s.list[i].End) {
		i++
	}
	if i == 0 {
		return
	}
	_ = s.saveLocked(slices.Clone(s.list[i:]))
}

func (s *Store) saveLocked(list []Silence) error {
	if list == nil {
		list = []Silence{}
	}
	data, err := json.MarshalIndent(list, "", "  ")
	if err != nil {
		return fmt.Errorf("save silences: %w", err)
	}
	if len(data) > MaxFileSize {
		return fmt.Errorf("save silences: %d bytes, more than the %d a silences file may hold: remove some", len(data), MaxFileSize)
	}
	if err := statedir.WriteAtomic(s.file, data); err != nil {
		return fmt.Errorf("save silences: %w", err)
	}
	s.list = list
	return nil
}
