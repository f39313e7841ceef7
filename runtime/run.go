package runtime

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/monsta/monsta/internal/redact"
	"github.com/monsta/monsta/internal/textx"
)

// RunCheck runs c once under the deadline its descriptor gives for o and
// returns the result. A panic in the check becomes a failed result.
func RunCheck(ctx context.Context, c Check, o *Options) CheckResult {
	return RunCheckWithClock(ctx, RealClock{}, c, o)
}

// RunCheckWithClock is RunCheck on clock, which gives the result's start
// and duration (the deadline is the wall clock's, as for every network
// wait). The engine runs every scheduled check through it.
func RunCheckWithClock(ctx context.Context, clock Clock, c Check, o *Options) (res CheckResult) {
	d := o.Descriptor()
	res = CheckResult{Check: o.Name(), Type: d.Name, Start: clock.Now()}
	ctx, cancel := context.WithTimeout(ctx, d.DeadlineFor(o))
	defer cancel()
	defer func() {
		res.Duration = clock.Now().Sub(res.Start)
		if p := recover(); p != nil {
			perr := RedactError(o, fmt.Errorf("check panicked: %v", p))
			res.OK, res.Errors, res.Err = false, append(res.Errors, perr.Error()), errors.Join(res.Err, perr)
		}
	}()
	stats, err := c.Run(ctx)
	res.Stats = stats
	res.OK = err == nil
	if err != nil {
		res.Errors = ErrorMessages(err)
		for i, e := range res.Errors {
			res.Errors[i] = textx.Terminal(o.Redact(e))
		}
		res.Err = visible(RedactError(o, err))
	}
	return res
}

// visible returns err with the control characters of its text escaped
// (textx.Terminal), keeping the chain: an error may quote what a server
// sent (go-smtp's "short response: ..." does, raw), and it goes on to
// logs, terminals and pages.
func visible(err error) error {
	if text := err.Error(); textx.Terminal(text) != text {
		return redact.WithText(err, textx.Terminal(text))
	}
	return err
}

// ErrorMessages splits an error made by errors.Join into one message per
// joined error; any other error is one message.
func ErrorMessages(err error) []string {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []string
		for _, e := range j.Unwrap() {
			out = append(out, ErrorMessages(e)...)
		}
		return out
	}
	return []string{strings.TrimSpace(err.Error())}
}

// IsTimeout tells whether err is a deadline or network timeout.
func IsTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}
