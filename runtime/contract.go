package runtime

import (
	"context"
	"errors"
	"time"
)

// Stats are the measurements of one check run, name → value, e.g.
// "connect_seconds". Names are lower_snake; times are in seconds.
type Stats map[string]float64

// Check runs one probe and must return by ctx's deadline. A nil error means
// it passed; the error text (each error of an errors.Join separately) becomes
// the result's messages. Run may be called concurrently only for different
// Check values; the runtime never overlaps runs of one Check.
type Check interface {
	Run(ctx context.Context) (Stats, error)
}

// Notifier delivers one message and must return by ctx's deadline.
type Notifier interface {
	Notify(ctx context.Context, m Message) error
}

// Verifier is implemented by notifiers that can try their login without
// sending anything; --lint calls it. A notifier that has no way to check
// without sending returns an error wrapping ErrCannotVerify.
type Verifier interface {
	Verify(ctx context.Context) error
}

// ErrCannotVerify says a notifier cannot check its settings without
// sending a message; --lint reports it without failing.
var ErrCannotVerify = errors.New("cannot verify without sending")

// SelfLogging is implemented by notifiers whose delivery is itself a log
// entry (the log notifier); the dispatcher logs their sends at debug only,
// so that one notification is one line in the log.
type SelfLogging interface {
	LogsDelivery()
}

// Coalescer is implemented by notifiers whose newer message about a key
// replaces an older one still waiting (alertmanager: the latest state of a
// test is all that matters). The dispatcher drops a queued message when a
// newer one with the same key arrives, and stops retrying a message that a
// newer one supersedes. An empty key never coalesces.
type Coalescer interface {
	CoalesceKey(m Message) string
}

// PermanentError marks a notifier failure that retrying cannot fix
// (authentication refused, recipient rejected).
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// Permanent wraps err so that the dispatcher does not retry it. Nil stays nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &PermanentError{Err: err}
}

// CheckResult is the outcome of one check run.
type CheckResult struct {
	Check string // section name without the Check_ prefix
	Type  string
	OK    bool
	// Errors is the text of each error (each of an errors.Join apart),
	// redacted of the check's secrets: what is shown, logged and stored.
	Errors []string
	// Err is the error itself, with its chain, so that errors.Is and
	// errors.As tell a timeout from a refusal without parsing text; its
	// text is redacted too. It lives in memory only: the state file, the
	// outbox and JSON keep Errors, so a result read back has no Err.
	Err      error `json:"-"`
	Stats    Stats
	Start    time.Time
	Duration time.Duration
}

// State is what a message reports about a test.
type State string

// The states of a Message.
const (
	StateFail      State = "FAIL"
	StateRecovered State = "RECOVERED"
	StateOK        State = "OK"
	StateTest      State = "TEST" // a test message sent by --run Notification_X
	// StateFlapping tells those paged that a test started flapping and
	// that its pages are held until it stops.
	StateFlapping State = "FLAPPING"
)

// TestResult is the outcome of one run of a test.
type TestResult struct {
	Test     string // section name without the Test_ prefix
	OK       bool
	Failures int // consecutive failures after this run
	Time     time.Time
	Checks   []CheckResult
	// Unreachable is set by Evaluate on a failing test one of whose
	// parents (depends=, the uplink) fails too: the reason the daemon
	// would hold its pages, e.g. "depends on switch, which fails".
	Unreachable string
}

// NotifyEvent is a notification about to be dispatched to the named
// notifications (section names without the Notification_ prefix). Hooks may
// rewrite the message, change the list or set Suppress.
type NotifyEvent struct {
	Message       Message
	Level         int // escalation level that fired; -1 for a recovery
	Notifications []string
	Suppress      bool
}

// Hooks are called by the runtime around results and notifications. Lua
// files install them; errors are logged and do not stop delivery.
type Hooks interface {
	// BeforeNotify may edit ev before it is dispatched.
	BeforeNotify(ctx context.Context, ev *NotifyEvent) error
	// AfterResult sees every test result, once the run has ended: the
	// result is decided, saved and logged, and the test may already run
	// again while the hook runs.
	AfterResult(ctx context.Context, r TestResult)
}

// Sender sends a message through a configured notification section by name
// (without the Notification_ prefix). The daemon provides one to Lua.
type Sender interface {
	Send(ctx context.Context, notification string, m Message) error
}
