package queue

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Consumer takes jobs from one partition reliably: BLMOVE moves each job into
// the consumer's own processing list in the same step that takes it, and the
// list is cleared only after the batch is applied (Ack). While the consumer
// lives it refreshes a heartbeat key; when the heartbeat expires, any process
// running RequeueOrphans moves the list back (Sidekiq Pro's super_fetch shape).
type Consumer struct {
	q         *Queue
	partition int
	name      string
}

// NewConsumer returns a consumer of partition p. The name must be unique to
// this process and partition (host, pid and a random suffix).
func (q *Queue) NewConsumer(p int, name string) *Consumer {
	return &Consumer{q: q, partition: p, name: name}
}

// Name returns the consumer's name.
func (c *Consumer) Name() string { return c.name }

// Partition returns the partition this consumer reads.
func (c *Consumer) Partition() int { return c.partition }

// Beat registers the consumer and refreshes its heartbeat. Call it at start
// and then at least every third of the heartbeat TTL.
func (c *Consumer) Beat(ctx context.Context) error {
	k := c.q.keys
	pipe := c.q.rdb.TxPipeline()
	pipe.Set(ctx, k.Heartbeat(c.partition, c.name), time.Now().UnixMilli(), c.q.cfg.HeartbeatTTL)
	pipe.SAdd(ctx, k.Consumers(c.partition), c.name)
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("heartbeat %s: %w", c.name, err)
	}
	return nil
}

var moveMoreScript = redis.NewScript(`
local out = {}
for i = 1, tonumber(ARGV[1]) do
  local v = redis.call('LMOVE', KEYS[1], KEYS[2], 'RIGHT', 'LEFT')
  if not v then break end
  out[#out + 1] = v
end
return out`)

// Fetch returns the jobs in the consumer's processing list, oldest first.
// If the list is empty it blocks up to block for one job with BLMOVE, then
// moves up to max-1 more in one Lua round trip. A nil slice means nothing
// arrived. Jobs left over from an earlier Fetch that was not acknowledged are
// returned again first.
func (c *Consumer) Fetch(ctx context.Context, max int, block time.Duration) ([]string, error) {
	k := c.q.keys
	proc := k.Processing(c.partition, c.name)
	left, err := c.q.rdb.LRange(ctx, proc, 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("read processing list: %w", err)
	}
	if len(left) > 0 {
		return reverse(left), nil
	}
	first, err := c.q.rdb.BLMove(ctx, k.Pending(c.partition), proc, "RIGHT", "LEFT", block).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("take job: %w", err)
	}
	jobs := []string{first}
	if max > 1 {
		more, err := moveMoreScript.Run(ctx, c.q.rdb, []string{k.Pending(c.partition), proc}, max-1).StringSlice()
		if err != nil && !errors.Is(err, redis.Nil) {
			// The first job is safe in the processing list; the next Fetch returns it.
			return jobs, nil
		}
		jobs = append(jobs, more...)
	}
	return jobs, nil
}

// Ack clears the processing list after its jobs were applied (or handed to
// retry or dead) and counts them.
func (c *Consumer) Ack(ctx context.Context, processed, failed int) error {
	k := c.q.keys
	pipe := c.q.rdb.TxPipeline()
	pipe.Del(ctx, k.Processing(c.partition, c.name))
	if processed > 0 {
		pipe.HIncrBy(ctx, k.Stats(c.partition), "processed", int64(processed))
	}
	if failed > 0 {
		pipe.HIncrBy(ctx, k.Stats(c.partition), "failed", int64(failed))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("ack batch of %s: %w", c.name, err)
	}
	return nil
}

// Leave gives the consumer's unfinished jobs back to the pending list and
// removes its heartbeat, for a graceful shutdown.
func (c *Consumer) Leave(ctx context.Context) error {
	k := c.q.keys
	if err := c.q.rdb.Del(ctx, k.Heartbeat(c.partition, c.name)).Err(); err != nil {
		return fmt.Errorf("leave %s: %w", c.name, err)
	}
	keys := []string{k.Heartbeat(c.partition, c.name), k.Processing(c.partition, c.name), k.Pending(c.partition), k.Consumers(c.partition)}
	if err := requeueScript.Run(ctx, c.q.rdb, keys, c.name).Err(); err != nil {
		return fmt.Errorf("leave %s: %w", c.name, err)
	}
	return nil
}

func reverse(s []string) []string {
	for i, j := 0, len(s)-1; i < j; i, j = i+1, j-1 {
		s[i], s[j] = s[j], s[i]
	}
	return s
}
