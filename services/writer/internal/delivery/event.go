package delivery

import (
	"fmt"

	"github.com/instachat/instachat/pkg/events"
	"github.com/instachat/instachat/pkg/queue"
)

// body returns the event a delivery job carries, as JSON, with its type: the
// very shape the live streams send (events.Event.JSON), so a receiver parses
// webhooks and stream frames alike. A job without a valid position or event
// type can never be delivered.
func body(e queue.Envelope) (typ string, b []byte, err error) {
	ev, err := events.FromJob(e)
	if err != nil {
		return "", nil, fmt.Errorf("delivery %s: %w", e.Ref(), err)
	}
	return ev.Type, ev.JSON(), nil
}
