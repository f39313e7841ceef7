package lua

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/monsta/monsta/runtime"
)

// FuzzLoad feeds arbitrary source to Load: it must return (types or
// errors), never panic or hang past the load deadline.
func FuzzLoad(f *testing.F) {
	for _, p := range []string{"testdata/checks.lua", "testdata/sandbox.lua", "../examples/lua/conf.d/redis.lua"} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Add("monsta.check_type{name='x', description='d', options={a={help='h.', type='port', default=0}}, run=function() end}")
	f.Add("local a = {...}; return #a")
	f.Add("goto x; ::x::")
	old := loadTimeout
	loadTimeout = 50 * 1e6 // 50 ms
	f.Cleanup(func() { loadTimeout = old })
	f.Fuzz(func(t *testing.T, src string) {
		dir := filepath.Join(t.TempDir(), "conf.d")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "f.lua"), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			e, err := Load(Config{Dir: dir}, runtime.NewRegistry())
			if err == nil {
				e.Close()
			}
		}()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("Load hangs on %q", src)
		}
	})
}
