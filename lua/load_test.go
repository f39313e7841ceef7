package lua

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/monsta/monsta/runtime"
)

// goCheck is a Go check type for the tests: it passes when "fail" is no.
var goCheck = runtime.Descriptor{
	Kind: runtime.KindCheck, Name: "gocheck", Description: "a Go check for tests",
	Options: []runtime.Option{
		{Name: "fail", Default: "no", Parse: runtime.Bool, Help: "Fail the check."},
		{Name: "host", Required: true, Help: "Any host."},
	},
	NewCheck: func(o *runtime.Options) (runtime.Check, error) { return goCheckRun{o}, nil },
}

type goCheckRun struct{ o *runtime.Options }

func (g goCheckRun) Run(ctx context.Context) (runtime.Stats, error) {
	if g.o.Bool("fail") {
		return runtime.Stats{"n": 1}, errors.Join(errors.New("go failure one"), errors.New("go failure two"))
	}
	return runtime.Stats{"n": 2}, nil
}

func TestLoadErrors(t *testing.T) {
	files := map[string]string{
		"a_syntax.lua":  "local x = 1\nmonsta.check_type{name = \"x\",\n  run = function() return true end\n  description = \"missing comma\"}\n",
		"b_runtime.lua": "local t = nil\n\nlocal y = t.field\n",
		"c_help.lua": `monsta.check_type{
  name = "nohelp", description = "an option without help",
  options = {port = {default = "6379"}},
  run = function() return true end,
}
`,
		"d_dup.lua": `monsta.check_type{name = "gocheck", description = "taken", run = function() return true end}
`,
		"e_dup.lua": `monsta.check_type{name = "twice", description = "first", run = function() return true end}
monsta.check_type{name = "twice", description = "second", run = function() return true end}
`,
		"f_fields.lua": `monsta.notifier_type{name = "n", description = "d", sned = function() end}
monsta.check_type{name = "Bad-Name", description = "d", run = function() return true end}
monsta.check_type{name = "typ", description = "d", options = {p = {type = "colour", help = "x."}}, run = function() return true end}
`,
		"f_example.lua": `monsta.check_type{name = "ex", description = "d", example = "[Check_x]\ntype = ex\nnope = 1\n", run = function() return true end}
`,
		"g_global.lua": "monsta.check_type{name = \"fine\", description = \"a good one\", run = function() return true end}\n",
	}
	reg := runtime.NewRegistry()
	if err := reg.Add(goCheck); err != nil {
		t.Fatal(err)
	}
	_, err := Load(Config{Dir: writeDir(t, files)}, reg)
	if err == nil {
		t.Fatal("Load() error = nil, want errors")
	}
	want := []string{
		`conf.d/a_syntax.lua:4: syntax error near "description"`,
		`conf.d/b_runtime.lua:3: attempt to index a non-table object(nil) with key 'field'`,
		`conf.d/c_help.lua:1: check type "nohelp": option "port": help is required (one sentence saying what it does)`,
		`conf.d/d_dup.lua:1: check type "gocheck" already defined (builtin)`,
		`conf.d/e_dup.lua:2: check type "twice" already defined (conf.d/e_dup.lua:1)`,
		`conf.d/f_example.lua:1: check type "ex": example: nope: unknown option for check type ex`,
		`conf.d/f_fields.lua:1: notification type "n": unknown field sned`,
		`conf.d/f_fields.lua:2: check type name "Bad-Name": must match ^[a-z][a-z0-9_]*$`,
		`conf.d/f_fields.lua:3: check type "typ": option "p": type "colour" is not one of string, int, port, seconds, bool, words`,
	}
	got := strings.Split(err.Error(), "\n")
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("Load() error =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	var le *LoadError
	if !errors.As(err, &le) || le.Line == 0 {
		t.Errorf("Load() error is not a positioned *LoadError: %#v", err)
	}
	if _, ok := reg.Lookup(runtime.KindCheck, "fine"); !ok {
		t.Errorf("types of good files are registered even when others fail")
	}
}

func TestRunCheckFromLua(t *testing.T) {
	files := map[string]string{"wrap.lua": `
monsta.check_type{
  name = "wrap",
  description = "run gocheck",
  options = {fail = {default = "no", help = "Make it fail."}, mode = {default = "go", help = "What to run."}},
  run = function(opt)
    if opt.mode == "unknown" then return monsta.run_check("nosuch", {}) end
    if opt.mode == "missing" then return monsta.run_check("gocheck", {}) end
    if opt.mode == "self" then return monsta.run_check("wrap", {mode = "self"}) end
    local ok, errs, stats = monsta.run_check("gocheck", {host = "h", fail = opt.fail == "yes"})
    if ok then return true, nil, {inner = stats.n} end
    return false, errs, {inner = stats.n}
  end,
}
`}
	// gocheck is a Go type that run_check does not classify: lua_exec allows it.
	fx := load(t, files, Config{AllowExec: true}, func(r *runtime.Registry) {
		if err := r.Add(goCheck); err != nil {
			t.Fatal(err)
		}
	})
	tests := []struct {
		name string
		opts map[string]string
		ok   bool
		errs string
	}{
		{"pass", map[string]string{}, true, ""},
		{"fail", map[string]string{"fail": "yes"}, false, "go failure one|go failure two"},
		{"unknown type", map[string]string{"mode": "unknown"}, false, `conf.d/wrap.lua:7: run_check: unknown check type "nosuch"`},
		{"missing option", map[string]string{"mode": "missing"}, false, "conf.d/wrap.lua:8: run_check gocheck: host: required option missing"},
		{"recursion", map[string]string{"mode": "self"}, false, "conf.d/wrap.lua:9: run_check wrap: nested more than 4 deep"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := fx.run(t, "wrap", tt.opts)
			if r.OK != tt.ok || strings.Join(r.Errors, "|") != tt.errs {
				t.Errorf("OK = %v, errors %q; want %v, %q", r.OK, r.Errors, tt.ok, tt.errs)
			}
			if tt.ok && r.Stats["inner"] != 2 {
				t.Errorf("Stats = %v, want inner=2", r.Stats)
			}
		})
	}
}

