// Package config parses the settings every InstaChat service shares from an
// environment lookup function that main passes in (main alone touches the
// process environment).
package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/instachat/instachat/pkg/counter"
	"github.com/instachat/instachat/pkg/queue"
	"github.com/instachat/instachat/pkg/store"
	"github.com/instachat/instachat/pkg/telemetry"
)

// Env reads settings from a getenv function, collecting the first error.
type Env struct {
	getenv func(string) string
	err    error
}

// NewEnv wraps a getenv function such as os.Getenv.
func NewEnv(getenv func(string) string) *Env { return &Env{getenv: getenv} }

// Err returns the first parse error.
func (e *Env) Err() error { return e.err }

// String returns the variable or def when unset.
func (e *Env) String(key, def string) string {
	if v := e.getenv(key); v != "" {
		return v
	}
	return def
}

// Int returns the variable as an int or def when unset.
func (e *Env) Int(key string, def int) int {
	v := e.getenv(key)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil && e.err == nil {
		e.err = fmt.Errorf("%s: %q is not an integer", key, v)
	}
	return n
}

// Duration returns the variable as a time.Duration ("30s") or def when unset.
func (e *Env) Duration(key string, def time.Duration) time.Duration {
	v := e.getenv(key)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil && e.err == nil {
		e.err = fmt.Errorf("%s: %q is not a duration", key, v)
	}
	return d
}

// List returns the comma-separated variable as a list, or def split the
// same way when unset. Empty items are dropped.
func (e *Env) List(key, def string) []string {
	v := e.getenv(key)
	if v == "" {
		v = def
	}
	var out []string
	for _, item := range strings.Split(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// Required returns the variable or records an error when it is unset.
func (e *Env) Required(key, why string) string {
	v := e.getenv(key)
	if v == "" && e.err == nil {
		e.err = fmt.Errorf("%s must be set: %s", key, why)
	}
	return v
}

// Common is what every service reads.
type Common struct {
	Store store.Config
	// Redis selects the topology (see RedisClient): one server, a primary
	// found through Sentinel, or a Cluster.
	Redis      redis.UniversalOptions
	Counter    counter.Config
	KeyPrefix  string
	Partitions int
	Queue      queue.Config
	Log        telemetry.LogConfig
	PprofAddr  string // where to serve /debug/pprof (empty: off)
}

// ReadCommon reads the shared settings; see README.md for each variable.
func ReadCommon(e *Env, service string) Common {
	q := queue.DefaultConfig()
	q.MaxAttempts = e.Int("QUEUE_MAX_ATTEMPTS", q.MaxAttempts)
	q.HeartbeatTTL = e.Duration("QUEUE_HEARTBEAT_TTL", q.HeartbeatTTL)
	q.DeadCap = int64(e.Int("QUEUE_DEAD_CAP", int(q.DeadCap)))
	c := Common{
		Store: store.Config{
			DSN:            e.String("MYSQL_DSN", "root:@tcp(127.0.0.1:3306)/instachat"),
			MaxOpenConns:   e.Int("MYSQL_MAX_CONNS", 20),
			CreateDatabase: e.String("MYSQL_CREATE_DATABASE", "true") == "true",
			IOTimeout:      e.Duration("MYSQL_IO_TIMEOUT", 30*time.Second),
		},
		Redis: redis.UniversalOptions{
			Addrs:            e.List("REDIS_ADDR", "127.0.0.1:6379"),
			MasterName:       e.String("REDIS_SENTINEL_MASTER", ""),
			SentinelPassword: e.String("REDIS_SENTINEL_PASSWORD", ""),
			IsClusterMode:    e.String("REDIS_CLUSTER", "false") == "true",
			Password:         e.String("REDIS_PASSWORD", ""),
			DB:               e.Int("REDIS_DB", 0),
			PoolSize:         e.Int("REDIS_POOL_SIZE", 64),
			// Every call has a deadline: a Redis that hangs (not refusing)
			// answers in DialTimeout/ReadTimeout, so a request gets its 503
			// within the api's budget instead of hanging. Blocking commands
			// (BLMOVE) get their block time on top.
			DialTimeout:           e.Duration("REDIS_DIAL_TIMEOUT", time.Second),
			ReadTimeout:           e.Duration("REDIS_TIMEOUT", time.Second),
			WriteTimeout:          e.Duration("REDIS_TIMEOUT", time.Second),
			ContextTimeoutEnabled: true,
			// No automatic resends: a command whose reply was lost may
			// already have run, and running a number-assigning script or a
			// BLMOVE twice hands out a number twice or strands a job. Our
			// callers retry what is safe to retry (the writer re-reads its
			// processing list; a client gets 503 and tries again).
			MaxRetries: -1,
		},
		Counter: counter.Config{
			WaitReplicas: e.Int("REDIS_WAIT_REPLICAS", 0),
			WaitTimeout:  e.Duration("REDIS_WAIT_TIMEOUT", 500*time.Millisecond),
			// How long a write made with an Idempotency-Key answers its
			// retries with the first answer.
			IdempotencyTTL: e.Duration("IDEMPOTENCY_TTL", counter.DefaultIdempotencyTTL),
			// How many live events each partition's stream keeps (about).
			EventsRetain: int64(e.Int("EVENTS_RETAIN_MAX", counter.DefaultEventsRetain)),
		},
		PprofAddr:  e.String("PPROF_ADDR", ""),
		KeyPrefix:  e.String("REDIS_KEY_PREFIX", "ic:"),
		Partitions: e.Int("QUEUE_PARTITIONS", 8),
		Queue:      q,
		Log: telemetry.LogConfig{
			Format:  e.String("LOG_FORMAT", "text"),
			Level:   e.String("LOG_LEVEL", "info"),
			Service: service,
		},
	}
	if ttl := c.Counter.IdempotencyTTL; (ttl < time.Minute || ttl > 30*24*time.Hour) && e.err == nil {
		e.err = fmt.Errorf("IDEMPOTENCY_TTL must be from 1m to 720h, got %s", ttl)
	}
	if r := c.Counter.EventsRetain; (r < 1000 || r > 10_000_000) && e.err == nil {
		e.err = fmt.Errorf("EVENTS_RETAIN_MAX must be from 1000 to 10000000, got %d", r)
	}
	if c.Partitions < 1 && e.err == nil {
		e.err = fmt.Errorf("QUEUE_PARTITIONS must be at least 1")
	}
	return c
}

// RedisClient returns a client for the configured topology: REDIS_SENTINEL_MASTER
// set means REDIS_ADDR lists Sentinels and the client follows the primary they
// name through failovers; REDIS_CLUSTER=true (or several addresses) means a
// Redis Cluster; otherwise one server.
func (c Common) RedisClient() redis.UniversalClient {
	opts := c.Redis
	return redis.NewUniversalClient(&opts)
}

// Keys returns the Redis key layout.
func (c Common) Keys() queue.Keys { return queue.NewKeys(c.KeyPrefix, c.Partitions) }
