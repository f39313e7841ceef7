package statedir

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/monsta/monsta/runtime"
)

// latestSuffix names the file of a test's counter-only saves,
// TEST.json.latest. Earlier versions ignore it (it does not end in .json).
const latestSuffix = ".latest"

// stateFile is what a test's state file holds: the state and the sequence
// number of its write, which tells whether TEST.json.latest is newer than
// TEST.json. Files of earlier versions have no sequence number (0).
type stateFile struct {
	Seq uint64 `json:"seq,omitempty"`
	runtime.TestState
}

// testFile is what a Dir knows of one test's files. mu is held for the
// whole of a save, so one test's saves never overlap: a counter-only write
// that follows a durable one cannot be overtaken by it in the group commit,
// nor the other way round. Saves of different tests do not wait for each
// other (durable ones share the group commit).
type testFile struct {
	mu    sync.Mutex
	users int // guarded by Dir.tmu: saves holding or waiting for mu
	// Guarded by mu. known says that last (with the results checks stands
	// for) is what LoadState would read back; noLatest that
	// TEST.json.latest surely does not exist.
	known    bool
	noLatest bool
	// last is the state without its Checks, which checks stands for (a
	// hash): the last results of every test are not kept twice.
	last   runtime.TestState
	checks uint64
}

// lockTest returns the test's entry, locked for one save.
func (d *Dir) lockTest(name string) *testFile {
	d.tmu.Lock()
	if d.tests == nil {
		d.tests = map[string]*testFile{}
	}
	tf := d.tests[name]
	if tf == nil {
		tf = &testFile{}
		d.tests[name] = tf
	}
	tf.users++
	d.tmu.Unlock()
	tf.mu.Lock()
	return tf
}

// unlockTest ends a save. The entry goes once no save holds or waits for
// it and it knows nothing: tests without a state file cost no memory.
func (d *Dir) unlockTest(name string, tf *testFile) {
	keep := tf.known
	tf.mu.Unlock()
	d.tmu.Lock()
	tf.users--
	if tf.users == 0 && !keep {
		delete(d.tests, name)
	}
	d.tmu.Unlock()
}

// SaveTest implements runtime.StateSaver. A save that changes what a
// restart needs to page neither twice nor never (durableChange) is durable
// before it returns: TEST.json by group commit (write, fsync, rename, one
// fsync of the directory for every save of the batch). A save that only
// advances counters goes to TEST.json.latest without fsync (write, rename):
// a kill -9 loses nothing, a power loss at most the runs since the last
// durable save. A test whose state is idle (no failures, no one paged, no
// recent failure in its flap history) needs no file: its files are removed
// and the removal made durable.
//
// The first save of a test by a Dir is durable, as the Dir does not know
// what the files hold; after it, the Dir keeps the state it wrote last.
func (d *Dir) SaveTest(name string, st runtime.TestState) error {
	path := filepath.Join(d.path, "state", fileName(name)+".json")
	tf := d.lockTest(name)
	defer d.unlockTest(name, tf)
	if st.Idle() {
		if err := d.removeTest(path, tf); err != nil {
			return fmt.Errorf("remove state of test %s: %w", name, err)
		}
		return nil
	}
	durable := !tf.known || durableChange(tf.last, st)
	sum := resultsSum(st.Checks)
	if !durable && sameCounters(tf.last, st) && sum == tf.checks {
		return nil // the files hold st already
	}
	tf.known = false // until the write below succeeds
	data, err := json.Marshal(stateFile{Seq: d.nextSeq(), TestState: st})
	if err != nil {
		return fmt.Errorf("encode state of test %s: %w", name, err)
	}
	if durable {
		if err := d.commit(path, data); err != nil {
			return fmt.Errorf("save state of test %s: %w", name, err)
		}
		// TEST.json.latest is older now (a lower sequence number): remove
		// it, so that LoadState reads one file. If that fails, it stays,
		// harmless, until the next durable save or LoadState.
		if !tf.noLatest {
			err := os.Remove(path + latestSuffix)
			tf.noLatest = err == nil || errors.Is(err, os.ErrNotExist)
		}
		st.Notified, st.FlapTo, st.PrevNotified = slices.Clone(st.Notified), slices.Clone(st.FlapTo), slices.Clone(st.PrevNotified)
	} else {
		if err := writeLatest(path+latestSuffix, data, !tf.noLatest); err != nil {
			return fmt.Errorf("save state of test %s: %w", name, err)
		}
		tf.noLatest = false
		// Equal to st's (durableChange); kept, not the caller's.
		st.Notified, st.FlapTo, st.PrevNotified = tf.last.Notified, tf.last.FlapTo, tf.last.PrevNotified
	}
	st.Checks = nil
	tf.last, tf.checks, tf.known = st, sum, true
	return nil
}

