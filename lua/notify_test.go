package lua

import (
	"context"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/monsta/monsta/runtime"
)

const notifyLua = `
local seen = {}
monsta.notifier_type{
  name = "collect",
  description = "remember messages and fail on request",
  options = {recipient = {required = true, help = "Who."}},
  send = function(opt, msg)
    if msg.subject == "raise" then error("cannot deliver") end
    if msg.subject == "refuse" then return nil, "refused for " .. opt.recipient end
    local c = msg.checks[1]
    monsta.notify("relay", {subject = opt.recipient .. ": " .. msg.subject,
      body = string.format("%s %s %d %d %s %s %s", msg.test, msg.state, msg.failures, msg.time,
        c.check, tostring(c.ok), c.errors[1])})
    return true
  end,
}

monsta.on_notify(function(ev)
  if ev.test == "quiet" then return false end
  if ev.test == "flagged" then ev.suppress = true return end
  if ev.test == "broken" then error("hook broke") end
  ev.subject = "[" .. ev.level .. "] " .. ev.subject
  ev.body = ev.body .. "\nrunbook"
  local names = {}
  for _, n in ipairs(ev.notifications) do
    if n ~= "sms" then table.insert(names, n) end
  end
  table.insert(names, "chat")
  ev.notifications = names
end)

monsta.on_result(function(r)
  monsta.notify("results", {subject = r.test .. " " .. tostring(r.ok) .. " " .. r.failures .. " " .. #r.checks})
end)
`

// recordSender is a runtime.Sender that records what it sends.
type recordSender struct {
	mu   sync.Mutex
	sent []string
}

func (r *recordSender) Send(ctx context.Context, name string, m runtime.Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sent = append(r.sent, name+": "+m.Short+" | "+m.Long)
	return nil
}

func (r *recordSender) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.sent
	r.sent = nil
	return out
}

func TestLuaNotifier(t *testing.T) {
	fx := load(t, map[string]string{"n.lua": notifyLua}, Config{}, nil)
	rec := &recordSender{}
	fx.e.SetSender(rec)
	n := fx.notifier(t, "collect", map[string]string{"recipient": "bob"})
	at := time.Unix(1700000000, 0)
	msg := runtime.Message{Test: "web", State: runtime.StateFail, Failures: 2, Time: at, Short: "web failed",
		Long: "b", Checks: []runtime.CheckResult{{Check: "www", Type: "portconnect", Errors: []string{"refused"}}}}
	if err := n.Notify(context.Background(), msg); err != nil {
		t.Fatalf("Notify() error = %v", err)
	}
	want := []string{"relay: bob: web failed | web FAIL 2 1700000000 www false refused"}
	if got := rec.take(); !reflect.DeepEqual(got, want) {
		t.Errorf("sent %q, want %q", got, want)
	}
	for _, tt := range []struct{ subject, err string }{
		{"raise", "conf.d/n.lua:8: cannot deliver"},
		{"refuse", "refused for bob"},
	} {
		msg.Short = tt.subject
		if err := n.Notify(context.Background(), msg); err == nil || err.Error() != tt.err {
			t.Errorf("Notify(%s) error = %v, want %q", tt.subject, err, tt.err)
		}
	}
}

