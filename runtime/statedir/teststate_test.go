package statedir

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	mrt "github.com/monsta/monsta/runtime"
)

// syncCounter counts a Dir's fsyncs, of files and of directories, and
// makes none (the tests need no durability).
type syncCounter struct {
	mu         sync.Mutex
	files, dir int
}

func (c *syncCounter) fsync(f *os.File) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if strings.HasPrefix(filepath.Base(f.Name()), ".tmp-") {
		c.files++
	} else {
		c.dir++
	}
	return nil
}

// take returns the counts since the last take.
func (c *syncCounter) take() (files, dir int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	files, dir = c.files, c.dir
	c.files, c.dir = 0, 0
	return files, dir
}

func countingDir(t testing.TB) (*Dir, *syncCounter) {
	t.Helper()
	d, err := Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &syncCounter{}
	d.fsync = c.fsync
	return d, c
}

var t0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

// failing is a test in the middle of a streak that paged bob.
func failing() mrt.TestState {
	return mrt.TestState{Fingerprint: "f", Failures: 3, Notified: []string{"bob"}, LastNotify: t0, LastLevel: 2,
		Since: t0.Add(-time.Minute), LastRun: t0, FlapHistory: 0b111}
}

func save(t *testing.T, d *Dir, name string, st mrt.TestState) {
	t.Helper()
	if err := d.SaveTest(name, st); err != nil {
		t.Fatalf("SaveTest(%s) error = %v", name, err)
	}
}

// TestSaveTestSyncs: which saves are fsynced (file and directory) and which
// are not, and that what loads after each is the state just saved.
func TestSaveTestSyncs(t *testing.T) {
	t.Parallel()
	type step struct {
		what    string
		change  func(*mrt.TestState)
		durable bool
	}
	steps := []step{
		{"first save", func(*mrt.TestState) {}, true},
		{"another failure", func(s *mrt.TestState) { s.Failures++; s.LastRun = s.LastRun.Add(time.Minute) }, false},
		{"flap history", func(s *mrt.TestState) { s.FlapHistory = s.FlapHistory<<1 | 1 }, false},
		{"a pass of recover_after", func(s *mrt.TestState) { s.Passes++; s.LastOK = true }, false},
		{"next slot", func(s *mrt.TestState) { s.Next = t0.Add(time.Hour) }, false},
		{"a page", func(s *mrt.TestState) { s.Notified = append(s.Notified, "sms"); s.LastLevel = 3 }, true},
		{"a renotify", func(s *mrt.TestState) { s.LastNotify = s.LastNotify.Add(time.Hour) }, true},
		{"held", func(s *mrt.TestState) { s.Held = mrt.HoldReason("silenced") }, true},
		{"owed", func(s *mrt.TestState) { s.Owed = true }, true},
		{"counter while held", func(s *mrt.TestState) { s.Failures++ }, false},
		{"flapping", func(s *mrt.TestState) { s.Flapping, s.FlapTo = true, []string{"bob"} }, true},
		{"recovered, history left", func(s *mrt.TestState) {
			s.Failures, s.Since, s.PrevNotified, s.Notified, s.LastLevel, s.LastNotify = 0, time.Time{}, s.Notified, nil, 0, time.Time{}
		}, true},
		{"passing, history shifts", func(s *mrt.TestState) { s.FlapHistory <<= 1; s.Passes = 0 }, false},
		{"a new streak", func(s *mrt.TestState) { s.Failures, s.Since = 1, t0.Add(time.Hour) }, true},
		{"new checks", func(s *mrt.TestState) { s.Fingerprint = "g" }, true},
	}
	d, c := countingDir(t)
	st := failing()
	for _, s := range steps {
		s.change(&st)
		save(t, d, "web", st)
		files, dir := c.take()
		if want := s.durable; (files == 1 && dir == 1) != want || (!want && files+dir != 0) {
			t.Errorf("%s: %d file and %d directory fsyncs, want durable=%v", s.what, files, dir, want)
		}
		if got := d.LoadState()["web"]; !reflect.DeepEqual(got, st) {
			t.Errorf("%s: loads %+v, want %+v", s.what, got, st)
		}
	}
	// The same state again writes nothing.
	save(t, d, "web", st)
	if files, dir := c.take(); files+dir != 0 {
		t.Errorf("unchanged state: %d+%d fsyncs, want none", files, dir)
	}
	// Idle: both files go, and the directory is fsynced.
	st.Flapping, st.FlapTo, st.FlapHistory, st.Failures = false, nil, 0, 0
	save(t, d, "web", st)
	if files, dir := c.take(); files != 0 || dir != 1 {
		t.Errorf("idle: %d file and %d directory fsyncs, want the directory's", files, dir)
	}
	if left, _ := filepath.Glob(filepath.Join(d.Path(), "state", "*")); len(left) != 0 {
		t.Errorf("files of an idle test: %v", left)
	}
	// Idle again: nothing to remove, nothing to sync.
	save(t, d, "web", st)
	if files, dir := c.take(); files+dir != 0 {
		t.Errorf("idle without a file: %d+%d fsyncs, want none", files, dir)
	}
	d.tmu.Lock()
	n := len(d.tests)
	d.tmu.Unlock()
	if n != 0 {
		t.Errorf("%d entries kept for tests without files, want none", n)
	}
}

