// Package queue is InstaChat's Redis job queue: the job envelope, the key
// layout, reliable consumption (BLMOVE into a per-consumer processing list
// guarded by a heartbeat), retries with backoff and a dead-letter list.
//
// Two types split the work as asynq does: Queue is the side that runs jobs
// (push, fetch through a Consumer, acknowledge, retry, park, bury, and the
// writers' maintenance: promoting due retries and parked jobs, requeueing
// orphans); Inspector is the operator's side (list every state, replay and
// discard dead jobs, sizes, counters and history).
package queue

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/redis/go-redis/v9"
)

// Config tunes delivery.
type Config struct {
	// MaxAttempts is how many deliveries a job gets before it goes to the dead list.
	MaxAttempts int
	// HeartbeatTTL is how long a consumer may stay silent before its jobs are requeued.
	HeartbeatTTL time.Duration
	// DeadCap bounds each partition's dead list; the oldest jobs beyond it are
	// trimmed and counted in the stats (never silently).
	DeadCap int64
}

// DefaultConfig is what the services use unless configured otherwise.
func DefaultConfig() Config {
	return Config{MaxAttempts: 25, HeartbeatTTL: 30 * time.Second, DeadCap: 10000}
}

// Queue runs jobs: it gives producers and consumers access to every
// partition's lists.
type Queue struct {
	rdb  redis.UniversalClient
	keys Keys
	cfg  Config
}

// New returns a Queue over a Redis client.
func New(rdb redis.UniversalClient, keys Keys, cfg Config) *Queue {
	if cfg.MaxAttempts < 1 {
		cfg.MaxAttempts = 1
	}
	if cfg.HeartbeatTTL <= 0 {
		cfg.HeartbeatTTL = DefaultConfig().HeartbeatTTL
	}
	if cfg.DeadCap <= 0 {
		cfg.DeadCap = DefaultConfig().DeadCap
	}
	return &Queue{rdb: rdb, keys: keys, cfg: cfg}
}

// Keys returns the key layout.
func (q *Queue) Keys() Keys { return q.keys }

// Config returns the delivery settings.
func (q *Queue) Config() Config { return q.cfg }

// Backoff is the wait before attempt n+1 after n failures: n⁴ + 15 s + jitter
// of up to 10·(n+1) s, the schedule Sidekiq and asynq users know. A negative
// n counts as 0.
func Backoff(n int) time.Duration {
	if n < 0 {
		n = 0
	}
	base := math.Pow(float64(n), 4) + 15
	jitter := rand.Float64() * 10 * float64(n+1)
	return time.Duration((base + jitter) * float64(time.Second))
}

// Push enqueues a job without assigning a number (updates, replays).
func (q *Queue) Push(ctx context.Context, e Envelope) error {
	raw, err := e.Encode()
	if err != nil {
		return err
	}
	if err := q.rdb.LPush(ctx, q.keys.Pending(q.keys.Partition(e.App)), raw).Err(); err != nil {
		return fmt.Errorf("push job %s: %w", e.ID, err)
	}
	return nil
}

// Retry schedules a failed job for another attempt, or moves it to the dead
// list when it has used its attempts. It reports whether the job died.
func (q *Queue) Retry(ctx context.Context, e Envelope, cause error, now time.Time) (dead bool, err error) {
	return q.RetryAfter(ctx, e, cause, now, Backoff)
}

// RetryAfter is Retry on the caller's schedule: wait(n) is the wait before
// the next attempt after n failures (Retry uses Backoff). The webhook
// deliveries use it for their own, shorter, schedule.
func (q *Queue) RetryAfter(ctx context.Context, e Envelope, cause error, now time.Time, wait func(n int) time.Duration) (dead bool, err error) {
	e.Attempt++
	e.Error = errorText(cause)
	raw, err := e.Encode()
	if err != nil {
		return false, err
	}
	p := q.keys.Partition(e.App)
	if e.Attempt >= q.cfg.MaxAttempts {
		return true, q.bury(ctx, p, raw)
	}
	due := now.Add(wait(e.Attempt)).UnixMilli()
	if err := q.rdb.ZAdd(ctx, q.keys.Retry(p), redis.Z{Score: float64(due), Member: raw}).Err(); err != nil {
		return false, fmt.Errorf("schedule retry of %s: %w", e.ID, err)
	}
	return false, nil
}

// Postpone puts a job back on the retry set until due without counting an
// attempt: it could not be tried for a reason that is not its own (a
// dependency was unavailable), so it must not die of it.
func (q *Queue) Postpone(ctx context.Context, e Envelope, cause error, due time.Time) error {
	e.Error = errorText(cause)
	raw, err := e.Encode()
	if err != nil {
		return err
	}
	p := q.keys.Partition(e.App)
	if err := q.rdb.ZAdd(ctx, q.keys.Retry(p), redis.Z{Score: float64(due.UnixMilli()), Member: raw}).Err(); err != nil {
		return fmt.Errorf("postpone %s: %w", e.ID, err)
	}
	return nil
}

