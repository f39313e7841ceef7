package lua

import (
	"fmt"
	"strings"

	"github.com/monsta/monsta/runtime"
)

// access is what a check type run through monsta.run_check may reach.
type access int

const (
	accessUnknown access = iota // a Go type not classified below: refused unless lua_exec = yes
	accessNetwork               // talks to the network only, like monsta.tcp: always allowed
	accessLocal                 // reads local files or /proc, or runs commands: needs lua_exec = yes
)

// checkAccess classifies the built-in check types. runtime.Descriptor has
// no capability field, so the list lives here, beside the sandbox it
// guards; TestEveryBuiltinCheckIsClassified fails when builtins registers
// a type this list does not know.
var checkAccess = map[string]access{
	"portconnect": accessNetwork,
	"dnslookup":   accessNetwork,
	"dnsserial":   accessNetwork,
	"smtp":        accessNetwork,
	"mailbox":     accessNetwork,
	"http":        accessNetwork,
	"tls":         accessNetwork,
	"ping":        accessNetwork,
	"script":      accessLocal, // runs a command (nagios plugins too)
	"file":        accessLocal, // reads any file the daemon can
	"disk":        accessLocal, // statfs of any path
	"process":     accessLocal, // lists /proc
	"load":        accessLocal, // /proc/loadavg
	"memory":      accessLocal, // /proc/meminfo
}

// fromLua tells whether d was defined by a Lua file (its Source is
// "conf.d/x.lua:3"): such a type runs in the sandbox itself.
func fromLua(d *runtime.Descriptor) bool {
	file, _, ok := strings.Cut(d.Source, ":")
	return ok && strings.HasSuffix(file, ".lua")
}

// runCheckAllowed returns why monsta.run_check may not run d, or nil: a
// type that reads local files or runs commands (and any Go type not
// classified) needs lua_exec = yes, like monsta.exec.
func (e *Engine) runCheckAllowed(d *runtime.Descriptor) error {
	if fromLua(d) || e.cfg.AllowExec {
		return nil
	}
	switch checkAccess[d.Name] {
	case accessNetwork:
		return nil
	case accessLocal:
		return fmt.Errorf("check type %q reads local files or runs commands; set lua_exec = yes in [main] to allow it", d.Name)
	}
	return fmt.Errorf("check type %q is not classified as network-only; set lua_exec = yes in [main] to allow it", d.Name)
}