func TestRequireLibrary(t *testing.T) {
	files := map[string]string{
		"lib/util/text.lua": "local M = {}\nfunction M.shout(s) return string.upper(s) .. \"!\" end\nreturn M\n",
		"lib/broken.lua":    "return {\n",
		"use.lua": `
local text = require("util.text")
monsta.check_type{
  name = "use",
  description = "use a library",
  options = {what = {default = "text", help = "What to require."}},
  run = function(opt)
    if opt.what == "broken" then require("broken") end
    if opt.what == "again" then return require("util.text") == text end
    if opt.what == "modify" then text.shout = nil end
    return text.shout("hi") == "HI!", text.shout("hi")
  end,
}
`,
	}
	fx := load(t, files, Config{}, nil)
	if r := fx.run(t, "use", nil); !r.OK {
		t.Errorf("text: errors %q", r.Errors)
	}
	if r := fx.run(t, "use", map[string]string{"what": "again"}); !r.OK {
		t.Errorf("again: errors %q", r.Errors)
	}
	if r := fx.run(t, "use", map[string]string{"what": "modify"}); r.OK ||
		!strings.Contains(r.Errors[0], `attempt to modify a read-only table (field "shout")`) {
		t.Errorf("modify: OK = %v, errors %q; want a read-only error", r.OK, r.Errors)
	}
	r := fx.run(t, "use", map[string]string{"what": "broken"})
	if r.OK || len(r.Errors) != 1 || !strings.Contains(r.Errors[0], `conf.d/use.lua:8: require "broken": lib/broken.lua:1: syntax error at end of file`) {
		t.Errorf("broken: errors %q, want the library's syntax error with file:line", r.Errors)
	}
}