func TestHooks(t *testing.T) {
	fx := load(t, map[string]string{"n.lua": notifyLua}, Config{}, nil)
	rec := &recordSender{}
	fx.e.SetSender(rec)
	h := fx.e.Hooks()
	tests := []struct {
		test     string
		suppress bool
		subject  string
		names    []string
		err      string
	}{
		{test: "web", subject: "[2] web failed", names: []string{"mail", "chat"}},
		{test: "quiet", suppress: true, subject: "web failed", names: []string{"mail", "sms"}},
		{test: "flagged", suppress: true, subject: "web failed", names: []string{"mail", "sms"}},
		{test: "broken", subject: "web failed", names: []string{"mail", "sms"}, err: "on_notify: conf.d/n.lua:21: hook broke"},
	}
	for _, tt := range tests {
		t.Run(tt.test, func(t *testing.T) {
			ev := &runtime.NotifyEvent{Level: 2, Notifications: []string{"mail", "sms"},
				Message: runtime.Message{Test: tt.test, State: runtime.StateFail, Short: "web failed", Long: "b"}}
			err := h.BeforeNotify(context.Background(), ev)
			if (err == nil) != (tt.err == "") || err != nil && err.Error() != tt.err {
				t.Fatalf("BeforeNotify() error = %v, want %q", err, tt.err)
			}
			if ev.Suppress != tt.suppress || ev.Message.Short != tt.subject || !reflect.DeepEqual(ev.Notifications, tt.names) {
				t.Errorf("event = suppress %v, subject %q, names %q; want %v, %q, %q",
					ev.Suppress, ev.Message.Short, ev.Notifications, tt.suppress, tt.subject, tt.names)
			}
			if tt.subject != "web failed" && ev.Message.Long != "b\nrunbook" {
				t.Errorf("body = %q, want b\\nrunbook", ev.Message.Long)
			}
		})
	}
	h.AfterResult(context.Background(), runtime.TestResult{Test: "web", OK: false, Failures: 3,
		Checks: []runtime.CheckResult{{Check: "a"}, {Check: "b"}}})
	if got, want := rec.take(), []string{"results: web false 3 2 | "}; !reflect.DeepEqual(got, want) {
		t.Errorf("on_result sent %q, want %q", got, want)
	}
}

func TestNoHooks(t *testing.T) {
	var nilEngine *Engine
	for _, h := range []runtime.Hooks{nilEngine.Hooks(), load(t, readTestdata(t, "checks.lua"), Config{}, nil).e.Hooks()} {
		ev := &runtime.NotifyEvent{Notifications: []string{"a"}, Message: runtime.Message{Short: "s"}}
		if err := h.BeforeNotify(context.Background(), ev); err != nil || ev.Suppress || ev.Message.Short != "s" {
			t.Errorf("BeforeNotify() = %v, event %+v; want no change", err, ev)
		}
		h.AfterResult(context.Background(), runtime.TestResult{})
	}
}

func TestNotifyWithoutSender(t *testing.T) {
	fx := load(t, map[string]string{"n.lua": `
monsta.check_type{
  name = "send", description = "send a notification",
  run = function(opt) return monsta.notify("ops", {subject = "s"}) end,
}`}, Config{}, nil)
	r := fx.run(t, "send", nil)
	if want := []string{"monsta.notify: no notifications configured"}; r.OK || !reflect.DeepEqual(r.Errors, want) {
		t.Errorf("OK = %v, errors %q; want %q", r.OK, r.Errors, want)
	}
	rec := &recordSender{}
	fx.e.SetSender(rec)
	if r := fx.run(t, "send", nil); !r.OK {
		t.Errorf("with a sender: errors %q", r.Errors)
	}
	if got, want := rec.take(), []string{"ops: s | "}; !reflect.DeepEqual(got, want) {
		t.Errorf("sent %q, want %q", got, want)
	}
}

type senderFunc func(ctx context.Context, name string, m runtime.Message) error

func (f senderFunc) Send(ctx context.Context, name string, m runtime.Message) error {
	return f(ctx, name, m)
}

// TestNotifyLoopIsBounded: a notifier whose send notifies through itself
// stops after maxRunDepth levels instead of recursing until its deadline.
func TestNotifyLoopIsBounded(t *testing.T) {
	fx := load(t, map[string]string{"n.lua": notifyLua}, Config{}, nil)
	n := fx.notifier(t, "collect", map[string]string{"recipient": "bob"})
	var sends atomic.Int32
	fx.e.SetSender(senderFunc(func(ctx context.Context, name string, m runtime.Message) error {
		sends.Add(1)
		m.Checks = []runtime.CheckResult{{Check: "c", Errors: []string{"e"}}}
		return n.Notify(ctx, m)
	}))
	done := make(chan error, 1)
	go func() {
		done <- n.Notify(context.Background(), runtime.Message{Short: "loop", Checks: []runtime.CheckResult{{Errors: []string{"e"}}}})
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Notify() error = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Notify did not return within 10 s")
	}
	if got := sends.Load(); got != maxRunDepth {
		t.Errorf("sends = %d, want %d", got, maxRunDepth)
	}
}

