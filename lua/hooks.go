package lua

import (
	"context"
	"errors"
	"fmt"
	"time"

	glua "github.com/yuin/gopher-lua"

	"github.com/monsta/monsta/internal/redact"
	"github.com/monsta/monsta/runtime"
)

// Hooks returns the runtime hooks the Lua files installed with
// monsta.on_notify and monsta.on_result, called file by file in load order.
// It is a no-op when there are none (and on a nil Engine).
func (e *Engine) Hooks() runtime.Hooks {
	h := &hooks{}
	if e == nil {
		return h
	}
	for _, f := range e.files {
		if f.nNotify > 0 {
			h.notify = append(h.notify, f)
		}
		if f.nResult > 0 {
			h.result = append(h.result, f)
		}
	}
	return h
}

type hooks struct {
	notify, result []*file
}

// hookCtx bounds one hook call.
func hookCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < hookTimeout {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, hookTimeout)
}

// BeforeNotify implements runtime.Hooks. Each on_notify hook gets an event
// table {test, state, host, failures, time, since, duration, reminder,
// level, short, long, checks, notifications, suppress} (subject and body
// are the old names of short and long); it may edit short, long and
// notifications,
// and suppress the notification by returning false or setting suppress.
// Errors of all hooks are joined; the event keeps the edits of the hooks
// that succeeded.
func (h *hooks) BeforeNotify(ctx context.Context, ev *runtime.NotifyEvent) error {
	var errs []error
	for _, f := range h.notify {
		if ev.Suppress {
			break
		}
		if err := f.beforeNotify(ctx, ev); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (f *file) beforeNotify(ctx context.Context, ev *runtime.NotifyEvent) error {
	for i := 0; i < f.nNotify && !ev.Suppress; i++ {
		s, err := f.get(ctx)
		if err != nil {
			return err
		}
		if i >= len(s.onNotify) {
			f.put(s)
			return fmt.Errorf("%s: on_notify hook %d was not installed when the file ran again", f.name, i+1)
		}
		L := s.L
		t := messageTable(L, ev.Message)
		t.RawSetString("level", glua.LNumber(ev.Level))
		t.RawSetString("notifications", stringList(L, ev.Notifications))
		t.RawSetString("suppress", glua.LBool(ev.Suppress))
		hctx, cancel := hookCtx(ctx)
		// The event is read back inside the run: the hook may have kept
		// t in a file-local table that the state's next run writes.
		var readErr error
		err = f.call(hctx, s, s.onNotify[i], 1, func(out []glua.LValue) error {
			next := *ev
			if readErr = readEvent(t, &next); readErr != nil {
				return nil
			}
			*ev = next
			if out[0] == glua.LFalse {
				ev.Suppress = true
			}
			return nil
		}, t)
		cancel()
		if err != nil {
			return fmt.Errorf("on_notify: %w", err)
		}
		if readErr != nil {
			return fmt.Errorf("%s: on_notify: %w", f.name, readErr)
		}
	}
	return nil
}

// maxHookNotifications is how many notification names a hook may set.
const maxHookNotifications = 100

// Limits of the texts a hook (or monsta.notify) may set: the short form
// is one line (SMS, subjects, chat titles; the one a run renders is a
// test's name, its first error of at most 2000 bytes and the streak), the
// long form a report. Longer texts are cut, ending in "...".
const (
	maxShort = 4 << 10
	maxLong  = 64 << 10
)

// clipShort and clipLong cut a message's short and long forms to maxShort
// and maxLong bytes, "..." included (on a rune boundary, never inside a
// redact.Mark).
func clipShort(s string) string { return clipForm(s, maxShort) }
func clipLong(s string) string  { return clipForm(s, maxLong) }

func clipForm(s string, max int) string {
	if len(s) <= max {
		return s
	}
	return redact.Clip(s, max-len("..."))
}

// readEvent copies the editable fields of t back into ev.
func readEvent(t *glua.LTable, ev *runtime.NotifyEvent) error {
	// short and long, or their old names subject and body: whichever
	// the hook changed.
	short, long := ev.Message.Short, ev.Message.Long
	for _, k := range []string{"subject", "short"} {
		if v, ok := t.RawGetString(k).(glua.LString); ok && string(v) != short {
			ev.Message.Short = clipShort(string(v))
		}
	}
	for _, k := range []string{"body", "long"} {
		if v, ok := t.RawGetString(k).(glua.LString); ok && string(v) != long {
			ev.Message.Long = clipLong(string(v))
		}
	}
	ev.Suppress = ev.Suppress || glua.LVAsBool(t.RawGetString("suppress"))
	switch v := t.RawGetString("notifications").(type) {
	case *glua.LTable:
		if v.Len() > maxHookNotifications {
			return fmt.Errorf("notifications: more than %d names", maxHookNotifications)
		}
		names := []string{}
		for i := 1; i <= v.Len(); i++ {
			s, ok := v.RawGetInt(i).(glua.LString)
			if !ok {
				return fmt.Errorf("notifications[%d] is not a string", i)
			}
			names = append(names, string(s))
		}
		ev.Notifications = names
	case *glua.LNilType:
		ev.Notifications = nil
	default:
		return errors.New("notifications must be a list of names")
	}
	return nil
}

// AfterResult implements runtime.Hooks: each on_result hook gets {test, ok,
// failures, time, checks}. Errors are logged.
func (h *hooks) AfterResult(ctx context.Context, r runtime.TestResult) {
	for _, f := range h.result {
		for i := 0; i < f.nResult; i++ {
			if err := f.afterResult(ctx, i, r); err != nil {
				f.e.log.Warn("lua hook failed", "hook", "on_result", "file", f.name, "test", r.Test, "err", err)
			}
		}
	}
}

func (f *file) afterResult(ctx context.Context, i int, r runtime.TestResult) error {
	s, err := f.get(ctx)
	if err != nil {
		return err
	}
	if i >= len(s.onResult) {
		f.put(s)
		return fmt.Errorf("on_result hook %d was not installed when the file ran again", i+1)
	}
	L := s.L
	t := L.CreateTable(0, 5)
	t.RawSetString("test", glua.LString(r.Test))
	t.RawSetString("ok", glua.LBool(r.OK))
	t.RawSetString("failures", glua.LNumber(r.Failures))
	t.RawSetString("time", glua.LNumber(unixSeconds(r.Time)))
	t.RawSetString("checks", checksTable(L, r.Checks))
	hctx, cancel := hookCtx(ctx)
	defer cancel()
	err = f.call(hctx, s, s.onResult[i], 0, nil, t)
	return err
}
