package silence

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/monsta/monsta/runtime/statedir"
)

// TestOpenRefusesNonFiles: a FIFO where the silences file goes does not
// block Open, and neither it nor a huge (sparse) file is read; both are
// moved aside as NAME.bad-TIME and Open returns an empty store.
func TestOpenRefusesNonFiles(t *testing.T) {
	for _, tc := range []struct {
		name string
		make func(path string) error
		want error
	}{
		{"fifo", func(p string) error { return syscall.Mkfifo(p, 0o600) }, statedir.ErrNotRegular},
		{"huge", func(p string) error { return os.WriteFile(p, nil, 0o600) }, statedir.ErrTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, FileName)
			if err := tc.make(p); err != nil {
				t.Fatal(err)
			}
			if tc.name == "huge" {
				if err := os.Truncate(p, 1536<<20); err != nil {
					t.Fatal(err)
				}
			}
			type result struct {
				s   *Store
				err error
			}
			done := make(chan result, 1)
			go func() { s, err := Open(dir, nil); done <- result{s, err} }()
			var r result
			select {
			case r = <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("Open() did not return within 10 s")
			}
			if r.s == nil || len(r.s.List()) != 0 || !errors.Is(r.err, tc.want) {
				t.Errorf("Open() = %v, %v; want an empty store and %v", r.s, r.err, tc.want)
			}
			if m, _ := filepath.Glob(p + ".bad-*"); len(m) != 1 {
				t.Errorf("not moved aside as %s.bad-TIME: %v", FileName, m)
			}
		})
	}
}