// BuryConflict keeps a create whose number another event's row holds on the
// dead list, marked DeadNumberConflict, once: a redelivery of the same job
// (the writer died before acknowledging it) does not add a second copy.
func (q *Queue) BuryConflict(ctx context.Context, e Envelope, cause error) error {
	e.Error, e.Dead = errorText(cause), DeadNumberConflict
	raw, err := e.Encode()
	if err != nil {
		return err
	}
	p := q.keys.Partition(e.App)
	keys := []string{q.keys.Dead(p), q.keys.Stats(p)}
	if err := buryOnceScript.Run(ctx, q.rdb, keys, raw, q.cfg.DeadCap).Err(); err != nil {
		return fmt.Errorf("keep number conflict %s on the dead list: %w", e.ID, err)
	}
	return nil
}

// Bury moves a job straight to the dead list (a job that can never succeed).
func (q *Queue) Bury(ctx context.Context, e Envelope, cause error) error {
	e.Attempt++
	e.Error = errorText(cause)
	raw, err := e.Encode()
	if err != nil {
		return err
	}
	return q.bury(ctx, q.keys.Partition(e.App), raw)
}

// BuryRaw moves a job that does not even decode to partition p's dead list
// exactly as it was queued, so it can be inspected.
func (q *Queue) BuryRaw(ctx context.Context, p int, raw string) error {
	return q.bury(ctx, p, raw)
}

// errorText keeps a nil cause from panicking: a job must reach retry or dead
// even when the caller lost its error.
func errorText(cause error) string {
	if cause == nil {
		return "unknown error"
	}
	return cause.Error()
}

var buryScript = redis.NewScript(buryLua)

const buryLua = `
redis.call('LPUSH', KEYS[1], ARGV[1])
local n = redis.call('LLEN', KEYS[1])
local cap = tonumber(ARGV[2])
if n > cap then
  redis.call('LTRIM', KEYS[1], 0, cap - 1)
  redis.call('HINCRBY', KEYS[2], 'dead_trimmed', n - cap)
end
redis.call('HINCRBY', KEYS[2], 'dead', 1)
return n`

var buryOnceScript = redis.NewScript(`
if redis.call('LPOS', KEYS[1], ARGV[1]) then return 0 end
` + buryLua)

func (q *Queue) bury(ctx context.Context, p int, raw string) error {
	keys := []string{q.keys.Dead(p), q.keys.Stats(p)}
	if err := buryScript.Run(ctx, q.rdb, keys, raw, q.cfg.DeadCap).Err(); err != nil {
		return fmt.Errorf("move job to dead list: %w", err)
	}
	return nil
}

var promoteScript = redis.NewScript(`
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, raw in ipairs(due) do
  redis.call('ZREM', KEYS[1], raw)
  redis.call('RPUSH', KEYS[2], raw)
end
return #due`)

// PromoteDue moves retries whose time has come back to the front of their
// pending lists. It returns how many moved.
func (q *Queue) PromoteDue(ctx context.Context, now time.Time) (int, error) {
	total := 0
	for p := 0; p < q.keys.Partitions(); p++ {
		for {
			n, err := promoteScript.Run(ctx, q.rdb, []string{q.keys.Retry(p), q.keys.Pending(p)}, now.UnixMilli(), 500).Int()
			if err != nil {
				return total, fmt.Errorf("promote retries of partition %d: %w", p, err)
			}
			total += n
			if n < 500 {
				break
			}
		}
	}
	return total, nil
}

// requeueScript gives a consumer's processing list back to the pending list,
// oldest job at the consuming end, and unregisters the consumer. Unless
// ARGV[2] is "1" (Leave) it does nothing while the heartbeat lives.
var requeueScript = redis.NewScript(`
if ARGV[2] ~= '1' and redis.call('EXISTS', KEYS[1]) == 1 then return -1 end
redis.call('DEL', KEYS[1])
local n = 0
while true do
  local v = redis.call('LMOVE', KEYS[2], KEYS[3], 'LEFT', 'RIGHT')
  if not v then break end
  n = n + 1
end
redis.call('SREM', KEYS[4], ARGV[1])
return n`)

// RequeueOrphans finds consumers whose heartbeat expired and moves their
// in-flight jobs back to the consuming end of the pending list, oldest first.
// It returns how many jobs moved.
func (q *Queue) RequeueOrphans(ctx context.Context) (int, error) {
	total := 0
	for p := 0; p < q.keys.Partitions(); p++ {
		names, err := q.rdb.SMembers(ctx, q.keys.Consumers(p)).Result()
		if err != nil {
			return total, fmt.Errorf("list consumers of partition %d: %w", p, err)
		}
		for _, name := range names {
			keys := []string{q.keys.Heartbeat(p, name), q.keys.Processing(p, name), q.keys.Pending(p), q.keys.Consumers(p)}
			n, err := requeueScript.Run(ctx, q.rdb, keys, name, "0").Int()
			if err != nil {
				return total, fmt.Errorf("requeue jobs of consumer %s: %w", name, err)
			}
			if n > 0 {
				total += n
			}
		}
	}
	return total, nil
}
