package lua_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/monsta/monsta/lua"
	"github.com/monsta/monsta/runtime"
)

// Load a conf.d directory with one Lua check type, then build and run a
// check of that type the way the runtime does.
func ExampleLoad() {
	dir, _ := os.MkdirTemp("", "monsta-example")
	defer os.RemoveAll(dir)
	confd := filepath.Join(dir, "conf.d")
	os.Mkdir(confd, 0o755)
	os.WriteFile(filepath.Join(confd, "answer.lua"), []byte(`
monsta.check_type{
  name = "answer",
  description = "pass when the answer is 42",
  options = {answer = {default = "42", type = "int", help = "The answer."}},
  run = function(opt)
    if opt.answer ~= 42 then return false, "wrong answer " .. opt.answer end
    return true, nil, {answer = opt.answer}
  end,
}
`), 0o644)

	reg := runtime.NewRegistry()
	e, err := lua.Load(lua.Config{Dir: confd}, reg)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer e.Close()
	d, _ := reg.Lookup(runtime.KindCheck, "answer")
	fmt.Println(d.Source, "-", d.Description)
	for _, answer := range []string{"42", "41"} {
		o, _ := runtime.NewOptions(d, "Check_deep_thought", map[string]string{"answer": answer})
		c, _ := d.NewCheck(o)
		r := runtime.RunCheck(context.Background(), c, o)
		fmt.Println(r.OK, r.Errors, r.Stats)
	}
	// Output:
	// conf.d/answer.lua:2 - pass when the answer is 42
	// true [] map[answer:42]
	// false [wrong answer 41] map[]
}
