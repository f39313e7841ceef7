package statedir

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/monsta/monsta/runtime"
)

// within runs f and fails the test if it has not returned within 10 s: a
// FIFO that blocks an open turns into a failure, not a hang.
func within(t *testing.T, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s did not return within 10 s", what)
	}
}

func mkfifo(t *testing.T, path string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
}

// sparse makes a file of size bytes that takes no disk space.
func sparse(t *testing.T, path string, size int64) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

// asideAs returns the files that path was moved aside to with kind (bad,
// corrupt), and fails if path is still there.
func asideAs(t *testing.T, path, kind string) {
	t.Helper()
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s still in place (%v)", path, err)
	}
	if m, _ := filepath.Glob(path + "." + kind + "-*"); len(m) != 1 {
		t.Errorf("%s not moved aside as %s.%s-TIME: %v", path, filepath.Base(path), kind, m)
	}
}

func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	mkfifo(t, fifo)
	huge := filepath.Join(dir, "huge")
	sparse(t, huge, 1536<<20)
	exact := filepath.Join(dir, "exact")
	sparse(t, exact, MaxFileSize)
	sock := filepath.Join(dir, "sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for _, tc := range []struct {
		path string
		want error
		text string
	}{
		{fifo, ErrNotRegular, "not a regular file (a named pipe)"},
		{sock, ErrNotRegular, "not a regular file (a socket)"},
		{"/dev/null", ErrNotRegular, "not a regular file (a character device)"},
		{dir, ErrNotRegular, "not a regular file (a directory)"},
		{huge, ErrTooLarge, "file too large: 1610612736 bytes, more than 1 MiB (the most a state file can be)"},
		{exact, nil, ""},
	} {
		var data []byte
		var err error
		within(t, "ReadFile("+tc.path+")", func() { data, err = ReadFile(tc.path, MaxFileSize) })
		if !errors.Is(err, tc.want) || (err != nil && !strings.HasPrefix(err.Error(), tc.text)) {
			t.Errorf("ReadFile(%s) error = %v, want %q", tc.path, err, tc.text)
		}
		if tc.want == nil && len(data) != MaxFileSize {
			t.Errorf("ReadFile(%s) read %d bytes, want %d", tc.path, len(data), MaxFileSize)
		}
		if Refused(err) != (tc.want != nil) {
			t.Errorf("Refused(%v) = %v", err, Refused(err))
		}
	}
}

// TestFIFOsDoNotBlock puts FIFOs where every state file goes: reading the
// directory at start returns, moves them aside (NAME.bad-TIME) and keeps
// the good files; saves over a FIFO replace it.
func TestFIFOsDoNotBlock(t *testing.T) {
	root := t.TempDir()
	d, err := Open(root, nil)
	if err != nil {
		t.Fatal(err)
	}
	st := runtime.TestState{Failures: 1, Notified: []string{"n"}}
	if err := d.SaveTest("good", st); err != nil {
		t.Fatal(err)
	}
	if err := d.SaveTest("withlatest", st); err != nil {
		t.Fatal(err)
	}
	id, err := d.Put("n", runtime.Message{Test: "good", State: runtime.StateFail})
	if err != nil {
		t.Fatal(err)
	}
	fifos := []string{
		filepath.Join(root, "state", "fifo.json"),
		filepath.Join(root, "state", "withlatest.json.latest"),
		filepath.Join(root, "outbox", "n", "00000000000000000000-00000000.json"),
		filepath.Join(root, "failed", "n", "x.json"),
	}
	for _, p := range fifos {
		mkfifo(t, p)
	}
	d2, _ := Open(root, nil)
	var state map[string]runtime.TestState
	var pending []runtime.Pending
	within(t, "reading the state directory", func() {
		state = d2.LoadState()
		pending = d2.Pending()
		d2.Failures()
	})
	if len(state) != 2 || state["good"].Failures != 1 || state["withlatest"].Failures != 1 {
		t.Errorf("LoadState() = %+v, want good and withlatest", state)
	}
	if len(pending) != 1 || pending[0].ID != id {
		t.Errorf("Pending() = %+v, want the one message put", pending)
	}
	for _, p := range fifos[:3] {
		asideAs(t, p, "bad")
	}
	// A FIFO where TEST.json.latest goes does not block a counter-only save.
	latest := filepath.Join(root, "state", "good.json.latest")
	mkfifo(t, latest)
	d3, _ := Open(root, nil)
	d3.LoadState() // moves it aside; put another one back for the save
	mkfifo(t, latest)
	d3.tests = map[string]*testFile{"good": {known: true, last: st}}
	st.Failures = 2
	within(t, "SaveTest over a FIFO", func() { err = d3.SaveTest("good", st) })
	if err != nil {
		t.Fatalf("SaveTest() over a FIFO error = %v", err)
	}
	if fi, err := os.Lstat(latest); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("%s after the save: %v, %v; want a regular file", latest, fi, err)
	}
}

