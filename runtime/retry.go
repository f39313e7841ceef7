package runtime

import "time"

// RetryPolicy bounds how a failed delivery is retried.
type RetryPolicy struct {
	First  time.Duration // wait before the first retry
	Max    time.Duration // longest wait between retries
	MaxAge time.Duration // give up when a message is older than this
}

// DefaultRetry retries from 5 s up to every 5 min for 24 h.
var DefaultRetry = RetryPolicy{First: 5 * time.Second, Max: 5 * time.Minute, MaxAge: 24 * time.Hour}
