package httpapi

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// DeleteResponse acknowledges a queued delete.
type DeleteResponse struct {
	Number int64  `json:"number" example:"3"`
	Status string `json:"status" example:"deleting"`
} // @name DeleteResponse

// deleteChat godoc
//
//	@Summary		Delete a chat and its messages
//	@Description	Queued like a create: the answer is 202 at once. From then on the chat's messages cannot be posted, changed or deleted (404); once the writer has applied it, the chat and its messages are gone from reads and search, and counts drop at the next sync. Numbers are never reused.
//	@Tags			chats
//	@Produce		json
//	@Param			token	path		string	true	"application token"
//	@Param			number	path		int		true	"chat number"
//	@Param			Idempotency-Key	header	string	false	"makes the write safe to retry: the same key (1–255 printable ASCII) for the same application within IDEMPOTENCY_TTL (24 h) gets the first status and body back, marked Idempotent-Replayed"
//	@Success		202		{object}	DeleteResponse
//	@Header			202	{string}	Idempotent-Replayed	"true when this answer is the first one, given again for a retried Idempotency-Key"
//	@Failure		400		{object}	ErrorResponse	"number is not a positive integer in canonical form (no sign or leading zeros)"
//	@Failure		404		{object}	ErrorResponse	"unknown token or chat, or already deleted"
//	@Failure		503		{object}	ErrorResponse	"Redis unavailable"
//	@Failure		429		{object}	ErrorResponse	"too many writes for this application; see Retry-After and RateLimit-*"
//	@Failure		422	{object}	ErrorResponse	"the Idempotency-Key was first used for a different request (method, path or body)"
//	@Router			/api/v1/applications/{token}/chats/{number} [delete]
func (h *handlers) deleteChat(c *gin.Context) {
	n, ok := pathNumber(c, "number", "chat")
	if !ok {
		return
	}
	w, ok := h.write(c, "")
	if !ok {
		return
	}
	acc, err := h.svc.DeleteChat(c.Request.Context(), c.Param("token"), n, w)
	if err != nil {
		h.respondErr(c, err)
		return
	}
	markReplayed(c, acc.Replayed)
	c.JSON(http.StatusAccepted, DeleteResponse{Number: n, Status: "deleting"})
}

// deleteMessage godoc
//
//	@Summary		Delete a message
//	@Description	Queued like a create: the answer is 202 at once, and later changes to the message are refused (404). Once the writer has applied it, the message is gone from reads and search, and counts drop at the next sync. Numbers are never reused.
//	@Tags			messages
//	@Produce		json
//	@Param			token	path		string	true	"application token"
//	@Param			number	path		int		true	"chat number"
//	@Param			message	path		int		true	"message number"
//	@Param			Idempotency-Key	header	string	false	"makes the write safe to retry: the same key (1–255 printable ASCII) for the same application within IDEMPOTENCY_TTL (24 h) gets the first status and body back, marked Idempotent-Replayed"
//	@Success		202		{object}	DeleteResponse
//	@Header			202	{string}	Idempotent-Replayed	"true when this answer is the first one, given again for a retried Idempotency-Key"
//	@Failure		400		{object}	ErrorResponse	"number is not a positive integer in canonical form (no sign or leading zeros)"
//	@Failure		404		{object}	ErrorResponse	"unknown token, chat or message, or already deleted"
//	@Failure		503		{object}	ErrorResponse	"Redis unavailable"
//	@Failure		429		{object}	ErrorResponse	"too many writes for this application; see Retry-After and RateLimit-*"
//	@Failure		422	{object}	ErrorResponse	"the Idempotency-Key was first used for a different request (method, path or body)"
//	@Router			/api/v1/applications/{token}/chats/{number}/messages/{message} [delete]
func (h *handlers) deleteMessage(c *gin.Context) {
	chatN, ok := pathNumber(c, "number", "chat")
	if !ok {
		return
	}
	n, ok := pathNumber(c, "message", "message")
	if !ok {
		return
	}
	w, ok := h.write(c, "")
	if !ok {
		return
	}
	acc, err := h.svc.DeleteMessage(c.Request.Context(), c.Param("token"), chatN, n, w)
	if err != nil {
		h.respondErr(c, err)
		return
	}
	markReplayed(c, acc.Replayed)
	c.JSON(http.StatusAccepted, DeleteResponse{Number: n, Status: "deleting"})
}
