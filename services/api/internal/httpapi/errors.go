package httpapi

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/instachat/instachat/pkg/chat"
	"github.com/instachat/instachat/pkg/search"
)

// ErrorResponse is every error's body.
type ErrorResponse struct {
	Error string `json:"error" example:"body must not be blank"`
} // @name ErrorResponse

func fail(c *gin.Context, status int, msg string) {
	c.AbortWithStatusJSON(status, ErrorResponse{Error: msg})
}

// respondErr is the one place that maps domain errors to HTTP statuses.
func (h *handlers) respondErr(c *gin.Context, err error) {
	switch {
	case errors.Is(err, search.ErrBeyondWindow):
		// Checked first: the service reports every engine error as the
		// search being unavailable, and retrying this one cannot help.
		fail(c, http.StatusBadRequest, fmt.Sprintf("search results can be paged only to result %d: page × per_page must be at most %d", search.MaxWindow, search.MaxWindow))
	case errors.Is(err, chat.ErrKeyReused):
		fail(c, http.StatusUnprocessableEntity, chat.ClientMessage(err, "Idempotency-Key was first used for a different request"))
	case errors.Is(err, chat.ErrInvalid):
		fail(c, http.StatusBadRequest, chat.ClientMessage(err, "invalid input"))
	case errors.Is(err, chat.ErrNotFound):
		fail(c, http.StatusNotFound, chat.ClientMessage(err, "not found"))
	case errors.Is(err, chat.ErrConflict):
		fail(c, http.StatusConflict, chat.ClientMessage(err, "the resource changed concurrently; try again"))
	case errors.Is(err, chat.ErrUnavailable):
		h.log.WarnContext(c, "dependency unavailable", "route", c.FullPath(), "err", err)
		c.Header("Retry-After", "1")
		fail(c, http.StatusServiceUnavailable, chat.ClientMessage(err, "a backing service is unavailable; try again shortly"))
	default:
		h.log.ErrorContext(c, "request failed", "route", c.FullPath(), "err", err)
		fail(c, http.StatusInternalServerError, "internal error")
	}
}
