-- Check types for the lua package tests.
monsta.check_type{
  name = "compare",
  description = "pass when value equals want",
  options = {
    value = {required = true, help = "The value to compare."},
    want = {default = "yes", help = "The value that passes."},
    count = {default = "3", type = "int", help = "A number."},
    words = {default = "a b", type = "words", help = "Some words."},
    flag = {default = "no", type = "bool", help = "A flag."},
    token = {secret = true, help = "A secret."},
  },
  run = function(opt)
    if opt.value == "list" then
      return false, {"first problem", "second problem"}
    end
    if opt.value == "raise" then
      error("raised on purpose")
    end
    if opt.value == "index" then
      local t = nil
      return t.field
    end
    if opt.value == "long" then
      local many = {}
      for i = 1, 30 do many[i] = string.rep("x", 3000) end
      return false, many
    end
    if opt.value == "nothing" then
      return
    end
    if opt.value == "types" then
      local ok = type(opt.count) == "number" and opt.count == 3 and type(opt.words) == "table"
        and opt.words[2] == "b" and opt.flag == false and opt.timeout == 10
      return ok, "option types: " .. type(opt.count) .. " " .. type(opt.words) .. " " .. tostring(opt.timeout)
    end
    return opt.value == opt.want, "value is " .. opt.value, {answer = 42, up = true, text = "dropped", num = "1.5"}
  end,
}

monsta.check_type{
  name = "spin",
  description = "loop forever",
  run = function(opt)
    local n = 0
    while true do n = n + 1 end
  end,
}

monsta.check_type{
  name = "hog",
  description = "grow a table without end",
  run = function(opt)
    local t = {}
    local i = 0
    while true do
      i = i + 1
      t[i] = {i, i, i}
    end
  end,
}

monsta.check_type{
  name = "sleeper",
  description = "sleep for the given seconds",
  options = {seconds = {default = "30", help = "Seconds to sleep."}},
  run = function(opt)
    monsta.sleep(tonumber(opt.seconds))
    return true
  end,
}

monsta.check_type{
  name = "doubler",
  description = "double a string without end",
  run = function(opt)
    local s = string.rep("x", 1024 * 1024)
    while true do s = s .. s end
  end,
}
