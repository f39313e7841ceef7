package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"

	"github.com/monsta/monsta/internal/testkit/loopback"
)

// fakeRedis answers PING with +PONG (or with reply) on loopback.
func fakeRedis(t *testing.T, reply string) int {
	t.Helper()
	return loopback.Port(loopback.Serve(t, func(c net.Conn) {
		r := bufio.NewReader(c)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			if strings.HasPrefix(strings.ToUpper(line), "PING") {
				fmt.Fprint(c, reply+"\r\n")
			}
		}
	}))
}

func luaConf(t *testing.T, extra map[string]string) string {
	t.Helper()
	src, err := os.ReadFile("../../examples/lua/conf.d/redis.lua")
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{"conf.d/redis.lua": string(src)}
	for k, v := range extra {
		files[k] = v
	}
	return writeConf(t, files)
}

// TestLuaTypeThroughTheBinary uses the example redis_ping type from INI like
// a built-in: documented by --help, run by --run, linted.
func TestLuaTypeThroughTheBinary(t *testing.T) {
	t.Parallel()
	up, wrong := fakeRedis(t, "+PONG"), fakeRedis(t, "-ERR nope")
	conf := luaConf(t, map[string]string{"monsta.conf": fmt.Sprintf(`
[main]
statedir = STATEDIR
[redis_ping_default]
host = 127.0.0.1
[Check_up]
type = redis_ping
port = %d
[Check_wrong]
type = redis_ping
port = %d
[Test_cache]
checks = up wrong
requires = any
`, up, wrong)})
	r := monsta(t, "--help", "check", "redis_ping", "--config", conf)
	if r.code != 0 || !strings.Contains(r.stdout, "Source: conf.d/redis.lua:") || !strings.Contains(r.stdout, "timeout") {
		t.Errorf("--help check redis_ping = %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := monsta(t, "--help", "check", "--config", conf); !strings.Contains(r.stdout, "redis_ping") {
		t.Errorf("--help check does not list the Lua type:\n%s", r.stdout)
	}
	if r := monsta(t, "--run", "Check_up", "--config", conf); r.code != 0 {
		t.Errorf("--run Check_up = %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := monsta(t, "--run", "Check_wrong", "--config", conf); r.code != 1 || !strings.Contains(r.stdout, "ERR nope") {
		t.Errorf("--run Check_wrong = %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := monsta(t, "--lint", "--config", conf); r.code != 0 {
		t.Errorf("--lint = %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

func TestLuaErrorsHavePositions(t *testing.T) {
	t.Parallel()
	conf := luaConf(t, map[string]string{
		"monsta.conf":       "[main]\nstatedir = STATEDIR\n[Check_c]\ntype = redis_ping\n",
		"conf.d/broken.lua": "local x = 1\nmonsta.check_type{ name = \"b\",\n",
	})
	r := monsta(t, "--lint", "--config", conf)
	if r.code != exitConfig {
		t.Fatalf("--lint exit = %d, want 2\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, w := range []string{"conf.d/broken.lua:", "monsta.conf:3: [Check_c] host: required option missing"} {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("--lint output lacks %q:\n%s", w, r.stderr)
		}
	}
}
