package statedir

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Existing returns the Dir at path without creating anything, for readers
// that must leave the directory as they found it (--lint). Reading a
// missing folder yields nothing.
func Existing(path string) *Dir {
	return &Dir{path: path, log: slog.New(slog.DiscardHandler)}
}

// Own makes path, and everything below it, owned by uid:gid, creating
// path (mode 0750) when missing. It never follows a symbolic link: links
// are re-owned themselves (Lchown), and one that points outside path is
// refused. A folder other than monsta's own (state, outbox, failed) at the
// top is refused too, so that a statedir pointed at a shared directory
// (/var/lib, say) changes nothing. It is for a daemon started as root,
// before it drops to uid.
func Own(path string, uid, gid int) error {
	if err := os.MkdirAll(path, 0o750); err != nil {
		return err
	}
	top, err := os.ReadDir(path)
	if err != nil {
		return err
	}
	for _, e := range top {
		switch e.Name() {
		case "state", "outbox", "failed":
			continue
		}
		if e.IsDir() {
			return fmt.Errorf("%s holds the folder %q, which is not monsta's; refusing to change owners there (point it at a directory of its own)", path, e.Name())
		}
	}
	// Check every link first, so that a refusal changes nothing.
	if err := walk(path, func(string, fs.DirEntry, *syscall.Stat_t) error { return nil }); err != nil {
		return err
	}
	return walk(path, func(p string, d fs.DirEntry, st *syscall.Stat_t) error {
		if int(st.Uid) == uid && int(st.Gid) == gid {
			return nil
		}
		if err := os.Lchown(p, uid, gid); err != nil {
			return err
		}
		return nil
	})
}

// Usable reports whether a daemon running as the effective user euid can
// use path: path, and everything below it, must be owned by euid or be
// readable and writable through access(2). A missing path is created. The
// error names the first entry that is not usable.
func Usable(path string, euid int) error {
	if err := os.MkdirAll(path, 0o750); err != nil {
		return err
	}
	return walk(path, func(p string, d fs.DirEntry, st *syscall.Stat_t) error {
		if int(st.Uid) == euid || d.Type()&fs.ModeSymlink != 0 {
			return nil
		}
		mode := uint32(unix.R_OK | unix.W_OK)
		if d.IsDir() {
			mode |= unix.X_OK
		}
		if euid == os.Geteuid() && unix.Faccessat(unix.AT_FDCWD, p, mode, unix.AT_EACCESS) == nil {
			return nil
		}
		return fmt.Errorf("%s is owned by uid %d, not by uid %d the daemon runs as", p, st.Uid, euid)
	})
}

// walk calls fn for path and every entry below it, without following
// symbolic links; a link that points outside path is an error.
func walk(path string, fn func(p string, d fs.DirEntry, st *syscall.Stat_t) error) error {
	root, err := filepath.EvalSymlinks(path)
	if err != nil {
		return err
	}
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := os.Lstat(p)
		if err != nil {
			return err
		}
		st, ok := info.Sys().(*syscall.Stat_t)
		if !ok {
			return fmt.Errorf("%s: no owner information", p)
		}
		if p != root && d.Type()&fs.ModeSymlink != 0 {
			target, err := filepath.EvalSymlinks(p)
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
			if err != nil || !inside(root, target) {
				return fmt.Errorf("%s is a symbolic link that points outside the state directory or nowhere", p)
			}
		}
		return fn(p, d, st)
	})
}

// inside reports whether p is root or below it.
func inside(root, p string) bool {
	return p == root || strings.HasPrefix(p, root+string(filepath.Separator))
}
