package reconcile

import (
	"time"

	"github.com/instachat/instachat/pkg/queue"
	"github.com/instachat/instachat/pkg/store"
)

// row is the state the replay expects of a chat or message row.
type row struct {
	exists    bool
	createdAt time.Time
	deletedAt *time.Time
	last      store.Source // the event that last wrote the row; Newer decides as the writer does
	creator   string       // the event that created the row
	body      string       // messages only
}

func (r *row) deleted() bool { return r.deletedAt != nil }

// replay is one chat's expected state, built by applying its events in
// event order with the writer's rules. An event whose parent does not exist
// yet waits, as the writer parks it, and runs once the parent is created.
type replay struct {
	chat     row
	seeded   bool // the chat row was taken as given: its creation is not in the journal
	messages map[int64]*row
	waitChat []store.ReplayEvent           // events waiting for chat.create
	waitMsg  map[int64][]store.ReplayEvent // events waiting for their message.create
	ids      map[string]bool               // every event that took effect
	// clashes are creates that took effect on a row another event had
	// created: a number handed out twice, which writers before number
	// conflicts were detected applied "newest wins".
	clashes []clash
}

// clash is a second create of one number.
type clash struct {
	message int64 // 0: the chat
	event   store.Source
	creator string
}

func newReplay() *replay {
	return &replay{messages: map[int64]*row{}, waitMsg: map[int64][]store.ReplayEvent{}, ids: map[string]bool{}}
}

// seed takes the chat row as it is, for a chat whose creation the journal
// no longer holds: its messages can still be replayed against it.
func (r *replay) seed(c store.StoredRow) {
	r.seeded = true
	r.chat = row{exists: true, createdAt: c.CreatedAt, deletedAt: c.DeletedAt, last: c.Source()}
}

func (r *replay) message(n int64) *row {
	m := r.messages[n]
	if m == nil {
		m = &row{}
		r.messages[n] = m
	}
	return m
}

// apply applies one event. A deleted row is final: later events are stale,
// as the writer's are.
func (r *replay) apply(e store.ReplayEvent) {
	r.ids[e.EventID] = true
	ev := e.Source()
	if e.Type == queue.TypeChatCreate {
		r.createChat(e, ev)
		return
	}
	if !r.chat.exists {
		r.waitChat = append(r.waitChat, e)
		return
	}
	switch e.Type {
	case queue.TypeChatDelete:
		r.deleteChat(ev)
	case queue.TypeMessageCreate:
		r.createMessage(e, ev)
	case queue.TypeMessageUpdate, queue.TypeMessageDelete:
		r.changeMessage(e, ev)
	}
}

// createChat creates the chat, or records a clash when another event
// created it, then runs the events that waited for it.
func (r *replay) createChat(e store.ReplayEvent, ev store.Source) {
	switch {
	case !r.chat.exists:
		r.chat = row{exists: true, createdAt: ev.EventTime, last: ev, creator: e.EventID}
	case r.chat.creator != "" && r.chat.creator != e.EventID:
		r.clashes = append(r.clashes, clash{event: ev, creator: r.chat.creator})
	}
	waiting := r.waitChat
	r.waitChat = nil
	for _, w := range waiting {
		r.apply(w)
	}
}

// deleteChat deletes the chat and every message in it that is not deleted
// yet.
func (r *replay) deleteChat(ev store.Source) {
	if r.chat.deleted() {
		return
	}
	at := ev.EventTime
	r.chat.deletedAt, r.chat.last = &at, ev
	for _, m := range r.messages {
		if m.exists && !m.deleted() {
			m.deletedAt = &at
		}
	}
}

// createMessage creates message e.Message and runs the events that waited
// for it; a second create by another event is a clash that the newest
// event wins, as writers before number conflicts applied it.
func (r *replay) createMessage(e store.ReplayEvent, ev store.Source) {
	m := r.message(e.Message)
	switch {
	case !m.exists:
		// A message created into a deleted chat is born deleted.
		*m = row{exists: true, createdAt: ev.EventTime, deletedAt: r.chat.deletedAt, last: ev, creator: e.EventID, body: e.Body}
		waiting := r.waitMsg[e.Message]
		delete(r.waitMsg, e.Message)
		for _, w := range waiting {
			r.apply(w)
		}
	case m.creator != e.EventID:
		r.clashes = append(r.clashes, clash{message: e.Message, event: ev, creator: m.creator})
		if !m.deleted() && ev.Newer(m.last) {
			m.body, m.last = e.Body, ev
		}
	}
}

// changeMessage applies an update or a delete of message e.Message, which
// waits when the message is not created yet.
func (r *replay) changeMessage(e store.ReplayEvent, ev store.Source) {
	m := r.message(e.Message)
	switch {
	case !m.exists:
		r.waitMsg[e.Message] = append(r.waitMsg[e.Message], e)
	case m.deleted():
	case e.Type == queue.TypeMessageDelete:
		at := ev.EventTime
		m.deletedAt, m.last = &at, ev
	case ev.Newer(m.last):
		m.body, m.last = e.Body, ev
	}
}

// created reports whether the replay created message n.
func (r *replay) created(n int64) bool {
	m := r.messages[n]
	return m != nil && m.exists
}
