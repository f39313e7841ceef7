package lua

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/monsta/monsta/internal/testkit/loopback"
	"github.com/monsta/monsta/runtime"
)

// examples returns every examples/lua/conf.d/*.lua file.
func examples(t *testing.T) map[string]string {
	t.Helper()
	paths, err := filepath.Glob("../examples/lua/conf.d/*.lua")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no examples found: %v", err)
	}
	files := map[string]string{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		files[filepath.Base(p)] = string(b)
	}
	return files
}

// TestExamplesLoad loads every example together and lints each type's
// Example snippet against its own descriptor.
func TestExamplesLoad(t *testing.T) {
	fx := load(t, examples(t), Config{}, nil)
	for _, k := range []runtime.Kind{runtime.KindCheck, runtime.KindNotifier} {
		for _, d := range fx.reg.List(k) {
			if d.Example == "" {
				t.Errorf("%s type %s has no example", k, d.Name)
				continue
			}
			secs, err := parseExample(d.Example)
			if err != nil || len(secs) != 1 {
				t.Errorf("%s type %s: example: %v", k, d.Name, err)
				continue
			}
			raw := map[string]string{}
			for _, kv := range secs[0].keys {
				if kv[0] != "type" {
					raw[kv[0]] = kv[1]
				}
			}
			if secs[0].value("type") != d.Name || !strings.HasPrefix(secs[0].name, k.SectionPrefix()) {
				t.Errorf("%s type %s: example section [%s] type %q", k, d.Name, secs[0].name, secs[0].value("type"))
			}
			if _, err := runtime.NewOptions(d, secs[0].name, raw); err != nil {
				t.Errorf("%s type %s: example: %v", k, d.Name, err)
			}
		}
	}
}

// fakeRedis answers PING with +PONG and AUTH secret with +OK; silent
// connections get no answer at all.
func fakeRedis(t *testing.T, silent bool) int {
	t.Helper()
	if silent {
		return loopback.Port(loopback.Silent(t))
	}
	return loopback.Port(loopback.Serve(t, func(c net.Conn) {
		r := bufio.NewReader(c)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			switch strings.TrimSpace(line) {
			case "PING":
				io.WriteString(c, "+PONG\r\n")
			case "AUTH secret":
				io.WriteString(c, "+OK\r\n")
			default:
				io.WriteString(c, "-ERR invalid password\r\n")
			}
		}
	}))
}

func TestExampleRedis(t *testing.T) {
	fx := load(t, examples(t), Config{}, nil)
	up := strconv.Itoa(fakeRedis(t, false))
	silent := strconv.Itoa(fakeRedis(t, true))
	tests := []struct {
		name string
		opts map[string]string
		ok   bool
		err  string
	}{
		{"pong", map[string]string{"port": up}, true, ""},
		{"auth", map[string]string{"port": up, "password": "secret"}, true, ""},
		{"wrong password", map[string]string{"port": up, "password": "nope"}, false, "AUTH: -ERR invalid password"},
		{"refused", map[string]string{"port": strconv.Itoa(loopback.ClosedPort(t))}, false, "connection refused"},
		{"silent peer", map[string]string{"port": silent, "timeout": "0.2"}, false, "timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts["host"] = "127.0.0.1"
			r := fx.run(t, "redis_ping", tt.opts)
			if tt.err == "timeout" && len(r.Errors) == 1 && strings.Contains(r.Errors[0], "timed out after 200ms") {
				// The run's deadline won the race against the socket's deadline.
				r.Errors[0] = "i/o timeout"
			}
			if r.OK != tt.ok || (tt.err != "" && (len(r.Errors) != 1 || !strings.Contains(r.Errors[0], tt.err))) {
				t.Errorf("OK = %v, errors %q; want %v, %q", r.OK, r.Errors, tt.ok, tt.err)
			}
			if tt.ok {
				if _, ok := r.Stats["ping_seconds"]; !ok {
					t.Errorf("Stats = %v, want ping_seconds", r.Stats)
				}
			}
		})
	}
}

