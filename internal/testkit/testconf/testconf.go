// Package testconf holds configurations that the tests of several packages
// share, so that a scenario reads the same everywhere. Only tests import
// it.
package testconf

import (
	"fmt"
	"testing"

	"github.com/monsta/monsta/config"
	"github.com/monsta/monsta/runtime"
)

// Failing is a test that fails on every run (a connect to port 1, which is
// never open): [Test_down] runs every 2 s and pages [Notification_page], a
// log notifier, from its second failure. Its state directory is the
// placeholder STATEDIR, which the tests' writers replace.
const Failing = `
[main]
statedir = STATEDIR
[Check_down]
type = portconnect
host = 127.0.0.1
port = 1
timeout = 1
[Notification_page]
type = log
recipient = error
[Test_down]
checks = down
interval = 2
notify = 2:page
`

// HostileLua is the Lua that took the daemon down (issue 17): a check type
// "hostile" whose option probe= names one of the probes (tail_recursion,
// lazy_match, captures, json_bomb, gsub_bomb, big_table, big_strings,
// concat_bomb, concat_chain, concat_values, huge_error, format_width,
// format_many, sort_forever, pcall_loop, xpcall_tail, deep_load). Every run
// of it must end at the check's timeout and fail, without taking the
// daemon's memory or time.
const HostileLua = `
local json = require("monsta.json")
local probes = {}

function probes.tail_recursion()
  local function f(n) return f(n + 1) end
  return f(1)
end

function probes.lazy_match()
  return string.rep("a", 200000):match("(.-)</title>")
end

function probes.captures()
  local ok, err = pcall(string.find, "x", string.rep("(", 3000000))
  return false, tostring(err)
end

function probes.json_bomb()
  local t = {}
  for i = 1, 40 do t = {t, t} end
  local s, err = json.encode(t)
  error(err)
end

function probes.gsub_bomb()
  local s = string.rep("a", 2^20)
  return s:gsub("a", string.rep("b", 4096))
end

function probes.big_table()
  local t = {}
  for i = 1, 1e8 do t[i] = i end
end

function probes.big_strings()
  local t, s = {}, string.rep("x", 2^20)
  for i = 1, 1e6 do t[i] = s .. i end
end

function probes.concat_bomb()
  local s = string.rep("x", 8 * 2^20)
  for i = 1, 20 do s = s .. s end
end

function probes.concat_chain()
  local s = string.rep("x", 16 * 2^20)
  local t = s..s..s..s..s..s..s..s..s..s..s..s..s..s..s..s..s..s..s..s..s..s..s..s
  return #t
end

function probes.concat_values()
  local mt = {__concat = function(a, b)
    return (type(a) == "table" and a.v or a) .. (type(b) == "table" and b.v or b)
  end}
  local o = setmetatable({v = "o"}, mt)
  local x = "a" .. 1 .. "b" .. 2.5 .. o .. "c" .. o
  return false, x
end

function probes.huge_error()
  error(string.rep("\27[2J", 2^20))
end

function probes.format_width()
  return string.format("%099999d", 1)
end

function probes.format_many()
  local s, args = string.rep("x", 2^20), {}
  for i = 1, 2000 do args[i] = s end
  return string.format(string.rep("%s", 2000), unpack(args))
end

function probes.sort_forever()
  local t = {}
  for i = 1, 100 do t[i] = i end
  table.sort(t, function(a, b) while true do end end)
end

function probes.pcall_loop()
  while true do pcall(function() while true do end end) end
end

function probes.xpcall_tail()
  local function f(n) return f(n + 1) end
  return xpcall(function() return f(1) end, function(e) return f(1) end)
end

function probes.deep_load()
  return loadstring("return " .. string.rep("{", 30000) .. string.rep("}", 30000))
end

monsta.check_type{
  name = "hostile",
  description = "run a hostile probe",
  options = {probe = {required = true, help = "Name of the probe."}},
  run = function(opt) return probes[opt.probe]() end,
}
`

// Plan reads mainFile and the *.conf files of confDir as the daemon does
// and resolves them against reg (frozen by the caller), failing the test
// on a problem. It lets the tests of packages that must not import config
// (lua) run a configuration through the runtime.
func Plan(t testing.TB, mainFile, confDir string, reg *runtime.Registry) *runtime.Plan {
	t.Helper()
	cfg, err := config.Load(mainFile, confDir)
	if err != nil {
		t.Fatalf("config.Load() error = %v", err)
	}
	plan, _, err := runtime.NewResolver(cfg).Resolve(reg)
	if err != nil {
		t.Fatalf("Resolve() error = %v", err)
	}
	return plan
}

// MailDown is a test that always fails (a refused port) and mails its
// first failure through an SMTP server on 127.0.0.1:port, retrying every
// second; mainExtra is added to [main] (for example "user = root\n").
func MailDown(port int, mainExtra string) string {
	return fmt.Sprintf(`
[main]
statedir = STATEDIR
%snotify_retry_initial = 1
notify_retry_max = 1
[Check_down]
type = portconnect
host = 127.0.0.1
port = 1
[Notification_page]
type = mail
host = 127.0.0.1
port = %d
sender = monsta@example.org
recipient = admin@example.org
timeout = 2
[Test_down]
checks = down
interval = 2
notify = 1:page
`, mainExtra, port)
}
