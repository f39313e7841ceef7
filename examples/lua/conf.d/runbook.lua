-- runbook.lua: a notification hook that
--   * appends a runbook link to every notification, and
--   * holds back notifications of non-critical tests at night, unless the
--     failure has escalated far (level >= settings.night_level).
-- Edit the settings below; the hour comes from the message's time, so the
-- behaviour is the same in tests and in the daemon.
local settings = {
  runbook = "https://wiki.example.org/runbooks/%s", -- %s: the test name
  night_from = 22, -- night starts at this hour (local time) ...
  night_to = 7, -- ... and ends at this hour
  critical = {"mail", "dns"}, -- tests paged at any hour; patterns allowed ("^db_")
  night_level = 3, -- from this escalation level on, everything is sent
}

local function is_critical(test)
  for _, pattern in ipairs(settings.critical) do
    if string.find(test, pattern) then return true end
  end
  return false
end

local function is_night(t)
  local hour = os.date("*t", t).hour
  if settings.night_from > settings.night_to then
    return hour >= settings.night_from or hour < settings.night_to
  end
  return hour >= settings.night_from and hour < settings.night_to
end

monsta.on_notify(function(ev)
  ev.long = ev.long .. "\n\nRunbook: " .. string.format(settings.runbook, ev.test)
  if ev.state == "FAIL" and is_night(ev.time) and not is_critical(ev.test)
      and ev.level < settings.night_level then
    return false -- held back until morning (or until the failure escalates)
  end
end)
