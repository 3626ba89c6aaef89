package httpapi

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/instachat/instachat/pkg/chat"
	"github.com/instachat/instachat/pkg/events"
	"github.com/instachat/instachat/services/api/internal/live"
)

// EventResponse is one live event: an SSE event's data line, a WebSocket
// text message. Chat events have no message; deletes have no body. Control
// frames carry type and id only: ready (first frame: the position the stream
// continues after), reset (the events between your position and id cannot be
// served: reload through the lists, then carry on from id; the stream goes
// on), overflow (you read too slowly: the stream closes, resume after id),
// heartbeat (WebSocket; SSE sends the comment ": hb").
type EventResponse struct {
	ID         string  `json:"id" example:"1764324000123-42"`
	Type       string  `json:"type" enums:"chat.created,chat.deleted,message.created,message.updated,message.deleted,ready,reset,overflow,heartbeat" example:"message.created"`
	Chat       int64   `json:"chat,omitempty" example:"3"`
	Message    int64   `json:"message,omitempty" example:"17"`
	Body       *string `json:"body,omitempty" example:"hi"`
	AcceptedAt string  `json:"accepted_at,omitempty" example:"2026-11-28T10:00:00.123456Z"`
} // @name EventResponse

// streamRoutes are the routes whose requests last as long as a subscription.
var streamRoutes = map[string]bool{
	"/api/v1/applications/:token/events":               true,
	"/api/v1/applications/:token/chats/:number/events": true,
}

// appEvents godoc
//
//	@Summary		Follow an application's events
//	@Description	Every chat's events, live, as Server-Sent Events (text/event-stream: "id: <id>", "event: <type>", "data: <EventResponse JSON>", a blank line), or as WebSocket text messages (same JSON) when the request asks to upgrade. Ids are "<generation>-<sequence>" positions: reconnect with Last-Event-ID (EventSource does) or ?after= and you get exactly the events you missed, in order, or a reset event when they cannot be served. The stream opens with "retry: 1000" and a ready event; idle streams get a heartbeat every EVENTS_HEARTBEAT (15 s); a client too slow to read gets overflow and is closed (WebSocket close code 4008); a server shutting down closes streams (WebSocket 1012).
//	@Tags			events
//	@Produce		text/event-stream
//	@Param			token			path		string	true	"application token"
//	@Param			after			query		string	false	"resume after this event id (<generation>-<sequence>)"
//	@Param			Last-Event-ID	header		string	false	"resume after this event id; wins over after"
//	@Success		200				{object}	EventResponse	"a stream of events"
//	@Failure		400				{object}	ErrorResponse	"malformed after or Last-Event-ID"
//	@Failure		404				{object}	ErrorResponse	"unknown token"
//	@Failure		429				{object}	ErrorResponse	"too many streams open on this server or for this application; see Retry-After"
//	@Failure		503				{object}	ErrorResponse	"MySQL or Redis unavailable, or the server is shutting down"
//	@Router			/api/v1/applications/{token}/events [get]
func (h *handlers) appEvents(c *gin.Context) {
	from, ok := eventsFrom(c)
	if !ok {
		return
	}
	token := c.Param("token")
	if _, err := h.svc.Application(c.Request.Context(), token); err != nil {
		h.respondErr(c, err)
		return
	}
	h.stream(c, live.Filter{App: chat.TokenDigest(token)}, from)
}

// chatEvents godoc
//
//	@Summary		Follow a chat's events
//	@Description	The chat's events, live, in number order: as appEvents, for one chat. A chat number that was handed out can be followed before its row is written; the stream ends after the chat's chat.deleted event. A deleted chat is not found, except to a client resuming from a position before its chat.deleted: it gets the events it missed, up to the chat.deleted, then the end.
//	@Tags			events
//	@Produce		text/event-stream
//	@Param			token			path		string	true	"application token"
//	@Param			number			path		int		true	"chat number"
//	@Param			after			query		string	false	"resume after this event id (<generation>-<sequence>)"
//	@Param			Last-Event-ID	header		string	false	"resume after this event id; wins over after"
//	@Success		200				{object}	EventResponse	"a stream of events"
//	@Failure		400				{object}	ErrorResponse	"bad chat number, malformed after or Last-Event-ID"
//	@Failure		404				{object}	ErrorResponse	"unknown token or chat"
//	@Failure		429				{object}	ErrorResponse	"too many streams open on this server or for this application; see Retry-After"
//	@Failure		503				{object}	ErrorResponse	"MySQL or Redis unavailable, or the server is shutting down"
//	@Router			/api/v1/applications/{token}/chats/{number}/events [get]
func (h *handlers) chatEvents(c *gin.Context) {
	n, ok := pathNumber(c, "number", "chat")
	if !ok {
		return
	}
	from, ok := eventsFrom(c)
	if !ok {
		return
	}
	token := c.Param("token")
	f := live.Filter{App: chat.TokenDigest(token), Chat: n}
	// As a read of the chat decides: a number handed out is there (pending
	// until written), a deleted or unknown one is not; but a client that
	// resumes a deleted chat still gets what it missed, up to the chat.deleted.
	if _, err := h.svc.Chat(c.Request.Context(), token, n); err != nil {
		if from == nil || !errors.Is(err, chat.ErrNotFound) || h.cfg.Live == nil || !h.replayDeleted(c, f, *from) {
			h.respondErr(c, err)
		}
		return
	}
	h.stream(c, f, from)
}

// replayDeleted serves a deleted chat's stream after from; false when the
// chat was not deleted (unknown) or nothing of it follows from.
func (h *handlers) replayDeleted(c *gin.Context, f live.Filter, from events.Position) bool {
	gone, err := h.cfg.Live.ChatDeleted(c.Request.Context(), f.App, f.Chat)
	if err == nil && gone {
		err = h.cfg.Live.ServeDeleted(c.Writer, c.Request, f, from)
	}
	switch {
	case err == nil:
		return gone
	case errors.Is(err, live.ErrNothingLeft):
		return false
	}
	h.respondErr(c, fmt.Errorf("replay deleted chat %d: %w: %w", f.Chat, chat.Unavailable("redis"), err))
	return true
}

// eventsFrom reads the position a stream resumes after, answering 400 when
// it is malformed.
func eventsFrom(c *gin.Context) (*events.Position, bool) {
	from, err := live.From(c.Request)
	if err != nil {
		fail(c, http.StatusBadRequest, "Last-Event-ID or after must be an event id: <generation>-<sequence>, two decimal numbers")
		return nil, false
	}
	return from, true
}

func (h *handlers) stream(c *gin.Context, f live.Filter, from *events.Position) {
	if h.cfg.Live == nil {
		c.Header("Retry-After", "1")
		fail(c, http.StatusServiceUnavailable, "live events are not available on this server")
		return
	}
	h.cfg.Live.Serve(c.Writer, c.Request, f, from)
}
