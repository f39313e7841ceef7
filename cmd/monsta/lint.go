package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/monsta/monsta/runtime"
	"github.com/monsta/monsta/runtime/statedir"
)

// cmdLint validates everything, reports warnings (unknown options, unused
// checks and notifications) and tries each notification's login.
func cmdLint(o *options, stdout, stderr io.Writer) int {
	l, err := load(o, toStderr(o), stdout)
	if err != nil {
		return reportLoadError(stderr, err)
	}
	defer l.close()
	status := exitOK
	names := make([]string, 0, len(l.plan.Notifications))
	for n := range l.plan.Notifications {
		names = append(names, n)
	}
	sort.Strings(names)
	results := make([]string, len(names))
	failed := make([]bool, len(names))
	var wg sync.WaitGroup
	for i, n := range names {
		spec := l.plan.Notifications[n]
		v, ok := spec.Notifier.(runtime.Verifier)
		if o.noLogin {
			results[i] = fmt.Sprintf("Notification_%s (%s): login not tried (--no-login)", n, spec.Desc.Name)
			continue
		}
		if !ok {
			results[i] = fmt.Sprintf("Notification_%s (%s): nothing to try", n, spec.Desc.Name)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), spec.Desc.DeadlineFor(spec.Opts))
			defer cancel()
			if err := v.Verify(ctx); err != nil {
				results[i] = fmt.Sprintf("Notification_%s (%s): login FAILED: %v", n, spec.Desc.Name, err)
				failed[i] = true
				return
			}
			results[i] = fmt.Sprintf("Notification_%s (%s): login OK", n, spec.Desc.Name)
		}()
	}
	wg.Wait()
	for i, r := range results {
		fmt.Fprintln(stdout, r)
		if failed[i] {
			status = exitFail
		}
	}
	if l.main.StateDir != "" {
		if _, err := os.Stat(l.main.StateDir); err == nil {
			if sd, err := statedir.Open(l.main.StateDir, nil); err == nil {
				for _, f := range sd.Failures() {
					fmt.Fprintf(stdout, "undelivered: Notification_%s, test %s (%s), %s: %s (%s)\n", f.Notification, f.Test, f.State, f.Failed.Format(time.RFC3339), f.Reason, f.File)
				}
			}
		}
	}
	fmt.Fprintf(stdout, "configuration OK: %d %s, %d %s, %d %s\n",
		len(l.plan.Tests), pluralize(len(l.plan.Tests), "test", "tests"),
		len(l.plan.Checks), pluralize(len(l.plan.Checks), "check", "checks"),
		len(l.plan.Notifications), pluralize(len(l.plan.Notifications), "notification", "notifications"))
	return status
}

// reportLoadError prints a load error and returns the exit status for it.
func reportLoadError(stderr io.Writer, err error) int {
	var ce *configError
	if errors.As(err, &ce) {
		printConfigError(stderr, ce.err)
		return exitConfig
	}
	fmt.Fprintf(stderr, "monsta: %v\n", err)
	return exitFail
}
