package lua

import (
	"context"
	"errors"
	"os"
	"reflect"
	"regexp"
	goruntime "runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/monsta/monsta/runtime"
)

func readTestdata(t *testing.T, names ...string) map[string]string {
	t.Helper()
	files := map[string]string{}
	for _, n := range names {
		b, err := os.ReadFile("testdata/" + n)
		if err != nil {
			t.Fatal(err)
		}
		files[n] = string(b)
	}
	return files
}

func TestCheckResults(t *testing.T) {
	fx := load(t, readTestdata(t, "checks.lua"), Config{}, nil)
	tests := []struct {
		name      string
		opts      map[string]string
		ok        bool
		errs      []string
		errPrefix string
		stats     runtime.Stats
	}{
		{name: "pass", opts: map[string]string{"value": "yes"}, ok: true,
			stats: runtime.Stats{"answer": 42, "up": 1, "num": 1.5}},
		{name: "fail with message", opts: map[string]string{"value": "no"},
			errs: []string{"value is no"}, stats: runtime.Stats{"answer": 42, "up": 1, "num": 1.5}},
		{name: "want from section", opts: map[string]string{"value": "x", "want": "x"}, ok: true,
			stats: runtime.Stats{"answer": 42, "up": 1, "num": 1.5}},
		{name: "list of messages", opts: map[string]string{"value": "list"},
			errs: []string{"first problem", "second problem"}},
		{name: "raised error has file:line", opts: map[string]string{"value": "raise"},
			errs: []string{"conf.d/checks.lua:18: raised on purpose"}},
		{name: "runtime error has file:line", opts: map[string]string{"value": "index"},
			errPrefix: "conf.d/checks.lua:22: attempt to index"},
		{name: "returning nothing fails", opts: map[string]string{"value": "nothing"},
			errPrefix: "run returned nothing"},
		{name: "typed options", opts: map[string]string{"value": "types"}, ok: true},
	}
	t.Run("long messages are cut", func(t *testing.T) {
		r := fx.run(t, "compare", map[string]string{"value": "long"})
		if len(r.Errors) != 21 || r.Errors[20] != "(10 more messages)" || len(r.Errors[0]) > 2100 ||
			!strings.HasSuffix(r.Errors[0], "… (3000 bytes)") {
			t.Errorf("got %d errors, first %d bytes, last %q", len(r.Errors), len(r.Errors[0]), r.Errors[len(r.Errors)-1])
		}
	})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := fx.run(t, "compare", tt.opts)
			if r.OK != tt.ok {
				t.Fatalf("OK = %v, want %v (errors %q)", r.OK, tt.ok, r.Errors)
			}
			if tt.errs != nil && !reflect.DeepEqual(r.Errors, tt.errs) {
				t.Errorf("Errors = %q, want %q", r.Errors, tt.errs)
			}
			if tt.errPrefix != "" && (len(r.Errors) != 1 || !strings.HasPrefix(r.Errors[0], tt.errPrefix)) {
				t.Errorf("Errors = %q, want one starting with %q", r.Errors, tt.errPrefix)
			}
			if tt.stats != nil && !reflect.DeepEqual(r.Stats, tt.stats) {
				t.Errorf("Stats = %v, want %v", r.Stats, tt.stats)
			}
		})
	}
}

func TestDescriptor(t *testing.T) {
	fx := load(t, readTestdata(t, "checks.lua"), Config{}, nil)
	d, ok := fx.reg.Lookup(runtime.KindCheck, "compare")
	if !ok {
		t.Fatal("compare not registered")
	}
	if d.Source != "conf.d/checks.lua:2" {
		t.Errorf("Source = %q, want conf.d/checks.lua:2", d.Source)
	}
	if d.Description != "pass when value equals want" {
		t.Errorf("Description = %q", d.Description)
	}
	type opt struct {
		Name, Default, Help string
		Required, Secret    bool
	}
	var got []opt
	for _, o := range d.Options {
		got = append(got, opt{o.Name, o.Default, o.Help, o.Required, o.Secret})
	}
	want := []opt{
		{"value", "", "The value to compare.", true, false},
		{"count", "3", "A number.", false, false},
		{"flag", "no", "A flag.", false, false},
		{"token", "", "A secret.", false, true},
		// Every secret gets a *_file twin from the runtime.
		{"token_file", "", "File whose content is token (a trailing newline is dropped); instead of token.", false, false},
		{"want", "yes", "The value that passes.", false, false},
		{"words", "a b", "Some words.", false, false},
		{"timeout", "10", "Seconds (or 90s, 5m, 2h, 1d) a run may take before the check fails.", false, false},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Options =\n%+v\nwant\n%+v", got, want)
	}
	if _, err := runtime.NewOptions(d, "Check_x", map[string]string{"value": "1", "count": "many"}); err == nil ||
		!strings.Contains(err.Error(), "count") {
		t.Errorf("NewOptions(count=many) error = %v, want an error about count", err)
	}
}

