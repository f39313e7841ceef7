-- Two check types that try to leave state behind for the next run. The
-- attempts run under pcall, so the run itself passes and its state is reused.
local calls = 0

-- A global helper defined at load; runs must not be able to replace it.
function helper() return "helper" end

local attempts = {
  plain = function() leaked = "from setglobal" end,
  reassign = function() tostring = function() return "hacked" end end,
  helper = function() helper = nil end,
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
    if tostring(1) ~= "1" then return false, "tostring was replaced" end
    if helper == nil or helper() ~= "helper" then return false, "helper was replaced" end
    return true, nil, {calls = calls}
  end,
}
