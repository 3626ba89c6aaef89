package httpapi

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/instachat/instachat/pkg/chat"
	"github.com/instachat/instachat/services/api/internal/chats"
)

// Idempotent writes. Every write under /api/v1/applications (and application
// creation) accepts an Idempotency-Key header, the convention Stripe made
// common: a retry with the same key gets the first answer back (status and
// body, with the same number) marked Idempotent-Replayed: true, and the same
// key with a different request (method, path or body) answers 422. The
// service keeps the record in the same atomic step as the write itself, so
// racing duplicates get one number between them and a create whose reply was
// lost can be retried safely.

const (
	idempotencyKeyHeader = "Idempotency-Key"
	replayedHeader       = "Idempotent-Replayed"
)

// write reads what a write request carries besides its input: its trace id
// and, when it sent one, its idempotency key with the fingerprint of the
// request (method, path and payload, the input as the client sent it). A bad
// key is answered (400) and reported as false.
func (h *handlers) write(c *gin.Context, payload string) (chats.Write, bool) {
	w := chats.Write{Trace: traceID(c)}
	keys := c.Request.Header.Values(idempotencyKeyHeader)
	if len(keys) == 0 {
		return w, true
	}
	if len(keys) > 1 {
		fail(c, http.StatusBadRequest, "send one Idempotency-Key header, not several")
		return w, false
	}
	if err := chat.CheckIdempotencyKey(keys[0]); err != nil {
		h.respondErr(c, err)
		return w, false
	}
	w.IdempotencyKey = keys[0]
	w.Fingerprint = chat.Fingerprint(c.Request.Method, c.Request.URL.Path, payload)
	return w, true
}

// markReplayed tells the client that this answer is the first one, given
// again for a retried idempotency key.
func markReplayed(c *gin.Context, replayed bool) {
	if replayed {
		c.Header(replayedHeader, "true")
	}
}