// TestEveryFieldClassified changes each field of runtime.TestState alone
// and checks that the save is durable or not as this table says; a field
// added to runtime.TestState must be added here, and to durableChange or
// sameCounters.
func TestEveryFieldClassified(t *testing.T) {
	t.Parallel()
	durable := map[string]bool{
		"Fingerprint": true, "Notified": true, "LastNotify": true, "LastLevel": true, "Since": true,
		"Held": true, "Owed": true, "OwedBy": true, "Flapping": true, "FlapTo": true, "PrevNotified": true,
		"Failures": false, "Checks": false, "Duration": false, "Next": false, "LastRun": false, "LastOK": false, "Passes": false, "FlapHistory": false,
	}
	typ := reflect.TypeFor[mrt.TestState]()
	for i := range typ.NumField() {
		name := typ.Field(i).Name
		want, ok := durable[name]
		if !ok {
			t.Errorf("TestState.%s is neither durable nor a counter: classify it in durableChange and here", name)
			continue
		}
		d, c := countingDir(t)
		st := failing()
		save(t, d, "web", st)
		c.take()
		v := reflect.ValueOf(&st).Elem().Field(i)
		switch v.Kind() {
		case reflect.Int, reflect.Int64, reflect.Uint32:
			if v.CanInt() {
				v.SetInt(v.Int() + 1)
			} else {
				v.SetUint(v.Uint() + 1)
			}
		case reflect.String:
			v.SetString(v.String() + "x")
		case reflect.Bool:
			v.SetBool(!v.Bool())
		case reflect.Slice:
			elem := reflect.ValueOf("x")
			if v.Type().Elem() == reflect.TypeFor[mrt.CheckResult]() {
				elem = reflect.ValueOf(mrt.CheckResult{Check: "www", Errors: []string{"refused"}, Stats: mrt.Stats{}})
			}
			v.Set(reflect.Append(v, elem))
		case reflect.Struct: // time.Time
			v.Set(reflect.ValueOf(t0.Add(time.Hour)))
		default:
			t.Fatalf("TestState.%s: kind %v not handled by this test", name, v.Kind())
		}
		save(t, d, "web", st)
		files, dir := c.take()
		if got := files == 1 && dir == 1; got != want {
			t.Errorf("a change of TestState.%s alone: %d file and %d directory fsyncs, want durable=%v", name, files, dir, want)
		}
		if !want && files+dir != 0 {
			t.Errorf("a change of TestState.%s alone: %d+%d fsyncs, want none", name, files, dir)
		}
		if got := d.LoadState()["web"]; !reflect.DeepEqual(got, st) {
			t.Errorf("after a change of TestState.%s: loads %+v, want %+v", name, got, st)
		}
	}
}

