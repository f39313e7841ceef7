package fileread

import (
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestRead(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	small := write("small.conf", "[main]\n")
	big := write("big.conf", strings.Repeat("x", 2048))
	link := filepath.Join(dir, "link.conf")
	if err := os.Symlink(small, link); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo.conf")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	fifoLink := filepath.Join(dir, "fifo-link.conf")
	if err := os.Symlink(fifo, fifoLink); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "s.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	tests := []struct {
		name, path string
		max        int64
		limit      string
		data       string
		err        string
		is         error
	}{
		{name: "regular", path: small, max: 1024, data: "[main]\n"},
		{name: "at the cap", path: small, max: 7, data: "[main]\n"},
		{name: "link to regular", path: link, max: 1024, data: "[main]\n"},
		{name: "too large", path: big, max: 1024, limit: "the limit is set with --max-file-size",
			err: "file too large: 2048 bytes, more than 1 KiB (the limit is set with --max-file-size)", is: ErrTooLarge},
		{name: "too large, no limit note", path: big, max: 100,
			err: "file too large: 2048 bytes, more than 100 bytes", is: ErrTooLarge},
		{name: "fifo", path: fifo, max: 1024,
			err: "not a regular file (a named pipe); only regular files (or links to them) are read", is: ErrNotRegular},
		{name: "link to fifo", path: fifoLink, max: 1024,
			err: "not a regular file (a named pipe); only regular files (or links to them) are read", is: ErrNotRegular},
		{name: "directory", path: dir, max: 1024,
			err: "not a regular file (a directory); only regular files (or links to them) are read", is: ErrNotRegular},
		{name: "socket", path: sock, max: 1024,
			err: "not a regular file (a socket); only regular files (or links to them) are read", is: ErrNotRegular},
		{name: "character device", path: "/dev/zero", max: 1024,
			err: "not a regular file (a character device); only regular files (or links to them) are read", is: ErrNotRegular},
		{name: "missing", path: filepath.Join(dir, "gone.conf"), max: 1024,
			err: "no such file or directory", is: fs.ErrNotExist},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			type result struct {
				data []byte
				err  error
			}
			done := make(chan result, 1)
			go func() {
				data, err := Read(tc.path, tc.max, tc.limit)
				done <- result{data, err}
			}()
			var r result
			select {
			case r = <-done:
			case <-time.After(10 * time.Second):
				t.Fatalf("Read(%s) did not return within 10 s", tc.path)
			}
			if tc.err == "" {
				if r.err != nil || string(r.data) != tc.data {
					t.Fatalf("Read() = %q, %v; want %q, nil", r.data, r.err, tc.data)
				}
				return
			}
			if r.err == nil || r.err.Error() != tc.err || !errors.Is(r.err, tc.is) {
				t.Fatalf("Read() error = %v, want %q (is %v)", r.err, tc.err, tc.is)
			}
			if r.data != nil {
				t.Errorf("Read() returned %d bytes with its error", len(r.data))
			}
			if refused := tc.is != fs.ErrNotExist; Refused(r.err) != refused {
				t.Errorf("Refused(%v) = %v, want %v", r.err, !refused, refused)
			}
		})
	}
}
