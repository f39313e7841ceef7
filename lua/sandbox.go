package lua

import (
	glua "github.com/yuin/gopher-lua"
)

// The Lua environment is built from the allow-list below, its one source
// of truth: a name gopher-lua offers is in a run's environment only if it
// is listed here as allowed, with the function that bounds it (deadline,
// size, memory) or as gopher-lua's own where that is bounded already.
// Every other name is refused, with the reason. TestSandboxAllowList fails
// when gopher-lua (an upgrade, say) offers a name that is neither allowed
// nor refused.

// use is how an allowed name gets into the environment.
type use func(s *state, orig glua.LValue) glua.LValue

// keep uses gopher-lua's value as it is: a constant, or a function that
// builds nothing larger than its arguments and runs in time linear in
// them (one instruction of the VM, which checks the deadline between
// instructions).
func keep(_ *state, orig glua.LValue) glua.LValue { return orig }

// own replaces gopher-lua's function by monsta's.
func own(fn func(s *state) glua.LGFunction) use {
	return func(s *state, _ glua.LValue) glua.LValue { return s.L.NewFunction(fn(s)) }
}

// sized wraps gopher-lua's function what, whose result is as long as its
// first argument, so that the size is checked before it is built.
func sized(what string) use {
	return func(s *state, orig glua.LValue) glua.LValue {
		return s.L.NewFunction(s.sameSize(what, orig.(*glua.LFunction).GFunction))
	}
}

// fn adapts a plain function to own.
func fn(f glua.LGFunction) func(*state) glua.LGFunction {
	return func(*state) glua.LGFunction { return f }
}

// library is one library of gopher-lua.
type library struct {
	name   string          // the global's name; "" for the base functions
	open   glua.LGFunction // gopher-lua's opener; nil: never opened
	allow  map[string]use
	refuse map[string]string // name → why
}

// sandbox is the allow-list.
var sandbox = []library{
	{name: "", open: glua.OpenBase,
		allow: map[string]use{
			"_G": keep, "_VERSION": keep, "_GOPHER_LUA_VERSION": keep,
			"assert": keep, "error": keep, "getmetatable": keep, "ipairs": keep, "next": keep, "pairs": keep,
			"rawequal": keep, "rawget": keep, "select": keep, "setmetatable": keep, "tonumber": keep,
			"tostring": keep, "type": keep,
			"load":       own(fn(baseLoad)),                                        // source text only, at most 64 KiB, nesting bounded
			"loadstring": own(fn(baseLoadString)),                                  // the same
			"pcall":      own(fn(basePCall)),                                       // no traceback per tail call
			"xpcall":     own(fn(baseXPCall)),                                      // the handler outside gopher-lua's error path
			"rawset":     own(fn(baseRawSet)),                                      // refuses the protected tables
			"unpack":     own(fn(baseUnpack)),                                      // at most 8,000 values
			"print":      own(func(s *state) glua.LGFunction { return s.print }),   // clipped, rate-limited log
			"require":    own(func(s *state) glua.LGFunction { return s.require }), // monsta.* and conf.d/lib only
		},
		refuse: map[string]string{
			"dofile": "reads files", "loadfile": "reads files", "module": "writes globals",
			"getfenv": "reaches other functions' environments", "setfenv": "replaces environments",
			"collectgarbage": "the daemon's garbage collector", "newproxy": "unbounded userdata",
			"_printregs": "debugging of gopher-lua",
		}},
	{name: "string", open: glua.OpenString,
		allow: map[string]use{
			"len": keep, "sub": keep, "char": keep, // sub shares its input, char is bounded by the value stack
			"byte":    own(fn(strByte)),      // at most 8,000 values
			"upper":   sized("string.upper"), // as long as their input: checked first
			"lower":   sized("string.lower"),
			"reverse": sized("string.reverse"),
			"rep":     own(func(s *state) glua.LGFunction { return s.strRep }),
			"format":  own(func(s *state) glua.LGFunction { return s.strFormat }),
			"find":    own(func(s *state) glua.LGFunction { return s.strFind }),
			"match":   own(func(s *state) glua.LGFunction { return s.strMatch }),
			"gmatch":  own(func(s *state) glua.LGFunction { return s.strGmatch }),
			"gfind":   own(func(s *state) glua.LGFunction { return s.strGmatch }), // Lua 5.0's name of gmatch
			"gsub":    own(func(s *state) glua.LGFunction { return s.strGsub }),
		},
		refuse: map[string]string{"dump": "binary chunks", "__index": "gopher-lua's string metatable is the library; the sandbox gives strings their own"}},
	{name: "table", open: glua.OpenTable,
		allow: map[string]use{
			"getn": keep, "maxn": keep, "insert": keep, "remove": keep,
			"concat": own(func(s *state) glua.LGFunction { return s.tableConcat }),
			"sort":   own(func(s *state) glua.LGFunction { return s.tableSort }),
		}},
	{name: "math", open: glua.OpenMath,
		allow: map[string]use{
			"abs": keep, "acos": keep, "asin": keep, "atan": keep, "atan2": keep, "ceil": keep, "cos": keep,
			"cosh": keep, "deg": keep, "exp": keep, "floor": keep, "fmod": keep, "frexp": keep, "huge": keep,
			"ldexp": keep, "log": keep, "log10": keep, "max": keep, "min": keep, "mod": keep, "modf": keep,
			"pi": keep, "pow": keep, "rad": keep, "random": keep, "randomseed": keep, "sin": keep, "sinh": keep,
			"sqrt": keep, "tan": keep, "tanh": keep,
		}},
	{name: "os", open: glua.OpenOs,
		allow: map[string]use{
			"time": keep, "clock": keep, "difftime": keep,
			"date": osDate, // the result's size is checked before it is built
		},
		refuse: map[string]string{
			"execute": "runs commands", "exit": "ends the daemon", "getenv": "reads the environment",
			"setenv": "changes the environment", "remove": "deletes files", "rename": "moves files",
			"tmpname": "creates files", "setlocale": "changes the process",
		}},
	{name: "io", refuse: map[string]string{
		"*": "files and the process's standard streams"}},
	{name: "debug", refuse: map[string]string{"*": "reaches into other functions and the registry"}},
	{name: "package", refuse: map[string]string{"*": "loads files and Go modules; require is monsta's"}},
	{name: "coroutine", refuse: map[string]string{"*": "a coroutine's run could outlive its call"}},
	{name: "channel", refuse: map[string]string{"*": "blocks on Go channels without the run's deadline"}},
}

