package queue

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/instachat/instachat/pkg/chat"
)

// Inspector is the operator's side of the queue, as asynq splits its client
// and server from its Inspector: it lists the jobs of every state, replays and
// discards dead jobs, and reads the sizes, lifetime counters and recent
// history that the dashboard, the admin endpoints, `cron dead` and the
// metrics show. It never takes a job for processing; Queue does that.
//
// Its errors are the domain's (package chat): a partition, state or id that
// does not exist wraps chat.ErrInvalid or chat.ErrNotFound, a job that cannot
// be replayed chat.ErrConflict, and a Redis failure chat.ErrUnavailable, so
// the api answers them through its one error mapping. Each also matches this
// package's finer sentinel (ErrPartition, ErrState, ErrNoDeadJob,
// ErrNotReplayable) for front ends that tell them apart.
type Inspector struct {
	rdb      redis.UniversalClient
	keys     Keys
	renumber Renumberer
}

// NewInspector returns an Inspector over a Redis client.
func NewInspector(rdb redis.UniversalClient, keys Keys) *Inspector {
	return &Inspector{rdb: rdb, keys: keys}
}

// Keys returns the key layout.
func (in *Inspector) Keys() Keys { return in.keys }

// Renumberer gives a dead create whose number was taken
// (DeadNumberConflict) a new number and queues it, in the same atomic step
// that takes it off partition p's dead list, where it is stored as stored.
// It reports false when the job was no longer there. Package counter
// implements it: numbers come only from the counters.
type Renumberer interface {
	Renumber(ctx context.Context, p int, stored string, e Envelope) (bool, error)
}

// WithRenumberer makes replays of number conflicts renumber them through r;
// without one such replays fail with ErrRenumber. It returns in.
func (in *Inspector) WithRenumberer(r Renumberer) *Inspector {
	in.renumber = r
	return in
}

// ErrRenumber is returned when a number conflict is replayed by a process
// that cannot hand out numbers.
var ErrRenumber = errors.New("a number conflict is replayed under a new number, which this process cannot hand out; replay it from the api's admin endpoints or the cron dead command")

// ErrPartition is matched by the error for a partition outside
// 0..Partitions()-1 (or -1 where "every partition" is allowed).
var ErrPartition = errors.New("no such queue partition")

// ParsePartition reads a partition as an operator writes it: empty means
// every partition (-1), otherwise an integer from -1 to Partitions()-1. Every
// front end (admin endpoints, dashboard, cron dead) reads it here.
func (in *Inspector) ParsePartition(raw string) (int, error) {
	if raw == "" {
		return -1, nil
	}
	p, err := strconv.Atoi(raw)
	if err != nil {
		return 0, in.keys.partitionErr()
	}
	if _, err := in.keys.partitionsOf(p); err != nil {
		return 0, err
	}
	return p, nil
}

// partitionsOf returns the partitions that partition names: one, or all
// for -1.
func (k Keys) partitionsOf(partition int) ([]int, error) {
	n := k.Partitions()
	if partition == -1 {
		all := make([]int, n)
		for i := range all {
			all[i] = i
		}
		return all, nil
	}
	if partition < 0 || partition >= n {
		return nil, k.partitionErr()
	}
	return []int{partition}, nil
}

func (k Keys) partitionErr() error {
	return chat.Newf(chat.ErrInvalid, ErrPartition, "partition must be an integer from 0 to %d (or -1 for all)", k.Partitions()-1)
}

// redisErr reports a failed Redis call as the dependency being unavailable.
func redisErr(what string, err error) error {
	return fmt.Errorf("%s: %w: %w", what, chat.Unavailable("Redis"), err)
}

// Depth is the size of each state of one partition.
type Depth struct {
	Partition  int
	Pending    int64
	Processing int64
	Retry      int64
	Parked     int64
	Dead       int64
}

// Depths reads every partition's queue sizes.
func (in *Inspector) Depths(ctx context.Context) ([]Depth, error) {
	out := make([]Depth, 0, in.keys.Partitions())
	for p := 0; p < in.keys.Partitions(); p++ {
		d := Depth{Partition: p}
		names, err := in.rdb.SMembers(ctx, in.keys.Consumers(p)).Result()
		if err != nil {
			return nil, redisErr(fmt.Sprintf("list consumers of partition %d", p), err)
		}
		pipe := in.rdb.Pipeline()
		pending := pipe.LLen(ctx, in.keys.Pending(p))
		retry := pipe.ZCard(ctx, in.keys.Retry(p))
		dead := pipe.LLen(ctx, in.keys.Dead(p))
		procs := make([]*redis.IntCmd, len(names))
		for i, name := range names {
			procs[i] = pipe.LLen(ctx, in.keys.Processing(p, name))
		}
		if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			return nil, redisErr(fmt.Sprintf("read depths of partition %d", p), err)
		}
		d.Pending, d.Retry, d.Dead = pending.Val(), retry.Val(), dead.Val()
		if d.Parked, err = in.ParkedCount(ctx, p); err != nil {
			return nil, err
		}
		for _, c := range procs {
			d.Processing += c.Val()
		}
		out = append(out, d)
	}
	return out, nil
}

// ParkedCount counts the waiting events of partition p.
func (in *Inspector) ParkedCount(ctx context.Context, p int) (int64, error) {
	parents, err := in.rdb.ZRange(ctx, in.keys.ParkedDue(p), 0, -1).Result()
	if err != nil {
		return 0, redisErr(fmt.Sprintf("read parked parents of partition %d", p), err)
	}
	pipe := in.rdb.Pipeline()
	cmds := make([]*redis.IntCmd, len(parents))
	for i, parent := range parents {
		cmds[i] = pipe.LLen(ctx, in.keys.Parked(p, parent))
	}
	if len(cmds) > 0 {
		if _, err := pipe.Exec(ctx); err != nil {
			return 0, redisErr(fmt.Sprintf("count parked jobs of partition %d", p), err)
		}
	}
	var n int64
	for _, c := range cmds {
		n += c.Val()
	}
	return n, nil
}