// TestHugeFilesRefusedUnread puts 1.5 GB sparse files where state and
// outbox files go: they are moved aside without being read.
func TestHugeFilesRefusedUnread(t *testing.T) {
	root := t.TempDir()
	d, _ := Open(root, nil)
	files := []string{
		filepath.Join(root, "state", "huge.json"),
		filepath.Join(root, "outbox", "n", "00000000000000000001-00000001.json"),
	}
	for _, p := range files {
		sparse(t, p, 1536<<20)
	}
	var before, after goruntime.MemStats
	goruntime.ReadMemStats(&before)
	state, pending := d.LoadState(), d.Pending()
	goruntime.ReadMemStats(&after)
	if len(state) != 0 || len(pending) != 0 {
		t.Errorf("LoadState() = %v, Pending() = %v; want nothing", state, pending)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 1<<20 {
		t.Errorf("reading past two 1.5 GB files allocated %d bytes, want under 1 MiB", alloc)
	}
	for _, p := range files {
		asideAs(t, p, "bad")
	}
}

// TestPutFitsMaxFileSize: an outbox file is never too large to be read
// back.
func TestPutFitsMaxFileSize(t *testing.T) {
	root := t.TempDir()
	d, _ := Open(root, nil)
	big := strings.Repeat("é", MaxFileSize)
	m := runtime.Message{Test: "web", State: runtime.StateFail, Short: "web FAIL", Long: big,
		Checks: []runtime.CheckResult{{Check: "c", Errors: []string{big}, Stats: runtime.Stats{"x": 1}}}}
	if _, err := d.Put("n", m); err != nil {
		t.Fatalf("Put() of a %d-byte message error = %v", 2*len(big), err)
	}
	p := Existing(root).Pending()
	if len(p) != 1 || p[0].Message.Short != "web FAIL" || !strings.HasSuffix(p[0].Message.Long, "[cut]") {
		t.Fatalf("Pending() = %d messages, want the one put, cut", len(p))
	}
	if len(m.Checks[0].Errors[0]) != len(big) || m.Checks[0].Stats == nil {
		t.Error("Put() changed the caller's check results")
	}
}

// fullDisk is an outbox writer that fails with ENOSPC while full is set,
// for files in outbox/ (failed/ has room: Fail is tested meanwhile).
type fullDisk struct {
	d     *Dir
	full  atomic.Bool
	tries atomic.Int64
}

func (f *fullDisk) write(path string, data []byte) error {
	f.tries.Add(1)
	if f.full.Load() && strings.Contains(path, string(filepath.Separator)+"outbox"+string(filepath.Separator)) {
		return &os.PathError{Op: "write", Path: path, Err: syscall.ENOSPC}
	}
	return f.d.writeAtomic(path, data)
}

// TestOutboxFullDisk: pages put while the disk is full are kept in
// memory, counted at risk, and written once the disk has room; a restart
// (a new Dir over the same files, as after kill -9) then finds every page
// that was not delivered meanwhile.
func TestOutboxFullDisk(t *testing.T) {
	root := t.TempDir()
	d, _ := Open(root, nil)
	disk := &fullDisk{d: d}
	d.write, d.retryWait = disk.write, 5*time.Millisecond
	disk.full.Store(true)
	ids := putOnFullDisk(t, d, 100)
	// Delivered from memory meanwhile: never written, not at risk.
	if err := d.Delete("n", ids[0]); err != nil {
		t.Fatal(err)
	}
	// Given up meanwhile: goes to failed/ with its content.
	if err := d.Fail("n", ids[1], "refused"); err != nil {
		t.Fatal(err)
	}
	// A restart now would lose them: nothing is on disk.
	if p := Existing(root).Pending(); len(p) != 0 {
		t.Fatalf("Pending() on a full disk = %d, want 0", len(p))
	}
	c := Collector(func() *Dir { return d })
	if got := testutil.ToFloat64(metric(c, "monsta_pages_at_risk")); got != 98 {
		t.Errorf("monsta_pages_at_risk = %v, want 98", got)
	}
	// The retries go on while the disk is full: two rounds at least.
	poll(t, "two rounds of retries", func() bool { return disk.tries.Load() >= 100+1+2*98 })
	disk.full.Store(false)
	poll(t, "no page at risk once the disk has room", func() bool { n, _ := d.AtRisk(); return n == 0 })
	if got := d.OutboxWriteFailures(); got < 100+2*98 {
		t.Errorf("OutboxWriteFailures() = %d, want at least %d", got, 100+2*98)
	}
	if got := testutil.ToFloat64(metric(c, "monsta_pages_at_risk")); got != 0 {
		t.Errorf("monsta_pages_at_risk after the retries = %v, want 0", got)
	}
	checkResumed(t, root, ids[2:])
}

// putOnFullDisk puts n messages and checks that each is refused by the
// disk and counted at risk.
func putOnFullDisk(t *testing.T, d *Dir, n int) []string {
	t.Helper()
	var ids []string
	for i := range n {
		id, err := d.Put("n", runtime.Message{Test: "web", State: runtime.StateFail, Failures: i + 1})
		if !errors.Is(err, syscall.ENOSPC) || id == "" {
			t.Fatalf("Put() on a full disk = %q, %v; want an id and ENOSPC", id, err)
		}
		ids = append(ids, id)
	}
	got, err := d.AtRisk()
	if got != n || !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("AtRisk() = %d, %v; want %d, ENOSPC", got, err, n)
	}
	want := fmt.Sprintf("%d PAGES AT RISK (outbox not writable: ", n)
	if line := AtRiskLine(got, err); !strings.HasPrefix(line, want) {
		t.Errorf("AtRiskLine() = %q, want it to start %q", line, want)
	}
	return ids
}