func TestMissingRequiredOption(t *testing.T) {
	fx := load(t, readTestdata(t, "checks.lua"), Config{}, nil)
	d, _ := fx.reg.Lookup(runtime.KindCheck, "compare")
	_, err := runtime.NewOptions(d, "Check_x", map[string]string{"want": "x"})
	if err == nil || err.Error() != "value: required option missing" {
		t.Errorf("NewOptions() error = %v, want value: required option missing", err)
	}
}

// timedOutAfter finds the milliseconds of a "run timed out after" message.
var timedOutAfter = regexp.MustCompile(`run timed out after (\d+)ms`)

// runWithin runs c with a deadline of timeout and returns its error; the
// test fails if Run has not returned within limit, a generous bound that
// only a hung run exceeds.
func runWithin(t *testing.T, c runtime.Check, timeout, limit time.Duration) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	done := make(chan error, 1)
	go func() { _, err := c.Run(ctx); done <- err }()
	select {
	case err := <-done:
		return err
	case <-time.After(limit):
		t.Fatalf("Run did not return within %v", limit)
		return nil
	}
}

func TestRunawayLoopStopsAtTimeout(t *testing.T) {
	fx := load(t, readTestdata(t, "checks.lua"), Config{}, nil)
	for _, typ := range []string{"spin", "sleeper"} {
		t.Run(typ, func(t *testing.T) {
			c, _ := fx.check(t, typ, nil)
			err := runWithin(t, c, 200*time.Millisecond, 10*time.Second)
			if !runtime.IsTimeout(err) {
				t.Fatalf("Run() error = %v, want a timeout", err)
			}
			// The message names the time from the run's start to its
			// deadline. The context was made before the goroutine started
			// the run, so on a loaded machine that is a little under 200ms.
			m := timedOutAfter.FindStringSubmatch(err.Error())
			ms := 0
			if m != nil {
				ms, _ = strconv.Atoi(m[1])
			}
			if typ == "spin" && !strings.HasPrefix(err.Error(), "conf.d/checks.lua:") || ms <= 0 || ms > 200 {
				t.Errorf("Run() error = %q, want conf.d/checks.lua:N: run timed out after 200ms or a little less", err)
			}
		})
	}
	// The pool still serves healthy runs afterwards.
	if r := fx.run(t, "compare", map[string]string{"value": "yes"}); !r.OK {
		t.Errorf("after timeouts: OK = false, errors %q", r.Errors)
	}
}

func TestMemoryLimit(t *testing.T) {
	fx := load(t, readTestdata(t, "checks.lua"), Config{MemoryLimit: 32 << 20}, nil)
	for _, typ := range []string{"hog", "doubler"} {
		t.Run(typ, func(t *testing.T) {
			c, _ := fx.check(t, typ, map[string]string{"timeout": "60"})
			err := runWithin(t, c, 60*time.Second, 30*time.Second)
			if !errors.Is(err, ErrMemory) || !strings.HasPrefix(err.Error(), "conf.d/checks.lua:") {
				t.Errorf("Run() error = %v, want conf.d/checks.lua:N: memory limit exceeded", err)
			}
			var ms goruntime.MemStats
			goruntime.ReadMemStats(&ms)
			t.Logf("%s: %v; peak heap (sys) %d MiB", typ, err, ms.HeapSys>>20)
		})
	}
}

