package events

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/instachat/instachat/pkg/queue"
)

// Reader reads the partitions' event streams.
type Reader struct {
	rdb  redis.UniversalClient
	keys queue.Keys
}

// NewReader returns a Reader over a Redis client.
func NewReader(rdb redis.UniversalClient, keys queue.Keys) *Reader {
	return &Reader{rdb: rdb, keys: keys}
}

// Read returns up to count events of partition p after position after,
// waiting up to block for the first one (0: do not wait). It returns no
// events, and no error, when none came in time.
func (r *Reader) Read(ctx context.Context, p int, after Position, count int64, block time.Duration) ([]Event, error) {
	args := &redis.XReadArgs{Streams: []string{r.keys.Events(p), after.String()}, Count: count, Block: block}
	if block <= 0 {
		args.Block = -1 // no BLOCK argument
	}
	streams, err := r.rdb.XRead(ctx, args).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read events of partition %d: %w", p, err)
	}
	var out []Event
	for _, s := range streams {
		evs, err := decode(s.Messages)
		out = append(out, evs...)
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

// BadEntryError is a stream entry that is not an event this version can
// read (corrupt, or written by a newer one). Read and Range return it with
// the events before it, so that a follower can step over it instead of
// stalling on it; nobody can be told which application it belonged to.
type BadEntryError struct {
	ID  Position
	Err error
}

func (e *BadEntryError) Error() string { return fmt.Sprintf("event %s: %v", e.ID, e.Err) }
func (e *BadEntryError) Unwrap() error { return e.Err }

// Range returns up to count events of partition p after position after and
// at most upTo, in order.
func (r *Reader) Range(ctx context.Context, p int, after, upTo Position, count int64) ([]Event, error) {
	msgs, err := r.rdb.XRangeN(ctx, r.keys.Events(p), "("+after.String(), upTo.String(), count).Result()
	if err != nil {
		return nil, fmt.Errorf("range events of partition %d: %w", p, err)
	}
	return decode(msgs)
}

// Bounds returns the first and last positions partition p's stream retains
// (zero for an empty stream) and its current generation (0 before the first
// event).
func (r *Reader) Bounds(ctx context.Context, p int) (first, last Position, gen uint64, err error) {
	pipe := r.rdb.Pipeline()
	head := pipe.XRangeN(ctx, r.keys.Events(p), "-", "+", 1)
	tail := pipe.XRevRangeN(ctx, r.keys.Events(p), "+", "-", 1)
	meta := pipe.HGet(ctx, r.keys.EventsMeta(p), "g")
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return first, last, 0, fmt.Errorf("read event bounds of partition %d: %w", p, err)
	}
	if h := head.Val(); len(h) > 0 {
		if first, err = Parse(h[0].ID); err != nil {
			return first, last, 0, err
		}
	}
	if t := tail.Val(); len(t) > 0 {
		if last, err = Parse(t[0].ID); err != nil {
			return first, last, 0, err
		}
	}
	if g := meta.Val(); g != "" {
		if gen, err = strconv.ParseUint(g, 10, 64); err != nil {
			return first, last, 0, fmt.Errorf("event generation of partition %d: %q: %w", p, g, ErrPosition)
		}
	}
	return first, last, gen, nil
}

// decode returns the events up to the first entry that is not one, and a
// *BadEntryError for that entry.
func decode(msgs []redis.XMessage) ([]Event, error) {
	out := make([]Event, 0, len(msgs))
	for _, m := range msgs {
		job, _ := m.Values["j"].(string)
		ev, err := FromEntry(m.ID, job)
		if err != nil {
			pos, perr := Parse(m.ID)
			if perr != nil {
				return out, perr
			}
			return out, &BadEntryError{ID: pos, Err: err}
		}
		out = append(out, ev)
	}
	return out, nil
}
