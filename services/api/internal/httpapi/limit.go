package httpapi

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/go-redis/redis_rate/v10"
)

// Limit is one rate limit: Rate requests per Period on average, and at most
// Burst at once (the budget a key starts with and refills to).
type Limit struct {
	Rate   int
	Period time.Duration
	Burst  int
}

// limitSyntax is how RATE_LIMIT_* values are written, for error messages.
const limitSyntax = `<requests>/<period>[,burst=<requests>], e.g. "10/1m" or "200/1s,burst=400"`

// ParseLimit reads a limit written as <requests>/<period>, optionally
// followed by ",burst=<requests>" (the burst is the rate otherwise). The
// period is a Go duration of whole seconds ("1s", "1m", "1h") or a bare unit
// ("s", "m", "h"). Anything else is an error, so a typo stops the api at
// start-up instead of running without the limit it meant.
func ParseLimit(s string) (Limit, error) {
	bad := func(why string) (Limit, error) {
		return Limit{}, fmt.Errorf("%q: %s; want %s", s, why, limitSyntax)
	}
	spec, burst, hasBurst := strings.Cut(strings.TrimSpace(s), ",")
	rate, period, ok := strings.Cut(spec, "/")
	if !ok {
		return bad("no /")
	}
	var l Limit
	var err error
	if l.Rate, err = positive(rate); err != nil {
		return bad("requests " + err.Error())
	}
	switch p := strings.TrimSpace(period); p {
	case "s", "m", "h":
		l.Period, _ = time.ParseDuration("1" + p)
	default:
		if l.Period, err = time.ParseDuration(p); err != nil {
			return bad(fmt.Sprintf("period %q is not a duration", p))
		}
	}
	if l.Period < time.Second || l.Period%time.Second != 0 {
		return bad(fmt.Sprintf("period %v is not a whole number of seconds", l.Period))
	}
	l.Burst = l.Rate
	if hasBurst {
		name, n, ok := strings.Cut(burst, "=")
		if !ok || strings.TrimSpace(name) != "burst" {
			return bad(fmt.Sprintf("%q after the comma is not burst=<requests>", burst))
		}
		if l.Burst, err = positive(n); err != nil {
			return bad("burst " + err.Error())
		}
	}
	return l, nil
}

// positive parses a count of requests: 1 to a million.
func positive(s string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 1 || n > 1_000_000 {
		return 0, fmt.Errorf("%q is not a whole number from 1 to 1000000", s)
	}
	return n, nil
}

// String writes the limit as ParseLimit reads it.
func (l Limit) String() string {
	s := fmt.Sprintf("%d/%v", l.Rate, l.Period)
	if l.Burst != l.Rate {
		s += ",burst=" + strconv.Itoa(l.Burst)
	}
	return s
}

// policy is the limit as a RateLimit-Policy item of the IETF draft
// "RateLimit header fields for HTTP": the quota, its window in seconds, and
// the burst when it differs from the quota ("10;w=60", "200;w=1;burst=400").
func (l Limit) policy() string {
	s := fmt.Sprintf("%d;w=%d", l.Rate, int64(l.Period/time.Second))
	if l.Burst != l.Rate {
		s += ";burst=" + strconv.Itoa(l.Burst)
	}
	return s
}

func (l Limit) gcra() redis_rate.Limit {
	return redis_rate.Limit{Rate: l.Rate, Period: l.Period, Burst: l.Burst}
}
