-- redis.lua: a check type that sends PING to a Redis server and expects
-- +PONG. Use it in any .conf file:
--
--   [Check_cache]
--   type = redis_ping
--   host = 127.0.0.1
local tcp = require("monsta.tcp")

monsta.check_type{
  name = "redis_ping",
  description = "send PING to a Redis server and expect +PONG",
  options = {
    host = {required = true, help = "Host name or address of the Redis server."},
    port = {default = "6379", type = "port", help = "TCP port of the Redis server."},
    password = {secret = true, help = "Password for AUTH; empty: no AUTH."},
  },
  example = "[Check_cache]\ntype = redis_ping\nhost = 127.0.0.1\n",
  run = function(opt)
    local started = os.clock()
    local c, err = tcp.connect(opt.host, opt.port)
    if not c then return false, err end
    if opt.password ~= "" then
      c:send("AUTH " .. opt.password .. "\r\n")
      local reply, rerr = c:receive_line()
      if reply ~= "+OK" then
        c:close()
        return false, "AUTH: " .. tostring(reply or rerr)
      end
    end
    c:send("PING\r\n")
    local line, rerr = c:receive_line()
    c:close()
    if line ~= "+PONG" then
      return false, "PING: " .. tostring(line or rerr)
    end
    return true, nil, {ping_seconds = os.clock() - started}
  end,
}
