package lua

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/monsta/monsta/builtins"
	"github.com/monsta/monsta/runtime"
)

// tenantLua is the example of monsta.run_check("http", …) in docs/lua.md.
const tenantLua = `monsta.check_type{
  name = "tenant_health",
  description = "a tenant's health endpoint says ok",
  options = {base = {required = true, help = "Base URL of the API."},
             tenant = {required = true, help = "Tenant name."}},
  run = function(opt)
    return monsta.run_check("http", {
      url = opt.base .. "/t/" .. opt.tenant .. "/health",
      expect_status = "200", json_path = "status", json_expect = "ok",
    })
  end,
}
`

// TestRunCheckHTTP runs the built-in http check from Lua through the
// example of docs/lua.md.
func TestRunCheckHTTP(t *testing.T) {
	guide, err := os.ReadFile("../docs/lua.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(guide), tenantLua) {
		t.Fatal("docs/lua.md no longer holds the tenant_health example; update tenantLua with it")
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/t/acme/health":
			io.WriteString(w, `{"status": "ok"}`)
		case "/t/broke/health":
			io.WriteString(w, `{"status": "degraded"}`)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	fx := load(t, map[string]string{"tenant.lua": tenantLua}, Config{}, func(r *runtime.Registry) {
		if err := builtins.Register(r, builtins.Env{}); err != nil {
			t.Fatal(err)
		}
	})
	for _, tt := range []struct {
		tenant string
		ok     bool
		errs   string
	}{
		{"acme", true, ""},
		{"broke", false, "GET " + srv.URL + "/t/broke/health: json_path status is degraded, want ok"},
		{"gone", false, "GET " + srv.URL + "/t/gone/health: status 404 Not Found, want 200"},
	} {
		r := fx.run(t, "tenant_health", map[string]string{"base": srv.URL, "tenant": tt.tenant})
		if r.OK != tt.ok || strings.Join(r.Errors, "|") != tt.errs {
			t.Errorf("%s: OK = %v, errors %q; want %v, %q", tt.tenant, r.OK, r.Errors, tt.ok, tt.errs)
		}
		if tt.ok && r.Stats["status_code"] != 200 {
			t.Errorf("%s: stats = %v, want status_code 200", tt.tenant, r.Stats)
		}
	}
}
