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
	"sync"
	"syscall"
	"time"

	"github.com/monsta/monsta/runtime"
)

// cmdRun runs one section once and prints the outcome: 0 passed or sent,
// 1 failed, 2 configuration error. A test is evaluated without escalating:
// nobody is paged by a manual run.
func cmdRun(o *options, stdout, stderr io.Writer) int {
	l, err := load(o, toStderr(o), nil)
	if err != nil {
		return reportLoadError(stderr, err)
	}
	defer l.close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	prefix, name := splitSection(o.run)
	switch prefix {
	case "Check_":
		c, ok := l.plan.Checks[name]
		if !ok {
			return noSection(stderr, o.run, "check", slices.Sorted(maps.Keys(l.plan.Checks)))
		}
		res := runOne(ctx, c)
		fmt.Fprintf(stdout, "%s: %s\n", o.run, okFail(res.OK))
		fmt.Fprint(stdout, runtime.FormatCheck(res))
		return status(res.OK)
	case "Test_":
		var t *runtime.TestSpec
		for _, x := range l.plan.Tests {
			if x.Name == name {
				t = x
			}
		}
		if t == nil {
			var names []string
			for _, x := range l.plan.Tests {
				names = append(names, x.Name)
			}
			return noSection(stderr, o.run, "test", names)
		}
		results := make([]runtime.CheckResult, len(t.Checks))
		var wg sync.WaitGroup
		for i, c := range t.Checks {
			wg.Add(1)
			go func() { defer wg.Done(); results[i] = runOne(ctx, c) }()
		}
		wg.Wait()
		ok := 0
		for _, r := range results {
			if r.OK {
				ok++
			}
		}
		pass := ok == len(results)
		req := "all"
		if !t.RequireAll {
			req, pass = "any", ok > 0
		}
		fmt.Fprintf(stdout, "%s: %s (%d of %d checks passed, requires=%s)\n", o.run, okFail(pass), ok, len(results), req)
		for _, r := range results {
			fmt.Fprint(stdout, runtime.FormatCheck(r))
		}
		return status(pass)
	case "Notification_":
		spec, ok := l.plan.Notifications[name]
		if !ok {
			return noSection(stderr, o.run, "notification", slices.Sorted(maps.Keys(l.plan.Notifications)))
		}
		host := l.main.Hostname
		if host == "" {
			host, _ = os.Hostname()
		}
		m := runtime.NewMessage(host, runtime.TestResult{Test: "monsta-test", OK: true, Time: time.Now()}, runtime.StateTest, false, runtime.Outage{})
		m.Short = "TEST monsta-test: monsta test message from " + host + " (monsta --run " + o.run + ")"
		m.Long = "This is a test message sent by 'monsta --run " + o.run + "'.\n\n" + m.Long
		d := runtime.NewDispatcher(map[string]*runtime.NotificationSpec{name: spec}, runtime.DispatcherOptions{Logger: l.logger})
		err := d.Send(ctx, name, m)
		d.Close(ctx)
		if err != nil {
			fmt.Fprintf(stdout, "%s: FAIL\n  error: %v\n", o.run, err)
			return exitFail
		}
		fmt.Fprintf(stdout, "%s: OK (test message sent)\n", o.run)
		return exitOK
	}
	fmt.Fprintf(stderr, "monsta: --run %q: want a Check_, Test_ or Notification_ section\n", o.run)
	return exitConfig
}

func runOne(ctx context.Context, c *runtime.CheckSpec) runtime.CheckResult {
	chk, err := c.New()
	if err != nil {
		return runtime.CheckResult{Check: c.Name, Type: c.Desc.Name, Errors: []string{err.Error()}}
	}
	return runtime.RunCheck(ctx, chk, c.Opts)
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
