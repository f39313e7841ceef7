package lua

import (
	"context"
	"sort"
	"testing"

	glua "github.com/yuin/gopher-lua"
)

// gopherLibraries is every library gopher-lua can open, by global name.
var gopherLibraries = map[string]glua.LGFunction{
	"": glua.OpenBase, "package": glua.OpenPackage, "table": glua.OpenTable, "io": glua.OpenIo,
	"os": glua.OpenOs, "string": glua.OpenString, "math": glua.OpenMath, "debug": glua.OpenDebug,
	"channel": glua.OpenChannel, "coroutine": glua.OpenCoroutine,
}

// TestSandboxAllowList fails when gopher-lua offers a name, in any library
// it can open, that the allow-list neither allows nor refuses: a function
// a gopher-lua upgrade adds must not reach Lua code unbounded, nor be
// dropped without anyone deciding so.
func TestSandboxAllowList(t *testing.T) {
	byName := map[string]library{}
	for _, lib := range sandbox {
		byName[lib.name] = lib
	}
	L := glua.NewState(glua.Options{SkipOpenLibs: true})
	defer L.Close()
	for name, open := range gopherLibraries {
		L.Push(L.NewFunction(open))
		L.Push(glua.LString(name))
		L.Call(1, 0)
	}
	var unknown []string
	L.G.Global.ForEach(func(k, v glua.LValue) {
		key := k.String()
		if _, isLib := gopherLibraries[key]; isLib && key != "" {
			if _, ok := byName[key]; !ok {
				unknown = append(unknown, key+" (a library)")
			}
			if t, ok := v.(*glua.LTable); ok {
				t.ForEach(func(k2, _ glua.LValue) {
					if !classified(byName[key], k2.String()) {
						unknown = append(unknown, key+"."+k2.String())
					}
				})
			}
			return
		}
		if !classified(byName[""], key) {
			unknown = append(unknown, key)
		}
	})
	sort.Strings(unknown)
	for _, n := range unknown {
		t.Errorf("gopher-lua offers %s, which lua/sandbox.go neither allows nor refuses", n)
	}
}

func classified(lib library, name string) bool {
	_, allowed := lib.allow[name]
	_, refused := lib.refuse[name]
	_, all := lib.refuse["*"]
	return allowed || refused || all
}

// TestSandboxIsTheAllowList: a run's environment has every allowed name
// and nothing else, and no refused name.
func TestSandboxIsTheAllowList(t *testing.T) {
	fx := load(t, map[string]string{"x.lua": `monsta.check_type{name = "x", description = "d", run = function() return true end}`}, Config{}, nil)
	s, err := fx.e.files[0].get(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	L := s.L
	env := L.G.Global.Metatable.(*glua.LTable).RawGetString("__index").(*glua.LTable) // behind the lock
	for _, lib := range sandbox {
		tbl := env
		if lib.name != "" {
			v := env.RawGetString(lib.name)
			if lib.open == nil {
				if v != glua.LNil {
					t.Errorf("refused library %s is in the environment", lib.name)
				}
				continue
			}
			tbl = v.(*glua.LTable).Metatable.(*glua.LTable).RawGetString("__index").(*glua.LTable) // behind the proxy
		}
		for name := range lib.allow {
			if tbl.RawGetString(name) == glua.LNil {
				t.Errorf("allowed %s.%s is missing", lib.name, name)
			}
		}
		for name := range lib.refuse {
			if tbl.RawGetString(name) != glua.LNil {
				t.Errorf("refused %s.%s is reachable", lib.name, name)
			}
		}
		tbl.ForEach(func(k, _ glua.LValue) {
			name := k.String()
			if _, ok := lib.allow[name]; ok || lib.name == "" && (isLibrary(name) || name == "monsta" || name == concatName) {
				return
			}
			t.Errorf("%s.%s is in the environment but not in the allow-list", lib.name, name)
		})
	}
}
