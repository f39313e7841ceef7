package lua

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/monsta/monsta/builtins"
	"github.com/monsta/monsta/internal/testkit/loopback"
	"github.com/monsta/monsta/runtime"
	"github.com/monsta/monsta/runtime/engine"
)

// hookLua rewrites subjects, never pages the pager for the "web" test and
// suppresses everything about the "quiet" test.
const hookLua = `
monsta.on_notify(function(ev)
  if ev.test == "quiet" then return false end
  ev.subject = "[monsta] " .. ev.subject
  if ev.test == "web" then
    local keep = {}
    for _, n in ipairs(ev.notifications) do
      if n ~= "pager" then table.insert(keep, n) end
    end
    ev.notifications = keep
  end
end)
`

// portLua wraps the built-in portconnect.
const portLua = `
monsta.check_type{
  name = "port_wrap",
  description = "run the built-in portconnect",
  options = {host = {required = true, help = "Host."}, port = {required = true, type = "port", help = "Port."}},
  run = function(opt)
    local ok, errs = monsta.run_check("portconnect", {host = opt.host, port = opt.port, timeout = 2})
    return ok, errs, {wrapped = 1}
  end,
}
`

// sendLua sends through [Notification_pager] with monsta.notify.
const sendLua = `
monsta.check_type{
  name = "send_pager", description = "send by hand",
  run = function() return monsta.notify("pager", {subject = "by hand", body = "text"}) end,
}
`

type posted struct {
	Path    string
	Channel string `json:"channel"`
	Text    string `json:"text"`
}

// TestEndToEnd runs Lua check types, a Lua notifier and a Lua hook through
// the runtime's engine: escalation, recovery, hook rewriting and
// suppression, all in the real dispatch path.
func TestEndToEnd(t *testing.T) {
	var healthy atomic.Bool
	api := statusAPI(t, &healthy)
	hooksURL, got := webhookSink(t)
	srv := loopback.Serve(t, func(net.Conn) {}) // accepts and closes
	mainFile, confd := writeE2EConfig(t, api.URL, loopback.PortString(srv), hooksURL)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	plan, e, reg := resolvePlan(t, mainFile, confd, logger)
	eng, err := engine.New(plan, engine.Options{Logger: logger, Hooks: e.Hooks(),
		Retry: runtime.RetryPolicy{First: time.Millisecond, Max: time.Millisecond, MaxAge: time.Minute}})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close(context.Background())
	e.SetSender(eng.Dispatcher())
	x := e2e{t: t, eng: eng, got: got}

	// Failure 1 goes to chat with the rewritten subject.
	r := x.run("web", false, 1)
	if r.Checks[1].Stats["wrapped"] != 1 || !r.Checks[1].OK {
		t.Errorf("port_wrap result = %+v, want ok with stats wrapped=1", r.Checks[1])
	}
	p := x.next()
	if p.Path != "/chat" || p.Channel != "#ops" || !strings.Contains(p.Text, "*[monsta] FAIL web on test: api: ") ||
		!strings.Contains(p.Text, `status is "down", want "ok"`) {
		t.Errorf("failure 1 posted %+v", p)
	}
	// Failure 2 would page the pager too, but the hook drops it.
	x.run("web", false, 2)
	if p := x.next(); p.Path != "/chat" || !strings.Contains(p.Text, "(2 failures since ") {
		t.Errorf("failure 2 posted %+v", p)
	}
	// The quiet test's failure is suppressed.
	x.run("quiet", false, 1)
	// Recovery reaches chat.
	healthy.Store(true)
	x.run("web", true, 0)
	if p := x.next(); p.Path != "/chat" || !strings.Contains(p.Text, "[monsta] RECOVERED web") {
		t.Errorf("recovery posted %+v", p)
	}
	select {
	case p := <-got:
		t.Errorf("unexpected post %+v (pager or quiet should have been held back)", p)
	case <-time.After(200 * time.Millisecond):
	}
	// monsta.notify goes through the same dispatcher.
	if errs := runByHand(t, reg, "send_pager"); errs != nil {
		t.Errorf("monsta.notify through the dispatcher: %q", errs)
	}
	if p := x.next(); p.Path != "/pager" || !strings.Contains(p.Text, "*by hand*") {
		t.Errorf("monsta.notify posted %+v", p)
	}
}

