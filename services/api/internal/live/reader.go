package live

import (
	"context"
	"errors"
	"time"

	"github.com/instachat/instachat/pkg/events"
)

// Reader tuning: entries per XREAD, how long one blocks (an idle partition
// checks its cursor against the stream that often), and the back-off after
// a Redis error.
const (
	readCount   = 512
	readBlock   = 2 * time.Second
	backoffMin  = 100 * time.Millisecond
	backoffMax  = 2 * time.Second
	startWaitOf = 2 * time.Second // how long a new stream waits for its shard's first position
)

// read follows partition p's stream from its tail until ctx ends.
func (h *Hub) read(ctx context.Context, p int) {
	sh := h.shards[p]
	backoff := backoffMin
	verify := true
	for ctx.Err() == nil {
		if verify {
			if err := h.verify(ctx, p, sh); err != nil {
				h.log.WarnContext(ctx, "live events: check stream", "partition", p, "err", err)
				sleep(ctx, &backoff)
				continue
			}
			verify = false
		}
		evs, err := h.reader.Read(ctx, p, sh.position(), readCount, h.block)
		var bad *events.BadEntryError
		if errors.As(err, &bad) {
			h.deliver(ctx, p, sh, evs)
			h.stepOver(ctx, p, sh, bad)
			continue
		}
		if err != nil {
			if ctx.Err() == nil {
				h.log.WarnContext(ctx, "live events: read stream", "partition", p, "err", err)
				sleep(ctx, &backoff)
			}
			verify = true
			continue
		}
		backoff = backoffMin
		if len(evs) == 0 {
			verify = true // idle: check that Redis did not go back in time
			continue
		}
		h.deliver(ctx, p, sh, evs)
	}
}

// verify sets a new shard's first position (the stream's tail), or checks a
// running shard's cursor: a stream whose tail is now before it went back in
// time (failover, restart that lost data, FLUSHALL), and every stream of the
// partition is told so.
func (h *Hub) verify(ctx context.Context, p int, sh *shard) error {
	_, last, gen, err := h.reader.Bounds(ctx, p)
	if err != nil {
		return err
	}
	tail := last
	if tail.IsZero() {
		tail = events.Position{Gen: gen}
	}
	select {
	case <-sh.ready:
	default:
		sh.start(tail)
		return nil
	}
	if cur := sh.position(); tail.Less(cur) {
		h.log.WarnContext(ctx, "live events: stream went back in time; resetting its subscribers", "partition", p, "was", cur.String(), "now", tail.String())
		sh.reset(tail)
	}
	return nil
}

// deliver encodes each event once and dispatches the frames. An event that
// does not continue the cursor (a new generation, or entries trimmed before
// this reader got them) resets the partition's streams first.
func (h *Hub) deliver(ctx context.Context, p int, sh *shard, evs []events.Event) {
	cur := sh.position()
	frames := make([]*frame, 0, len(evs))
	for _, ev := range evs {
		if !follows(cur, ev.ID) {
			sh.dispatch(frames)
			frames = frames[:0]
			to := events.Position{Gen: ev.ID.Gen, Seq: ev.ID.Seq - 1}
			h.log.WarnContext(ctx, "live events: stream does not continue; resetting its subscribers", "partition", p, "was", cur.String(), "next", ev.ID.String())
			sh.reset(to)
		}
		frames = append(frames, eventFrame(ev))
		cur = ev.ID
	}
	sh.dispatch(frames)
}

// stepOver moves the reader past an entry that is not an event instead of
// reading it again forever. Its application is unknown, so every stream of
// the partition is told that what it has not seen up to there is lost.
func (h *Hub) stepOver(ctx context.Context, p int, sh *shard, bad *events.BadEntryError) {
	h.log.ErrorContext(ctx, "live events: an entry is not an event; resetting the partition's streams past it",
		"partition", p, "position", bad.ID.String(), "err", bad.Err)
	sh.reset(bad.ID)
}

// follows reports whether next is the entry right after cur: the next
// sequence of the same generation, or the first of the very first.
func follows(cur, next events.Position) bool {
	if cur.IsZero() {
		return next.Seq == 1
	}
	return next.Gen == cur.Gen && next.Seq == cur.Seq+1
}

// sleep waits *d (or until ctx ends) and doubles it up to backoffMax.
func sleep(ctx context.Context, d *time.Duration) {
	t := time.NewTimer(*d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
	*d = min(*d*2, backoffMax)
}
