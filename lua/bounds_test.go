package lua

import (
	goruntime "runtime"
	"strings"
	"testing"
)

// boundsLua runs one library call (probe=) on the option input (48 MiB in
// most cases) and returns its error, caught with pcall or returned.
const boundsLua = `
local json = require("monsta.json")
local probes = {
  json_decode = function(s) return json.decode(s) end,
  json_encode = function(s) return json.encode({s}) end,
  os_date = function(s) return os.date(s) end,
  format_q = function(s) return string.format("%q", s) end,
  format_s = function(s) return string.format("%s", s) end,
  format_big = function(s) return string.format(s) end,
  rep = function(s) return string.rep(s, 2) end,
  rep_small = function(s) return string.rep("x", 48 * 2^20) end,
  gsub = function(s) return (s:gsub(".", "y")) end,
  concat_table = function(s) return table.concat({s, s}, ",") end,
  concat_op = function(s) return s .. s end,
  upper = function(s) return s:upper() end,
  lower = function(s) return s:lower() end,
  reverse = function(s) return s:reverse() end,
  byte = function(s) return s:byte(1, -1) end,
}
monsta.check_type{
  name = "bounds",
  description = "call one library function on a large input",
  options = {probe = {required = true, help = "Function."}, input = {help = "Input."}},
  run = function(opt)
    local ok, res, err = pcall(probes[opt.probe], opt.input)
    if not ok then return false, res end
    if res == nil then return false, err end
    return true, nil, {len = #res}
  end,
}
`

func totalAlloc() uint64 {
	goruntime.GC()
	var ms goruntime.MemStats
	goruntime.ReadMemStats(&ms)
	return ms.TotalAlloc
}

// TestLibraryCallsBoundedBeforeTheyAllocate: every library function that
// builds something refuses, with a clear error, a result over its cap or
// the run's budget before building it. What the whole run allocates
// (TotalAlloc, garbage included) stays under the run's 64 MiB budget, a
// fraction of the 600 MiB that docs/lua.md states for the daemon.
func TestLibraryCallsBoundedBeforeTheyAllocate(t *testing.T) {
	fx := load(t, map[string]string{"bounds.lua": boundsLua}, Config{}, nil)
	big := strings.Repeat("x", 48<<20)
	dates := strings.Repeat("%c", 24<<20)
	tables := "[" + strings.Repeat("[],", 5<<20) + "[]]" // 15 MiB: five million tables
	for _, tc := range []struct {
		probe, input, want string
	}{
		{"json_decode", big, "bounds.lua:4: json.decode: text larger than 16 MiB (48 MiB)"},
		{"json_decode", tables, "bounds.lua:4: memory limit exceeded: json.decode of "},
		{"json_encode", big, "bounds.lua:5: json.encode: result larger than 16777216 bytes"},
		{"os_date", dates, "bounds.lua:6: os.date: result larger than 16 MiB (768 MiB)"},
		{"format_q", big, "bounds.lua:7: string.format: result larger than 16 MiB"},
		{"format_s", big, "bounds.lua:8: string.format: result larger than 16 MiB"},
		{"format_big", big, "bounds.lua:9: string.format: result larger than 16 MiB (48 MiB)"},
		{"rep", big, "bounds.lua:10: string.rep: result larger than 16 MiB (96 MiB)"},
		{"rep_small", "", "bounds.lua:11: string.rep: result larger than 16 MiB (48 MiB)"},
		{"gsub", big, "bounds.lua:12: string.gsub: result larger than 16 MiB"},
		{"concat_table", big, "bounds.lua:13: table.concat: result larger than 16 MiB"},
		{"concat_op", big, "bounds.lua:14: memory limit exceeded: concatenation of 96 MiB would take the run past its 64 MiB"},
		{"upper", big, "bounds.lua:15: string.upper: result larger than 16 MiB (48 MiB)"},
		{"lower", big, "bounds.lua:16: string.lower: result larger than 16 MiB (48 MiB)"},
		{"reverse", big, "bounds.lua:17: string.reverse: result larger than 16 MiB (48 MiB)"},
		{"byte", big, "bounds.lua:18: string slice too long"},
	} {
		t.Run(tc.probe, func(t *testing.T) {
			before := totalAlloc()
			r := fx.run(t, "bounds", map[string]string{"probe": tc.probe, "input": tc.input, "timeout": "5"})
			alloc := totalAlloc() - before
			if r.OK || len(r.Errors) != 1 || !strings.Contains(r.Errors[0], tc.want) {
				t.Fatalf("OK = %v, errors %.300q; want one containing %q", r.OK, r.Errors, tc.want)
			}
			if alloc > DefaultMemoryLimit {
				t.Errorf("the run allocated %d MiB, more than its %d MiB budget", alloc>>20, DefaultMemoryLimit>>20)
			}
			t.Logf("allocated %.1f MiB: %.140s", float64(alloc)/(1<<20), r.Errors[0])
		})
	}
}
