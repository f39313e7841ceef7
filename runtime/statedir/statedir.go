// Package statedir keeps monsta's state on disk: each test's escalation
// state and the outbox of notifications not yet delivered. Every file is
// replaced atomically (a temporary file renamed over it, or for
// TEST.json.latest one write of at most a page in place), so a crash or
// kill -9 leaves either the old or the new content; a file that cannot be
// read back is moved aside and logged, never fatal.
//
// Outbox and failed files, and a test state whose change a restart needs
// to page neither twice nor never, are also durable: fsync of the file
// before the rename and of the directory after it, so a power loss keeps
// them too. A test state that only advances counters (the failure count
// of a streak already saved, passes, flap history, last run) is not
// fsynced: it overwrites TEST.json.latest beside TEST.json, and a power loss
// can set it back to the last durable save, a few runs behind, but never
// lose or repeat a page (see durableChange).
//
// Layout under the state directory:
//
//	state/TEST.json                 one per test with a non-empty streak
//	state/TEST.json.latest          the same after later counter-only runs
//	outbox/NOTIFICATION/ID.json     queued, not yet delivered
//	failed/NOTIFICATION/ID.json     given up or refused for good, with the reason
package statedir

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/monsta/monsta/runtime"
)

// Dir is an opened state directory. It implements runtime.StateSaver and
// runtime.Outbox.
type Dir struct {
	path string
	log  *slog.Logger
	seq  atomic.Uint64
	// fsync makes a file or a directory durable; nil is (*os.File).Sync.
	// Tests count the syncs with it.
	fsync func(*os.File) error
	// stateSeq numbers test state writes (nextSeq).
	stateSeq atomic.Uint64
	// Durable test states are written by group commit (see commit): mu
	// guards queue and writing.
	mu      sync.Mutex
	queue   []*stateWrite
	writing bool
	// tmu guards tests: a test's entry exists while a save of it is under
	// way or while this Dir knows what its files hold (testFile).
	tmu   sync.Mutex
	tests map[string]*testFile
	// risk holds the outbox files that could not be written yet.
	risk unwritten
	// write replaces writeAtomic for outbox and failed files; tests
	// inject a full disk with it. retryWait replaces retryFirst.
	write     func(path string, data []byte) error
	retryWait time.Duration
}

// Open creates the directory layout (mode 0750) and returns the Dir.
func Open(path string, log *slog.Logger) (*Dir, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	for _, sub := range []string{"", "state", "outbox", "failed"} {
		if err := os.MkdirAll(filepath.Join(path, sub), 0o750); err != nil {
			return nil, fmt.Errorf("state directory: %w", err)
		}
	}
	return &Dir{path: path, log: log}, nil
}

// Path returns the directory.
func (d *Dir) Path() string { return d.path }

// fileName turns a section name into a safe file name.
func fileName(name string) string {
	s := url.PathEscape(name)
	if strings.HasPrefix(s, ".") {
		s = "%2E" + s[1:]
	}
	return s
}

func nameOf(file string) string {
	s, err := url.PathUnescape(strings.TrimSuffix(file, ".json"))
	if err != nil {
		return file
	}
	return s
}

// WriteAtomic writes data to path so that readers see the old or the new
// content, also after a crash or a power loss (write, fsync, rename, fsync
// the directory).
func WriteAtomic(path string, data []byte) error {
	if err := writeTemp(path, data, (*os.File).Sync); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path), (*os.File).Sync)
}

// writeAtomic is WriteAtomic with d's fsync.
func (d *Dir) writeAtomic(path string, data []byte) error {
	if err := writeTemp(path, data, d.sync()); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path), d.sync())
}

// sync returns the function that fsyncs a file or a directory.
func (d *Dir) sync() func(*os.File) error {
	if d.fsync != nil {
		return d.fsync
	}
	return (*os.File).Sync
}

