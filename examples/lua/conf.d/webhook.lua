-- webhook.lua: a notifier type that posts to a Slack or Mattermost
-- incoming webhook ({"text": …, "username": …, "channel": …}).
--
--   [Notification_chat]
--   type = chat_channel
--   recipient = #ops
--   url_file = secrets/chat.url
--
-- The webhook URL is the secret (whoever has it can post), so keep it out
-- of the configuration: url_file names a file (relative to the .conf that
-- sets it; mode 0600, owned by monsta's user) holding the URL. Errors and
-- logs show the URL without its path.
local http = require("monsta.http")
local json = require("monsta.json")

local icons = {FAIL = ":red_circle:", RECOVERED = ":large_green_circle:", OK = ":white_check_mark:", TEST = ":information_source:"}

monsta.notifier_type{
  name = "chat_channel",
  description = "post the notification to a Slack or Mattermost incoming webhook",
  options = {
    recipient = {required = true, help = "Channel to post to, e.g. #ops; set it empty to use the webhook's own channel."},
    url = {required = true, secret = true, help = "Incoming webhook URL (it contains the token)."},
    username = {default = "monsta", help = "Name the message is posted under."},
    timeout = {default = "10", help = "Seconds a delivery may take."},
  },
  example = "[Notification_chat]\ntype = chat_channel\nrecipient = #ops\nurl = http://127.0.0.1:8065/hooks/xyz\n",
  send = function(opt, msg)
    local text = (icons[msg.state] or "") .. " *" .. msg.short .. "*\n" .. msg.long
    local payload = {text = text, username = opt.username}
    if opt.recipient ~= "" then payload.channel = opt.recipient end
    local resp, err = http.request{method = "POST", url = opt.url, body = json.encode(payload),
      headers = {["Content-Type"] = "application/json"}}
    if not resp then return nil, err end
    if resp.status < 200 or resp.status > 299 then
      return nil, "POST webhook: status " .. resp.status .. ": " .. string.sub(resp.body, 1, 200)
    end
    return true
  end,
}
