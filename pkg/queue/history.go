package queue

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// History keeps what the queue forgets once a job is acknowledged, for the
// dashboard: a short list of recently completed jobs per partition and
// per-minute counts of processed and failed jobs. Both are bounded (the list
// by RecentCap, the counters by ThroughputTTL), so they cost a fixed amount of
// memory however much traffic passes.

// RecentCap is how many completed jobs each partition remembers.
const RecentCap = 100

// ThroughputTTL is how long a minute's counters live: enough for the last
// hour's chart with room for clock skew between writers.
const ThroughputTTL = 2 * time.Hour

// Completed is one job a writer finished. It names the application by its
// digest only, like the envelope.
type Completed struct {
	ID      string `json:"id"`
	Type    string `json:"type"`
	App     string `json:"app,omitempty"`
	Chat    int64  `json:"chat"`
	Message int64  `json:"message,omitempty"`
	// Outcome is what applying it did: applied, duplicate, stale, …
	Outcome string `json:"outcome"`
	// Accepted is when the api accepted the job, Unix microseconds (the
	// envelope's Time); zero when unknown.
	Accepted int64 `json:"accepted,omitempty"`
	// At is when the writer completed it, Unix microseconds. RecordCompleted
	// fills it in when it is zero.
	At int64 `json:"at"`
}

// CompletedFrom returns the history entry of an envelope with its outcome.
func CompletedFrom(e Envelope, outcome string) Completed {
	return Completed{ID: e.ID, Type: e.Type, App: e.App, Chat: e.Chat, Message: e.Message, Outcome: outcome, Accepted: e.Time}
}

// AcceptedAt returns when the api accepted the job (zero time when unknown).
func (c Completed) AcceptedAt() time.Time {
	if c.Accepted == 0 {
		return time.Time{}
	}
	return time.UnixMicro(c.Accepted).UTC()
}

// CompletedAt returns when the writer completed the job.
func (c Completed) CompletedAt() time.Time { return time.UnixMicro(c.At).UTC() }

// MinuteStat is the number of jobs processed and failed in one minute, over
// every partition.
type MinuteStat struct {
	// Minute is the start of the minute, UTC.
	Minute    time.Time
	Processed int64
	Failed    int64
}

// Recent is partition p's list of recently completed jobs, newest first.
func (k Keys) Recent(p int) string { return k.base(p) + "recent" }

// Throughput is partition p's hash of counters (processed, failed) for the
// minute that starts at minute.
func (k Keys) Throughput(p int, minute time.Time) string {
	return k.base(p) + "throughput:" + strconv.FormatInt(minute.Unix()/60, 10)
}

// RecordCompleted remembers the jobs a writer completed in partition p and
// counts them, with failed more jobs that went to retry or dead, in the
// current minute's counters. It costs one round trip (a MULTI), and nothing
// when there is nothing to record. Call it after the batch was acknowledged:
// it is for display and never decides anything.
func (q *Queue) RecordCompleted(ctx context.Context, p int, jobs []Completed, failed int, now time.Time) error {
	if len(jobs) == 0 && failed <= 0 {
		return nil
	}
	if p < 0 || p >= q.keys.Partitions() {
		return fmt.Errorf("record completed jobs of partition %d: %w", p, ErrPartition)
	}
	raws := make([]any, 0, len(jobs))
	for _, j := range jobs {
		if j.At == 0 {
			j.At = now.UnixMicro()
		}
		b, err := json.Marshal(j)
		if err != nil {
			return fmt.Errorf("encode completed job %s: %w", j.ID, err)
		}
		raws = append(raws, string(b))
	}
	minute := q.keys.Throughput(p, now.Truncate(time.Minute))
	pipe := q.rdb.TxPipeline()
	if len(raws) > 0 {
		pipe.LPush(ctx, q.keys.Recent(p), raws...)
		pipe.LTrim(ctx, q.keys.Recent(p), 0, RecentCap-1)
		pipe.HIncrBy(ctx, minute, "processed", int64(len(raws)))
	}
	if failed > 0 {
		pipe.HIncrBy(ctx, minute, "failed", int64(failed))
	}
	pipe.Expire(ctx, minute, ThroughputTTL)
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("record completed jobs of partition %d: %w", p, err)
	}
	return nil
}

// Recent returns up to limit recently completed jobs of every partition,
// newest first. Entries that do not decode are skipped.
func (in *Inspector) Recent(ctx context.Context, limit int) ([]Completed, error) {
	if limit <= 0 {
		return []Completed{}, nil
	}
	limit = min(limit, RecentCap*in.keys.Partitions())
	pipe := in.rdb.Pipeline()
	cmds := make([]*redis.StringSliceCmd, in.keys.Partitions())
	for p := range cmds {
		cmds[p] = pipe.LRange(ctx, in.keys.Recent(p), 0, int64(limit)-1)
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, redisErr("read recently completed jobs", err)
	}
	var out []Completed
	for _, c := range cmds {
		for _, raw := range c.Val() {
			var j Completed
			if json.Unmarshal([]byte(raw), &j) == nil && j.ID != "" {
				out = append(out, j)
			}
		}
	}
	// Each list is newest first already; a stable sort keeps that order
	// between jobs of one batch, which share a completion time.
	slices.SortStableFunc(out, func(a, b Completed) int { return cmp.Compare(b.At, a.At) })
	if len(out) > limit {
		out = out[:limit]
	}
	if out == nil {
		out = []Completed{}
	}
	return out, nil
}

// Throughput returns the processed and failed counts of the last minutes
// minutes, summed over partitions, oldest first; the last entry is the
// minute that holds now (still counting). Minutes nobody counted are zero.
func (in *Inspector) Throughput(ctx context.Context, now time.Time, minutes int) ([]MinuteStat, error) {
	if minutes <= 0 {
		return []MinuteStat{}, nil
	}
	first := now.UTC().Truncate(time.Minute).Add(-time.Duration(minutes-1) * time.Minute)
	out := make([]MinuteStat, minutes)
	pipe := in.rdb.Pipeline()
	cmds := make([][]*redis.SliceCmd, minutes)
	for i := range out {
		out[i].Minute = first.Add(time.Duration(i) * time.Minute)
		cmds[i] = make([]*redis.SliceCmd, in.keys.Partitions())
		for p := range cmds[i] {
			cmds[i][p] = pipe.HMGet(ctx, in.keys.Throughput(p, out[i].Minute), "processed", "failed")
		}
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, redisErr("read throughput", err)
	}
	for i := range out {
		for _, c := range cmds[i] {
			vals := c.Val()
			if len(vals) != 2 {
				continue
			}
			out[i].Processed += counterValue(vals[0])
			out[i].Failed += counterValue(vals[1])
		}
	}
	return out, nil
}

// counterValue reads an HMGET answer: a decimal string, or nil for a missing field.
func counterValue(v any) int64 {
	s, ok := v.(string)
	if !ok {
		return 0
	}
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}
