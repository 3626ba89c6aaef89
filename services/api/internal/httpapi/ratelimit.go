package httpapi

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"

	"github.com/instachat/instachat/pkg/chat"
)

// RateLimit configures the request limits. Their budgets live in Redis
// (redis_rate: GCRA in one Lua script per key), so every api replica on the
// same Redis and key prefix draws on the same ones.
type RateLimit struct {
	// Redis holds the budgets; nil turns rate limiting off.
	Redis redis.UniversalClient
	// KeyPrefix is REDIS_KEY_PREFIX; the keys are <prefix>ratelimit:<limit>:<key>.
	KeyPrefix string
	// Applications limits POST /api/v1/applications per client address.
	Applications Limit
	// Writes limits every POST, PUT, PATCH and DELETE under
	// /api/v1/applications/:token per application.
	Writes Limit
	// Timeout bounds the Redis call of one check (DefaultRateLimitTimeout
	// when zero); past it, or on any Redis error, the request proceeds.
	Timeout time.Duration
	// AppWrites, when set, returns an application's own write limit (its
	// settings' write_rate_limit, in RATE_LIMIT_WRITES syntax), "" for Writes.
	AppWrites func(ctx context.Context, token string) string
}

// DefaultRateLimitTimeout is how long a request waits for its limit check.
// Redis answers in well under a millisecond; a Redis slower than this is
// failing, and the request's own Redis work will say so.
const DefaultRateLimitTimeout = 100 * time.Millisecond

// The limits' names, in metrics, logs and 429 bodies.
const (
	limitApplicationCreate = "application_create"
	limitApplicationWrites = "application_writes"
)

// warnEvery spaces the warnings of a failing limiter: an outage would
// otherwise log one per request.
const warnEvery = 10 * time.Second

// limiter checks requests against their budgets in Redis.
type limiter struct {
	gcra     *redis_rate.Limiter
	cfg      RateLimit
	metrics  *httpMetrics // nil without Config.Metrics
	log      *slog.Logger
	lastWarn atomic.Int64 // unix nanoseconds of the last warning
}

// newLimiter returns nil, which limits nothing, when cfg.Redis is nil.
func newLimiter(cfg RateLimit, metrics *httpMetrics, log *slog.Logger) *limiter {
	if cfg.Redis == nil {
		return nil
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultRateLimitTimeout
	}
	keys := prefixedKeys{rdb: cfg.Redis, prefix: cfg.KeyPrefix + "ratelimit:"}
	return &limiter{gcra: redis_rate.NewLimiter(keys), cfg: cfg, metrics: metrics, log: log}
}

// perClient limits application creates per client address (gin's ClientIP,
// which believes X-Forwarded-For only from TRUSTED_PROXIES).
func (l *limiter) perClient() gin.HandlerFunc {
	if l == nil {
		return func(c *gin.Context) { c.Next() }
	}
	return func(c *gin.Context) {
		l.check(c, limitApplicationCreate, l.cfg.Applications, clientKey(c.ClientIP()),
			"application creates per client address")
	}
}

// perApplication limits the writes under an application, keyed by its
// token's digest (never the token, which is a secret). Reads pass.
func (l *limiter) perApplication() gin.HandlerFunc {
	if l == nil {
		return func(c *gin.Context) { c.Next() }
	}
	return func(c *gin.Context) {
		switch c.Request.Method {
		case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
			l.check(c, limitApplicationWrites, l.appWrites(c), chat.TokenDigest(c.Param("token")),
				"writes per application")
		default:
			c.Next()
		}
	}
}

// appWrites is the write limit of the request's application: its own, or
// the server's. A value that no longer parses (saved values are checked) is
// the server's.
func (l *limiter) appWrites(c *gin.Context) Limit {
	if l.cfg.AppWrites == nil {
		return l.cfg.Writes
	}
	v := l.cfg.AppWrites(c.Request.Context(), c.Param("token"))
	if v == "" {
		return l.cfg.Writes
	}
	lim, err := ParseLimit(v)
	if err != nil {
		return l.cfg.Writes
	}
	return lim
}

