-- Probes of the sandbox: each returns true when the thing is unreachable.
local probes = {
  io = function() return io == nil end,
  io_open = function() return not pcall(function() return io.open("/etc/passwd") end) end,
  os_execute = function() return os.execute == nil and os.exit == nil and os.remove == nil
    and os.rename == nil and os.tmpname == nil and os.getenv == nil end,
  loadfile = function() return loadfile == nil end,
  dofile = function() return dofile == nil end,
  bytecode = function()
    local f, err = loadstring("\27LuaQ\0\1\4\8\4\8\0")
    return f == nil and string.find(err, "binary chunks") ~= nil
  end,
  bytecode_load = function()
    local done = false
    local f, err = load(function() if done then return nil end done = true return "\27Lua" end)
    return f == nil and string.find(err, "binary chunks") ~= nil
  end,
  string_dump = function() return string.dump == nil end,
  debug = function() return debug == nil end,
  package = function() return package == nil end,
  require_file = function() return not pcall(require, "..etc.passwd") end,
  require_missing = function() return not pcall(require, "nosuchlib") end,
  rep = function() return not pcall(string.rep, "x", 1e9) end,
  concat = function()
    local big = string.rep("x", 8 * 1024 * 1024)
    local ok, err = pcall(table.concat, {big, big, big}, ",")
    return not ok and string.find(err, "table.concat: result larger") ~= nil
      and table.concat({"a", "b", 3}, "-") == "a-b-3" and table.concat({"a", "b", "c"}, "", 2, 3) == "bc"
  end,
  setfenv = function() return setfenv == nil and getfenv == nil end,
  collectgarbage = function() return collectgarbage == nil end,
  recursion = function()
    local function f(n) return f(n + 1) + 1 end
    local ok, err = pcall(f, 1)
    return not ok and string.find(err, "stack overflow") ~= nil, tostring(err)
  end,
  unpack = function()
    local t = {}
    for i = 1, 100000 do t[i] = i end
    local ok, err = pcall(unpack, t)
    return not ok, tostring(err)
  end,
  big_chunk = function()
    local f, err = loadstring("return 1" .. string.rep(" ", 70000))
    return f == nil and err == "chunk too large", tostring(err)
  end,
  source = function() return loadstring("return 1 + 1")() == 2 end,
}

monsta.check_type{
  name = "sandbox",
  description = "probe the sandbox",
  options = {probe = {required = true, help = "Name of the probe."}},
  run = function(opt)
    local p = probes[opt.probe]
    if not p then return false, "no probe " .. opt.probe end
    local ok, detail = p()
    return ok, "probe " .. opt.probe .. " reached something: " .. tostring(detail)
  end,
}
