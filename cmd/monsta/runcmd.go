package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/monsta/monsta/cmd/internal/app"
	"github.com/monsta/monsta/runtime"
)

// cmdRun runs one section once and prints the outcome: 0 passed or sent,
// 1 failed, 2 configuration error. A test is evaluated without escalating:
// nobody is paged by a manual run.
func cmdRun(o *options, stdout, stderr io.Writer) int {
	ao := appOptions(o, nil)
	// A check or a notification is tried before any test names it.
	prefix, name := splitSection(o.run)
	ao.TestsOptional = prefix == "Check_" || prefix == "Notification_"
	a, err := app.New(ao)
	if err != nil {
		return reportLoadError(stderr, err)
	}
	defer a.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	switch prefix {
	case "Check_":
		return runCheck(ctx, a.Plan(), o.run, name, stdout, stderr)
	case "Test_":
		return runTest(ctx, a, o.run, name, stdout, stderr)
	case "Notification_":
		return runNotification(ctx, a.Generation(), o.run, name, stdout, stderr)
	}
	fmt.Fprintf(stderr, "monsta: --run %q: want a Check_, Test_ or Notification_ section%s\n", o.run, runSuggestion(a.Plan(), o.run))
	return exitConfig
}

// runSuggestion names the sections --run NAME may have meant: the
// configured Check_NAME, Test_NAME and Notification_NAME ("web" for
// Check_web and Test_web), also when only the prefix's case is wrong
// ("check_web").
func runSuggestion(p *runtime.Plan, name string) string {
	low := strings.ToLower(name)
	for _, pre := range []string{"check_", "test_", "notification_"} {
		if strings.HasPrefix(low, pre) {
			name = name[len(pre):]
			break
		}
	}
	var found []string
	if _, ok := p.Checks[name]; ok {
		found = append(found, "Check_"+name)
	}
	if slices.ContainsFunc(p.Tests, func(t *runtime.TestSpec) bool { return t.Name == name }) {
		found = append(found, "Test_"+name)
	}
	if _, ok := p.Notifications[name]; ok {
		found = append(found, "Notification_"+name)
	}
	if len(found) == 0 {
		return ""
	}
	return "; did you mean " + strings.Join(found, " or ") + "?"
}

// runCheck runs the instance of the check built at load.
func runCheck(ctx context.Context, p *runtime.Plan, section, name string, stdout, stderr io.Writer) int {
	c, ok := p.Checks[name]
	if !ok {
		return noSection(stderr, section, "check", slices.Sorted(maps.Keys(p.Checks)))
	}
	res := runtime.RunCheck(ctx, c.Check, c.Opts)
	fmt.Fprintf(stdout, "%s: %s\n", section, okFail(res.OK))
	fmt.Fprint(stdout, runtime.FormatCheck(res))
	return status(res.OK)
}

// runTest evaluates the test as the engine does, without escalating: nobody
// is paged by a manual run.
func runTest(ctx context.Context, a *app.App, section, name string, stdout, stderr io.Writer) int {
	var spec *runtime.TestSpec
	var names []string
	for _, t := range a.Plan().Tests {
		names = append(names, t.Name)
		if t.Name == name {
			spec = t
		}
	}
	if spec == nil {
		return noSection(stderr, section, "test", names)
	}
	r, err := a.Evaluate(ctx, name)
	if err != nil {
		fmt.Fprintf(stderr, "monsta: --run %s: %v\n", section, err)
		return exitFail
	}
	passed, req := 0, "all"
	for _, c := range r.Checks {
		if c.OK {
			passed++
		}
	}
	if !spec.RequireAll {
		req = "any"
	}
	state := okFail(r.OK)
	if r.Unreachable != "" {
		state += ", UNREACHABLE: " + r.Unreachable + "; the daemon would page nobody for it"
	}
	fmt.Fprintf(stdout, "%s: %s (%d of %d checks passed, requires=%s)\n", section, state, passed, len(r.Checks), req)
	for _, c := range r.Checks {
		fmt.Fprint(stdout, runtime.FormatCheck(c))
	}
	return status(r.OK)
}

// runNotification sends a test message through the notification.
func runNotification(ctx context.Context, g *app.Generation, section, name string, stdout, stderr io.Writer) int {
	if _, ok := g.Plan.Notifications[name]; !ok {
		return noSection(stderr, section, "notification", slices.Sorted(maps.Keys(g.Plan.Notifications)))
	}
	host := g.Main.Hostname
	if host == "" {
		host, _ = os.Hostname()
	}
	m := runtime.NewMessage(host, runtime.TestResult{Test: "monsta-test", OK: true, Time: time.Now()}, runtime.StateTest, false, runtime.Outage{})
	m.Short = "TEST monsta-test: monsta test message from " + host + " (monsta --run " + section + ")"
	m.Long = "This is a test message sent by 'monsta --run " + section + "'.\n\n" + m.Long
	if err := g.Plan.Send(ctx, name, m); err != nil {
		fmt.Fprintf(stdout, "%s: FAIL\n  error: %v\n", section, err)
		return exitFail
	}
	fmt.Fprintf(stdout, "%s: OK (test message sent)\n", section)
	return exitOK
}

func noSection(w io.Writer, section, what string, names []string) int {
	fmt.Fprintf(w, "monsta: --run: no section [%s]; %ss: %s\n", section, what, strings.Join(names, ", "))
	return exitConfig
}

func okFail(ok bool) string {
	if ok {
		return "OK"
	}
	return "FAIL"
}

func status(ok bool) int {
	if ok {
		return exitOK
	}
	return exitFail
}
