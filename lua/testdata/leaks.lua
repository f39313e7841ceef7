-- Two check types that try to leave state behind for the next run. The
-- attempts run under pcall, so the run itself passes and its state is reused.
local calls = 0

local attempts = {
  plain = function() leaked = "from setglobal" end,
  rawset = function() rawset(_G, "leaked", "from rawset") end,
  metatable = function()
    local mt = getmetatable(_G)
    if mt then mt.__newindex = nil end
    setmetatable(_G, nil)
    leaked = "via metatable"
  end,
  string = function() string.leaked = "from string" end,
  stringmeta = function() getmetatable("").__index = {leaked = "x"} end,
  monsta = function() monsta.sleep = nil end,
  local_ok = function() local x = 1 end,
}

monsta.check_type{
  name = "setglobal",
  description = "assign a global",
  options = {how = {default = "plain", help = "How to try it."}},
  run = function(opt)
    local ok, err = pcall(attempts[opt.how])
    if ok then return true end
    return false, err
  end,
}

monsta.check_type{
  name = "readglobal",
  description = "pass when no global leaked",
  run = function(opt)
    calls = calls + 1
    local seen = rawget(_G, "leaked") or string.leaked or ("s").leaked
    if seen then return false, "leaked: " .. tostring(seen) end
    if monsta.sleep == nil then return false, "monsta.sleep was removed" end
    return true, nil, {calls = calls}
  end,
}
