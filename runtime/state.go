package runtime

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"time"
)

// TestState is what a test carries across a reload or a restart: its
// escalation streak and its place in the schedule.
type TestState struct {
	Fingerprint string    `json:"fingerprint"`
	Failures    int       `json:"failures"`
	Notified    []string  `json:"notified,omitempty"`
	LastNotify  time.Time `json:"last_notify,omitzero"`
	LastLevel   int       `json:"last_level,omitempty"`
	Next        time.Time `json:"next,omitzero"`
	LastRun     time.Time `json:"last_run,omitzero"`
	LastOK      bool      `json:"last_ok"`
	Since       time.Time `json:"since,omitzero"` // first failure of the streak
	// Held is the hold in force at the last run; Owed says a page of
	// level 1 or more was held back and is due when the hold ends.
	Held HoldReason `json:"held,omitempty"`
	Owed bool       `json:"owed,omitempty"`
	// OwedBy names what held the owed page back ("silence 3f2a",
	// "maintenance window nightly"), for the page that releases it.
	OwedBy string `json:"owed_by,omitempty"`
	// Passes counts passing runs in a row of a test still failing
	// (recover_after).
	Passes int `json:"passes,omitempty"`
	// FlapHistory holds the last 21 results, one bit per run, bit 0 the
	// newest, set for a failure; Flapping and FlapTo are whether the test
	// flaps and who was told it does.
	FlapHistory  uint32   `json:"flap_history,omitempty"`
	Flapping     bool     `json:"flapping,omitempty"`
	FlapTo       []string `json:"flap_to,omitempty"`
	PrevNotified []string `json:"prev_notified,omitempty"`
	// Checks and Duration are the last run's results (their error texts
	// redacted, as every CheckResult's are) and how long it took: what
	// --status, the API, the status page and /metrics show until the
	// next run replaces them, across a reload, a restart or a kill -9.
	Checks   []CheckResult `json:"checks,omitempty"`
	Duration time.Duration `json:"duration,omitempty"`
}

// Idle tells whether the state holds nothing worth keeping on disk: no
// failures, no one paged, no recent failure in the flap history, and no
// last result (a test that never ran).
func (st TestState) Idle() bool {
	return st.Failures == 0 && len(st.Notified) == 0 && st.FlapHistory == 0 && !st.Flapping && len(st.Checks) == 0
}

// Fingerprint identifies a test's checks: its name and, for each check, its
// name, type and resolved options. State is carried over only to a test with
// the same fingerprint.
func (t *TestSpec) Fingerprint() string {
	h := sha256.New()
	h.Write([]byte(t.Name))
	for _, c := range t.Checks {
		h.Write([]byte{0})
		h.Write([]byte(c.Name + "\x00" + c.Desc.Name))
		m := c.Opts.Map()
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			h.Write([]byte("\x00" + k + "=" + m[k]))
		}
	}
	return hex.EncodeToString(h.Sum(nil)[:12])
}
