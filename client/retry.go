package client

import (
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// RetryPolicy says how often and how patiently a call is tried. Zero fields
// take DefaultRetry's values. Subscriptions use Base and Max alone: they
// reconnect until their context ends, and a stream has no attempt timeout.
type RetryPolicy struct {
	// MaxAttempts counts the first try: 1 never retries.
	MaxAttempts int
	// Base and Max bound the full-jitter exponential backoff: before retry
	// n the client sleeps a random time in [0, min(Max, Base·2ⁿ⁻¹)), or the
	// server's Retry-After when that is longer.
	Base, Max time.Duration
	// AttemptTimeout abandons an attempt that has no full answer by then
	// (a muted connection, a hung server), and retries. Negative: no limit
	// other than the context's.
	AttemptTimeout time.Duration
}

// DefaultRetry is the policy of a client made without WithRetry.
var DefaultRetry = RetryPolicy{MaxAttempts: 5, Base: 100 * time.Millisecond, Max: 5 * time.Second, AttemptTimeout: 10 * time.Second}

// NoRetry tries every call once, as a load generator that counts each
// answer wants.
var NoRetry = RetryPolicy{MaxAttempts: 1}

// withDefaults fills p's zero fields from DefaultRetry.
func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = DefaultRetry.MaxAttempts
	}
	if p.Base <= 0 {
		p.Base = DefaultRetry.Base
	}
	if p.Max <= 0 {
		p.Max = DefaultRetry.Max
	}
	if p.AttemptTimeout == 0 {
		p.AttemptTimeout = DefaultRetry.AttemptTimeout
	}
	return p
}

// backoff is the sleep before retry n (n ≥ 1): full jitter over an
// exponentially growing ceiling, and never less than retryAfter.
func (p RetryPolicy) backoff(n int, retryAfter time.Duration) time.Duration {
	ceiling := p.Max
	if n-1 < 62 {
		if c := p.Base << (n - 1); c > 0 && c < ceiling {
			ceiling = c
		}
	}
	d := time.Duration(rand.Int64N(int64(ceiling) + 1))
	return max(d, retryAfter)
}

// retryableStatus reports the statuses worth another attempt: rate limited,
// or a gateway or backing service that may be back in a moment. A 500 is a
// bug that a retry would repeat.
func retryableStatus(code int) bool {
	switch code {
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// parseRetryAfter reads Retry-After as delta-seconds or an HTTP date; 0 when
// absent or unreadable.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil {
		if s <= 0 {
			return 0
		}
		return time.Duration(min(s, 24*3600)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
