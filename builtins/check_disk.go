package builtins

import (
	"context"
	"errors"
	"fmt"
	"syscall"

	"github.com/monsta/monsta/runtime"
)

func diskDescriptor() runtime.Descriptor {
	return runtime.Descriptor{
		Kind:        runtime.KindCheck,
		Name:        "disk",
		Description: "free space and free inodes of the file system holding a path",
		Help: "The check asks the kernel (statfs) about the file system that holds path, so one check " +
			"watches one mount; use one check per mount point. Free space is what df shows as Avail " +
			"(the blocks reserved for root do not count as free), and a percentage is of used+avail " +
			"as in df's Use%. File systems that report no inode counts (btrfs) pass the inode limit. " +
			"Stats: free_bytes, free_percent, total_bytes, inodes_free_percent.",
		Options: []runtime.Option{
			{Name: "path", Required: true, Help: "A path on the file system to check, usually its mount point."},
			{Name: "min_free", Default: "10%", Parse: runtime.Optional(runtime.SizeOrPercent),
				Help: "Free space below which the check fails: a percentage (10%) or a size (5G, powers of 1024); empty: no limit."},
			{Name: "min_inodes_free", Default: "5%", Parse: runtime.Optional(runtime.Percent),
				Help: "Percentage of free inodes below which the check fails; empty: no limit."},
		},
		Example: `[Check_root_disk]
type = disk
path = /
min_free = 10%
min_inodes_free = 5%
`,
		NewCheck: newDisk,
	}
}

// Disk passes when the file system holding path has at least min_free space
// and min_inodes_free percent of its inodes free.
type Disk struct {
	path      string
	minFree   *runtime.Amount                               // nil: no limit
	minInodes float64                                       // percent; <0: no limit
	statfs    func(path string, st *syscall.Statfs_t) error // syscall.Statfs; tests inject
}

func newDisk(o *runtime.Options) (runtime.Check, error) {
	c := &Disk{path: o.String("path"), statfs: syscall.Statfs, minInodes: -1}
	if c.path == "" {
		return nil, errors.New("path: must not be empty")
	}
	if v, ok := o.Value("min_free").(runtime.Amount); ok {
		c.minFree = &v
	}
	if v, ok := o.Value("min_inodes_free").(float64); ok {
		c.minInodes = v
	}
	return c, nil
}

// Run implements runtime.Check.
func (c *Disk) Run(ctx context.Context) (runtime.Stats, error) {
	var st syscall.Statfs_t
	if err := c.statfs(c.path, &st); err != nil {
		return nil, fmt.Errorf("statfs %s: %w", c.path, causeErr(err))
	}
	bsize := uint64(st.Bsize)
	if st.Frsize > 0 {
		bsize = uint64(st.Frsize)
	}
	avail := st.Bavail * bsize
	// df's Use% is used/(used+avail): the blocks reserved for root are
	// neither used nor available to others.
	usable := (st.Blocks-st.Bfree)*bsize + avail
	stats := runtime.Stats{
		"free_bytes":  float64(avail),
		"total_bytes": float64(st.Blocks * bsize),
	}
	if usable > 0 {
		stats["free_percent"] = 100 * float64(avail) / float64(usable)
	}
	var errs []error
	if c.minFree != nil {
		if min := c.minFree.Of(usable); float64(avail) < min {
			errs = append(errs, fmt.Errorf("%s: %s free (%.1f%%), less than min_free %s",
				c.path, runtime.FormatSize(float64(avail)), stats["free_percent"], c.minFree))
		}
	}
	if st.Files > 0 {
		pct := 100 * float64(st.Ffree) / float64(st.Files)
		stats["inodes_free_percent"] = pct
		if c.minInodes >= 0 && pct < c.minInodes {
			errs = append(errs, fmt.Errorf("%s: %.1f%% of inodes free (%d of %d), less than min_inodes_free %g%%",
				c.path, pct, st.Ffree, st.Files, c.minInodes))
		}
	}
	return stats, errors.Join(errs...)
}

// causeErr strips the *os.PathError/*os.SyscallError layers that repeat the
// path or the system call, leaving the cause (e.g. "no such file or
// directory"); errors.Is on the result still works for the cause.
func causeErr(err error) error {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno
	}
	return err
}
