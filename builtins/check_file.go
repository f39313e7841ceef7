package builtins

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/monsta/monsta/runtime"
)

// fileExpectMax is how much of a file the file check's expect searches.
const fileExpectMax = 64 * 1024

func fileDescriptor() runtime.Descriptor {
	return runtime.Descriptor{
		Kind:        runtime.KindCheck,
		Name:        "file",
		Description: "a file exists, is recent, large enough and has the expected content",
		Help: "The check fails when path does not exist, when its modification time is older than " +
			"max_age (\"the backup ran in the last 26 h\"), when it is smaller than min_size, or when " +
			"expect does not match its first 64 KiB. A directory passes or fails on its own " +
			"modification time; min_size and expect need a regular file. Stats: age_seconds, size_bytes.",
		Options: []runtime.Option{
			{Name: "path", Required: true, Help: "The file (or directory) to check."},
			{Name: "max_age", Parse: runtime.Optional(runtime.Duration),
				Help: "Oldest modification time allowed, as seconds or a duration (26h, 90m, 2d); empty: any age."},
			{Name: "min_size", Parse: runtime.Optional(runtime.Size),
				Help: "Smallest size allowed (4096, 512K, 1G); empty: any size, empty files included."},
			{Name: "expect", Parse: runtime.Optional(runtime.Regexp),
				Help: "Regular expression (Go syntax; ^ and $ match at each line) that must match the first 64 KiB of the file; empty: not read."},
		},
		Example: `[Check_backup]
type = file
path = /var/backups/db.sql.gz
max_age = 26h
min_size = 1M
`,
		NewCheck: newFile,
	}
}

// File passes when path exists and meets max_age, min_size and expect.
type File struct {
	path    string
	maxAge  time.Duration // 0: any
	minSize int64         // 0: any
	expect  *regexp.Regexp
	now     func() time.Time // time.Now; tests inject
}

func newFile(o *runtime.Options) (runtime.Check, error) {
	c := &File{path: o.String("path"), now: time.Now}
	if c.path == "" {
		return nil, errors.New("path: must not be empty")
	}
	c.maxAge, _ = o.Value("max_age").(time.Duration)
	c.minSize, _ = o.Value("min_size").(int64)
	if o.Value("expect") != nil {
		c.expect = multiline(o.Raw("expect"))
	}
	return c, nil
}

// Run implements runtime.Check.
func (c *File) Run(ctx context.Context) (runtime.Stats, error) {
	fi, err := os.Stat(c.path)
	if err != nil {
		return nil, fmt.Errorf("stat %s: %w", c.path, causeErr(err))
	}
	age := c.now().Sub(fi.ModTime())
	stats := runtime.Stats{"age_seconds": age.Seconds()}
	var errs []error
	if c.maxAge > 0 && age > c.maxAge {
		errs = append(errs, fmt.Errorf("%s: last modified %s (%s ago), older than max_age %s",
			c.path, fi.ModTime().Format(time.RFC3339), age.Round(time.Second), c.maxAge))
	}
	if fi.IsDir() {
		if c.minSize > 0 || c.expect != nil {
			errs = append(errs, fmt.Errorf("%s: is a directory; min_size and expect need a file", c.path))
		}
		return stats, errors.Join(errs...)
	}
	stats["size_bytes"] = float64(fi.Size())
	if fi.Size() < c.minSize {
		errs = append(errs, fmt.Errorf("%s: %s, smaller than min_size %s",
			c.path, runtime.FormatSize(float64(fi.Size())), runtime.FormatSize(float64(c.minSize))))
	}
	if c.expect != nil {
		if err := c.match(); err != nil {
			errs = append(errs, err)
		}
	}
	return stats, errors.Join(errs...)
}

// multiline compiles an expect pattern, already checked by runtime.Regexp,
// with ^ and $ matching at line breaks, as admins used to grep expect.
func multiline(pattern string) *regexp.Regexp { return regexp.MustCompile("(?m)" + pattern) }

// match reads the first fileExpectMax bytes and applies expect.
func (c *File) match() error {
	f, err := os.Open(c.path)
	if err != nil {
		return fmt.Errorf("open %s: %w", c.path, causeErr(err))
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, fileExpectMax))
	if err != nil {
		return fmt.Errorf("read %s: %w", c.path, causeErr(err))
	}
	if !c.expect.Match(b) {
		return fmt.Errorf("%s: first %s do not match expect %q", c.path, runtime.FormatSize(float64(len(b))), strings.TrimPrefix(c.expect.String(), "(?m)"))
	}
	return nil
}
