package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/monsta/monsta/cmd/internal/app"
	"github.com/monsta/monsta/runtime"
	"github.com/monsta/monsta/runtime/engine"
	"github.com/monsta/monsta/runtime/statedir"
)

// cmdLint validates everything, reports warnings (unknown options, unused
// checks and notifications) and verifies each notification as far as it can
// without sending. A failed verification names the notification and the
// server's words, exits 1 and prints no "configuration OK".
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
	if w := engine.PlanConcurrency(g.Plan).Warning(); w != "" {
		fmt.Fprintln(stdout, "warning: [main] max_concurrent_checks: "+w)
	}
	if sh := g.Plan.Main.Shard; sh.N > 0 {
		printShards(stdout, g.Plan, sh)
	}

	results, failed := verifyNotifications(g.Plan, o.noLogin)
	nFailed := 0
	for i, r := range results {
		fmt.Fprintln(stdout, r)
		if failed[i] {
			nFailed++
		}
	}
	if g.Main.StateDir != "" {
		// Read only: --lint, often run as root, never creates or changes
		// the daemon's state directory.
		for _, f := range statedir.Existing(g.Main.StateDir).Failures() {
			fmt.Fprintf(stdout, "undelivered: Notification_%s, test %s (%s), %s: %s (%s)\n", f.Notification, f.Test, f.State, f.Failed.Format(time.RFC3339), f.Reason, f.File)
		}
	}
	if nFailed > 0 {
		fmt.Fprintf(stderr, "monsta: configuration valid, but %d %s failed verification (see above)\n",
			nFailed, pluralize(nFailed, "notification", "notifications"))
		return exitFail
	}
	fmt.Fprintf(stdout, "configuration OK: %d %s, %d %s, %d %s\n",
		len(g.Plan.Tests), pluralize(len(g.Plan.Tests), "test", "tests"),
		len(g.Plan.Checks), pluralize(len(g.Plan.Checks), "check", "checks"),
		len(g.Plan.Notifications), pluralize(len(g.Plan.Notifications), "notification", "notifications"))
	return exitOK
}

// verifyNotifications tries each notification's login as far as it can
// without sending, all at once, and returns one line each (by name) and
// which failed.
func verifyNotifications(plan *runtime.Plan, noLogin bool) ([]string, []bool) {
	names := make([]string, 0, len(plan.Notifications))
	for n := range plan.Notifications {
		names = append(names, n)
	}
	sort.Strings(names)
	results := make([]string, len(names))
	failed := make([]bool, len(names))
	var wg sync.WaitGroup
	for i, n := range names {
		spec := plan.Notifications[n]
		v, ok := spec.Notifier.(runtime.Verifier)
		head := fmt.Sprintf("Notification_%s (%s): ", n, spec.Desc.Name)
		if noLogin {
			results[i] = head + "not verified (--no-login)"
			continue
		}
		if !ok {
			results[i] = head + runtime.ErrCannotVerify.Error()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), spec.Desc.DeadlineFor(spec.Opts))
			defer cancel()
			switch err := runtime.RedactError(spec.Opts, v.Verify(ctx)); {
			case errors.Is(err, runtime.ErrCannotVerify):
				results[i] = head + err.Error()
			case err != nil:
				results[i] = head + "FAILED: " + err.Error()
				failed[i] = true
			default:
				results[i] = head + "verified"
			}
		}()
	}
	wg.Wait()
	return results, failed
}

// printShards prints how [main] shard splits the tests: the count per
// shard, then this shard's own tests and the ones it runs for depends.
func printShards(w io.Writer, p *runtime.Plan, sh runtime.Shard) {
	split := runtime.ShardSplit(p.Tests, sh.N)
	parts := make([]string, len(split))
	for i, n := range split {
		parts[i] = fmt.Sprintf("%d/%d: %d", i+1, sh.N, n)
	}
	fmt.Fprintf(w, "shards: %d tests over %d shards (%s)\n", len(p.Tests), sh.N, strings.Join(parts, ", "))
	roles := runtime.ShardRoles(p.Tests, p.Main.Uplink, sh)
	var own, dep []string
	for _, t := range p.Tests {
		switch roles[t.Name] {
		case runtime.ShardOwn:
			own = append(own, t.Name)
		case runtime.ShardDependency:
			dep = append(dep, t.Name)
		}
	}
	fmt.Fprintf(w, "shard %s runs %d: %s\n", sh, len(own), strings.Join(own, " "))
	if len(dep) > 0 {
		fmt.Fprintf(w, "shard %s also runs, without notifying, %d that its tests depend on: %s\n", sh, len(dep), strings.Join(dep, " "))
	}
}
