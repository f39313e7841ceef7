package lua

import (
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