// check spends one request of key's budget under the named limit. Allowed,
// the answer carries the RateLimit-* headers and the handler runs; refused,
// it is a 429 with Retry-After and the handler never runs. When Redis fails
// or is slow the request proceeds without headers (fail open): a Redis outage
// must not turn into refused requests. Writes under an application need Redis
// and answer 503 on their own; application creates need only MySQL and go
// unlimited until Redis is back.
func (l *limiter) check(c *gin.Context, name string, limit Limit, key, what string) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), l.cfg.Timeout)
	res, err := l.gcra.Allow(ctx, name+":"+key, limit.gcra())
	cancel()
	if err != nil {
		l.failedOpen(c, name, err)
		c.Next()
		return
	}
	h := c.Writer.Header()
	h.Set("RateLimit-Limit", strconv.Itoa(limit.Burst))
	h.Set("RateLimit-Remaining", strconv.Itoa(max(res.Remaining, 0)))
	h.Set("RateLimit-Reset", strconv.FormatInt(seconds(res.ResetAfter, 0), 10))
	h.Set("RateLimit-Policy", limit.policy())
	if res.Allowed > 0 {
		c.Next()
		return
	}
	retry := seconds(res.RetryAfter, 1)
	h.Set("Retry-After", strconv.FormatInt(retry, 10))
	if l.metrics != nil {
		l.metrics.rateLimited.WithLabelValues(name).Inc()
	}
	fail(c, http.StatusTooManyRequests, fmt.Sprintf("rate limit %s exceeded: %d %s per %v (bursts of %d); retry in %d s",
		name, limit.Rate, what, limit.Period, limit.Burst, retry))
}

// failedOpen counts a check that could not reach Redis and warns about it at
// most once every warnEvery.
func (l *limiter) failedOpen(c *gin.Context, name string, err error) {
	if l.metrics != nil {
		l.metrics.rateLimitErrors.WithLabelValues(name).Inc()
	}
	now, last := time.Now().UnixNano(), l.lastWarn.Load()
	if now-last < int64(warnEvery) || !l.lastWarn.CompareAndSwap(last, now) {
		return
	}
	l.log.WarnContext(c, "rate limit check failed; requests pass unlimited until Redis answers",
		"limit", name, "err", err, "next_warning_in", warnEvery.String())
}

// seconds rounds d up to whole seconds, at least least.
func seconds(d time.Duration, least int64) int64 {
	return max(int64(math.Ceil(d.Seconds())), least)
}

// prefixedKeys is the Redis client redis_rate runs its scripts on. The
// library names its keys "rate:<key>"; this moves them under
// REDIS_KEY_PREFIX, where every InstaChat key lives (a Redis shared by several
// deployments or tests keeps them apart). Each script touches one key, so it
// runs on Redis Cluster too.
type prefixedKeys struct {
	rdb    redis.UniversalClient
	prefix string // <REDIS_KEY_PREFIX>ratelimit:
}

// libraryPrefix is what redis_rate puts before every key.
const libraryPrefix = "rate:"

func (p prefixedKeys) keys(keys []string) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = p.prefix + strings.TrimPrefix(k, libraryPrefix)
	}
	return out
}

func (p prefixedKeys) Eval(ctx context.Context, script string, keys []string, args ...any) *redis.Cmd {
	return p.rdb.Eval(ctx, script, p.keys(keys), args...)
}

func (p prefixedKeys) EvalSha(ctx context.Context, sha1 string, keys []string, args ...any) *redis.Cmd {
	return p.rdb.EvalSha(ctx, sha1, p.keys(keys), args...)
}

func (p prefixedKeys) EvalRO(ctx context.Context, script string, keys []string, args ...any) *redis.Cmd {
	return p.rdb.EvalRO(ctx, script, p.keys(keys), args...)
}

func (p prefixedKeys) EvalShaRO(ctx context.Context, sha1 string, keys []string, args ...any) *redis.Cmd {
	return p.rdb.EvalShaRO(ctx, sha1, p.keys(keys), args...)
}

func (p prefixedKeys) ScriptExists(ctx context.Context, hashes ...string) *redis.BoolSliceCmd {
	return p.rdb.ScriptExists(ctx, hashes...)
}

func (p prefixedKeys) ScriptLoad(ctx context.Context, script string) *redis.StringCmd {
	return p.rdb.ScriptLoad(ctx, script)
}

func (p prefixedKeys) Del(ctx context.Context, keys ...string) *redis.IntCmd {
	return p.rdb.Del(ctx, p.keys(keys)...)
}
