package queue

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/instachat/instachat/pkg/chat"
	"github.com/redis/go-redis/v9"
)

// State names where a job is: the queue vocabulary of Sidekiq and asynq.
type State string

// The states a job can be in.
const (
	StatePending    State = "pending"
	StateProcessing State = "processing"
	StateRetry      State = "retry"
	StateParked     State = "parked"
	StateDead       State = "dead"
)

// States lists every state in the order a job passes through them.
var States = []State{StatePending, StateProcessing, StateRetry, StateParked, StateDead}

// ErrState is matched by the error for a state that is not one of States;
// the error also matches chat.ErrInvalid.
var ErrState = errors.New("no such queue state")

// Job is one job found in a state, for inspection.
type Job struct {
	// Partition is the partition that holds the job.
	Partition int
	// Envelope is the decoded job; zero when Decoded is false.
	Envelope Envelope
	// Decoded reports whether the stored job is a valid envelope.
	Decoded bool
	// ID is the job's Envelope.Ref (the event id, with the endpoint on the
	// hooks lane), or "raw-" and a digest for a job that does not decode.
	ID string
	// Consumer owns the processing list that holds a processing job.
	Consumer string
	// Alive reports whether that consumer's heartbeat key still exists; a
	// processing job whose consumer is not alive waits for RequeueOrphans.
	Alive bool
	// Due is when a retry job is tried again, or when a parked job's parent
	// is looked at again; zero for the other states.
	Due time.Time
	// Parent is what a parked job waits for (ParentChat or ParentMessage).
	Parent string
}

func newJob(p int, raw string) Job {
	d := newDeadJob(p, raw)
	return Job{Partition: p, Envelope: d.Envelope, Decoded: d.Decoded, ID: d.ID}
}

// Jobs returns a page of the jobs in state, of one partition or of all for
// partition -1, skipping offset and returning at most limit, with the total
// in that state. Pending and processing jobs come oldest first (by when the
// api accepted them), retries and parked jobs by due time, dead jobs newest
// first as Dead lists them. A listing reads at most offset+limit jobs per list, so deep
// pages cost more; it is a view, not a snapshot.
func (in *Inspector) Jobs(ctx context.Context, state State, partition, offset, limit int) ([]Job, int64, error) {
	parts, err := in.keys.partitionsOf(partition)
	if err != nil {
		return nil, 0, err
	}
	offset, limit = max(offset, 0), max(limit, 0)
	var jobs []Job
	var total int64
	switch state {
	case StateDead:
		dead, n, err := in.Dead(ctx, partition, offset, limit)
		if err != nil {
			return nil, 0, err
		}
		out := make([]Job, len(dead))
		for i, d := range dead {
			out[i] = Job{Partition: d.Partition, Envelope: d.Envelope, Decoded: d.Decoded, ID: d.ID}
		}
		return out, n, nil
	case StatePending:
		jobs, total, err = in.pendingJobs(ctx, parts, offset+limit)
	case StateProcessing:
		jobs, total, err = in.processingJobs(ctx, parts, offset+limit)
	case StateRetry:
		jobs, total, err = in.retryJobs(ctx, parts, offset+limit)
	case StateParked:
		jobs, total, err = in.parkedJobs(ctx, parts, offset+limit)
	default:
		return nil, 0, chat.Newf(chat.ErrInvalid, ErrState, "state must be one of pending, processing, retry, parked, dead")
	}
	if err != nil {
		return nil, 0, err
	}
	if offset >= len(jobs) {
		return []Job{}, total, nil
	}
	return jobs[offset:min(offset+limit, len(jobs))], total, nil
}

// byAge orders jobs oldest first by acceptance time, then by id.
func byAge(a, b Job) int {
	return cmp.Or(cmp.Compare(a.Envelope.Time, b.Envelope.Time), cmp.Compare(a.ID, b.ID))
}

// pendingJobs reads up to n jobs from the consuming end of each pending list.
func (in *Inspector) pendingJobs(ctx context.Context, parts []int, n int) ([]Job, int64, error) {
	pipe := in.rdb.Pipeline()
	lens := make([]*redis.IntCmd, len(parts))
	heads := make([]*redis.StringSliceCmd, len(parts))
	for i, p := range parts {
		lens[i] = pipe.LLen(ctx, in.keys.Pending(p))
		if n > 0 {
			heads[i] = pipe.LRange(ctx, in.keys.Pending(p), -int64(n), -1)
		}
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, 0, redisErr("read pending jobs", err)
	}
	var jobs []Job
	var total int64
	for i, p := range parts {
		total += lens[i].Val()
		if heads[i] == nil {
			continue
		}
		raws := heads[i].Val()
		for k := len(raws) - 1; k >= 0; k-- { // consuming end first
			jobs = append(jobs, newJob(p, raws[k]))
		}
	}
	slices.SortStableFunc(jobs, byAge)
	return jobs, total, nil
}

