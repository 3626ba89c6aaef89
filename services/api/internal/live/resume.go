package live

import (
	"context"

	"github.com/instachat/instachat/pkg/events"
)

// rangeCount is how many entries one XRANGE of a backfill reads.
const rangeCount = 1000

// join starts a registered stream (design §2.3). p0 is the shard's position
// when the stream registered: every later event reaches the stream through
// its ring, so the join only has to write what lies between the client's
// position and p0, or say that it cannot.
//
// Every stream starts with ready: at p0 for a new subscriber, at its own
// position for a resuming one, followed by the missed events, or by reset
// when they cannot be served (another generation, a position beyond the
// stream, or events no source retains).
func (st *stream) join(ctx context.Context, from *events.Position, p0 events.Position) ending {
	if from == nil {
		return st.writeBatch([]*frame{controlFrame(kindReady, p0)}, flags{})
	}
	s := *from
	if why := st.writeBatch([]*frame{controlFrame(kindReady, s)}, flags{}); why != endNone {
		return why
	}
	switch {
	case s.IsZero() && !p0.IsZero():
		// 0-0 is before every event: the whole current generation, if the
		// stream still holds it from its first sequence.
		return st.backfill(ctx, events.Position{Gen: p0.Gen}, p0)
	case s.Gen != p0.Gen:
		return st.reset(p0)
	case p0.Less(s):
		return st.ahead(ctx, s, p0)
	}
	return st.backfill(ctx, s, p0)
}

// ahead serves a client that got s from a replica whose hub is ahead of
// this one: if the stream holds s, live events up to s are skipped (st.last
// is s already), else s is not of this stream and the client is reset.
func (st *stream) ahead(ctx context.Context, s, p0 events.Position) ending {
	_, last, gen, err := st.h.reader.Bounds(ctx, st.p)
	if err != nil {
		st.h.log.WarnContext(ctx, "live events: resume", "partition", st.p, "err", err)
		return endFailed
	}
	if gen != s.Gen || last.Less(s) {
		return st.reset(p0)
	}
	st.h.metrics.resumed("ring")
	return endNone
}

// reset tells the client that the events between its position and p0
// cannot be served; the stream goes on from p0.
func (st *stream) reset(p0 events.Position) ending {
	st.h.metrics.resumed("reset")
	return st.writeBatch([]*frame{controlFrame(kindReset, p0)}, flags{})
}

// source serves the start of a backfill: the frames of (c, upTo] it holds
// from c's successor on (all of them, or a prefix ending at next), or ok
// false when it does not hold c's successor.
type source struct {
	name string
	next func(ctx context.Context, st *stream, c, upTo events.Position) (frames []*frame, next events.Position, ok bool, err error)
}

// sources are tried in order, cheapest first, for each step of a backfill.
// The MySQL event journal (design §2.1 item 3) is exact while the strict
// watermark covers the gap; it waits up to EVENTS_REPLAY_WAIT for the writer
// to get there, and a gap no source serves is reset.
var sources = []source{
	{"ring", fromRing},
	{"redis", fromRedis},
	{"journal", fromJournal},
}

// backfill writes the stream's events of (c, p0], each step from the first
// source holding c's successor; the steps abut at c, so nothing is skipped
// or repeated.
func (st *stream) backfill(ctx context.Context, c, p0 events.Position) ending {
	used := map[string]bool{}
	defer func() {
		for name := range used {
			st.h.metrics.resumed(name)
		}
	}()
	if c == p0 {
		used["ring"] = true // nothing missed
	}
next:
	for c.Less(p0) {
		for _, src := range sources {
			frames, next, ok, err := src.next(ctx, st, c, p0)
			if err != nil {
				st.h.log.WarnContext(ctx, "live events: resume", "partition", st.p, "source", src.name, "err", err)
				return endFailed
			}
			if !ok {
				continue
			}
			used[src.name] = true
			if len(frames) > 0 {
				if why := st.writeBatch(frames, flags{}); why != endNone {
					return why
				}
			}
			c = next
			continue next
		}
		return st.reset(p0)
	}
	return endNone
}

// fromRing serves (c, upTo] from the hub's memory of the partition.
func fromRing(_ context.Context, st *stream, c, upTo events.Position) ([]*frame, events.Position, bool, error) {
	all, ok := st.sh.since(c, upTo)
	if !ok {
		return nil, c, false, nil
	}
	out := all[:0:0]
	for _, f := range all {
		if st.s.filter.match(f.app, f.chat) {
			out = append(out, f)
		}
	}
	return out, upTo, true, nil
}

// fromRedis serves a prefix of (c, upTo] from the stream.
func fromRedis(ctx context.Context, st *stream, c, upTo events.Position) ([]*frame, events.Position, bool, error) {
	return st.h.fromRedis(ctx, st.p, st.s.filter, c, upTo)
}

// fromRedis serves f's frames of a prefix of (c, upTo] from partition p's
// stream, when it still holds c's successor: sequences are contiguous and
// entries are never deleted one by one, so what follows it is complete.
func (h *Hub) fromRedis(ctx context.Context, p int, f Filter, c, upTo events.Position) ([]*frame, events.Position, bool, error) {
	evs, err := h.reader.Range(ctx, p, c, upTo, rangeCount)
	if err != nil {
		return nil, c, false, err
	}
	if len(evs) == 0 || evs[0].ID != (events.Position{Gen: c.Gen, Seq: c.Seq + 1}) {
		return nil, c, false, nil
	}
	var out []*frame
	for _, ev := range evs {
		if f.match(ev.App, ev.Chat) {
			out = append(out, eventFrame(ev))
		}
	}
	return out, evs[len(evs)-1].ID, true, nil
}

// match reports whether an event of app's chat belongs to the stream.
func (f Filter) match(app string, chat int64) bool {
	return app == f.App && (f.Chat == 0 || chat == f.Chat)
}
