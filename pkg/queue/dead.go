package queue

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/instachat/instachat/pkg/chat"
)

// ErrNotReplayable is matched by the error for a dead job that does not
// decode: there is no envelope to give back to a writer. Inspect it and
// discard it. The error also matches chat.ErrConflict.
var ErrNotReplayable = errors.New("the dead job does not decode as a job envelope, so it cannot be replayed")

// ErrNoDeadJob is matched by the error for an id that no dead job has
// (including one a concurrent replay or discard took first). The error also
// matches chat.ErrNotFound.
var ErrNoDeadJob = errors.New("no such dead job")

func noDeadJob() error {
	return chat.Newf(chat.ErrNotFound, ErrNoDeadJob, "no dead job has this id")
}

// deadChunk is how many dead jobs one LRANGE reads while scanning.
const deadChunk = 500

// DeadJob is one job in a dead list.
type DeadJob struct {
	// Partition is the partition whose dead list holds the job.
	Partition int
	// Raw is the job exactly as it is stored.
	Raw string
	// Envelope is the decoded job; zero when Decoded is false.
	Envelope Envelope
	// Decoded reports whether Raw is a valid envelope.
	Decoded bool
	// ID names the job for ReplayDead and DiscardDead: its Envelope.Ref (the
	// event id; on the hooks lane the event id and the endpoint, since one
	// event has a delivery per endpoint), or for a job that does not decode
	// "raw-" and a digest of its content.
	ID string
}

// newDeadJob decodes a stored dead job.
func newDeadJob(p int, raw string) DeadJob {
	j := DeadJob{Partition: p, Raw: raw}
	if e, err := Decode(raw); err == nil {
		j.Envelope, j.Decoded, j.ID = e, true, e.Ref()
		return j
	}
	sum := sha256.Sum256([]byte(raw))
	j.ID = "raw-" + hex.EncodeToString(sum[:8])
	return j
}

// Dead lists dead jobs of one partition, or of all for partition -1, newest
// first, skipping offset jobs and returning at most limit, with the total.
// A limit of 0 only counts them.
//
// Each partition's list is in burial order. Across partitions the lists are
// interleaved by rank: the newest job of every partition (in partition
// order), then the second newest of each, and so on. Jobs are spread over
// partitions by a hash, so the first page shows the latest failures of the
// whole queue without reading every list. The lists may change between
// pages; a listing is a view, not a snapshot.
func (in *Inspector) Dead(ctx context.Context, partition, offset, limit int) ([]DeadJob, int64, error) {
	parts, err := in.keys.partitionsOf(partition)
	if err != nil {
		return nil, 0, err
	}
	lens := make([]int64, len(parts))
	pipe := in.rdb.Pipeline()
	cmds := make([]*redis.IntCmd, len(parts))
	for i, p := range parts {
		cmds[i] = pipe.LLen(ctx, in.keys.Dead(p))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, 0, redisErr("count dead jobs", err)
	}
	var total int64
	for i, c := range cmds {
		lens[i] = c.Val()
		total += lens[i]
	}
	if offset < 0 {
		offset = 0
	}
	if limit <= 0 || int64(offset) >= total {
		return []DeadJob{}, total, nil
	}

	// The first rank row that holds position offset, and how many jobs of
	// that row come before it.
	rank := firstRank(lens, int64(offset))
	skip := int64(offset) - countBelow(lens, rank)
	// Every row below the longest list holds at least one job, so skip+limit
	// rows are enough.
	last := rank + skip + int64(limit) - 1
	pipe = in.rdb.Pipeline()
	rows := make([]*redis.StringSliceCmd, len(parts))
	for i, p := range parts {
		if lens[i] > rank {
			rows[i] = pipe.LRange(ctx, in.keys.Dead(p), rank, last)
		}
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, 0, redisErr("read dead jobs", err)
	}
	out := make([]DeadJob, 0, min(int64(limit), total-int64(offset)))
	for r := int64(0); r <= last-rank && len(out) < limit; r++ {
		for i, p := range parts {
			if rows[i] == nil || r >= int64(len(rows[i].Val())) {
				continue
			}
			if skip > 0 {
				skip--
				continue
			}
			out = append(out, newDeadJob(p, rows[i].Val()[r]))
			if len(out) == limit {
				break
			}
		}
	}
	return out, total, nil
}