func TestGlobalsDoNotLeak(t *testing.T) {
	fx := load(t, readTestdata(t, "leaks.lua", "other.lua"), Config{PoolSize: 1}, nil)
	tests := []struct{ how, err string }{
		{"plain", "assignment to global 'leaked'; use local"},
		{"reassign", "assignment to global 'tostring'; use local"},
		{"helper", "assignment to global 'helper'; use local"},
		{"rawset", "rawset: table is protected"},
		{"metatable", "cannot change a protected metatable"},
		{"string", "attempt to modify a read-only table (field \"leaked\")"},
		{"stringmeta", "attempt to index"},
		{"monsta", "attempt to modify a read-only table (field \"sleep\")"},
		{"local_ok", ""},
	}
	for _, tt := range tests {
		t.Run(tt.how, func(t *testing.T) {
			r := fx.run(t, "setglobal", map[string]string{"how": tt.how})
			if tt.err == "" {
				if !r.OK {
					t.Fatalf("setglobal OK = false, errors %q", r.Errors)
				}
			} else if r.OK || len(r.Errors) != 1 || !strings.Contains(r.Errors[0], tt.err) {
				t.Fatalf("setglobal errors = %q, want one containing %q", r.Errors, tt.err)
			}
			for _, typ := range []string{"readglobal", "otherglobal"} {
				if r := fx.run(t, typ, nil); !r.OK {
					t.Errorf("%s after %s: errors %q", typ, tt.how, r.Errors)
				}
			}
		})
	}
	// With a pool of one, the same state served all runs of leaks.lua.
	r := fx.run(t, "readglobal", nil)
	if r.Stats["calls"] < 2 {
		t.Errorf("readglobal calls = %v, want the state reused", r.Stats["calls"])
	}
}

func TestSandbox(t *testing.T) {
	fx := load(t, readTestdata(t, "sandbox.lua"), Config{}, nil)
	for _, probe := range []string{"io", "io_open", "os_execute", "loadfile", "dofile", "bytecode", "bytecode_load",
		"string_dump", "debug", "package", "require_file", "require_missing", "rep", "concat", "recursion", "unpack", "big_chunk", "setfenv", "collectgarbage", "source"} {
		t.Run(probe, func(t *testing.T) {
			if r := fx.run(t, "sandbox", map[string]string{"probe": probe}); !r.OK {
				t.Errorf("errors %q", r.Errors)
			}
		})
	}
}

func TestTracebackAtDebugLevel(t *testing.T) {
	fx := load(t, readTestdata(t, "checks.lua"), Config{}, nil)
	r := fx.run(t, "compare", map[string]string{"value": "raise"})
	if r.OK || strings.Contains(r.Errors[0], "stack traceback") {
		t.Errorf("errors %q, want one line without a traceback", r.Errors)
	}
	if log := fx.log.String(); !strings.Contains(log, "level=DEBUG msg=\"lua error\" file=conf.d/checks.lua") ||
		!strings.Contains(log, "traceback=") {
		t.Errorf("debug log lacks the traceback:\n%s", log)
	}
}

// TestFailedStateIsClosed: a state whose run raised an error or timed out
// leaves the pool; a state whose run returned (even false) goes back.
func TestFailedStateIsClosed(t *testing.T) {
	fx := load(t, readTestdata(t, "checks.lua"), Config{PoolSize: 1}, nil)
	f := fx.e.files[0]
	idle := func() int { return len(f.pool) }
	if idle() != 1 {
		t.Fatalf("after load: %d idle states, want the load state", idle())
	}
	s := <-f.pool
	f.pool <- s
	fx.run(t, "compare", map[string]string{"value": "no"})
	if got := <-f.pool; got != s {
		t.Error("a run that returned false did not give its state back")
	} else {
		f.pool <- got
	}
	fx.run(t, "compare", map[string]string{"value": "raise"})
	if idle() != 0 {
		t.Errorf("after an error: %d idle states, want 0 (closed)", idle())
	}
	fx.run(t, "spin", map[string]string{"timeout": "0.05"})
	if idle() != 0 {
		t.Errorf("after a timeout: %d idle states, want 0 (closed)", idle())
	}
	if r := fx.run(t, "compare", map[string]string{"value": "yes"}); !r.OK || idle() != 1 {
		t.Errorf("fresh state: OK = %v (%q), %d idle", r.OK, r.Errors, idle())
	}
}
