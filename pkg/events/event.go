package events

import (
	"fmt"
	"time"

	"github.com/instachat/instachat/pkg/queue"
)

// Event types, as clients see them.
const (
	ChatCreated    = "chat.created"
	ChatDeleted    = "chat.deleted"
	MessageCreated = "message.created"
	MessageUpdated = "message.updated"
	MessageDeleted = "message.deleted"
)

// typeOf maps job types to event types.
var typeOf = map[string]string{
	queue.TypeChatCreate:    ChatCreated,
	queue.TypeChatDelete:    ChatDeleted,
	queue.TypeMessageCreate: MessageCreated,
	queue.TypeMessageUpdate: MessageUpdated,
	queue.TypeMessageDelete: MessageDeleted,
}

// TypeOfJob returns the event type of a job type (queue.Type*), and false
// for a job that is no event. It is how an event journaled by the writer,
// which records job types, is given the type its live frame had.
func TypeOfJob(jobType string) (string, bool) {
	t, ok := typeOf[jobType]
	return t, ok
}

// HasBody reports whether events of type typ carry a body: created and
// updated messages.
func HasBody(typ string) bool { return typ == MessageCreated || typ == MessageUpdated }

// Event is one accepted write, as a live stream delivers it.
type Event struct {
	ID   Position
	Type string // one of the event types above
	// App is the application's digest (chat.TokenDigest), never its token.
	App     string
	Chat    int64
	Message int64  // 0 for chat events
	Body    string // for created and updated messages
	// Accepted is when the api accepted the write.
	Accepted time.Time
}

// FromEntry decodes a stream entry: its id and its job (field "j", the job
// envelope as queued).
func FromEntry(id, job string) (Event, error) {
	pos, err := Parse(id)
	if err != nil {
		return Event{}, err
	}
	e, err := queue.Decode(job)
	if err != nil {
		return Event{}, fmt.Errorf("event %s: %w", id, err)
	}
	typ, ok := TypeOfJob(e.Type)
	if !ok {
		return Event{}, fmt.Errorf("event %s: job type %q is not an event", id, e.Type)
	}
	ev := Event{ID: pos, Type: typ, App: e.App, Chat: e.Chat, Message: e.Message, Accepted: e.AcceptedAt()}
	if HasBody(typ) {
		ev.Body = e.Body
	}
	return ev, nil
}