// countBelow is how many jobs rank rows 0..rank-1 hold.
func countBelow(lens []int64, rank int64) int64 {
	var n int64
	for _, l := range lens {
		n += min(l, rank)
	}
	return n
}

// firstRank is the largest rank whose rows below it hold at most offset jobs:
// the row where position offset lies. offset must be below the total.
func firstRank(lens []int64, offset int64) int64 {
	lo, hi := int64(0), int64(0)
	for _, l := range lens {
		hi = max(hi, l)
	}
	for lo < hi {
		mid := lo + (hi-lo+1)/2
		if countBelow(lens, mid) <= offset {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return lo
}

// findDead scans the dead lists for the job named id, newest first, and
// returns it, or ErrNoDeadJob.
func (in *Inspector) findDead(ctx context.Context, id string) (DeadJob, error) {
	for p := 0; p < in.keys.Partitions(); p++ {
		for start := int64(0); ; start += deadChunk {
			raws, err := in.rdb.LRange(ctx, in.keys.Dead(p), start, start+deadChunk-1).Result()
			if err != nil {
				return DeadJob{}, redisErr(fmt.Sprintf("scan dead jobs of partition %d", p), err)
			}
			for _, raw := range raws {
				if j := newDeadJob(p, raw); j.ID == id {
					return j, nil
				}
			}
			if len(raws) < deadChunk {
				break
			}
		}
	}
	return DeadJob{}, noDeadJob()
}

// moveDeadScript removes each ARGV pair's first element (the job as stored)
// from the dead list and, only if it was still there, pushes the second (the
// job to replay; empty to discard) to the consuming end of the pending list
// and counts it in the stats field ARGV[1]. So two concurrent replays of the
// same job never queue it twice. It returns how many jobs it removed.
var moveDeadScript = redis.NewScript(`
local moved = 0
for i = 2, #ARGV, 2 do
  if redis.call('LREM', KEYS[1], 1, ARGV[i]) > 0 then
    if ARGV[i + 1] ~= '' then redis.call('RPUSH', KEYS[2], ARGV[i + 1]) end
    moved = moved + 1
  end
end
if moved > 0 then redis.call('HINCRBY', KEYS[3], ARGV[1], moved) end
return moved`)

// moveDead runs moveDeadScript on partition p for pairs of (stored, replay).
func (in *Inspector) moveDead(ctx context.Context, p int, field string, pairs []string) (int, error) {
	keys := []string{in.keys.Dead(p), in.keys.Pending(p), in.keys.Stats(p)}
	n, err := moveDeadScript.Run(ctx, in.rdb, keys, append([]any{field}, toAny(pairs)...)...).Int()
	if err != nil {
		return 0, redisErr(fmt.Sprintf("move dead jobs of partition %d", p), err)
	}
	return n, nil
}

func toAny(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

// conflict reports whether j is a number conflict, which a replay renumbers.
func conflict(j DeadJob) bool { return j.Decoded && j.Envelope.Dead == DeadNumberConflict }

func (in *Inspector) renumberDead(ctx context.Context, j DeadJob) (bool, error) {
	if in.renumber == nil {
		return false, fmt.Errorf("replay dead job %s: %w", j.ID, ErrRenumber)
	}
	ok, err := in.renumber.Renumber(ctx, j.Partition, j.Raw, j.Envelope)
	if err != nil {
		return false, fmt.Errorf("replay number conflict %s under a new number: %w", j.ID, err)
	}
	return ok, nil
}

// replayable returns the job to queue again for a dead job: a fresh start,
// with its attempts reset and the last error cleared.
func replayable(j DeadJob) (string, error) {
	if !j.Decoded {
		return "", chat.Newf(chat.ErrConflict, ErrNotReplayable, "this dead job does not decode as a job, so it cannot be replayed; discard it")
	}
	e := j.Envelope
	e.Attempt, e.Error = 0, ""
	return e.Encode()
}

// ReplayDead moves the dead job named id back to the consuming end of its
// partition's pending list with its attempts reset, so the writer's next
// attempt starts afresh; a number conflict is renumbered instead. It fails
// with ErrNoDeadJob when no dead job has that id (including when a
// concurrent replay or discard took it first), and ErrNotReplayable for a job
// that does not decode. If several dead jobs share the id, the newest moves.
func (in *Inspector) ReplayDead(ctx context.Context, id string) error {
	j, err := in.findDead(ctx, id)
	if err != nil {
		return err
	}
	if conflict(j) {
		return in.moved(in.renumberDead(ctx, j))
	}
	raw, err := replayable(j)
	if err != nil {
		return err
	}
	n, err := in.moveDead(ctx, j.Partition, "replayed", []string{j.Raw, raw})
	return in.moved(n == 1, err)
}

// DiscardDead deletes the dead job named id; it fails with ErrNoDeadJob when
// no dead job has that id. Jobs that do not decode can be discarded too.
func (in *Inspector) DiscardDead(ctx context.Context, id string) error {
	j, err := in.findDead(ctx, id)
	if err != nil {
		return err
	}
	n, err := in.moveDead(ctx, j.Partition, "discarded", []string{j.Raw, ""})
	return in.moved(n == 1, err)
}

// moved turns the answer of a one-job move into its error: the job may have
// left the dead list between finding and moving it.
func (in *Inspector) moved(ok bool, err error) error {
	switch {
	case err != nil:
		return err
	case !ok:
		return noDeadJob()
	}
	return nil
}

// ReplayAllDead replays every dead job that decodes, of one partition or of
// all for -1, and returns how many it queued again. Jobs that do not decode
// stay in the dead list. Within a partition the oldest dead job is taken
// first. It looks at as many jobs as the list held when it started, so jobs
// that die again while it runs are not replayed twice.
func (in *Inspector) ReplayAllDead(ctx context.Context, partition int) (int, error) {
	parts, err := in.keys.partitionsOf(partition)
	if err != nil {
		return 0, err
	}
	total := 0
	for _, p := range parts {
		n, err := in.replayPartition(ctx, p)
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// replayPartition replays partition p's decodable dead jobs, a chunk per
// script run. It walks the list from the newest end: each job is pushed to
// the consuming end, so the oldest, pushed last, is taken first.
func (in *Inspector) replayPartition(ctx context.Context, p int) (int, error) {
	size, err := in.rdb.LLen(ctx, in.keys.Dead(p)).Result()
	if err != nil {
		return 0, redisErr(fmt.Sprintf("count dead jobs of partition %d", p), err)
	}
	moved := 0
	// start skips the jobs kept (those that do not decode); replayed ones
	// leave the list, so the next chunk begins where this one's kept end.
	var start, seen int64
	for seen < size {
		raws, err := in.rdb.LRange(ctx, in.keys.Dead(p), start, start+min(deadChunk, size-seen)-1).Result()
		if err != nil {
			return moved, redisErr(fmt.Sprintf("read dead jobs of partition %d", p), err)
		}
		if len(raws) == 0 {
			break
		}
		seen += int64(len(raws))
		pairs := make([]string, 0, 2*len(raws))
		for _, raw := range raws {
			j := newDeadJob(p, raw)
			if conflict(j) {
				ok, err := in.renumberDead(ctx, j)
				if err != nil && errors.Is(err, chat.ErrUnavailable) {
					return moved, err
				}
				if err != nil {
					start++ // it cannot take a new number (its chat is gone): it stays for an operator
					continue
				}
				if ok {
					moved++
				}
				continue
			}
			again, err := replayable(j)
			if err != nil {
				start++
				continue
			}
			pairs = append(pairs, raw, again)
		}
		if len(pairs) == 0 {
			continue
		}
		n, err := in.moveDead(ctx, p, "replayed", pairs)
		moved += n
		if err != nil {
			return moved, err
		}
	}
	return moved, nil
}

// discardAllScript empties a dead list and counts what it removed.
var discardAllScript = redis.NewScript(`
local n = redis.call('LLEN', KEYS[1])
if n > 0 then
  redis.call('DEL', KEYS[1])
  redis.call('HINCRBY', KEYS[2], 'discarded', n)
end
return n`)

// DiscardAllDead deletes every dead job of one partition, or of all for -1,
// whether it decodes or not, and returns how many it deleted.
func (in *Inspector) DiscardAllDead(ctx context.Context, partition int) (int, error) {
	parts, err := in.keys.partitionsOf(partition)
	if err != nil {
		return 0, err
	}
	total := 0
	for _, p := range parts {
		n, err := discardAllScript.Run(ctx, in.rdb, []string{in.keys.Dead(p), in.keys.Stats(p)}).Int()
		if err != nil {
			return total, redisErr(fmt.Sprintf("discard dead jobs of partition %d", p), err)
		}
		total += n
	}
	return total, nil
}
