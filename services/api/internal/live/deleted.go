package live

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/instachat/instachat/pkg/events"
)

// ErrNothingLeft is ServeDeleted's answer when no event of the deleted chat
// follows the client's position: the chat is simply not found.
var ErrNothingLeft = errors.New("nothing of the deleted chat follows the position")

// ChatDeleted reports whether an application's chat was deleted: the
// counter's tombstone, set in the Lua step that emitted its chat.deleted.
func (h *Hub) ChatDeleted(ctx context.Context, app string, chat int64) (bool, error) {
	ok, err := h.rdb.SIsMember(ctx, h.keys.ChatsDeleted(app), chat).Result()
	if err != nil {
		return false, fmt.Errorf("read tombstone of chat %d: %w", chat, err)
	}
	return ok, nil
}

// ServeDeleted serves a stream of a deleted chat resumed after from: what
// the client missed up to the chat.deleted, then the end (design §4). When
// nothing is left it writes nothing and returns ErrNothingLeft, so the
// caller answers 404 and EventSource stops reconnecting; it returns Redis's
// error, having written nothing, when the stream cannot be read. A gap that
// Redis no longer retains is a reset, then the end.
func (h *Hub) ServeDeleted(w http.ResponseWriter, r *http.Request, f Filter, from events.Position) error {
	ctx := r.Context()
	p := h.keys.Partition(f.App)
	_, tail, _, err := h.reader.Bounds(ctx, p)
	if err != nil {
		return err
	}
	c := from
	if c.IsZero() {
		c.Gen = tail.Gen
	}
	var replay []*frame
	servable := c.Gen == tail.Gen
	for servable && c.Less(tail) && !endsChat(replay) {
		frames, next, ok, err := h.fromRedis(ctx, p, f, c, tail)
		if err != nil {
			return err
		}
		replay, c, servable = append(replay, frames...), next, ok
	}
	if servable && len(replay) == 0 {
		return ErrNothingLeft
	}
	st, done := h.begin(w, r, f, false)
	if st == nil {
		return nil
	}
	defer done()
	if !servable {
		h.metrics.resumed("reset")
		replay = append(replay, controlFrame(kindReset, tail))
	} else {
		h.metrics.resumed("redis")
	}
	why := st.writeBatch(append([]*frame{controlFrame(kindReady, from)}, replay...), flags{})
	if why == endNone {
		why = endChatGone
	}
	st.finish(why)
	return nil
}

// endsChat reports whether frames end with a chat.deleted.
func endsChat(frames []*frame) bool {
	return len(frames) > 0 && frames[len(frames)-1].typ == events.ChatDeleted
}
