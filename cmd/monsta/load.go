package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/monsta/monsta/cmd/internal/app"
	"github.com/monsta/monsta/runtime"
)

// appOptions are the app's options from the command line; a generation
// logs to stderr unless logPath says otherwise.
func appOptions(o *options, logPath func(runtime.Main) string) app.Options {
	return app.Options{Config: o.config, ConfDir: o.confdir, MaxFileSize: o.maxFileSize, LogFormat: o.logFormat, LogLevel: o.logLevel,
		LogPath: logPath, Version: version}
}

// reportLoadError prints a load error and returns the exit status for it.
func reportLoadError(stderr io.Writer, err error) int {
	var ce *app.ConfigError
	if errors.As(err, &ce) {
		printConfigError(stderr, ce.Err)
		return exitConfig
	}
	fmt.Fprintf(stderr, "monsta: %v\n", err)
	return exitFail
}

// splitSection splits "Check_www" into its kind prefix and name.
func splitSection(s string) (prefix, name string) {
	for _, p := range []string{"Check_", "Test_", "Notification_"} {
		if strings.HasPrefix(s, p) {
			return p, s[len(p):]
		}
	}
	return "", s
}
