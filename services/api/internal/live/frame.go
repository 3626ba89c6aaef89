package live

import (
	"strconv"
	"time"

	"github.com/instachat/instachat/pkg/events"
)

// kind tells a frame's role in the stream.
type kind uint8

const (
	kindEvent     kind = iota // an accepted write
	kindReady                 // first frame: where the stream continues after
	kindReset                 // events up to pos cannot be served
	kindOverflow              // slow consumer: resume after pos
	kindHeartbeat             // keeps idle connections and proxies open
)

// Control event names, as SSE event names and WebSocket "type" values.
const (
	typeReady     = "ready"
	typeReset     = "reset"
	typeOverflow  = "overflow"
	typeHeartbeat = "heartbeat"
)

// frame is one event encoded once for every subscriber and transport.
type frame struct {
	kind     kind
	pos      events.Position
	app      string // the application's digest (events only)
	chat     int64  // events only
	typ      string
	accepted time.Time
	sse      []byte // "id: …\nevent: …\ndata: {…}\n\n"
	ws       []byte // the JSON alone
}

// eventFrame encodes ev for every transport.
func eventFrame(ev events.Event) *frame {
	data := ev.JSON()
	return &frame{kind: kindEvent, pos: ev.ID, app: ev.App, chat: ev.Chat, typ: ev.Type, accepted: ev.Accepted,
		sse: sseFrame(ev.ID.String(), ev.Type, data), ws: data}
}

// controlFrame encodes a ready, reset or overflow frame at pos.
func controlFrame(k kind, pos events.Position) *frame {
	typ := map[kind]string{kindReady: typeReady, kindReset: typeReset, kindOverflow: typeOverflow}[k]
	id := pos.String()
	data := []byte(`{"type":"` + typ + `","id":"` + id + `"}`)
	return &frame{kind: k, pos: pos, typ: typ, sse: sseFrame(id, typ, data), ws: data}
}

// heartbeat is shared by every stream: an SSE comment, a WebSocket message.
var heartbeat = &frame{kind: kindHeartbeat, typ: typeHeartbeat, sse: []byte(": hb\n\n"), ws: []byte(`{"type":"heartbeat"}`)}

// sseFrame is one SSE event. JSON never holds a raw newline, so data is one line.
func sseFrame(id, typ string, data []byte) []byte {
	b := make([]byte, 0, len(id)+len(typ)+len(data)+24)
	b = append(b, "id: "...)
	b = append(b, id...)
	b = append(b, "\nevent: "...)
	b = append(b, typ...)
	b = append(b, "\ndata: "...)
	b = append(b, data...)
	return append(b, "\n\n"...)
}

// sseRetry opens every SSE stream: EventSource reconnects after 1 s.
var sseRetry = []byte("retry: " + strconv.Itoa(1000) + "\n\n")
