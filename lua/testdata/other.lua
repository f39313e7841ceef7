-- A check type in another file; its states never see leaks.lua's.
monsta.check_type{
  name = "otherglobal",
  description = "pass when no global leaked",
  run = function(opt)
    if rawget(_G, "leaked") then return false, "leaked" end
    return true
  end,
}
