package lua

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/monsta/monsta/builtins"
	"github.com/monsta/monsta/internal/testkit/loopback"
	"github.com/monsta/monsta/runtime"
)

// The benchmarks compare a TCP connect+close probe written in Lua with the
// built-in portconnect check, both run through runtime.RunCheck against one
// loopback listener. Besides ns/op they report the process CPU time (user+system,
// from getrusage) per check, which includes the listener's accept+close.

const benchLua = `
local tcp = require("monsta.tcp")
monsta.check_type{
  name = "lua_connect",
  description = "connect and close",
  options = {host = {required = true, help = "Host."}, port = {required = true, type = "port", help = "Port."}},
  run = function(opt)
    local c, err = tcp.connect(opt.host, opt.port)
    if not c then return false, err end
    c:abort() -- like portconnect: a reset, no TIME_WAIT
    return true
  end,
}
`

// benchListener accepts connections and, once the check has closed its end,
// resets them (linger 0), so that neither side lingers in TIME_WAIT and the
// ephemeral ports do not run out.
func benchListener(b *testing.B) string {
	b.Helper()
	return loopback.PortString(loopback.ServeOn(b, benchHost+":0", func(c net.Conn) {
		io.Copy(io.Discard, c) // until the check closes
		c.(*net.TCPConn).SetLinger(0)
	}))
}

// benchHost is a loopback address of its own, away from the busy 127.0.0.1.
const benchHost = "127.0.0.77"

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

type benchChecks struct {
	goC, luaC runtime.Check
	goO, luaO *runtime.Options
}

func setupBench(b *testing.B) benchChecks {
	b.Helper()
	dir := b.TempDir()
	if err := writeFile(dir, "bench.lua", benchLua); err != nil {
		b.Fatal(err)
	}
	reg := runtime.NewRegistry()
	if err := builtins.Register(reg, builtins.Env{}); err != nil {
		b.Fatal(err)
	}
	e, err := Load(Config{Dir: dir, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, reg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(e.Close)
	port := benchListener(b)
	var bc benchChecks
	mk := func(typ string) (runtime.Check, *runtime.Options) {
		d, _ := reg.Lookup(runtime.KindCheck, typ)
		o, err := runtime.NewOptions(d, "Check_bench", map[string]string{"host": benchHost, "port": port})
		if err != nil {
			b.Fatal(err)
		}
		c, err := d.NewCheck(o)
		if err != nil {
			b.Fatal(err)
		}
		return c, o
	}
	bc.goC, bc.goO = mk("portconnect")
	bc.luaC, bc.luaO = mk("lua_connect")
	return bc
}

// runN runs c n times and returns the process CPU time per run.
func runN(b *testing.B, c runtime.Check, o *runtime.Options, n int) time.Duration {
	b.Helper()
	start := cpuTime()
	for i := 0; i < n; i++ {
		if r := runtime.RunCheck(context.Background(), c, o); !r.OK {
			b.Fatalf("check failed: %q", r.Errors)
		}
	}
	return (cpuTime() - start) / time.Duration(n)
}

func BenchmarkTCPProbe(b *testing.B) {
	bc := setupBench(b)
	for _, tt := range []struct {
		name string
		c    runtime.Check
		o    *runtime.Options
	}{{"go", bc.goC, bc.goO}, {"lua", bc.luaC, bc.luaO}} {
		b.Run(tt.name, func(b *testing.B) {
			runN(b, tt.c, tt.o, 100) // warm the pool and the connection path
			b.ReportAllocs()
			b.ResetTimer()
			cpu := runN(b, tt.c, tt.o, b.N)
			b.ReportMetric(float64(cpu.Nanoseconds()), "cpu-ns/op")
		})
	}
}

// BenchmarkTCPProbeRatio reports the Lua/Go CPU ratio, measuring both in
// alternating blocks so drift of the machine affects both.
func BenchmarkTCPProbeRatio(b *testing.B) {
	bc := setupBench(b)
	runN(b, bc.goC, bc.goO, 100)
	runN(b, bc.luaC, bc.luaO, 100)
	b.ResetTimer()
	var goCPU, luaCPU time.Duration
	const block = 200
	for done := 0; done < b.N; done += block {
		n := min(block, b.N-done)
		goCPU += runN(b, bc.goC, bc.goO, n) * time.Duration(n)
		luaCPU += runN(b, bc.luaC, bc.luaO, n) * time.Duration(n)
	}
	b.ReportMetric(float64(goCPU.Nanoseconds())/float64(b.N), "go-cpu-ns/op")
	b.ReportMetric(float64(luaCPU.Nanoseconds())/float64(b.N), "lua-cpu-ns/op")
	b.ReportMetric(float64(luaCPU)/float64(goCPU), "lua/go")
}

// BenchmarkNewState measures making one run state of the redis example:
// what a pool miss costs, and (B/op) roughly what an idle state holds.
func BenchmarkNewState(b *testing.B) {
	src, err := os.ReadFile("../examples/lua/conf.d/redis.lua")
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	if err := writeFile(dir, "redis.lua", string(src)); err != nil {
		b.Fatal(err)
	}
	e, err := Load(Config{Dir: dir}, runtime.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	f := e.files[0]
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s, err := f.newState(context.Background(), false)
		if err != nil {
			b.Fatal(err)
		}
		s.L.Close()
	}
}
