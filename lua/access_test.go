package lua

import (
	"github.com/monsta/monsta/internal/testkit/loopback"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/monsta/monsta/builtins"
	"github.com/monsta/monsta/runtime"
)

// TestEveryBuiltinCheckIsClassified fails when builtins registers a check
// type that checkAccess does not list as network-only or local: a new type
// that reads files must not reach Lua unnoticed.
func TestEveryBuiltinCheckIsClassified(t *testing.T) {
	reg := runtime.NewRegistry()
	if err := builtins.Register(reg, builtins.Env{}); err != nil {
		t.Fatal(err)
	}
	for _, d := range reg.List(runtime.KindCheck) {
		if checkAccess[d.Name] == accessUnknown {
			t.Errorf("built-in check type %q is not in checkAccess: classify it as accessNetwork or accessLocal", d.Name)
		}
	}
}

const sandboxRunCheckLua = `
monsta.check_type{
  name = "via",
  description = "run a check type through run_check",
  options = {what = {help = "Type."}, host = {default = "", help = "Host."}, port = {default = "", help = "Port."},
             path = {default = "", help = "Path."}, command = {default = "", help = "Command."}},
  run = function(opt)
    local o = {}
    if opt.host ~= "" then o.host, o.port = opt.host, opt.port end
    if opt.path ~= "" then o.path, o.expect = opt.path, "secret" end
    if opt.command ~= "" then o.command = opt.command end
    local ok, errs = monsta.run_check(opt.what, o)
    return ok, errs
  end,
}
`

// TestRunCheckObeysTheSandbox: with lua_exec = no, run_check refuses the
// types that read local files or run commands (the escape of issue 23,
// item 8), and still runs the network ones; with lua_exec = yes it runs
// them all.
func TestRunCheckObeysTheSandbox(t *testing.T) {
	port := loopback.PortString(loopback.Serve(t, func(net.Conn) {}))
	secret := filepath.Join(t.TempDir(), "shadow")
	if err := os.WriteFile(secret, []byte("root:secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	withBuiltins := func(r *runtime.Registry) {
		if err := builtins.Register(r, builtins.Env{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name  string
		exec  bool
		opts  map[string]string
		ok    bool
		error string // in the only message
	}{
		{"script refused", false, map[string]string{"what": "script", "command": "true"}, false,
			`run_check script: check type "script" reads local files or runs commands; set lua_exec = yes in [main] to allow it`},
		{"file refused", false, map[string]string{"what": "file", "path": secret}, false,
			`run_check file: check type "file" reads local files`},
		{"disk refused", false, map[string]string{"what": "disk", "path": "/"}, false, `check type "disk" reads local files`},
		{"process refused", false, map[string]string{"what": "process"}, false, `check type "process" reads local files`},
		{"network allowed", false, map[string]string{"what": "portconnect", "host": "127.0.0.1", "port": port}, true, ""},
		{"script with lua_exec", true, map[string]string{"what": "script", "command": "true"}, true, ""},
		{"file with lua_exec", true, map[string]string{"what": "file", "path": secret}, true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fx := load(t, map[string]string{"via.lua": sandboxRunCheckLua}, Config{AllowExec: tc.exec}, withBuiltins)
			r := fx.run(t, "via", tc.opts)
			if r.OK != tc.ok || !tc.ok && (len(r.Errors) != 1 || !strings.Contains(r.Errors[0], tc.error)) {
				t.Errorf("OK = %v, errors %q; want %v and %q", r.OK, r.Errors, tc.ok, tc.error)
			}
		})
	}
}
