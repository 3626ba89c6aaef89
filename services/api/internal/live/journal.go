package live

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/instachat/instachat/pkg/events"
	"github.com/instachat/instachat/pkg/store"
)

// journal replays from MySQL's event journal what Redis no longer retains
// (design §2.1 item 3), exactly: only over sequences its watermark tracker
// saw journaled without a hole. The same tracker gives lists their
// Event-Position (§2.5).
type journal struct {
	st     *store.Store
	log    *slog.Logger
	max    uint64        // EVENTS_REPLAY_MAX: positions one resume may replay
	wait   time.Duration // EVENTS_REPLAY_WAIT: how long a resume waits for the writer
	settle time.Duration // HISTORY_SETTLE: when a hole stops holding lists back
	poll   time.Duration
	page   int
	marks  []*mark // per partition

	ids sync.Map // application digest → id (they never change)
}

// UseJournal lets the hub replay from st's event journal the gaps Redis no
// longer retains, and gives lists their Event-Position (Position); call it
// before Run. Without it such gaps are reset and Position knows nothing.
func (h *Hub) UseJournal(st *store.Store) {
	h.journal = &journal{st: st, log: h.log, max: uint64(h.cfg.ReplayMax), wait: h.cfg.ReplayWait, settle: h.cfg.Settle,
		poll: watermarkPoll, page: scanPage, marks: newMarks(len(h.shards))}
}

// Position is where a client that has just read a list of app's chats or
// messages subscribes from: the partition's settled watermark, read before
// the list's MySQL query, so the list plus the events after it are the
// current state (design §2.5). It is false when no position is known yet
// (no event in the partition's stream, or the journal not read yet).
func (h *Hub) Position(app string) (events.Position, bool) {
	if h.journal == nil {
		return events.Position{}, false
	}
	p, _ := h.shardOf(app)
	return h.journal.marks[p].watermark()
}

// generation is partition p's generation as its reader last saw it.
func (h *Hub) generation(p int) uint64 { return h.shards[p].position().Gen }

// fromJournal serves a prefix of (c, upTo] from the journal: the positions
// from c's successor up to the first Redis still retains (or upTo), when the
// tracker saw all of them journaled. It waits up to EVENTS_REPLAY_WAIT for
// the writer to journal them.
func fromJournal(ctx context.Context, st *stream, c, upTo events.Position) ([]*frame, events.Position, bool, error) {
	j := st.h.journal
	if j == nil || c.Gen != upTo.Gen {
		return nil, c, false, nil
	}
	first, _, _, err := st.h.reader.Bounds(ctx, st.p)
	if err != nil {
		return nil, c, false, err
	}
	end := upTo.Seq + 1 // exclusive
	if first.Gen == c.Gen && first.Seq > c.Seq+1 && first.Seq < end {
		end = first.Seq // Redis serves the rest
	}
	if end-1-c.Seq > j.max {
		return nil, c, false, nil
	}
	if ok, err := j.await(ctx, st.p, c.Gen, c.Seq+1, end-1); !ok || err != nil {
		return nil, c, false, err
	}
	evs, err := j.events(ctx, st.p, st.s.filter, c, end)
	if err != nil {
		return nil, c, false, err
	}
	next := events.Position{Gen: c.Gen, Seq: end - 1}
	if len(evs) == rangeCount {
		next = evs[len(evs)-1].ID // a page: the loop asks again from there
	}
	frames := make([]*frame, len(evs))
	for i, ev := range evs {
		frames[i] = eventFrame(ev)
	}
	return frames, next, true, nil
}

// await waits until the journal replays from..to of gen exactly, for at most
// the replay wait, and checks that it was not purged below from.
func (j *journal) await(ctx context.Context, p int, gen, from, to uint64) (bool, error) {
	m := j.marks[p]
	deadline := time.Now().Add(j.wait)
	for {
		ok, wait := m.covers(gen, from, to)
		if ok {
			break
		}
		if !wait || time.Now().After(deadline) {
			return false, nil
		}
		t := time.NewTimer(min(j.poll, max(time.Until(deadline), time.Millisecond)))
		select {
		case <-ctx.Done():
			t.Stop()
			return false, ctx.Err()
		case <-t.C:
		}
	}
	oldest, err := j.st.JournalSeqs(ctx, p, gen, 0, 1)
	if err != nil {
		return false, err
	}
	return len(oldest) == 1 && oldest[0] <= from, nil
}

// events reads f's events of (c, end) from the journal, at most rangeCount,
// as the stream carried them.
func (j *journal) events(ctx context.Context, p int, f Filter, c events.Position, end uint64) ([]events.Event, error) {
	id, err := j.appID(ctx, f.App)
	if err != nil {
		return nil, err
	}
	rows, err := j.st.EventsBetween(ctx, p, c.Gen, c.Seq, end, id, f.Chat, rangeCount)
	if err != nil {
		return nil, err
	}
	out := make([]events.Event, 0, len(rows))
	for _, r := range rows {
		typ, ok := events.TypeOfJob(r.Type)
		if !ok {
			return nil, fmt.Errorf("journaled event %d-%d: job type %q is not an event", c.Gen, r.Seq, r.Type)
		}
		ev := events.Event{ID: events.Position{Gen: c.Gen, Seq: r.Seq}, Type: typ, App: f.App, Chat: r.Chat,
			Message: r.Message, Accepted: r.EventTime}
		if events.HasBody(typ) {
			ev.Body = r.Body
		}
		out = append(out, ev)
	}
	return out, nil
}

// appID is the id the journal knows an application by.
func (j *journal) appID(ctx context.Context, digest string) (int64, error) {
	if id, ok := j.ids.Load(digest); ok {
		return id.(int64), nil
	}
	ids, err := j.st.ApplicationIDs(ctx, []string{digest})
	if err != nil {
		return 0, err
	}
	id, ok := ids[digest]
	if !ok {
		return 0, fmt.Errorf("application %s: not in MySQL", digest)
	}
	j.ids.Store(digest, id)
	return id, nil
}