// osDate wraps os.date: its result is at most 16 times as long as its
// format (%c is the longest expansion), and that is checked first.
func osDate(s *state, orig glua.LValue) glua.LValue {
	date := orig.(*glua.LFunction).GFunction
	return s.L.NewFunction(func(L *glua.LState) int {
		g := s.guard("os.date", maxString)
		g.need(16 * int64(len(L.OptString(1, ""))))
		return date(L)
	})
}

// openLibs builds the environment of s from sandbox: each library opened
// by gopher-lua, then rebuilt with only its allowed names, behind a
// read-only proxy; and the monsta table.
func (s *state) openLibs() {
	L := s.L
	for _, lib := range sandbox {
		if lib.open == nil {
			continue
		}
		L.Push(L.NewFunction(lib.open))
		L.Push(glua.LString(lib.name))
		L.Call(1, 0)
	}
	g := L.G.Global
	for _, lib := range sandbox {
		if lib.open == nil {
			continue
		}
		if lib.name == "" {
			s.allowOnly(g, lib.allow)
			continue
		}
		t := g.RawGetString(lib.name).(*glua.LTable)
		s.allowOnly(t, lib.allow)
		g.RawSetString(lib.name, readOnly(L, t))
	}
	L.SetGlobal(concatName, L.NewFunction(s.baseConcat))
	L.SetGlobal("monsta", readOnly(L, s.monstaTable()))
	// Method calls on strings ("x"):upper() go through the read-only
	// proxy, by a metatable of their own (gopher-lua's is the string
	// library itself).
	mt := L.NewTable()
	mt.RawSetString("__index", L.GetGlobal("string"))
	mt.RawSetString("__metatable", glua.LFalse)
	L.SetMetatable(glua.LString(""), mt)
}

// allowOnly keeps the names of t that allow lists, each as its use makes
// it, and removes every other name (libraries' tables stay in the base
// table: they are rebuilt on their own).
func (s *state) allowOnly(t *glua.LTable, allow map[string]use) {
	type entry struct{ k, v glua.LValue }
	var set []entry
	t.ForEach(func(k, v glua.LValue) {
		ks, ok := k.(glua.LString)
		switch {
		case !ok:
			set = append(set, entry{k, glua.LNil})
		case allow[string(ks)] != nil:
			set = append(set, entry{k, allow[string(ks)](s, v)})
		case t != s.L.G.Global || !isLibrary(string(ks)):
			set = append(set, entry{k, glua.LNil})
		}
	})
	for _, e := range set {
		t.RawSet(e.k, e.v)
	}
}

// isLibrary tells whether name is a library the sandbox opens.
func isLibrary(name string) bool {
	for _, lib := range sandbox {
		if lib.name == name && lib.open != nil && name != "" {
			return true
		}
	}
	return false
}
