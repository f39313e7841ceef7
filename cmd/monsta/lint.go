package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/monsta/monsta/cmd/internal/app"
	"github.com/monsta/monsta/runtime"
	"github.com/monsta/monsta/runtime/statedir"
)

// cmdLint validates everything, reports warnings (unknown options, unused
// checks and notifications) and tries each notification's login.
func cmdLint(o *options, stdout, stderr io.Writer) int {
	a, err := app.New(appOptions(o, nil))
	if err != nil {
		return reportLoadError(stderr, err)
	}
	defer a.Close()
	g := a.Generation()
	for _, w := range g.Warnings {
		fmt.Fprintln(stdout, w.Error())
	}

	status := exitOK
	names := make([]string, 0, len(g.Plan.Notifications))
	for n := range g.Plan.Notifications {
		names = append(names, n)
	}
	sort.Strings(names)
	results := make([]string, len(names))
	failed := make([]bool, len(names))
	var wg sync.WaitGroup
	for i, n := range names {
		spec := g.Plan.Notifications[n]
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
	if g.Main.StateDir != "" {
		if _, err := os.Stat(g.Main.StateDir); err == nil {
			if sd, err := statedir.Open(g.Main.StateDir, nil); err == nil {
				for _, f := range sd.Failures() {
					fmt.Fprintf(stdout, "undelivered: Notification_%s, test %s (%s), %s: %s (%s)\n", f.Notification, f.Test, f.State, f.Failed.Format(time.RFC3339), f.Reason, f.File)
				}
			}
		}
	}
	fmt.Fprintf(stdout, "configuration OK: %d %s, %d %s, %d %s\n",
		len(g.Plan.Tests), pluralize(len(g.Plan.Tests), "test", "tests"),
		len(g.Plan.Checks), pluralize(len(g.Plan.Checks), "check", "checks"),
		len(g.Plan.Notifications), pluralize(len(g.Plan.Notifications), "notification", "notifications"))
	return status
}
