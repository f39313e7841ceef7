---@meta
-- Type annotations of monsta's Lua API for the Lua language server
-- (https://luals.github.io/). Add this file's folder to the
-- "workspace.library" setting. The API is described in docs/lua.md.

---@class monsta.OptionSpec
---@field help string One sentence ending in a period (required).
---@field required? boolean The section must set the option.
---@field default? string|number|boolean Value when the option is not set.
---@field secret? boolean A password or key: redacted, in every form, from the errors and the log lines of the type's runs.
---@field type? "string"|"int"|"port"|"seconds"|"bool"|"words" How the value is checked and passed to run/send.
---@field name? string Only in the list form of options.

---@alias monsta.Options table<string, monsta.OptionSpec>|monsta.OptionSpec[]

---@alias monsta.Stats table<string, number|boolean>

---@class monsta.CheckResult
---@field check string Section name without Check_.
---@field type string Check type.
---@field ok boolean
---@field errors string[]
---@field stats table<string, number>
---@field start number Unix seconds.
---@field duration number Seconds.

---@class monsta.Message
---@field test string Test name without Test_.
---@field state "FAIL"|"RECOVERED"|"OK"|"TEST"
---@field failures integer Consecutive failures.
---@field time number Unix seconds.
---@field subject string Rendered subject.
---@field body string Rendered body.
---@field checks monsta.CheckResult[]

---@class monsta.NotifyEvent: monsta.Message
---@field level integer Escalation level that fired; -1 for a recovery.
---@field notifications string[] Notification names (without Notification_); editable.
---@field suppress boolean Set to true to drop the message.

---@class monsta.TestResult
---@field test string
---@field ok boolean
---@field failures integer
---@field time number Unix seconds.
---@field checks monsta.CheckResult[]

---@class monsta.CheckType
---@field name string The type= value.
---@field description string One line for listings.
---@field help? string Paragraphs for --help.
---@field options? monsta.Options
---@field example? string INI snippet using the type.
---@field run fun(opt: table<string, any>): (boolean?, (string|string[])?, monsta.Stats?)

---@class monsta.NotifierType
---@field name string The type= value.
---@field description string One line for listings.
---@field help? string Paragraphs for --help.
---@field options? monsta.Options
---@field example? string INI snippet using the type.
---@field send fun(opt: table<string, any>, msg: monsta.Message): (boolean?, string?)
---@field verify? fun(opt: table<string, any>): (boolean?, string?) Try the login without sending (monsta --lint).

---@class monsta
monsta = {}

---Define a check type.
---@param t monsta.CheckType
function monsta.check_type(t) end

---Define a notifier type.
---@param t monsta.NotifierType
function monsta.notifier_type(t) end

---Install a hook run before each notification is dispatched. Return false
---(or set ev.suppress) to drop the message. A short over 4 KiB, or a long
---over 64 KiB, is cut to that size.
---@param fn fun(ev: monsta.NotifyEvent): boolean?
function monsta.on_notify(fn) end

---Install a hook that sees every test result.
---@param fn fun(r: monsta.TestResult)
function monsta.on_result(fn) end

---Run any registered check type (built-in or Lua) under the caller's deadline.
---Bad options raise an error, which never shows the values of the type's secret options.
---@param type string
---@param options? table<string, string|number|boolean|string[]>
---@return boolean ok
---@return string[] errors
---@return table<string, number> stats
function monsta.run_check(type, options) end

---Send a message now through a configured [Notification_name] section.
---short (subject) and long (body) are cut at 4 KiB and 64 KiB.
---@param name string
---@param msg {subject: string, body?: string, test?: string, state?: string}
---@return true|nil ok
---@return string? err
function monsta.notify(name, msg) end

---Run a program without a shell (only with lua_exec = yes in [main]).
---@param argv {[integer]: string, timeout?: number}
---@return integer|nil code
---@return string output_or_err
function monsta.exec(argv) end

---Wait, returning early at the run's deadline.
---@param seconds number
function monsta.sleep(seconds) end

-- Modules --------------------------------------------------------------

---@class monsta.tcp.Conn
local Conn = {}

---@param data string
---@return integer|nil bytes
---@return string? err
function Conn:send(data) end

---A line without its line ending; err is "closed" when the peer closed,
---"receive: reply too long (65537 bytes)" for a line over 64 KiB.
---@return string|nil line
---@return string? err
function Conn:receive_line() end

---Exactly n bytes.
---@param n integer
---@return string|nil data
---@return string? err
function Conn:receive(n) end

function Conn:close() end

---Close with a reset: unsent data is dropped, no TIME_WAIT.
function Conn:abort() end

---@class monsta.tcp
local tcp = {}

---At most 16 connections of one run are open at once.
---@param host string
---@param port integer
---@param opts? {tls?: boolean, tls_verify?: boolean, server_name?: string, timeout?: number}
---@return monsta.tcp.Conn|nil conn
---@return string? err
function tcp.connect(host, port, opts) end

---@class monsta.http.Response
---@field status integer
---@field headers table<string, string> Lower-case names.
---@field body string At most 1 MiB (a longer body, or headers over 64 KiB, fail the request: "reply too long (N bytes)").

---@class monsta.http
local http = {}

---@param req {url: string, method?: string, headers?: table<string, string>, body?: string, timeout?: number, tls_verify?: boolean}
---@return monsta.http.Response|nil resp
---@return string? err
function http.request(req) end

---@class monsta.dns.Record
---@field name string
---@field type string
---@field ttl integer
---@field value string Record data as in a zone file.
---@field address? string A, AAAA
---@field target? string CNAME, NS, PTR
---@field preference? integer MX
---@field exchange? string MX
---@field serial? integer SOA
---@field ns? string SOA
---@field mbox? string SOA
---@field text? string TXT

---@class monsta.dns
local dns = {}

---@param server string "host" or "host:port"
---@param name string
---@param type? string Default "A".
---@param opts? {tcp?: boolean, timeout?: number}
---@return monsta.dns.Record[]|nil records
---@return string? err
function dns.query(server, name, type, opts) end

---@class monsta.json
local json = {}

---@param value any
---@return string|nil text
---@return string? err
function json.encode(value) end

---@param text string
---@return any value
---@return string? err
function json.decode(text) end

---@class monsta.log
local log = {}

---@param msg string
---@param ... any key, value pairs, or one table of them
function log.debug(msg, ...) end
---@param msg string
---@param ... any
function log.info(msg, ...) end
---@param msg string
---@param ... any
function log.warn(msg, ...) end
---@param msg string
---@param ... any
function log.error(msg, ...) end

---@overload fun(name: "monsta.tcp"): monsta.tcp
---@overload fun(name: "monsta.http"): monsta.http
---@overload fun(name: "monsta.dns"): monsta.dns
---@overload fun(name: "monsta.json"): monsta.json
---@overload fun(name: "monsta.log"): monsta.log
---@param name string A monsta.* module or a library in conf.d/lib/ ("a.b" is lib/a/b.lua).
---@return any
function require(name) end
