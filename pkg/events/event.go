package events

import (
	"encoding/json"
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
	return fromJob(pos, e)
}

// FromJob returns the event a queued job carries with its position (Ev): a
// webhook delivery's event.
func FromJob(e queue.Envelope) (Event, error) {
	pos, err := Parse(e.Ev)
	if err != nil {
		return Event{}, fmt.Errorf("job %s has no event position: %w", e.Ref(), err)
	}
	return fromJob(pos, e)
}

func fromJob(pos Position, e queue.Envelope) (Event, error) {
	typ, ok := TypeOfJob(e.Type)
	if !ok {
		return Event{}, fmt.Errorf("event %s: job type %q is not an event", pos, e.Type)
	}
	ev := Event{ID: pos, Type: typ, App: e.App, Chat: e.Chat, Message: e.Message, Accepted: e.AcceptedAt()}
	if HasBody(typ) {
		ev.Body = e.Body
	}
	return ev, nil
}

// JSON is the event's public shape, the one live streams and webhook
// deliveries carry alike: id (the position), type, chat, message (0 left
// out), body (for created and updated messages) and accepted_at with
// microseconds. It names no application and carries no token.
func (ev Event) JSON() []byte {
	v := struct {
		ID         string  `json:"id"`
		Type       string  `json:"type"`
		Chat       int64   `json:"chat"`
		Message    int64   `json:"message,omitempty"`
		Body       *string `json:"body,omitempty"`
		AcceptedAt string  `json:"accepted_at"`
	}{ID: ev.ID.String(), Type: ev.Type, Chat: ev.Chat, Message: ev.Message, AcceptedAt: ev.Accepted.UTC().Format(AcceptedFormat)}
	if HasBody(ev.Type) {
		v.Body = &ev.Body
	}
	data, _ := json.Marshal(v) // strings and numbers only: cannot fail
	return data
}

// AcceptedFormat is how accepted_at is written: microseconds always, as the
// api accepts writes.
const AcceptedFormat = "2006-01-02T15:04:05.000000Z07:00"
