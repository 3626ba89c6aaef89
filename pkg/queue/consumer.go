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

// takeScript registers the consumer and moves up to ARGV[1] jobs from the
// consuming end of the pending list into its processing list, in one step.
// Registering here, and not only in Beat, means a processing list that holds
// jobs always belongs to a consumer RequeueOrphans looks at, even if a reaper
// unregistered this consumer while it was blocked in BLMOVE.
var takeScript = redis.NewScript(`
redis.call('SADD', KEYS[3], ARGV[2])
local out = {}
for i = 1, tonumber(ARGV[1]) do
  local v = redis.call('LMOVE', KEYS[1], KEYS[2], 'RIGHT', 'LEFT')
  if not v then break end
  out[#out + 1] = v
end
return out`)

// Fetch returns the jobs in the consumer's processing list, oldest first.
// Jobs left over from an earlier Fetch that was not acknowledged are returned
// again, alone. Otherwise it blocks up to block for one job with BLMOVE, then
// moves up to max-1 more in one Lua round trip. Redis blocks in whole
// seconds, so block is rounded down to them, and up to one second when it is
// shorter; a block of zero or less does not wait. A nil slice means nothing
// arrived.
//
// On an error the jobs already taken stay in the processing list, and the
// next Fetch returns them. Whatever Fetch returned is exactly what Ack clears.
func (c *Consumer) Fetch(ctx context.Context, max int, block time.Duration) ([]string, error) {
	if max < 1 {
		max = 1
	}
	k := c.q.keys
	pending, proc, consumers := k.Pending(c.partition), k.Processing(c.partition, c.name), k.Consumers(c.partition)
	// Registering and refreshing the heartbeat before blocking means the
	// reaper cannot count this consumer dead while BLMOVE may still move a job
	// into its list (the block is far shorter than the heartbeat TTL).
	pipe := c.q.rdb.Pipeline()
	pipe.SAdd(ctx, consumers, c.name)
	pipe.Set(ctx, k.Heartbeat(c.partition, c.name), time.Now().UnixMilli(), c.q.cfg.HeartbeatTTL)
	leftCmd := pipe.LRange(ctx, proc, 0, -1)
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("read processing list of %s: %w", c.name, err)
	}
	if left := leftCmd.Val(); len(left) > 0 {
		return reverse(left), nil
	}
	return c.blockingTake(ctx, pending, proc, max, block)
}

// blockingTake is the end of Fetch and Take: up to block for one job with
// BLMOVE, then up to max-1 more in one Lua round trip.
func (c *Consumer) blockingTake(ctx context.Context, pending, proc string, max int, block time.Duration) ([]string, error) {
	if block <= 0 {
		return c.take(ctx, nil, max)
	}
	block = block.Truncate(time.Second)
	if block < time.Second {
		block = time.Second
	}
	first, err := c.q.rdb.BLMove(ctx, pending, proc, "RIGHT", "LEFT", block).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("take job for %s: %w", c.name, err)
	}
	return c.take(ctx, []string{first}, max-1)
}

// Take is Fetch for a consumer that settles its jobs one by one (AckJob)
// while others are still in flight, as the webhook deliveries do: it moves
// up to max new jobs into the processing list, blocking up to block as
// Fetch does, and never returns the jobs the list already holds (they are
// the caller's, in flight). A job whose settling failed stays in the list
// until Leave, or RequeueOrphans after the consumer died, gives it back.
func (c *Consumer) Take(ctx context.Context, max int, block time.Duration) ([]string, error) {
	if max < 1 {
		max = 1
	}
	k := c.q.keys
	pending, proc := k.Pending(c.partition), k.Processing(c.partition, c.name)
	// As in Fetch: registered and alive before BLMOVE may move a job.
	pipe := c.q.rdb.Pipeline()
	pipe.SAdd(ctx, k.Consumers(c.partition), c.name)
	pipe.Set(ctx, k.Heartbeat(c.partition, c.name), time.Now().UnixMilli(), c.q.cfg.HeartbeatTTL)
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("heartbeat %s: %w", c.name, err)
	}
	return c.blockingTake(ctx, pending, proc, max, block)
}

// AckJob removes one job that Take returned from the processing list, after
// it was done or handed to retry or dead (failed), and counts it.
func (c *Consumer) AckJob(ctx context.Context, raw string, failed bool) error {
	k := c.q.keys
	field := "processed"
	if failed {
		field = "failed"
	}
	pipe := c.q.rdb.TxPipeline()
	pipe.LRem(ctx, k.Processing(c.partition, c.name), 1, raw)
	pipe.HIncrBy(ctx, k.Stats(c.partition), field, 1)
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("ack job of %s: %w", c.name, err)
	}
	return nil
}

// FetchMore moves up to n more jobs into the processing list after Fetch,
// without blocking, and returns them oldest first; Ack then clears what Fetch
// and FetchMore returned together. A writer uses it to let a small batch fill
// up for a moment. On an error the jobs already moved stay in the processing
// list, and the next Fetch returns the whole list.
func (c *Consumer) FetchMore(ctx context.Context, n int) ([]string, error) {
	if n < 1 {
		return nil, nil
	}
	return c.take(ctx, nil, n)
}

// take runs takeScript for up to n more jobs and appends them to jobs.
func (c *Consumer) take(ctx context.Context, jobs []string, n int) ([]string, error) {
	k := c.q.keys
	keys := []string{k.Pending(c.partition), k.Processing(c.partition, c.name), k.Consumers(c.partition)}
	more, err := takeScript.Run(ctx, c.q.rdb, keys, n, c.name).StringSlice()
	if err != nil && !errors.Is(err, redis.Nil) {
		// Returning the jobs taken so far would be unsafe: the script may have
		// moved more before its reply was lost, and Ack would then delete jobs
		// that nobody applied. The next Fetch returns the whole list.
		return nil, fmt.Errorf("take jobs for %s: %w", c.name, err)
	}
	jobs = append(jobs, more...)
	if len(jobs) == 0 {
		return nil, nil
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

// Leave gives the consumer's unfinished jobs back to the pending list, oldest
// at the consuming end, removes its heartbeat and unregisters it, in one step,
// for a graceful shutdown. Stop calling Beat and Fetch first.
func (c *Consumer) Leave(ctx context.Context) error {
	k := c.q.keys
	keys := []string{k.Heartbeat(c.partition, c.name), k.Processing(c.partition, c.name), k.Pending(c.partition), k.Consumers(c.partition)}
	if err := requeueScript.Run(ctx, c.q.rdb, keys, c.name, "1").Err(); err != nil {
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