func TestNotifierVerify(t *testing.T) {
	fx := load(t, map[string]string{"v.lua": `
monsta.notifier_type{
  name = "checked", description = "a notifier that can try its login",
  options = {recipient = {required = true, help = "Who."}},
  send = function(opt, msg) return true end,
  verify = function(opt)
    if opt.recipient == "bad" then return nil, "login refused for " .. opt.recipient end
    return true
  end,
}
monsta.notifier_type{
  name = "plain", description = "a notifier that cannot",
  options = {recipient = {required = true, help = "Who."}},
  send = function(opt, msg) return true end,
}
`}, Config{}, nil)
	for _, tt := range []struct{ recipient, err string }{{"good", ""}, {"bad", "login refused for bad"}} {
		v, ok := fx.notifier(t, "checked", map[string]string{"recipient": tt.recipient}).(runtime.Verifier)
		if !ok {
			t.Fatal("a notifier type with verify does not implement runtime.Verifier")
		}
		err := v.Verify(context.Background())
		if (err == nil) != (tt.err == "") || err != nil && err.Error() != tt.err {
			t.Errorf("Verify(%s) error = %v, want %q", tt.recipient, err, tt.err)
		}
	}
	if _, ok := fx.notifier(t, "plain", map[string]string{"recipient": "x"}).(runtime.Verifier); ok {
		t.Error("a notifier type without verify implements runtime.Verifier")
	}
}

// TestHookTextsAreClipped: an on_notify hook, or monsta.notify, setting
// short and long to 16 MiB hands the dispatcher at most maxShort and
// maxLong bytes, each ending in "...", cut on a rune boundary.
func TestHookTextsAreClipped(t *testing.T) {
	fx := load(t, map[string]string{"big.lua": `
local huge = string.rep("é", 8 * 1024 * 1024 - 8) -- 16 MiB
monsta.on_notify(function(ev)
  if ev.test == "old" then ev.subject, ev.body = huge, huge return end
  ev.short, ev.long = huge, huge
end)
monsta.on_result(function(r)
  monsta.notify("relay", {short = huge, long = huge})
end)`}, Config{}, nil)
	rec := &recordSender{}
	fx.e.SetSender(rec)
	h := fx.e.Hooks()
	check := func(what, got string, limit int) {
		t.Helper()
		if len(got) > limit || len(got) < limit-8 || !strings.HasSuffix(got, "é...") || !utf8.ValidString(got) {
			t.Errorf("%s: %d bytes ending %q, want at most %d ending in é...", what, len(got), got[max(len(got)-8, 0):], limit)
		}
	}
	for _, test := range []string{"new", "old"} {
		ev := &runtime.NotifyEvent{Level: 1, Notifications: []string{"mail"},
			Message: runtime.Message{Test: test, State: runtime.StateFail, Short: "s", Long: "l"}}
		if err := h.BeforeNotify(context.Background(), ev); err != nil {
			t.Fatalf("BeforeNotify() error = %v", err)
		}
		check(test+" short", ev.Message.Short, maxShort)
		check(test+" long", ev.Message.Long, maxLong)
	}
	h.AfterResult(context.Background(), runtime.TestResult{Test: "web"})
	sent := rec.take()
	if len(sent) != 1 {
		t.Fatalf("monsta.notify sent %d messages, want 1", len(sent))
	}
	short, long, _ := strings.Cut(strings.TrimPrefix(sent[0], "relay: "), " | ")
	check("notify short", short, maxShort)
	check("notify long", long, maxLong)
}