// TestCounterSaveAfterDurable: the later counter-only save is what loads,
// also when the counter file is older, torn or alone.
func TestCounterSaveAfterDurable(t *testing.T) {
	t.Parallel()
	d, _ := countingDir(t)
	st := failing()
	save(t, d, "web", st)
	later := st
	later.Failures++
	save(t, d, "web", later)
	dir := filepath.Join(d.Path(), "state")
	durable, latest := filepath.Join(dir, "web.json"), filepath.Join(dir, "web.json.latest")
	if got := d.LoadState()["web"]; !reflect.DeepEqual(got, later) {
		t.Fatalf("loads %+v, want the counter-only save %+v", got, later)
	}
	// A new Dir (a restart) reads the same.
	d2, _ := Open(d.Path(), nil)
	if got := d2.LoadState()["web"]; !reflect.DeepEqual(got, later) {
		t.Fatalf("after a restart loads %+v, want %+v", got, later)
	}
	// A durable save removes the counter file.
	paged := later
	paged.Notified = []string{"bob", "sms"}
	save(t, d, "web", paged)
	if _, err := os.Stat(latest); !os.IsNotExist(err) {
		t.Errorf("counter file left after a durable save: %v", err)
	}
	if got := d.LoadState()["web"]; !reflect.DeepEqual(got, paged) {
		t.Fatalf("loads %+v, want the durable save %+v", got, paged)
	}
	// A power loss that tore the counter file: the durable state loads,
	// nothing is set aside, the torn file goes.
	save(t, d, "web", func() mrt.TestState { s := paged; s.Failures++; return s }())
	if err := os.WriteFile(latest, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if got := d.LoadState()["web"]; !reflect.DeepEqual(got, paged) {
		t.Errorf("with a torn counter file loads %+v, want the durable %+v", got, paged)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "*corrupt*")); len(m) != 0 {
		t.Errorf("torn counter file set aside: %v", m)
	}
	if _, err := os.Stat(latest); !os.IsNotExist(err) {
		t.Errorf("torn counter file kept: %v", err)
	}
	// A kill between a durable save's rename and its removal of the
	// counter file: the older counter file is ignored.
	old, _ := os.ReadFile(durable)
	save(t, d, "web", func() mrt.TestState { s := paged; s.Failures += 2; return s }())
	if err := os.Rename(latest, durable+".x"); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(durable, old, 0o600)
	os.Rename(durable+".x", latest) // now the counter file is newer
	want := paged
	want.Failures += 2
	if got := d.LoadState()["web"]; !reflect.DeepEqual(got, want) {
		t.Fatalf("loads %+v, want the newer counter file %+v", got, want)
	}
	os.WriteFile(durable, mustRead(t, latest), 0o600)
	os.WriteFile(latest, old, 0o600) // now it is older
	if got := d.LoadState()["web"]; !reflect.DeepEqual(got, want) {
		t.Errorf("loads %+v, want TEST.json, newer than the counter file, %+v", got, want)
	}
	// A counter file alone (a kill while the state was removed) is ignored.
	os.Remove(durable)
	os.WriteFile(latest, old, 0o600)
	if got := d.LoadState(); len(got) != 0 {
		t.Errorf("a counter file alone loads %+v, want nothing", got)
	}
	if _, err := os.Stat(latest); !os.IsNotExist(err) {
		t.Errorf("counter file alone kept: %v", err)
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestOldStateFileLoads: a file of an earlier version (no sequence number)
// loads, and a counter file written after it is newer.
func TestOldStateFileLoads(t *testing.T) {
	t.Parallel()
	d, _ := countingDir(t)
	dir := filepath.Join(d.Path(), "state")
	old := `{"fingerprint":"f","failures":2,"notified":["bob"],"last_level":2,"last_run":"2026-03-01T10:00:00Z","last_ok":false}`
	if err := os.WriteFile(filepath.Join(dir, "web.json"), []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	want := mrt.TestState{Fingerprint: "f", Failures: 2, Notified: []string{"bob"}, LastLevel: 2, LastRun: t0}
	if got := d.LoadState()["web"]; !reflect.DeepEqual(got, want) {
		t.Fatalf("old file loads %+v, want %+v", got, want)
	}
	save(t, d, "web", want) // durable: the Dir does not know the file
	want.Failures++
	save(t, d, "web", want)
	d2, _ := Open(d.Path(), nil)
	if got := d2.LoadState()["web"]; !reflect.DeepEqual(got, want) {
		t.Errorf("loads %+v, want %+v", got, want)
	}
}

// TestSaveOrderPerTest: while a durable save of x waits in fsync, a
// counter-only save of y does not wait for it, and one of x waits and
// lands after it.
func TestSaveOrderPerTest(t *testing.T) {
	t.Parallel()
	d, _ := countingDir(t)
	save(t, d, "x", failing())
	save(t, d, "y", failing())
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	d.fsync = func(*os.File) error {
		once.Do(func() { close(entered); <-release })
		return nil
	}
	paged := failing()
	paged.Notified = []string{"bob", "sms"}
	counted := paged
	counted.Failures++
	var wg sync.WaitGroup
	wg.Go(func() { save(t, d, "x", paged) })
	<-entered
	// Would wait for release (and hang) if counter-only saves queued
	// behind the group commit.
	y := failing()
	y.Failures++
	save(t, d, "y", y)
	wg.Go(func() { save(t, d, "x", counted) })
	for users("x", d) < 2 { // the second save of x waits for the first
		runtime.Gosched()
	}
	close(release)
	wg.Wait()
	got := d.LoadState()
	if !reflect.DeepEqual(got["x"], counted) {
		t.Errorf("x loads %+v, want the later, counter-only save %+v", got["x"], counted)
	}
	if !reflect.DeepEqual(got["y"], y) {
		t.Errorf("y loads %+v, want %+v", got["y"], y)
	}
}

func users(name string, d *Dir) int {
	d.tmu.Lock()
	defer d.tmu.Unlock()
	if tf := d.tests[name]; tf != nil {
		return tf.users
	}
	return 0
}

// TestSaveOrderUnderConcurrency: goroutines save the same tests at once,
// mixing durable and counter-only saves; what loads afterwards is, for
// each test, the state the Dir wrote last. Run it with -race.
func TestSaveOrderUnderConcurrency(t *testing.T) {
	t.Parallel()
	d, _ := countingDir(t)
	const tests, workers, saves = 4, 4, 30
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for n := range saves {
				st := failing()
				st.Failures = 1 + w*saves + n
				if n%3 == 0 { // durable: someone else paged
					st.Notified = []string{fmt.Sprintf("w%d-%d", w, n)}
				}
				if err := d.SaveTest(fmt.Sprintf("t%d", n%tests), st); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	got := d.LoadState()
	for i := range tests {
		name := fmt.Sprintf("t%d", i)
		d.tmu.Lock()
		tf := d.tests[name]
		d.tmu.Unlock()
		if tf == nil || !tf.known {
			t.Fatalf("%s: no state known", name)
		}
		if !reflect.DeepEqual(got[name], tf.last) {
			t.Errorf("%s loads %+v, want the last written %+v", name, got[name], tf.last)
		}
	}
}

// BenchmarkSaveTest compares a counter-only save with a durable one (real
// fsync).
func BenchmarkSaveTest(b *testing.B) {
	for _, durable := range []bool{false, true} {
		b.Run(map[bool]string{false: "counter-only", true: "durable"}[durable], func(b *testing.B) {
			d, err := Open(b.TempDir(), nil)
			if err != nil {
				b.Fatal(err)
			}
			st := failing()
			if err := d.SaveTest("web", st); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				st.Failures++
				st.LastRun = st.LastRun.Add(time.Second)
				if durable {
					st.LastNotify = st.LastRun
				}
				if err := d.SaveTest("web", st); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestCounterSaveInPlace: the first counter-only save creates
// TEST.json.latest by a rename; the next ones overwrite that file in place
// (same inode), padded so that a shorter content leaves nothing of the
// longer one; content longer than a page goes by a rename again.
func TestCounterSaveInPlace(t *testing.T) {
	d, _ := countingDir(t)
	st := failing()
	save(t, d, "web", st) // durable: TEST.json
	latest := filepath.Join(d.Path(), "state", "web.json"+latestSuffix)
	inode := func() os.FileInfo {
		t.Helper()
		fi, err := os.Stat(latest)
		if err != nil {
			t.Fatalf("stat %s: %v", latest, err)
		}
		return fi
	}
	st.Failures, st.Passes = 4, 123456789 // a long counter first
	save(t, d, "web", st)
	first := inode()
	st.Failures, st.Passes = 5, 0 // shorter content
	save(t, d, "web", st)
	if second := inode(); !os.SameFile(first, second) || second.Size() != first.Size() {
		t.Errorf("second counter save: file %v (size %d), want the same file and size as %v (%d)", second.Name(), second.Size(), first.Name(), first.Size())
	}
	if got := d.LoadState()["web"]; got.Failures != 5 || got.Passes != 0 {
		t.Errorf("after the in-place save, loaded failures %d passes %d; want 5, 0", got.Failures, got.Passes)
	}
	// Longer than a page: written by a rename (a new file).
	d2, _ := countingDir(t)
	st = failing()
	save(t, d2, "web", st)
	st.Failures = 4
	save(t, d2, "web", st)
	latest = filepath.Join(d2.Path(), "state", "web.json"+latestSuffix)
	small := inode()
	if err := writeLatest(latest, []byte(`{"seq":1,"failures":9,"flap_to":["`+strings.Repeat("x", inPlaceMax)+`"]}`), true); err != nil {
		t.Fatal(err)
	}
	if big := inode(); os.SameFile(small, big) {
		t.Error("content longer than a page was written in place, want a rename")
	}
}

// BenchmarkLatestWrite compares, in one run, the two ways a counter-only
// save can reach TEST.json.latest: writeLatest's in-place write and a
// temporary file renamed over it (as every save did before).
func BenchmarkLatestWrite(b *testing.B) {
	data, err := json.Marshal(stateFile{Seq: 1, TestState: failing()})
	if err != nil {
		b.Fatal(err)
	}
	for _, inPlace := range []bool{true, false} {
		b.Run(map[bool]string{true: "in-place", false: "rename"}[inPlace], func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "web.json"+latestSuffix)
			if err := writeTemp(path, data, nil); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if inPlace {
					err = writeLatest(path, data, true)
				} else {
					err = writeTemp(path, data, nil)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