// writeTemp writes data to a temporary file beside path, fsyncs it when
// fsync is not nil, and renames it to path. Without fsync the new content
// is safe from a kill -9 (it is in the kernel) but not from a power loss.
func writeTemp(path string, data []byte, fsync func(*os.File) error) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil && fsync != nil {
		err = fsync(f)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

func syncDir(dir string, fsync func(*os.File) error) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return fsync(f)
}

// setAside renames a file that cannot be read to NAME.corrupt-TIME, or
// one that is not a state file at all (a FIFO, a device, a file too
// large) to NAME.bad-TIME (MoveAside).
func (d *Dir) setAside(path string, err error) {
	dst, rerr := MoveAside(path, err, time.Now())
	if rerr != nil {
		d.log.Error("unreadable state file, and it cannot be moved aside", "file", path, "err", err, "rename_err", rerr)
		return
	}
	d.log.Error("unreadable state file moved aside; starting without it", "file", path, "kept_as", dst, "err", err)
}

// readJSON decodes the state file at path, read by ReadFile: never more
// than MaxFileSize, and never blocking on a FIFO.
func readJSON(path string, v any) error {
	data, err := ReadFile(path, MaxFileSize)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("decode: %w", err)
	}
	return nil
}

// envelope is one outbox or failed file.
type envelope struct {
	Notification string          `json:"notification"`
	Queued       time.Time       `json:"queued"`
	Message      runtime.Message `json:"message"`
	Reason       string          `json:"reason,omitempty"`
	Failed       time.Time       `json:"failed,omitzero"`
}

// Put implements runtime.Outbox. IDs sort in the order messages were put.
//
// A file that cannot be written (a full disk) is kept in memory and
// written again with backoff (see unwritten): Put then returns the id
// together with the error, the id stays good for Delete and Fail, and
// AtRisk counts the page until it is on disk.
func (d *Dir) Put(notification string, m runtime.Message) (string, error) {
	dir := filepath.Join(d.path, "outbox", fileName(notification))
	now := time.Now()
	id := fmt.Sprintf("%020d-%08d", now.UnixNano(), d.seq.Add(1)%1e8)
	data, err := encodeEnvelope(envelope{Notification: notification, Queued: now, Message: m})
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, id+".json")
	err = os.MkdirAll(dir, 0o750)
	if err == nil {
		err = d.writeOutbox(path, data)
	}
	if err != nil {
		d.keep(path, data, err)
		return id, fmt.Errorf("outbox: %w (kept in memory and retried: pages at risk)", err)
	}
	return id, nil
}

// encodeEnvelope encodes an outbox file of at most MaxFileSize bytes, so
// that it is never too large to be read back (fitMessage).
func encodeEnvelope(env envelope) ([]byte, error) {
	for step := 0; ; step++ {
		data, err := json.Marshal(env)
		if err == nil && len(data) <= MaxFileSize {
			return data, nil
		}
		m, ok := fitMessage(env.Message, step)
		if !ok {
			if err == nil {
				err = fmt.Errorf("%d bytes, more than %d", len(data), MaxFileSize)
			}
			return nil, fmt.Errorf("outbox: encode: %w", err)
		}
		env.Message = m
	}
}

// fitMessage returns m smaller for the step'th attempt to encode it:
// without stats (also where JSON cannot hold them: NaN), then with long
// texts cut, then without the check results. m.Checks is shared with the
// caller (and with every other notification of the same result), so each
// step changes copies.
func fitMessage(m runtime.Message, step int) (runtime.Message, bool) {
	switch step {
	case 0:
		m.Checks = withoutStats(m.Checks)
	case 1:
		const cut = 64 << 10
		m.Long, m.Reason = clip(m.Long, cut), clip(m.Reason, cut)
		checks := make([]runtime.CheckResult, len(m.Checks))
		for i, c := range m.Checks {
			c.Errors = slices.Clone(c.Errors)
			for j := range c.Errors {
				c.Errors[j] = clip(c.Errors[j], 1024)
			}
			checks[i] = c
		}
		m.Checks, m.CheckNames, m.Digest = checks, nil, nil
	case 2:
		m.Checks, m.Long = nil, clip(m.Long, 16<<10)
	default:
		return m, false
	}
	return m, true
}

