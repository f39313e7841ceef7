package lua

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	glua "github.com/yuin/gopher-lua"

	"github.com/monsta/monsta/internal/redact"
	"github.com/monsta/monsta/runtime"
)

// optValue is one option as the Lua function sees it.
type optValue struct {
	key   string
	v     glua.LValue // immutable values, shared by all states
	words []string    // words options: a fresh table per call
}

// luaOptions converts resolved options once: strings stay strings, int and
// port become numbers, seconds a number of seconds, bool a boolean, words a
// list.
func luaOptions(o *runtime.Options) []optValue {
	d := o.Descriptor()
	out := make([]optValue, 0, len(d.Options))
	for _, opt := range d.Options {
		ov := optValue{key: opt.Name}
		switch v := o.Value(opt.Name).(type) {
		case string:
			ov.v = glua.LString(v)
		case int:
			ov.v = glua.LNumber(v)
		case time.Duration:
			ov.v = glua.LNumber(v.Seconds())
		case bool:
			ov.v = glua.LBool(v)
		case []string:
			ov.words = v
		default:
			ov.v = glua.LString(o.Raw(opt.Name))
		}
		out = append(out, ov)
	}
	return out
}

// table builds the opt table for one call.
func optTable(L *glua.LState, opts []optValue) *glua.LTable {
	t := L.CreateTable(0, len(opts))
	for _, ov := range opts {
		if ov.words != nil {
			t.RawSetString(ov.key, stringList(L, ov.words))
			continue
		}
		t.RawSetString(ov.key, ov.v)
	}
	return t
}

// luaType is a check or notifier type of a Lua file, with the options of
// one section.
type luaType struct {
	f    *file
	typ  string
	opts []optValue
	red  *redactor // the section's secrets; nil: none
}

func newLuaType(f *file, typ string, o *runtime.Options) luaType {
	return luaType{f: f, typ: typ, opts: luaOptions(o), red: newRedactor(o)}
}

// call calls the type's function in a pooled state: the one of the table
// fns picks, with the options table and extra's values as arguments. read
// gets the nret results inside the run (see file.call). It returns an
// error naming the file and missing (a format of the type's name) when the
// file, run again, no longer defines the type.
func (t *luaType) call(ctx context.Context, fns func(*state) map[string]*glua.LFunction, missing string, nret int,
	extra func(*glua.LState) glua.LValue, read func([]glua.LValue) error) error {
	s, err := t.f.get(ctx)
	if err != nil {
		return err
	}
	fn := fns(s)[t.typ]
	if fn == nil {
		t.f.put(s)
		return fmt.Errorf("%s: "+missing+" when the file ran again", t.f.name, t.typ)
	}
	s.red = t.red // until the state goes back to the pool (file.call)
	if extra == nil {
		return t.f.call(ctx, s, fn, nret, read, optTable(s.L, t.opts))
	}
	return t.f.call(ctx, s, fn, nret, read, optTable(s.L, t.opts), extra(s.L))
}

// luaCheck is a check whose run function is Lua.
type luaCheck struct{ luaType }

func newCheck(f *file, typ string, o *runtime.Options) *luaCheck {
	return &luaCheck{newLuaType(f, typ, o)}
}

func checkFuncs(s *state) map[string]*glua.LFunction    { return s.checks }
func notifierFuncs(s *state) map[string]*glua.LFunction { return s.notifiers }
func verifierFuncs(s *state) map[string]*glua.LFunction { return s.verifiers }

// Run implements runtime.Check: it calls run(opt) in a pooled state. run
// returns ok, then a message or a list of messages, then a stats table; an
// error raised by run fails the check with the error's file:line.
func (c *luaCheck) Run(ctx context.Context) (runtime.Stats, error) {
	var st runtime.Stats
	var runErr error
	err := c.call(ctx, checkFuncs, "check type %q was not defined", 3, nil, func(out []glua.LValue) error {
		st, runErr = c.red.checkOutcome(out[0], out[1], out[2])
		return nil
	})
	if err != nil {
		return nil, err
	}
	return st, runErr
}

// checkOutcome interprets run's return values; messages are redacted
// with r before they are clipped.
func (r *redactor) checkOutcome(ok, msg, stats glua.LValue) (runtime.Stats, error) {
	st := toStats(stats)
	if glua.LVAsBool(ok) {
		return st, nil
	}
	switch m := msg.(type) {
	case glua.LString:
		return st, errors.New(r.clip(string(m)))
	case *glua.LTable:
		var errs []error
		for i := 1; i <= m.Len(); i++ {
			if i > maxMessages {
				errs = append(errs, fmt.Errorf("(%d more messages)", m.Len()-maxMessages))
				break
			}
			errs = append(errs, errors.New(r.clip(m.RawGetInt(i).String())))
		}
		if len(errs) > 0 {
			return st, errors.Join(errs...)
		}
	case *glua.LNilType:
		if ok == glua.LNil {
			return st, errors.New("run returned nothing (return true to pass, or false and a message)")
		}
	default:
		return st, errors.New(r.clip(msg.String()))
	}
	return st, errors.New("check failed")
}

