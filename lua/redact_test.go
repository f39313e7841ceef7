package lua

import (
	"net"
	"strings"
	"testing"

	"github.com/monsta/monsta/internal/testkit/loopback"
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