func TestExec(t *testing.T) {
	files := map[string]string{"x.lua": `
monsta.check_type{
  name = "ex",
  description = "run a program",
  options = {prog = {default = "echo", help = "Program."}},
  run = function(opt)
    if opt.prog == "yes" then
      local code, out = monsta.exec{"head", "-c", "100000", "/dev/zero"}
      return code == 0 and #out < 70000 and string.find(out, "%[monsta: captured 65536 of 100000 bytes%]$") ~= nil,
        tostring(code) .. " " .. #out .. " " .. string.sub(out, -60)
    end
    if opt.prog == "sleep" then
      local code, err = monsta.exec{"sh", "-c", "sleep 30 & sleep 30", timeout = 0.2}
      return code == nil and string.find(err, "deadline exceeded") ~= nil, tostring(err)
    end
    local code, out = monsta.exec{opt.prog, "hello", timeout = 5}
    if not code then return false, out end
    return code == 0 and out == "hello\n", string.format("code %s output %q", tostring(code), tostring(out))
  end,
}
`}
	off := load(t, files, Config{}, nil)
	r := off.run(t, "ex", nil)
	if r.OK || len(r.Errors) != 1 || !strings.Contains(r.Errors[0], "monsta.exec is disabled") {
		t.Errorf("exec disabled: errors %q", r.Errors)
	}
	on := load(t, files, Config{AllowExec: true}, nil)
	if r := on.run(t, "ex", nil); !r.OK {
		t.Errorf("exec echo: errors %q", r.Errors)
	}
	if r := on.run(t, "ex", map[string]string{"prog": "yes"}); !r.OK {
		t.Errorf("exec capped output: errors %q", r.Errors)
	}
	if r := on.run(t, "ex", map[string]string{"prog": "sleep"}); !r.OK {
		t.Errorf("exec timeout: errors %q", r.Errors)
	}
	r = on.run(t, "ex", map[string]string{"prog": "/nonexistent/prog"})
	if r.OK || len(r.Errors) != 1 || !strings.Contains(r.Errors[0], "exec /nonexistent/prog") {
		t.Errorf("exec missing: errors %q", r.Errors)
	}
}

func TestLoadTimeout(t *testing.T) {
	old := loadTimeout
	loadTimeout = 100 * time.Millisecond
	defer func() { loadTimeout = old }()
	dir := writeDir(t, map[string]string{"spin.lua": "local n = 0\nwhile true do\n  n = n + 1\nend\n"})
	done := make(chan error, 1)
	go func() { _, err := Load(Config{Dir: dir}, runtime.NewRegistry()); done <- err }()
	var err error
	select {
	case err = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Load did not return within 10 s")
	}
	var le *LoadError
	if !errors.As(err, &le) || le.File != "conf.d/spin.lua" || le.Line < 2 ||
		!strings.Contains(err.Error(), "run timed out after 100ms") {
		t.Errorf("Load() error = %v, want conf.d/spin.lua:N: run timed out after 100ms", err)
	}
}

func TestConcurrentRuns(t *testing.T) {
	fx := load(t, readTestdata(t, "checks.lua", "leaks.lua"), Config{PoolSize: 2}, nil)
	c, o := fx.check(t, "compare", map[string]string{"value": "yes"})
	r2, o2 := fx.check(t, "readglobal", nil)
	var wg sync.WaitGroup
	errs := make(chan string, 400)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 25; i++ {
				if r := runtime.RunCheck(context.Background(), c, o); !r.OK {
					errs <- strings.Join(r.Errors, "; ")
				}
				if r := runtime.RunCheck(context.Background(), r2, o2); !r.OK {
					errs <- strings.Join(r.Errors, "; ")
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Errorf("concurrent run failed: %s", e)
	}
	for _, f := range fx.e.files {
		if n := len(f.pool); n > 2 {
			t.Errorf("%s: %d idle states, want at most 2", f.name, n)
		}
	}
}
