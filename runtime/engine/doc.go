// Package engine runs a resolved runtime.Plan: the scheduler on an injected
// Clock, test evaluation with requires= and predictive dependency runs,
// the escalation streak with recover_after and flap detection, the hold
// Gates (silences, maintenance, UNREACHABLE, FLAPPING), the Dispatcher
// with its per-notification queues, retries and group_window digests, and
// the status and state of every test.
//
// Only the application (cmd/internal/app) and the control and metrics
// packages import it; check and notifier types see runtime alone.
package engine