func TestExampleHTTPJSON(t *testing.T) {
	fx := load(t, examples(t), Config{}, nil)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
			io.WriteString(w, `{"status": "ok", "db": {"status": "degraded"}}`)
		case "/bad":
			io.WriteString(w, `{"status": `)
		default:
			http.Error(w, "no", http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	tls := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"status": "ok"}`)
	}))
	tls.Config.ErrorLog = log.New(io.Discard, "", 0)
	tls.StartTLS()
	defer tls.Close()
	tests := []struct {
		name string
		opts map[string]string
		ok   bool
		err  string
	}{
		{"ok", map[string]string{"url": srv.URL + "/ok"}, true, ""},
		{"nested field", map[string]string{"url": srv.URL + "/ok", "field": "db.status"}, false, `db.status is "degraded", want "ok"`},
		{"status", map[string]string{"url": srv.URL + "/down"}, false, "status 503"},
		{"bad json", map[string]string{"url": srv.URL + "/bad"}, false, "json.decode: unexpected EOF"},
		{"tls unverified", map[string]string{"url": tls.URL, "tls_verify": "no"}, true, ""},
		{"tls verified", map[string]string{"url": tls.URL}, false, "certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := fx.run(t, "http_json", tt.opts)
			if r.OK != tt.ok || (tt.err != "" && (len(r.Errors) != 1 || !strings.Contains(r.Errors[0], tt.err))) {
				t.Errorf("OK = %v, errors %q; want %v, %q", r.OK, r.Errors, tt.ok, tt.err)
			}
		})
	}
}

func TestExampleWebhook(t *testing.T) {
	fx := load(t, examples(t), Config{}, nil)
	var mu sync.Mutex
	var got []map[string]string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Content-Type") != "application/json" || r.Method != http.MethodPost {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		var m map[string]string
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if m["channel"] == "#closed" {
			http.Error(w, "channel_is_archived", http.StatusForbidden)
			return
		}
		mu.Lock()
		got = append(got, m)
		mu.Unlock()
	}))
	defer srv.Close()
	msg := runtime.Message{Test: "web", State: runtime.StateFail, Short: "web is down", Long: "www: refused"}
	n := fx.notifier(t, "chat_channel", map[string]string{"recipient": "#ops", "url": srv.URL + "/hooks/x"})
	if err := n.Notify(context.Background(), msg); err != nil {
		t.Fatalf("Notify() error = %v", err)
	}
	want := []map[string]string{{"channel": "#ops", "username": "monsta", "text": ":red_circle: *web is down*\nwww: refused"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("posted %v, want %v", got, want)
	}
	n = fx.notifier(t, "chat_channel", map[string]string{"recipient": "#closed", "url": srv.URL + "/hooks/x"})
	if err := n.Notify(context.Background(), msg); err == nil || !strings.Contains(err.Error(), "status 403: channel_is_archived") {
		t.Errorf("Notify(#closed) error = %v, want status 403", err)
	}
}

func TestExampleRunbook(t *testing.T) {
	fx := load(t, map[string]string{"runbook.lua": examples(t)["runbook.lua"]}, Config{}, nil)
	h := fx.e.Hooks()
	day := time.Date(2026, 11, 24, 12, 0, 0, 0, time.Local)
	night := time.Date(2026, 11, 24, 3, 0, 0, 0, time.Local)
	late := time.Date(2026, 11, 24, 22, 30, 0, 0, time.Local)
	tests := []struct {
		name     string
		test     string
		state    runtime.State
		at       time.Time
		level    int
		suppress bool
	}{
		{"day", "web", runtime.StateFail, day, 1, false},
		{"night non-critical", "web", runtime.StateFail, night, 1, true},
		{"late evening non-critical", "web", runtime.StateFail, late, 2, true},
		{"night critical", "mail", runtime.StateFail, night, 1, false},
		{"night escalated", "web", runtime.StateFail, night, 3, false},
		{"night recovery", "web", runtime.StateRecovered, night, -1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := &runtime.NotifyEvent{Level: tt.level, Notifications: []string{"ops"},
				Message: runtime.Message{Test: tt.test, State: tt.state, Time: tt.at, Short: "s", Long: "b"}}
			if err := h.BeforeNotify(context.Background(), ev); err != nil {
				t.Fatalf("BeforeNotify() error = %v", err)
			}
			if ev.Suppress != tt.suppress {
				t.Errorf("Suppress = %v, want %v", ev.Suppress, tt.suppress)
			}
			if want := "b\n\nRunbook: https://wiki.example.org/runbooks/" + tt.test; ev.Message.Long != want {
				t.Errorf("Body = %q, want %q", ev.Message.Long, want)
			}
		})
	}
}

// TestExampleConf resolves the example .conf files against the built-in
// and example Lua types.
func TestExampleConf(t *testing.T) {
	mainFile := "../examples/lua/monsta.conf"
	if _, err := os.Stat(mainFile); err != nil {
		mainFile = filepath.Join(t.TempDir(), "monsta.conf")
		if err := os.WriteFile(mainFile, []byte("[main]\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	plan, _, _ := resolvePlan(t, mainFile, "../examples/lua/conf.d", nil)
	if len(plan.Tests) == 0 {
		t.Error("the examples define no test")
	}
}
