package builtins

import (
	"strings"
	"testing"

	"github.com/monsta/monsta/config"
	"github.com/monsta/monsta/runtime"
)

// TestRegisterExamples registers every built-in and builds an instance from
// each descriptor's Example, so that no example can rot.
func TestRegisterExamples(t *testing.T) {
	reg := runtime.NewRegistry()
	if err := Register(reg, Env{}); err != nil {
		t.Fatalf("Register() error = %v", err)
	}
	for _, kind := range []runtime.Kind{runtime.KindCheck, runtime.KindNotifier} {
		for _, d := range reg.List(kind) {
			t.Run(kind.String()+"/"+d.Name, func(t *testing.T) {
				if d.Example == "" {
					t.Fatal("descriptor has no Example")
				}
				secs, _, err := config.Parse("example", []byte(d.Example))
				if err != nil {
					t.Fatalf("Example does not parse: %v", err)
				}
				n := 0
				for _, s := range secs {
					if !strings.HasPrefix(s.Name, kind.SectionPrefix()) {
						continue
					}
					raw := map[string]string{}
					for _, k := range s.Keys() {
						raw[k.Name] = k.Value
					}
					typ := raw["type"]
					delete(raw, "type")
					ed, ok := reg.Lookup(kind, typ)
					if !ok || ed != d {
						t.Errorf("[%s] type = %q, want %q", s.Name, typ, d.Name)
						continue
					}
					o, err := runtime.NewOptions(d, s.Name, raw)
					if err != nil {
						t.Errorf("[%s]: %v", s.Name, err)
						continue
					}
					if kind == runtime.KindCheck {
						_, err = d.NewCheck(o)
					} else {
						_, err = d.NewNotifier(o)
					}
					if err != nil {
						t.Errorf("[%s]: new %s: %v", s.Name, kind, err)
					}
					n++
				}
				if n == 0 {
					t.Errorf("Example has no [%s...] section", kind.SectionPrefix())
				}
			})
		}
	}
}