// resultsSum hashes check results (Err, which is never stored, aside), so
// that a Dir can tell a new last result from the one it wrote.
func resultsSum(rs []runtime.CheckResult) uint64 {
	h := fnv.New64a()
	for _, r := range rs {
		fmt.Fprintf(h, "%q %q %t %q %d %d\x00", r.Check, r.Type, r.OK, r.Errors, r.Start.UnixNano(), r.Duration)
		for _, k := range slices.Sorted(maps.Keys(r.Stats)) {
			fmt.Fprintf(h, "%q=%v,", k, r.Stats[k])
		}
	}
	return h.Sum64()
}

// inPlaceMax is the longest content writeLatest overwrites in place: one
// page, which write(2) copies whole or not at all.
const inPlaceMax = 4096

// writeLatest writes a counter-only save to TEST.json.latest. It
// overwrites the file in place, from its start, with one write(2) of data
// padded with spaces to the file's length (JSON allows the trailing
// space): no temporary file and no rename, so the directory does not
// change once the file exists. That is what made each save of a failing
// test cost about 0.3 ms of CPU and hold its P in the file system's
// directory locks; BenchmarkLatestWrite: 12 µs in place against 450 µs by
// a rename, in one run.
//
// A kill -9 leaves the old or the new content: the kernel copies a write
// into the page cache a page at a time and looks for a fatal signal only
// between pages, and the content is one page at most, at offset 0
// (longer content goes through a temporary file and a rename). A power
// loss may tear the page; LoadState then finds the file unreadable (or
// older) and uses TEST.json, the last durable save.
//
// A file that does not exist yet is created by a rename too, so that it
// never exists empty.
func writeLatest(path string, data []byte, exists bool) error {
	if len(data) > inPlaceMax || !exists {
		return writeTemp(path, data, nil)
	}
	// O_NONBLOCK: a FIFO put there must not block the save (without a
	// reader, the open fails with ENXIO); the rename replaces it.
	f, err := os.OpenFile(path, os.O_WRONLY|syscall.O_NONBLOCK, 0)
	if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ENXIO) {
		return writeTemp(path, data, nil)
	}
	if err != nil {
		return err
	}
	fi, err := f.Stat()
	if err == nil && (fi.Size() > inPlaceMax || !fi.Mode().IsRegular()) {
		f.Close()
		return writeTemp(path, data, nil) // written by a rename before, or not a file: replace it
	}
	if err == nil {
		if pad := int(fi.Size()) - len(data); pad > 0 {
			data = append(data, strings.Repeat(" ", pad)...)
		}
		_, err = f.WriteAt(data, 0)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// removeTest removes a test's files. When one was there, the directory is
// fsynced (by group commit): a streak that ended must not come back after
// a power loss, or its recovery would be sent again.
func (d *Dir) removeTest(path string, tf *testFile) error {
	tf.known = false
	removed := false
	// TEST.json first: a kill between the two removals leaves
	// TEST.json.latest alone, which LoadState ignores and removes.
	for _, p := range []string{path, path + latestSuffix} {
		if p != path && tf.noLatest {
			continue
		}
		err := os.Remove(p)
		if err == nil {
			removed = true
		} else if !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	tf.noLatest = true
	if removed {
		return d.commit("", nil)
	}
	return nil
}

// durableChange tells whether a test's state from a to b changes something
// a restart needs to page neither twice nor never; such a save is fsynced.
//
//   - Notified, LastLevel, LastNotify: who was paged, how far, and when
//     (renotify). Lost, a page would be sent again, or a recovery never.
//     Every run that sends a FAIL sets LastNotify, so the failure count of
//     every run that paged is durable too.
//   - Held, Owed: a page held back is owed when the hold ends; lost, it
//     would never be sent.
//   - Flapping, FlapTo, PrevNotified: whether the test flaps and who was
//     told; lost, FLAPPING or its end would be sent twice or never.
//   - Since, and Failures going from or to 0: the start and the end of a
//     streak (the end also removes the file, see removeTest).
//   - Fingerprint: which checks the state belongs to.
//
// The rest only counts, and after a power loss may be a few runs behind,
// never ahead: Failures within a streak (a level that paged is durable, as
// above, so a level can only fire a few runs late, never twice), Passes
// (recover_after: the recovery comes a few runs late), FlapHistory (the
// window of flap detection; entering or leaving flapping is durable),
// LastRun, LastOK and Next (the schedule: a run comes early), and the
// last result (Checks, Duration: a few runs old at worst, and the engine
// saves every change of outcome).
//
// TestEveryFieldClassified fails for a field of runtime.TestState added
// here and not there, or there and not here.
func durableChange(a, b runtime.TestState) bool {
	return a.Fingerprint != b.Fingerprint ||
		(a.Failures == 0) != (b.Failures == 0) || !a.Since.Equal(b.Since) ||
		!slices.Equal(a.Notified, b.Notified) || a.LastLevel != b.LastLevel || !a.LastNotify.Equal(b.LastNotify) ||
		a.Held != b.Held || a.Owed != b.Owed || a.OwedBy != b.OwedBy ||
		a.Flapping != b.Flapping || !slices.Equal(a.FlapTo, b.FlapTo) || !slices.Equal(a.PrevNotified, b.PrevNotified)
}

// sameCounters tells whether a and b agree on the fields durableChange
// leaves out, but for Checks, which SaveTest compares by resultsSum.
func sameCounters(a, b runtime.TestState) bool {
	return a.Failures == b.Failures && a.Passes == b.Passes && a.FlapHistory == b.FlapHistory &&
		a.LastRun.Equal(b.LastRun) && a.LastOK == b.LastOK && a.Next.Equal(b.Next) &&
		a.Duration == b.Duration
}

// nextSeq returns a sequence number above every earlier one of d, and above
// those LoadState read; as it starts from the clock, it is also above those
// of an earlier process that d never read.
func (d *Dir) nextSeq() uint64 {
	for {
		old := d.stateSeq.Load()
		n := max(old+1, uint64(time.Now().UnixNano()))
		if d.stateSeq.CompareAndSwap(old, n) {
			return n
		}
	}
}

// seenSeq makes the next sequence numbers of d higher than seq.
func (d *Dir) seenSeq(seq uint64) {
	for {
		old := d.stateSeq.Load()
		if old >= seq || d.stateSeq.CompareAndSwap(old, seq) {
			return
		}
	}
}

// commit writes data to path atomically and returns once it is durable,
// as WriteAtomic does, but by group commit: the first caller writes what
// every other caller queues meanwhile, with one fsync of the directory for
// the lot, while the others wait on a channel. Tests that fail together
// (an outage, a few hundred hung targets) then cost one goroutine in
// fsync at a time instead of one per worker: a goroutine blocked in a
// system call holds its CPU until the runtime notices, so many of them
// at once delay every check start behind them. An empty path writes
// nothing and waits for the fsync of the directory (a removal).
func (d *Dir) commit(path string, data []byte) error {
	w := &stateWrite{path: path, data: data, done: make(chan struct{})}
	d.mu.Lock()
	d.queue = append(d.queue, w)
	if d.writing {
		d.mu.Unlock()
		<-w.done
		return w.err
	}
	d.writing = true
	for len(d.queue) > 0 {
		batch := d.queue
		d.queue = nil
		d.mu.Unlock()
		d.writeBatch(filepath.Join(d.path, "state"), batch)
		d.mu.Lock()
	}
	d.writing = false
	d.mu.Unlock()
	return w.err
}

// stateWrite is one test's state waiting to be written.
type stateWrite struct {
	path string
	data []byte
	err  error
	done chan struct{}
}

// writeBatch writes every file of batch (all in dir) atomically: each to a
// temporary file, fsync, rename, then one fsync of dir for all. It sets
// each write's err and closes its done.
func (d *Dir) writeBatch(dir string, batch []*stateWrite) {
	fsync := d.sync()
	var done []*stateWrite
	for _, w := range batch {
		if w.path == "" {
			done = append(done, w)
		} else if w.err = writeTemp(w.path, w.data, fsync); w.err == nil {
			done = append(done, w)
		}
	}
	if len(done) > 0 {
		if err := syncDir(dir, fsync); err != nil {
			for _, w := range done {
				w.err = err
			}
		}
	}
	for _, w := range batch {
		close(w.done)
	}
}

// LoadState reads every test's saved state: TEST.json, or TEST.json.latest
// when it was written after it. An unreadable TEST.json is set aside; a
// TEST.json.latest that is unreadable (torn by a power loss), older than
// TEST.json, or alone (a kill while the state was removed) is removed. It
// is for start-up: a save going on meanwhile may lose its latest counters.
func (d *Dir) LoadState() map[string]runtime.TestState {
	out := map[string]runtime.TestState{}
	dir := filepath.Join(d.path, "state")
	entries, err := os.ReadDir(dir)
	if err != nil {
		d.log.Error("cannot read state directory", "dir", dir, "err", err)
		return out
	}
	var files []string
	latest := map[string]bool{}
	for _, e := range entries {
		n := e.Name()
		if e.IsDir() || strings.HasPrefix(n, ".") {
			continue
		}
		if strings.HasSuffix(n, ".json"+latestSuffix) {
			latest[strings.TrimSuffix(n, latestSuffix)] = true
		} else if strings.HasSuffix(n, ".json") {
			files = append(files, n)
		}
	}
	for _, n := range files {
		p := filepath.Join(dir, n)
		var f stateFile
		ok := true
		if err := readJSON(p, &f); err != nil {
			d.setAside(p, err)
			ok = false
		}
		if latest[n] {
			delete(latest, n)
			if l, newer := d.readLatest(p+latestSuffix, f.Seq, ok); newer {
				f, ok = l, true
			}
		}
		if ok {
			d.seenSeq(f.Seq)
			out[nameOf(n)] = f.TestState
		}
	}
	for n := range latest {
		os.Remove(filepath.Join(dir, n+latestSuffix))
	}
	return out
}

// readLatest reads TEST.json.latest and tells whether it is newer than
// TEST.json, whose sequence number is seq (and which is unreadable when
// !ok). One that is not is removed.
func (d *Dir) readLatest(p string, seq uint64, ok bool) (stateFile, bool) {
	var l stateFile
	if err := readJSON(p, &l); Refused(err) {
		d.setAside(p, err)
		return l, false
	} else if err != nil {
		d.log.Warn("state of the latest runs unreadable (after a power loss?), using the last durable one", "file", p, "err", err)
		os.Remove(p)
		return l, false
	}
	if ok && l.Seq <= seq {
		os.Remove(p)
		return l, false
	}
	return l, true
}