// checkResumed is the restart after kill -9: a new Dir finds the pages
// ids (the first two failed and delivered) on disk, in order, and the one
// given up in failed/.
func checkResumed(t *testing.T, root string, ids []string) {
	t.Helper()
	p := Existing(root).Pending()
	if len(p) != len(ids) {
		t.Fatalf("Pending() after the disk had room = %d messages, want %d", len(p), len(ids))
	}
	for i, x := range p {
		if x.ID != ids[i] || x.Message.Failures != i+3 {
			t.Errorf("Pending()[%d] = %s failures %d, want %s failures %d", i, x.ID, x.Message.Failures, ids[i], i+3)
		}
	}
	if f := Existing(root).Failures(); len(f) != 1 || f[0].Reason != "refused" || f[0].Test != "web" {
		t.Errorf("Failures() = %+v, want the one given up, with its test", f)
	}
}

// poll waits for cond, for 10 s at most.
func poll(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for i := 0; !cond(); i++ {
		if i == 1000 {
			t.Fatalf("no %s within 10 s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// metric picks one metric of a collector by name.
func metric(c prometheus.Collector, name string) prometheus.Collector {
	return filtered{c, name}
}

type filtered struct {
	c    prometheus.Collector
	name string
}

func (f filtered) Describe(ch chan<- *prometheus.Desc) { f.c.Describe(ch) }
func (f filtered) Collect(ch chan<- prometheus.Metric) {
	all := make(chan prometheus.Metric, 16)
	go func() { f.c.Collect(all); close(all) }()
	for m := range all {
		if strings.Contains(m.Desc().String(), `"`+f.name+`"`) {
			ch <- m
		}
	}
}