// statusAPI serves {"status": "ok"} while healthy is set, {"status":
// "down"} otherwise.
func statusAPI(t *testing.T, healthy *atomic.Bool) *httptest.Server {
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if healthy.Load() {
			io.WriteString(w, `{"status": "ok"}`)
			return
		}
		io.WriteString(w, `{"status": "down"}`)
	}))
	t.Cleanup(api.Close)
	return api
}

// webhookSink returns the URL of a server that passes each JSON post it
// receives, with its path, to the channel.
func webhookSink(t *testing.T) (string, chan posted) {
	got := make(chan posted, 20)
	hooks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p posted
		if err := json.NewDecoder(r.Body).Decode(&p); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		p.Path = r.URL.Path
		got <- p
	}))
	t.Cleanup(hooks.Close)
	return hooks.URL, got
}

// writeE2EConfig writes TestEndToEnd's monsta.conf and conf.d (the
// examples and the test's Lua files) to a temporary directory and returns
// their paths.
func writeE2EConfig(t *testing.T, apiURL, port, hooksURL string) (mainFile, confd string) {
	t.Helper()
	dir := t.TempDir()
	confd = filepath.Join(dir, "conf.d")
	files := examples(t)
	files["hook.lua"] = hookLua
	files["port.lua"] = portLua
	files["send.lua"] = sendLua
	delete(files, "runbook.lua") // its night rule depends on the wall clock
	if err := os.MkdirAll(confd, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, src := range files {
		if err := os.WriteFile(filepath.Join(confd, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	conf := `[main]
hostname = test
[Check_api]
type = http_json
url = ` + apiURL + `/health
[Check_port]
type = port_wrap
host = 127.0.0.1
port = ` + port + `
[Test_web]
checks = api port
notify = 1:chat 2:chat,pager
[Test_quiet]
checks = api
notify = 1:chat
[Notification_chat]
type = chat_channel
recipient = #ops
url = ` + hooksURL + `/chat
[Notification_pager]
type = chat_channel
recipient = #pager
url = ` + hooksURL + `/pager
`
	mainFile = filepath.Join(dir, "monsta.conf")
	if err := os.WriteFile(mainFile, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	return mainFile, confd
}

// e2e runs TestEndToEnd's tests and reads what they post.
type e2e struct {
	t   *testing.T
	eng *engine.Engine
	got chan posted
}

// next returns the next webhook post.
func (x e2e) next() posted {
	x.t.Helper()
	select {
	case p := <-x.got:
		return p
	case <-time.After(10 * time.Second):
		x.t.Fatal("no webhook post within 10 s")
	}
	return posted{}
}

// run runs test once and wants its outcome and failure count.
func (x e2e) run(test string, wantOK bool, wantFailures int) runtime.TestResult {
	x.t.Helper()
	r, err := x.eng.RunTestOnce(context.Background(), test)
	if err != nil {
		x.t.Fatal(err)
	}
	if r.OK != wantOK || r.Failures != wantFailures {
		x.t.Fatalf("%s: ok=%v failures=%d (%+v), want ok=%v failures=%d", test, r.OK, r.Failures, r.Checks, wantOK, wantFailures)
	}
	return r
}

// runByHand runs a check of type typ, without options, outside any test
// and returns its errors (nil when it passed).
func runByHand(t *testing.T, reg *runtime.Registry, typ string) []string {
	t.Helper()
	d, _ := reg.Lookup(runtime.KindCheck, typ)
	o, err := runtime.NewOptions(d, "Check_send", nil)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := d.NewCheck(o)
	if n := runtime.RunCheck(context.Background(), c, o); !n.OK {
		return n.Errors
	}
	return nil
}

func TestRunCheckPortconnect(t *testing.T) {
	fx := load(t, map[string]string{"port.lua": portLua}, Config{}, func(r *runtime.Registry) {
		if err := builtins.Register(r, builtins.Env{}); err != nil {
			t.Fatal(err)
		}
	})
	srv := loopback.Serve(t, func(net.Conn) {}) // accepts and closes
	open := loopback.PortString(srv)
	closed := strconv.Itoa(loopback.ClosedPort(t))
	if r := fx.run(t, "port_wrap", map[string]string{"host": "127.0.0.1", "port": open}); !r.OK {
		t.Errorf("open port: errors %q", r.Errors)
	}
	r := fx.run(t, "port_wrap", map[string]string{"host": "127.0.0.1", "port": closed})
	if want := "connect 127.0.0.1:" + closed + ": connection refused"; r.OK || len(r.Errors) != 1 || r.Errors[0] != want {
		t.Errorf("closed port: OK = %v, errors %q; want %q", r.OK, r.Errors, want)
	}
}
