package delivery

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/redis/go-redis/v9"

	"github.com/instachat/instachat/pkg/queue"
	"github.com/instachat/instachat/pkg/settings"
)

// failures tracks each endpoint's current run of failed deliveries in
// Redis (queue.Keys.HookFailures, in its application's partition), so every
// writer process counts the same run, and decides when it is long enough to
// pause the endpoint.
type failures struct {
	rdb   redis.UniversalClient
	keys  queue.Keys
	after time.Duration // the run must have lasted this long
	count int           // and counted this many failures
}

// claimTTL is how long one process has to pause an endpoint it claimed
// before another may try (it may have died meanwhile).
const claimTTL = time.Minute

// failScript counts a failure at ARGV[1] (Unix ms) in the hash KEYS[1]:
// n failures since first, the last error, kept ARGV[2] ms after the last
// failure. When the run reached ARGV[3] ms and ARGV[4] failures, the first
// caller (or one after a claim older than ARGV[5] ms) claims the pause.
// It returns {n, first, claimed}.
var failScript = redis.NewScript(`
local now = tonumber(ARGV[1])
local n = redis.call('HINCRBY', KEYS[1], 'n', 1)
redis.call('HSETNX', KEYS[1], 'first', now)
redis.call('HSET', KEYS[1], 'last', ARGV[6])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
local first = tonumber(redis.call('HGET', KEYS[1], 'first'))
local claimed = 0
if n >= tonumber(ARGV[4]) and now - first >= tonumber(ARGV[3]) then
  local c = redis.call('HGET', KEYS[1], 'claim')
  if not c or now - tonumber(c) >= tonumber(ARGV[5]) then
    redis.call('HSET', KEYS[1], 'claim', now)
    claimed = 1
  end
end
return {n, first, claimed}`)

// failed counts a failure of endpoint (of application app) at now and
// reports the run so far, and whether this caller is to pause the endpoint.
func (f *failures) failed(ctx context.Context, app, endpoint, cause string, now time.Time) (n int64, since time.Time, pause bool, err error) {
	// The run is forgotten if no failure comes for twice the pause window
	// (an endpoint that gets no traffic); a retry comes at least every
	// BackoffMax, far sooner with the defaults.
	ttl := 2 * f.after
	res, err := failScript.Run(ctx, f.rdb, []string{f.keys.HookFailures(app, endpoint)},
		now.UnixMilli(), ttl.Milliseconds(), f.after.Milliseconds(), f.count, claimTTL.Milliseconds(), cause).Int64Slice()
	if err != nil {
		return 0, time.Time{}, false, fmt.Errorf("count a failure of %s: %w", endpoint, err)
	}
	return res[0], time.UnixMilli(res[1]), res[2] == 1, nil
}

// reset ends the endpoint's run of failures: it delivered, or was paused.
func (f *failures) reset(ctx context.Context, app, endpoint string) error {
	return f.rdb.Del(ctx, f.keys.HookFailures(app, endpoint)).Err()
}

// unclaim lets another failure try the pause again (this one failed).
func (f *failures) unclaim(ctx context.Context, app, endpoint string) error {
	return f.rdb.HDel(ctx, f.keys.HookFailures(app, endpoint), "claim").Err()
}

// trackFailure counts the failed attempt against its endpoint and pauses
// the endpoint when its run of failures is long enough. A failure to track
// is logged: the delivery itself goes on.
func (w *Worker) trackFailure(ctx context.Context, j job, cause string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	now := time.Now()
	n, since, claimed, err := w.failures.failed(ctx, j.e.App, j.e.Hook, cause, now)
	if err != nil {
		w.log.Warn("track webhook failures", "endpoint", j.e.Hook, "err", err)
		return
	}
	if !claimed {
		return
	}
	reason := pauseReason(n, now.Sub(since), cause)
	paused, err := w.pause(ctx, j.e.App, j.e.Hook, reason, now)
	if err != nil {
		w.log.Warn("pause a failing webhook endpoint; the next failure tries again", "endpoint", j.e.Hook, "err", err)
		if err := w.failures.unclaim(ctx, j.e.App, j.e.Hook); err != nil {
			w.log.Warn("release the claim to pause a webhook endpoint", "endpoint", j.e.Hook, "err", err)
		}
		return
	}
	// Paused now or before (by another writer or the tenant): a tenant who
	// resumes it starts a fresh run.
	if err := w.failures.reset(ctx, j.e.App, j.e.Hook); err != nil {
		w.log.Warn("reset the endpoint's failures", "endpoint", j.e.Hook, "err", err)
	}
	if paused {
		w.cfg.Metrics.paused()
		w.log.Warn("webhook endpoint paused", "endpoint", j.e.Hook, "reason", reason)
	}
}

// pause pauses endpoint id of application app in MySQL, in the settings'
// own transaction, and tells every process. It reports false when the
// endpoint was already paused, or is gone.
func (w *Worker) pause(ctx context.Context, app, id, reason string, now time.Time) (bool, error) {
	saved, err := w.settings.Update(ctx, app, func(cur settings.Settings) (settings.Settings, error) {
		next, _ := settings.Pause(cur, id, reason, now)
		return next, nil // unchanged when already paused: nothing is written
	})
	if err != nil {
		return false, err
	}
	if saved.Version == 0 {
		return false, nil
	}
	if err := w.cache.Changed(ctx, app, saved); err != nil {
		// Saved: every cache reloads it within settings.CacheTTL anyway.
		w.log.Warn("announce a paused webhook endpoint", "endpoint", id, "err", err)
	}
	return true, nil
}

// maxReason is the longest pause reason MySQL keeps (paused_reason is
// VARCHAR(255); bytes bound characters).
const maxReason = 255

// pauseReason says why the server paused an endpoint, as its settings show.
func pauseReason(n int64, over time.Duration, last string) string {
	s := fmt.Sprintf("paused after %d failed deliveries over %s; last: %s", n, over.Round(time.Second), last)
	if len(s) <= maxReason {
		return s
	}
	return strings.TrimSpace(cut(s, maxReason-len("…"))) + "…"
}

// cut returns the longest prefix of s of at most n bytes that ends between
// two characters.
func cut(s string, n int) string {
	i := 0
	for i < len(s) {
		_, size := utf8.DecodeRuneInString(s[i:])
		if i+size > n {
			break
		}
		i += size
	}
	return s[:i]
}
