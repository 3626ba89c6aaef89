package delivery

import (
	"encoding/json"
	"fmt"

	"github.com/instachat/instachat/pkg/events"
	"github.com/instachat/instachat/pkg/queue"
)

// eventJSON is an event's public shape, the very one the live streams send
// (services/api/internal/live): a receiver parses webhooks and stream frames
// alike. It carries no token and no application: an endpoint belongs to one
// application, so its receiver knows which.
type eventJSON struct {
	ID         string  `json:"id"`
	Type       string  `json:"type"`
	Chat       int64   `json:"chat"`
	Message    int64   `json:"message,omitempty"`
	Body       *string `json:"body,omitempty"`
	AcceptedAt string  `json:"accepted_at"`
}

// acceptedFormat has microseconds always, as the api and the streams give them.
const acceptedFormat = "2006-01-02T15:04:05.000000Z07:00"

// body returns the event a delivery job carries, as JSON, with its type.
// A job without a valid position or event type can never be delivered.
func body(e queue.Envelope) (typ string, b []byte, err error) {
	pos, err := events.Parse(e.Ev)
	if err != nil {
		return "", nil, fmt.Errorf("delivery %s has no event position: %w", e.Ref(), err)
	}
	typ, ok := events.TypeOfJob(e.Type)
	if !ok {
		return "", nil, fmt.Errorf("delivery %s: job type %q is not an event", e.Ref(), e.Type)
	}
	v := eventJSON{ID: pos.String(), Type: typ, Chat: e.Chat, Message: e.Message, AcceptedAt: e.AcceptedAt().Format(acceptedFormat)}
	if events.HasBody(typ) {
		v.Body = &e.Body
	}
	b, err = json.Marshal(v)
	if err != nil {
		return "", nil, fmt.Errorf("encode delivery %s: %w", e.Ref(), err)
	}
	return typ, b, nil
}
