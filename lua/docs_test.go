package lua

import (
	"context"
	"os"
	"strings"
	"testing"

	glua "github.com/yuin/gopher-lua"
)

// TestAPIDocumented keeps lua/monsta.d.lua and docs/lua.md in step with the
// API: every function of the monsta table and of every module must appear
// in both, and the annotation file must parse.
func TestAPIDocumented(t *testing.T) {
	ann, err := os.ReadFile("monsta.d.lua")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := compile(ann, "monsta.d.lua"); err != nil {
		t.Fatalf("monsta.d.lua: %v", err)
	}
	guide, err := os.ReadFile("../docs/lua.md")
	if err != nil {
		t.Fatal(err)
	}
	fx := load(t, map[string]string{"x.lua": "-- empty\n"}, Config{}, nil)
	s, err := fx.e.files[0].get(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer s.L.Close()
	check := func(annName, docName string) {
		t.Helper()
		if !strings.Contains(string(ann), "function "+annName+"(") {
			t.Errorf("monsta.d.lua does not declare %s", annName)
		}
		if !strings.Contains(string(guide), docName) {
			t.Errorf("docs/lua.md does not describe %s", docName)
		}
	}
	s.monstaTable().ForEach(func(k, _ glua.LValue) {
		check("monsta."+k.String(), "monsta."+k.String())
	})
	for _, m := range modules {
		name := m.name
		short := name[strings.LastIndexByte(name, '.')+1:]
		m.load(s).ForEach(func(k, _ glua.LValue) {
			check(short+"."+k.String(), short+"."+k.String()+"(")
		})
		if !strings.Contains(string(guide), "#### `"+name+"`") {
			t.Errorf("docs/lua.md has no section for %s", name)
		}
	}
	for _, method := range []string{"send", "receive_line", "receive", "close", "abort"} {
		check("Conn:"+method, "conn:"+method+"(")
	}
}