// clip cuts s to at most n bytes, marking the cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + " [cut]"
}

// withoutStats returns a copy of checks with no stats.
func withoutStats(checks []runtime.CheckResult) []runtime.CheckResult {
	out := make([]runtime.CheckResult, len(checks))
	for i, c := range checks {
		c.Stats = nil
		out[i] = c
	}
	return out
}

// Delete implements runtime.Outbox.
func (d *Dir) Delete(notification, id string) error {
	p := filepath.Join(d.path, "outbox", fileName(notification), id+".json")
	if _, ok := d.forget(p); ok {
		return nil // never reached the disk
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("outbox: %w", err)
	}
	return nil
}

// Fail implements runtime.Outbox: the message moves to failed/ with the
// reason.
func (d *Dir) Fail(notification, id, reason string) error {
	src := filepath.Join(d.path, "outbox", fileName(notification), id+".json")
	var env envelope
	if data, ok := d.unwrittenData(src); ok {
		if json.Unmarshal(data, &env) != nil {
			env = envelope{Notification: notification}
		}
	} else if err := readJSON(src, &env); err != nil {
		env = envelope{Notification: notification}
	}
	env.Reason, env.Failed = reason, time.Now()
	data, err := json.Marshal(env)
	if err != nil {
		return fmt.Errorf("failed folder: %w", err)
	}
	dir := filepath.Join(d.path, "failed", fileName(notification))
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("failed folder: %w", err)
	}
	if err := d.writeOutbox(filepath.Join(dir, id+".json"), data); err != nil {
		return fmt.Errorf("failed folder: %w", err)
	}
	return d.Delete(notification, id)
}

// Pending returns the outbox's messages, oldest first per notification.
func (d *Dir) Pending() []runtime.Pending {
	var out []runtime.Pending
	root := filepath.Join(d.path, "outbox")
	dirs, err := os.ReadDir(root)
	if err != nil {
		d.log.Error("cannot read outbox", "dir", root, "err", err)
		return nil
	}
	for _, nd := range dirs {
		if !nd.IsDir() {
			continue
		}
		dir := filepath.Join(root, nd.Name())
		files, err := os.ReadDir(dir)
		if err != nil {
			d.log.Error("cannot read outbox", "dir", dir, "err", err)
			continue
		}
		names := make([]string, 0, len(files))
		for _, f := range files {
			if !f.IsDir() && strings.HasSuffix(f.Name(), ".json") && !strings.HasPrefix(f.Name(), ".") {
				names = append(names, f.Name())
			}
		}
		sort.Strings(names)
		for _, n := range names {
			p := filepath.Join(dir, n)
			var env envelope
			if err := readJSON(p, &env); err != nil {
				d.setAside(p, err)
				continue
			}
			out = append(out, runtime.Pending{Notification: nameOf(nd.Name()), ID: strings.TrimSuffix(n, ".json"), Message: env.Message})
		}
	}
	return out
}

// Failure is a message in the failed folder.
type Failure struct {
	Notification string
	Test         string
	State        runtime.State
	Reason       string
	Failed       time.Time
	File         string
}

// Failures lists the failed folder, for --lint.
func (d *Dir) Failures() []Failure {
	var out []Failure
	root := filepath.Join(d.path, "failed")
	dirs, _ := os.ReadDir(root)
	for _, nd := range dirs {
		files, _ := os.ReadDir(filepath.Join(root, nd.Name()))
		for _, f := range files {
			if !strings.HasSuffix(f.Name(), ".json") {
				continue
			}
			p := filepath.Join(root, nd.Name(), f.Name())
			var env envelope
			if readJSON(p, &env) != nil {
				continue
			}
			out = append(out, Failure{Notification: env.Notification, Test: env.Message.Test, State: env.Message.State, Reason: env.Reason, Failed: env.Failed, File: p})
		}
	}
	return out
}