// Limits of what a run reports.
const (
	maxMessages   = 20   // messages of one result
	maxMessageLen = 2000 // bytes of one message
)

// clipMessage cuts a message to maxMessageLen bytes (on a rune boundary).
func clipMessage(s string) string { return clipTotal(s, len(s)) }

// clipTotal cuts s to maxMessageLen bytes (on a rune boundary), saying
// that the whole text had total bytes.
func clipTotal(s string, total int) string {
	if len(s) <= maxMessageLen {
		return s
	}
	cut := maxMessageLen
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	// Never leave half a redact.Mark: "[reda…" reads like a cut secret.
	if i := strings.LastIndex(s[:cut], "["); i >= 0 && i+len(redact.Mark) > cut && strings.HasPrefix(s[i:], redact.Mark) {
		cut = i
	}
	return s[:cut] + fmt.Sprintf("… (%d bytes)", total)
}

// cleanText clips s (see clipMessage) and replaces control bytes other
// than newline and tab, and invalid UTF-8, so that an error text cannot
// forge log lines or flood logs, state and messages.
func cleanText(s string) string { return scrub(clipMessage(s)) }

// scrub replaces control bytes other than newline and tab, and invalid
// UTF-8, with '?'.
func scrub(s string) string {
	clean := true
	for _, r := range s {
		if r == utf8.RuneError || r < 0x20 && r != '\n' && r != '\t' || r == 0x7f {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	return strings.Map(func(r rune) rune {
		if r == utf8.RuneError || r < 0x20 && r != '\n' && r != '\t' || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}

// redactor removes the secrets of one section's options (a Lua type's
// own, declared with secret = true) from what a run of that type logs,
// raises or returns, before the text is clipped: a clip through a secret
// would leave a part of it that no redaction recognizes. A nil redactor
// only clips.
type redactor struct {
	o *runtime.Options
	// window is how much of a long text is redacted: the clip's length
	// plus the longest form a secret of o can take, so that no form
	// crosses the clip unseen.
	window int
}

// newRedactor returns the redactor of o, or nil when o has no secret set.
func newRedactor(o *runtime.Options) *redactor {
	if o == nil || len(o.Secrets()) == 0 {
		return nil
	}
	longest := 0
	for _, opt := range o.Descriptor().Options {
		longest = max(longest, len(o.Raw(opt.Name)))
	}
	// A form is at most the secret URL-escaped (3 bytes a byte), or the
	// base64 of an AUTH PLAIN blob of a user name and the secret.
	return &redactor{o: o, window: maxMessageLen + 6*longest + 64}
}

// clip returns s with r's secrets redacted, then clipped (clipMessage).
func (r *redactor) clip(s string) string {
	if r == nil {
		return clipMessage(s)
	}
	if len(s) <= r.window {
		return clipMessage(r.o.Redact(s))
	}
	head := r.o.Redact(s[:r.window])
	return clipTotal(head, len(head)+len(s)-r.window)
}

// clean returns s redacted and clipped (clip), then scrubbed of control
// bytes as cleanText does.
func (r *redactor) clean(s string) string { return scrub(r.clip(s)) }

// Limits of a stats table: more entries, or longer names, are dropped.
const (
	maxStats       = 100
	maxStatNameLen = 100
)

// toStats keeps the numeric entries of a stats table (booleans count 1/0,
// numeric strings are parsed, other values are dropped), at most maxStats
// of them with names of at most maxStatNameLen bytes.
func toStats(v glua.LValue) runtime.Stats {
	t, ok := v.(*glua.LTable)
	if !ok {
		return nil
	}
	st := runtime.Stats{}
	t.ForEach(func(k, v glua.LValue) {
		ks, ok := k.(glua.LString)
		if !ok || len(ks) > maxStatNameLen || len(st) >= maxStats {
			return
		}
		switch x := v.(type) {
		case glua.LNumber:
			st[string(ks)] = float64(x)
		case glua.LBool:
			st[string(ks)] = map[bool]float64{true: 1, false: 0}[bool(x)]
		case glua.LString:
			if f, err := strconv.ParseFloat(string(x), 64); err == nil {
				st[string(ks)] = f
			}
		}
	})
	return st
}

// luaNotifier is a notifier whose send function is Lua.
type luaNotifier struct{ luaType }

func newNotifier(f *file, typ string, o *runtime.Options) *luaNotifier {
	return &luaNotifier{newLuaType(f, typ, o)}
}

// Notify implements runtime.Notifier: it calls send(opt, msg). send
// returning nil (or false) and a message, or raising an error, fails the
// delivery.
func (n *luaNotifier) Notify(ctx context.Context, m runtime.Message) error {
	msg := func(L *glua.LState) glua.LValue { return messageTable(L, m) }
	return n.call(ctx, notifierFuncs, "notifier type %q was not defined", 2, msg, n.red.sendOutcome)
}

// sendOutcome interprets the return values of send: nil (or false) and a
// message, or false alone, fail the delivery.
func (r *redactor) sendOutcome(out []glua.LValue) error {
	if out[0] == glua.LNil || out[0] == glua.LFalse {
		if out[1] != glua.LNil {
			return errors.New(r.clean(out[1].String()))
		}
		if out[0] == glua.LFalse {
			return errors.New("send failed")
		}
	}
	return nil
}

// verifyingNotifier is a luaNotifier whose type has a verify function; it
// implements runtime.Verifier for --lint.
type verifyingNotifier struct{ *luaNotifier }

// Verify implements runtime.Verifier: it calls verify(opt), which returns
// true when the login works, or nil and a message.
func (v verifyingNotifier) Verify(ctx context.Context) error {
	return v.call(ctx, verifierFuncs, "notifier type %q has no verify function", 2, nil, func(out []glua.LValue) error {
		if out[0] == glua.LNil || out[0] == glua.LFalse {
			if out[1] != glua.LNil {
				return errors.New(v.red.clean(out[1].String()))
			}
			return errors.New("verify failed")
		}
		return nil
	})
}

// stringList makes a Lua list of strings.
func stringList(L *glua.LState, ss []string) *glua.LTable {
	t := L.CreateTable(len(ss), 0)
	for _, s := range ss {
		t.Append(glua.LString(s))
	}
	return t
}

// statsTable makes a Lua table of stats.
func statsTable(L *glua.LState, st runtime.Stats) *glua.LTable {
	t := L.CreateTable(0, len(st))
	for k, v := range st {
		t.RawSetString(k, glua.LNumber(v))
	}
	return t
}

// checksTable makes the checks list of a message or result.
func checksTable(L *glua.LState, cs []runtime.CheckResult) *glua.LTable {
	t := L.CreateTable(len(cs), 0)
	for _, c := range cs {
		ct := L.CreateTable(0, 7)
		ct.RawSetString("check", glua.LString(c.Check))
		ct.RawSetString("type", glua.LString(c.Type))
		ct.RawSetString("ok", glua.LBool(c.OK))
		ct.RawSetString("errors", stringList(L, c.Errors))
		ct.RawSetString("stats", statsTable(L, c.Stats))
		ct.RawSetString("start", glua.LNumber(unixSeconds(c.Start)))
		ct.RawSetString("duration", glua.LNumber(c.Duration.Seconds()))
		t.Append(ct)
	}
	return t
}

// messageTable is msg as send and on_notify see it.
func messageTable(L *glua.LState, m runtime.Message) *glua.LTable {
	t := L.CreateTable(0, 14)
	fillMessage(L, t, m)
	return t
}

func fillMessage(L *glua.LState, t *glua.LTable, m runtime.Message) {
	t.RawSetString("test", glua.LString(m.Test))
	t.RawSetString("state", glua.LString(m.State))
	t.RawSetString("failures", glua.LNumber(m.Failures))
	t.RawSetString("time", glua.LNumber(unixSeconds(m.Time)))
	t.RawSetString("host", glua.LString(m.Host))
	t.RawSetString("since", glua.LNumber(unixSeconds(m.Since)))
	t.RawSetString("duration", glua.LNumber(m.Duration.Seconds()))
	t.RawSetString("reminder", glua.LBool(m.Reminder))
	t.RawSetString("short", glua.LString(m.Short))
	t.RawSetString("long", glua.LString(m.Long))
	// subject and body: the names of the two forms before 0.2.
	t.RawSetString("subject", glua.LString(m.Short))
	t.RawSetString("body", glua.LString(m.Long))
	t.RawSetString("checks", checksTable(L, m.Checks))
}

// unixSeconds is t as Lua's os.time counts; 0 for the zero time.
func unixSeconds(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return float64(t.Unix())
}
