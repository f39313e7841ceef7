-- http_json.lua: a check type that fetches a JSON health document and
-- compares one field with an expected value, e.g. {"status": "ok"}.
--
--   [Check_api]
--   type = http_json
--   url = https://api.example.org/health
--   field = status
--   expect = ok
local http = require("monsta.http")
local json = require("monsta.json")

-- lookup follows a dotted path ("db.status") through decoded JSON.
local function lookup(doc, path)
  local v = doc
  for part in string.gmatch(path, "[^.]+") do
    if type(v) ~= "table" then return nil end
    v = v[tonumber(part) or part]
  end
  return v
end

monsta.check_type{
  name = "http_json",
  description = "fetch a JSON document over HTTP and compare one field",
  options = {
    url = {required = true, help = "URL of the JSON health document."},
    field = {default = "status", help = "Dotted path of the field to compare, e.g. db.status."},
    expect = {default = "ok", help = "Value the field must have."},
    tls_verify = {default = "yes", type = "bool", help = "Verify the server's certificate and name (yes or no)."},
  },
  example = "[Check_api]\ntype = http_json\nurl = http://127.0.0.1:8080/health\n",
  run = function(opt)
    local resp, err = http.request{url = opt.url, tls_verify = opt.tls_verify,
      headers = {Accept = "application/json"}}
    if not resp then return false, err end
    local stats = {http_status = resp.status}
    if resp.status ~= 200 then
      return false, "GET " .. opt.url .. ": status " .. resp.status, stats
    end
    local doc, derr = json.decode(resp.body)
    if doc == nil then return false, derr or "empty document", stats end
    local got = lookup(doc, opt.field)
    if tostring(got) ~= opt.expect then
      return false, string.format("%s is %q, want %q", opt.field, tostring(got), opt.expect), stats
    end
    return true, nil, stats
  end,
}
