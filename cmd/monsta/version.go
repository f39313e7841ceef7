package main

import (
	"fmt"
	"runtime/debug"
)

// commit is set by release builds with -ldflags "-X main.commit=…" (see
// dist/build-deb); without it the VCS stamp of the build is used, if any.
var commit = ""

// versionString is the version with the commit it was built from and the
// Go release: "0.1.0 (commit 0123456789ab, go1.26.8)".
func versionString() string {
	c, modified, goVersion := commit, false, "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		goVersion = bi.GoVersion
		for _, s := range bi.Settings {
			switch {
			case s.Key == "vcs.revision" && c == "":
				c = s.Value
			case s.Key == "vcs.modified" && s.Value == "true":
				modified = true
			}
		}
	}
	if c == "" {
		c = "unknown"
	}
	if len(c) > 12 {
		c = c[:12]
	}
	if modified && commit == "" {
		c += "-dirty"
	}
	return fmt.Sprintf("%s (commit %s, %s)", version, c, goVersion)
}
