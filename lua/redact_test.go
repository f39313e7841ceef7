package lua

import (
	"context"
	"encoding/base64"
	"net"
	"strings"
	"testing"

	"github.com/monsta/monsta/builtins"
	"github.com/monsta/monsta/internal/redact"
	"github.com/monsta/monsta/internal/testkit/loopback"
	"github.com/monsta/monsta/runtime"
)

// TestHTTPErrorsRedactURL: an http.request error names its URL without
// the user info, the query and a webhook's token path.
func TestHTTPErrorsRedactURL(t *testing.T) {
	addr := loopback.Serve(t, func(c net.Conn) { c.Close() }) // answers nothing
	fx := load(t, map[string]string{"h.lua": `
local http = require("monsta.http")
monsta.check_type{name = "get", description = "d",
  options = {url = {required = true, secret = true, help = "URL."}},
  run = function(opt)
    local r, err = http.request{url = opt.url}
    return false, tostring(err)
  end}`}, Config{}, nil)
	for _, raw := range []string{
		"http://user:S3CRET@" + addr + "/hooks/T0KEN?key=K3Y",
		"http://" + addr + "/api?token=K3Y",
	} {
		r := fx.run(t, "get", map[string]string{"url": raw})
		if len(r.Errors) != 1 || !strings.Contains(r.Errors[0], addr) {
			t.Fatalf("errors %q, want one naming %s", r.Errors, addr)
		}
		for _, secret := range []string{"S3CRET", "T0KEN", "K3Y", "user"} {
			if strings.Contains(r.Errors[0], secret) {
				t.Errorf("error %q shows %s", r.Errors[0], secret)
			}
		}
	}
}

// TestRunCheckErrorsRedactSecrets: monsta.run_check raises option and
// constructor errors without the secrets it was given, in any form,
// although the Lua type calling it declares no secret of its own (so the
// runtime's redaction of the result cannot hide a leak here).
func TestRunCheckErrorsRedactSecrets(t *testing.T) {
	const secret = "Zq9-hunter2-Wx"
	b64 := base64.StdEncoding.EncodeToString([]byte(secret))
	fx := load(t, map[string]string{"wrap.lua": `
local cases = {
  smtp_port = {"smtp", {host = "127.0.0.1", sender = "a@example.org", recipient = "b@example.org",
    password = "` + secret + `", port = "` + secret + `"}},
  smtp_base64 = {"smtp", {host = "127.0.0.1", sender = "a@example.org", recipient = "b@example.org",
    password = "` + secret + `", timeout = "` + b64 + `"}},
  mailbox_port = {"mailbox", {sender = "a@example.org", recipient = "b@example.org",
    mailbox_host = "127.0.0.1", mailbox_username = "bob", mailbox_password = "` + secret + `",
    mailbox_port = "` + secret + `"}},
  mailbox_tls_ca = {"mailbox", {sender = "a@example.org", recipient = "b@example.org",
    mailbox_host = "127.0.0.1", mailbox_username = "bob", mailbox_password = "` + secret + `",
    tls_ca = "/nonexistent/` + secret + `"}},
  http_status = {"http", {url = "http://127.0.0.1:1/", username = "bob", password = "` + secret + `",
    expect_status = "` + secret + `"}},
  http_tls_ca = {"http", {url = "http://127.0.0.1:1/", username = "bob", password = "` + secret + `",
    tls_ca = "/nonexistent/` + secret + `"}},
}
monsta.check_type{name = "wrap", description = "run_check a built-in with a secret",
  options = {case = {required = true, help = "Case name."}},
  run = function(opt)
    local c = cases[opt.case]
    local ok, err = pcall(monsta.run_check, c[1], c[2])
    return false, tostring(err)
  end}`}, Config{}, func(r *runtime.Registry) {
		if err := builtins.Register(r, builtins.Env{}); err != nil {
			t.Fatal(err)
		}
	})
	tests := []struct{ name, want string }{
		{"smtp_port", "run_check smtp: port: "},
		{"smtp_base64", "run_check smtp: timeout: "},
		{"mailbox_port", "run_check mailbox: mailbox_port: "},
		{"mailbox_tls_ca", "run_check mailbox: "},
		{"http_status", "run_check http: expect_status: "},
		{"http_tls_ca", "run_check http: read tls_ca: "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := fx.run(t, "wrap", map[string]string{"case": tc.name})
			if len(r.Errors) != 1 || !strings.Contains(r.Errors[0], tc.want) {
				t.Fatalf("errors %q, want one with %q", r.Errors, tc.want)
			}
			for _, form := range []string{secret, "hunter2", b64} {
				if strings.Contains(r.Errors[0], form) {
					t.Errorf("error %q shows the secret (%s)", r.Errors[0], form)
				}
			}
			if !strings.Contains(r.Errors[0], redact.Mark) {
				t.Errorf("error %q has no %s where the secret was", r.Errors[0], redact.Mark)
			}
		})
	}
}

// TestRunLogsRedactSecrets: what a run of a Lua type logs (print,
// monsta.log messages, keys and values, the debug line of a raised error)
// and the messages it returns or raises never show the type's own secret
// options (secret = true), not even a part of one cut by the clip at 2000
// bytes.
func TestRunLogsRedactSecrets(t *testing.T) {
	const secret = "Zq9-hunter2-Wx"
	fx := load(t, map[string]string{"leak.lua": `
local log = require("monsta.log")
local pad = string.rep("a", 1995)
local function leak(opt)
  print("password", opt.password)
  print(pad .. opt.password)
  log.info("login " .. opt.password, "pw", opt.password, opt.password, 1)
  log.warn("table", {pw = opt.password})
end
monsta.check_type{name = "leak", description = "logs its password",
  options = {password = {secret = true, required = true, help = "Password."},
             mode = {help = "What run does at the end."}},
  run = function(opt)
    leak(opt)
    if opt.mode == "raise" then error(pad .. opt.password) end
    if opt.mode == "list" then return false, {opt.password, pad .. opt.password} end
    return false, pad .. opt.password
  end}
monsta.notifier_type{name = "leaky", description = "logs its password",
  options = {password = {secret = true, required = true, help = "Password."}},
  send = function(opt, msg)
    leak(opt)
    return nil, pad .. opt.password
  end}`}, Config{}, nil)
	shown := func(where, text string) {
		t.Helper()
		for _, part := range []string{secret, secret[:5], secret[len(secret)-5:], "hunter2"} {
			if strings.Contains(text, part) {
				t.Errorf("%s shows %q of the secret:\n%s", where, part, text)
			}
		}
	}
	for _, mode := range []string{"", "raise", "list"} {
		r := fx.run(t, "leak", map[string]string{"password": secret, "mode": mode})
		if r.OK || len(r.Errors) == 0 {
			t.Fatalf("mode %q: result %+v, want a failure", mode, r)
		}
		shown("check errors ("+mode+")", strings.Join(r.Errors, "\n"))
	}
	err := fx.notifier(t, "leaky", map[string]string{"password": secret}).Notify(context.Background(), runtime.Message{Test: "t"})
	if err == nil {
		t.Fatal("Notify() = nil, want the error send returned")
	}
	shown("send error", err.Error())
	log := fx.log.String()
	if n := strings.Count(log, "file=conf.d/leak.lua"); n < 4*4 {
		t.Fatalf("log has %d lines of leak.lua, want at least 16:\n%s", n, log)
	}
	if !strings.Contains(log, "lua error") || !strings.Contains(log, redact.Mark) {
		t.Errorf("log has no debug line of the raised error, or no %s:\n%s", redact.Mark, log)
	}
	shown("log", log)
}