// processingJobs reads up to n jobs of every registered consumer's processing
// list, with whether the consumer's heartbeat lives.
func (in *Inspector) processingJobs(ctx context.Context, parts []int, n int) ([]Job, int64, error) {
	var jobs []Job
	var total int64
	for _, p := range parts {
		names, err := in.rdb.SMembers(ctx, in.keys.Consumers(p)).Result()
		if err != nil {
			return nil, 0, redisErr(fmt.Sprintf("list consumers of partition %d", p), err)
		}
		slices.Sort(names)
		pipe := in.rdb.Pipeline()
		lens := make([]*redis.IntCmd, len(names))
		alive := make([]*redis.IntCmd, len(names))
		lists := make([]*redis.StringSliceCmd, len(names))
		for i, name := range names {
			lens[i] = pipe.LLen(ctx, in.keys.Processing(p, name))
			alive[i] = pipe.Exists(ctx, in.keys.Heartbeat(p, name))
			if n > 0 {
				lists[i] = pipe.LRange(ctx, in.keys.Processing(p, name), -int64(n), -1)
			}
		}
		if len(names) > 0 {
			if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
				return nil, 0, redisErr(fmt.Sprintf("read processing jobs of partition %d", p), err)
			}
		}
		for i, name := range names {
			total += lens[i].Val()
			if lists[i] == nil {
				continue
			}
			raws := lists[i].Val()
			for k := len(raws) - 1; k >= 0; k-- {
				j := newJob(p, raws[k])
				j.Consumer, j.Alive = name, alive[i].Val() == 1
				jobs = append(jobs, j)
			}
		}
	}
	slices.SortStableFunc(jobs, byAge)
	return jobs, total, nil
}

// retryJobs reads up to n retries of each partition, soonest due first.
func (in *Inspector) retryJobs(ctx context.Context, parts []int, n int) ([]Job, int64, error) {
	pipe := in.rdb.Pipeline()
	cards := make([]*redis.IntCmd, len(parts))
	firsts := make([]*redis.ZSliceCmd, len(parts))
	for i, p := range parts {
		cards[i] = pipe.ZCard(ctx, in.keys.Retry(p))
		if n > 0 {
			firsts[i] = pipe.ZRangeWithScores(ctx, in.keys.Retry(p), 0, int64(n)-1)
		}
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, 0, redisErr("read retry jobs", err)
	}
	var jobs []Job
	var total int64
	for i, p := range parts {
		total += cards[i].Val()
		if firsts[i] == nil {
			continue
		}
		for _, z := range firsts[i].Val() {
			raw, _ := z.Member.(string)
			j := newJob(p, raw)
			j.Due = time.UnixMilli(int64(z.Score)).UTC()
			jobs = append(jobs, j)
		}
	}
	slices.SortStableFunc(jobs, func(a, b Job) int { return cmp.Or(a.Due.Compare(b.Due), byAge(a, b)) })
	return jobs, total, nil
}

// parkedJobs reads the waiting events of each partition's parents, soonest
// due parent first, until it has n per partition.
func (in *Inspector) parkedJobs(ctx context.Context, parts []int, n int) ([]Job, int64, error) {
	var jobs []Job
	var total int64
	for _, p := range parts {
		parents, err := in.rdb.ZRangeWithScores(ctx, in.keys.ParkedDue(p), 0, -1).Result()
		if err != nil {
			return nil, 0, redisErr(fmt.Sprintf("read parked parents of partition %d", p), err)
		}
		pipe := in.rdb.Pipeline()
		lens := make([]*redis.IntCmd, len(parents))
		for i, z := range parents {
			parent, _ := z.Member.(string)
			lens[i] = pipe.LLen(ctx, in.keys.Parked(p, parent))
		}
		if len(parents) > 0 {
			if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
				return nil, 0, redisErr(fmt.Sprintf("count parked jobs of partition %d", p), err)
			}
		}
		read := 0
		for i, z := range parents {
			total += lens[i].Val()
			if read >= n || lens[i].Val() == 0 {
				continue
			}
			parent, _ := z.Member.(string)
			raws, err := in.rdb.LRange(ctx, in.keys.Parked(p, parent), -int64(n-read), -1).Result()
			if err != nil {
				return nil, 0, redisErr(fmt.Sprintf("read parked jobs of %s", parent), err)
			}
			for k := len(raws) - 1; k >= 0; k-- {
				j := newJob(p, raws[k])
				j.Parent, j.Due = parent, time.UnixMilli(int64(z.Score)).UTC()
				jobs = append(jobs, j)
			}
			read += len(raws)
		}
	}
	slices.SortStableFunc(jobs, func(a, b Job) int { return cmp.Or(a.Due.Compare(b.Due), byAge(a, b)) })
	return jobs, total, nil
}

// Stats reads partition p's lifetime counters (processed, failed, dead,
// dead_trimmed, parked, replayed, discarded); a counter never incremented
// is absent.
func (in *Inspector) Stats(ctx context.Context, p int) (map[string]int64, error) {
	raw, err := in.rdb.HGetAll(ctx, in.keys.Stats(p)).Result()
	if err != nil {
		return nil, redisErr(fmt.Sprintf("read stats of partition %d", p), err)
	}
	out := make(map[string]int64, len(raw))
	for k, v := range raw {
		out[k] = counterValue(v)
	}
	return out, nil
}
