package builtins

import (
	"strings"
	"syscall"
	"testing"
	"time"
)

// newDiskForTest builds a disk check whose statfs reports st.
func newDiskForTest(t *testing.T, raw map[string]string, st syscall.Statfs_t, err error) *Disk {
	t.Helper()
	c, nerr := newTestCheck(t, diskDescriptor(), raw)
	if nerr != nil {
		t.Fatalf("new disk check: %v", nerr)
	}
	d := c.(*Disk)
	d.statfs = func(path string, out *syscall.Statfs_t) error {
		*out = st
		return err
	}
	return d
}

func TestDisk(t *testing.T) {
	t.Parallel()
	// 1000 blocks of 4 KiB, 50 reserved for root: usable 950.
	fs := func(bfree, ffree uint64) syscall.Statfs_t {
		return syscall.Statfs_t{Bsize: 4096, Frsize: 4096, Blocks: 1000, Bfree: bfree, Bavail: bfree - 50,
			Files: 1000, Ffree: ffree}
	}
	tests := []struct {
		name    string
		raw     map[string]string
		st      syscall.Statfs_t
		err     error
		wantErr []string
		want    map[string]float64
	}{
		{name: "plenty", st: fs(500, 900), want: map[string]float64{"free_bytes": 450 * 4096, "total_bytes": 1000 * 4096}},
		{name: "below default 10%", st: fs(130, 900), wantErr: []string{"/data: 320.0 KiB free (8.4%), less than min_free 10%"}},
		{name: "size limit", raw: map[string]string{"min_free": "2M"}, st: fs(500, 900),
			wantErr: []string{"less than min_free 2.0 MiB"}},
		{name: "size limit met", raw: map[string]string{"min_free": "1M"}, st: fs(500, 900)},
		{name: "inodes", st: fs(500, 40), wantErr: []string{"4.0% of inodes free (40 of 1000), less than min_inodes_free 5%"}},
		{name: "both", st: fs(60, 10), wantErr: []string{"less than min_free", "of inodes free"}},
		{name: "limits off", raw: map[string]string{"min_free": "", "min_inodes_free": ""}, st: fs(60, 10)},
		{name: "no inode counts (btrfs)", st: syscall.Statfs_t{Bsize: 4096, Blocks: 10, Bfree: 10, Bavail: 10}},
		{name: "statfs fails", err: syscall.ENOENT, wantErr: []string{"statfs /data: no such file or directory"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := map[string]string{"path": "/data"}
			for k, v := range tt.raw {
				raw[k] = v
			}
			c := newDiskForTest(t, raw, tt.st, tt.err)
			stats, err := runGuarded(t, c, 5*time.Second)
			checkErrs(t, err, tt.wantErr)
			for k, v := range tt.want {
				if stats[k] != v {
					t.Errorf("stats[%s] = %v, want %v", k, stats[k], v)
				}
			}
		})
	}
}

// TestDiskReal runs against the test's temporary directory with the real
// statfs: it must report something sensible and pass with limits off.
func TestDiskReal(t *testing.T) {
	t.Parallel()
	c, err := newTestCheck(t, diskDescriptor(), map[string]string{"path": t.TempDir(), "min_free": "", "min_inodes_free": ""})
	if err != nil {
		t.Fatal(err)
	}
	stats, err := runGuarded(t, c, 5*time.Second)
	if err != nil || stats["total_bytes"] <= 0 {
		t.Fatalf("Run() = %v, %v; want total_bytes > 0 and no error", stats, err)
	}
}

// checkErrs fails the test unless err's text contains every one of want
// (want empty: err must be nil).
func checkErrs(t *testing.T, err error, want []string) {
	t.Helper()
	if len(want) == 0 {
		if err != nil {
			t.Fatalf("Run() error = %v, want nil", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("Run() error = nil, want %q", want)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("Run() error = %v, want one containing %q", err, w)
		}
	}
}
