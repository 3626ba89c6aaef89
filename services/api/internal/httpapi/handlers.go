package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/instachat/instachat/pkg/chat"
	"github.com/instachat/instachat/pkg/search"
	"github.com/instachat/instachat/pkg/search/reindex"
	"github.com/instachat/instachat/pkg/telemetry"
)

// createApplication godoc
//
//	@Summary		Create an application
//	@Description	Creates an application and returns its secret token, the only way to address it. The body is {"name": …} or, as Rails clients send it, {"application": {"name": …}}. Names are 1–255 characters.
//	@Tags			applications
//	@Accept			json
//	@Produce		json
//	@Param			request	body		ApplicationRequest	true	"the application"
//	@Param			Idempotency-Key	header	string	false	"makes the creation safe to retry: the same key (1–255 printable ASCII) within IDEMPOTENCY_TTL (24 h) gets the first application and token back, marked Idempotent-Replayed. Whoever repeats the key gets the token: use a random one"
//	@Success		201		{object}	ApplicationResponse
//	@Header			201	{string}	Idempotent-Replayed	"true when this answer is the first one, given again for a retried Idempotency-Key"
//	@Failure		400		{object}	ErrorResponse	"malformed JSON, invalid UTF-8, duplicate keys, blank/overlong name"
//	@Failure		413		{object}	ErrorResponse	"request body too large"
//	@Failure		415		{object}	ErrorResponse	"Content-Type is not application/json"
//	@Failure		503		{object}	ErrorResponse	"MySQL unavailable"
//	@Failure		429		{object}	ErrorResponse	"too many application creates from this client (per IP); see Retry-After and RateLimit-*"
//	@Failure		422	{object}	ErrorResponse	"the Idempotency-Key was first used for a different request (method, path or body)"
//	@Router			/api/v1/applications [post]
func (h *handlers) createApplication(c *gin.Context) {
	var req ApplicationRequest
	if !bindJSON(c, &req) {
		return
	}
	name, ok := req.NameGiven()
	if !ok {
		fail(c, http.StatusBadRequest, "name is required")
		return
	}
	w, ok := h.write(c, name)
	if !ok {
		return
	}
	app, replayed, err := h.svc.CreateApplication(c.Request.Context(), name, w)
	if err != nil {
		h.respondErr(c, err)
		return
	}
	markReplayed(c, replayed)
	c.JSON(http.StatusCreated, applicationResponse(app))
}

// getApplication godoc
//
//	@Summary	Read an application
//	@Tags		applications
//	@Produce	json
//	@Param		token	path		string	true	"application token"
//	@Success	200		{object}	ApplicationResponse
//	@Failure	404		{object}	ErrorResponse	"unknown token"
//	@Failure	503		{object}	ErrorResponse	"MySQL unavailable"
//	@Router		/api/v1/applications/{token} [get]
func (h *handlers) getApplication(c *gin.Context) {
	app, err := h.svc.Application(c.Request.Context(), c.Param("token"))
	if err != nil {
		h.respondErr(c, err)
		return
	}
	c.JSON(http.StatusOK, applicationResponse(app))
}

// updateApplication godoc
//
//	@Summary	Rename an application
//	@Tags		applications
//	@Accept		json
//	@Produce	json
//	@Param		token	path		string				true	"application token"
//	@Param		request	body		ApplicationRequest	true	"the new name"
//	@Param			Idempotency-Key	header	string	false	"makes the write safe to retry: the same key (1–255 printable ASCII) for the same application within IDEMPOTENCY_TTL (24 h) gets the first status and body back, marked Idempotent-Replayed"
//	@Success	200		{object}	ApplicationResponse
//	@Header			200	{string}	Idempotent-Replayed	"true when this answer is the first one, given again for a retried Idempotency-Key"
//	@Failure	400		{object}	ErrorResponse	"malformed JSON, invalid UTF-8, duplicate keys, blank/overlong name"
//	@Failure	404		{object}	ErrorResponse	"unknown token"
//	@Failure	409		{object}	ErrorResponse	"concurrent changes kept winning"
//	@Failure	415		{object}	ErrorResponse	"Content-Type is not application/json"
//	@Failure	429		{object}	ErrorResponse	"too many writes for this application; see Retry-After and RateLimit-*"
//	@Failure		422	{object}	ErrorResponse	"the Idempotency-Key was first used for a different request (method, path or body)"
//	@Router		/api/v1/applications/{token} [put]
//	@Router		/api/v1/applications/{token} [patch]
func (h *handlers) updateApplication(c *gin.Context) {
	var req ApplicationRequest
	if !bindJSON(c, &req) {
		return
	}
	name, ok := req.NameGiven()
	if !ok {
		fail(c, http.StatusBadRequest, "name is required")
		return
	}
	w, ok := h.write(c, name)
	if !ok {
		return
	}
	app, replayed, err := h.svc.RenameApplication(c.Request.Context(), c.Param("token"), name, w)
	if err != nil {
		h.respondErr(c, err)
		return
	}
	markReplayed(c, replayed)
	c.JSON(http.StatusOK, applicationResponse(app))
}

// createChat godoc
//
//	@Summary		Create a chat
//	@Description	Returns the chat's number (1, 2, 3… per application) at once; the row is written in the background, so the answer's status is "pending". No body is needed.
//	@Tags			chats
//	@Produce		json
//	@Param			token	path		string	true	"application token"
//	@Param			Idempotency-Key	header	string	false	"makes the write safe to retry: the same key (1–255 printable ASCII) for the same application within IDEMPOTENCY_TTL (24 h) gets the first status and body back, marked Idempotent-Replayed"
//	@Success		201		{object}	ChatResponse
//	@Header			201	{string}	Idempotent-Replayed	"true when this answer is the first one, given again for a retried Idempotency-Key"
//	@Failure		404		{object}	ErrorResponse	"unknown token"
//	@Failure		503		{object}	ErrorResponse	"Redis unavailable"
//	@Failure		429		{object}	ErrorResponse	"too many writes for this application; see Retry-After and RateLimit-*"
//	@Failure		422	{object}	ErrorResponse	"the Idempotency-Key was first used for a different request (method, path or body)"
//	@Router			/api/v1/applications/{token}/chats [post]
func (h *handlers) createChat(c *gin.Context) {
	w, ok := h.write(c, "")
	if !ok {
		return
	}
	acc, err := h.svc.CreateChat(c.Request.Context(), c.Param("token"), w)
	if err != nil {
		h.respondErr(c, err)
		return
	}
	markReplayed(c, acc.Replayed)
	c.JSON(http.StatusCreated, ChatResponse{Number: acc.Number, Status: statusPending, CreatedAt: &acc.AcceptedAt, UpdatedAt: &acc.AcceptedAt})
}

// getChat godoc
//
//	@Summary		Read a chat
//	@Description	A chat number that was handed out never answers 404: until its row is written the chat comes back with status "pending".
//	@Tags			chats
//	@Produce		json
//	@Param			token	path		string	true	"application token"
//	@Param			number	path		int		true	"chat number"
//	@Success		200		{object}	ChatResponse
//	@Header			200		{string}	Event-Position	"the live-event position to follow the chat from (?after= on its events route): every event after it is not reflected here yet, or re-applies harmlessly; absent while the application's partition has no event yet"
//	@Failure		400		{object}	ErrorResponse	"number is not a positive integer in canonical form (no sign or leading zeros)"
//	@Failure		404		{object}	ErrorResponse	"unknown token or chat"
//	@Router			/api/v1/applications/{token}/chats/{number} [get]
func (h *handlers) getChat(c *gin.Context) {
	n, ok := pathNumber(c, "number", "chat")
	if !ok {
		return
	}
	pos := h.eventPosition(c.Param("token"))
	v, err := h.svc.Chat(c.Request.Context(), c.Param("token"), n)
	if err != nil {
		h.respondErr(c, err)
		return
	}
	pos.set(c)
	c.JSON(http.StatusOK, chatViewResponse(v))
}

// createMessage godoc
//
//	@Summary		Post a message
//	@Description	Returns the message's number (1, 2, 3… per chat) at once; the row is written in the background. The body is {"body": …}, {"message": {"body": …}} or {"message": {"text": …}}; at most 16384 bytes of UTF-8, not blank. Accepted even while the chat's own row is still queued.
//	@Tags			messages
//	@Accept			json
//	@Produce		json
//	@Param			token	path		string			true	"application token"
//	@Param			number	path		int				true	"chat number"
//	@Param			request	body		MessageRequest	true	"the message"
//	@Param			Idempotency-Key	header	string	false	"makes the write safe to retry: the same key (1–255 printable ASCII) for the same application within IDEMPOTENCY_TTL (24 h) gets the first status and body back, marked Idempotent-Replayed"
//	@Success		201		{object}	MessageResponse
//	@Header			201	{string}	Idempotent-Replayed	"true when this answer is the first one, given again for a retried Idempotency-Key"
//	@Failure		400		{object}	ErrorResponse	"malformed JSON, invalid UTF-8, duplicate keys, blank or overlong body, bad number"
//	@Failure		404		{object}	ErrorResponse	"unknown token or chat"
//	@Failure		413		{object}	ErrorResponse	"request body too large"
//	@Failure		415		{object}	ErrorResponse	"Content-Type is not application/json"
//	@Failure		503		{object}	ErrorResponse	"Redis unavailable"
//	@Failure		429		{object}	ErrorResponse	"too many writes for this application; see Retry-After and RateLimit-*"
//	@Failure		422	{object}	ErrorResponse	"the Idempotency-Key was first used for a different request (method, path or body)"
//	@Router			/api/v1/applications/{token}/chats/{number}/messages [post]
func (h *handlers) createMessage(c *gin.Context) {
	chatN, ok := pathNumber(c, "number", "chat")
	if !ok {
		return
	}
	body, ok := messageBody(c)
	if !ok {
		return
	}
	w, ok := h.write(c, body)
	if !ok {
		return
	}
	acc, err := h.svc.CreateMessage(c.Request.Context(), c.Param("token"), chatN, body, w)
	if err != nil {
		h.respondErr(c, err)
		return
	}
	markReplayed(c, acc.Replayed)
	c.JSON(http.StatusCreated, MessageResponse{ChatNumber: chatN, Number: acc.Number, Body: &body, Status: statusPending, CreatedAt: &acc.AcceptedAt, UpdatedAt: &acc.AcceptedAt})
}

func messageBody(c *gin.Context) (string, bool) {
	var req MessageRequest
	if !bindJSON(c, &req) {
		return "", false
	}
	body, ok := req.BodyGiven()
	if !ok {
		fail(c, http.StatusBadRequest, "body is required")
		return "", false
	}
	return body, true
}

// searchMessages godoc
//
//	@Summary		Search a chat's messages
//	@Description	Case-insensitive partial matching: each word finds messages with a word that begins with it ("hel" finds "Hello"); several words must all match. Only this chat's messages; best match first; paginated with a total, up to result 10000 (page × per_page ≤ 10000). Newly written messages become searchable within about a second.
//	@Tags			search
//	@Produce		json
//	@Param			token		path		string	true	"application token"
//	@Param			number		path		int		true	"chat number"
//	@Param			q			query		string	false	"search words (or query=)"
//	@Param			query		query		string	false	"search words (alias of q)"
//	@Param			page		query		int		false	"page, from 1"		default(1)	minimum(1)	maximum(100000)
//	@Param			per_page	query		int		false	"items per page"	default(20)	minimum(1)	maximum(100)
//	@Success		200			{object}	MessageList
//	@Failure		400			{object}	ErrorResponse	"missing query, bad pagination or number, or a page beyond result 10000"
//	@Failure		404			{object}	ErrorResponse	"unknown token or chat"
//	@Failure		503			{object}	ErrorResponse	"search engine unavailable"
//	@Router			/api/v1/applications/{token}/chats/{number}/messages/search [get]
func (h *handlers) searchMessages(c *gin.Context) {
	q, ok := c.GetQuery("q")
	if !ok {
		q = c.Query("query")
	}
	h.search(c, q)
}

func (h *handlers) search(c *gin.Context, q string) {
	chatN, ok := pathNumber(c, "number", "chat")
	if !ok {
		return
	}
	p, ok := pageParams(c)
	if !ok {
		return
	}
	if err := (search.Query{Offset: p.Offset(), Limit: p.PerPage}).CheckWindow(); err != nil {
		h.respondErr(c, err)
		return
	}
	msgs, total, err := h.svc.Search(c.Request.Context(), c.Param("token"), chatN, q, p)
	if err != nil {
		h.respondErr(c, err)
		return
	}
	if total == 0 {
		// No hits in a chat that does not exist is a 404, as its list is; a
		// chat whose row is still queued (pending) searches as empty.
		if _, err := h.svc.Chat(c.Request.Context(), c.Param("token"), chatN); errors.Is(err, chat.ErrNotFound) {
			h.respondErr(c, err)
			return
		}
	}
	c.JSON(http.StatusOK, messageList(msgs, p, total))
}

// getMessage godoc
//
//	@Summary		Read a message
//	@Description	A message number that was handed out never answers 404: until its row is written it comes back with status "pending" and no body.
//	@Tags			messages
//	@Produce		json
//	@Param			token	path		string	true	"application token"
//	@Param			number	path		int		true	"chat number"
//	@Param			message	path		int		true	"message number"
//	@Success		200		{object}	MessageResponse
//	@Failure		400		{object}	ErrorResponse	"number is not a positive integer in canonical form (no sign or leading zeros)"
//	@Failure		404		{object}	ErrorResponse	"unknown token, chat or message"
//	@Router			/api/v1/applications/{token}/chats/{number}/messages/{message} [get]
func (h *handlers) getMessage(c *gin.Context) {
	chatN, ok := pathNumber(c, "number", "chat")
	if !ok {
		return
	}
	n, ok := pathNumber(c, "message", "message")
	if !ok {
		return
	}
	v, err := h.svc.Message(c.Request.Context(), c.Param("token"), chatN, n)
	if err != nil {
		h.respondErr(c, err)
		return
	}
	if v.Pending {
		c.JSON(http.StatusOK, MessageResponse{ChatNumber: chatN, Number: n, Status: statusPending})
		return
	}
	c.JSON(http.StatusOK, messageResponse(v.Message))
}

// updateMessage godoc
//
//	@Summary		Change a message's body
//	@Description	Queued like a create; the newest update wins, even when updates are applied out of order.
//	@Tags			messages
//	@Accept			json
//	@Produce		json
//	@Param			token	path		string			true	"application token"
//	@Param			number	path		int				true	"chat number"
//	@Param			message	path		int				true	"message number"
//	@Param			request	body		MessageRequest	true	"the new body"
//	@Param			Idempotency-Key	header	string	false	"makes the write safe to retry: the same key (1–255 printable ASCII) for the same application within IDEMPOTENCY_TTL (24 h) gets the first status and body back, marked Idempotent-Replayed"
//	@Success		200		{object}	MessageResponse
//	@Header			200	{string}	Idempotent-Replayed	"true when this answer is the first one, given again for a retried Idempotency-Key"
//	@Failure		400		{object}	ErrorResponse	"malformed JSON, invalid UTF-8, duplicate keys, blank or overlong body, bad number"
//	@Failure		404		{object}	ErrorResponse	"unknown token, chat or message"
//	@Failure		415		{object}	ErrorResponse	"Content-Type is not application/json"
//	@Failure		503		{object}	ErrorResponse	"Redis unavailable"
//	@Failure		429		{object}	ErrorResponse	"too many writes for this application; see Retry-After and RateLimit-*"
//	@Failure		422	{object}	ErrorResponse	"the Idempotency-Key was first used for a different request (method, path or body)"
//	@Router			/api/v1/applications/{token}/chats/{number}/messages/{message} [put]
//	@Router			/api/v1/applications/{token}/chats/{number}/messages/{message} [patch]
func (h *handlers) updateMessage(c *gin.Context) {
	chatN, ok := pathNumber(c, "number", "chat")
	if !ok {
		return
	}
	n, ok := pathNumber(c, "message", "message")
	if !ok {
		return
	}
	body, ok := messageBody(c)
	if !ok {
		return
	}
	w, ok := h.write(c, body)
	if !ok {
		return
	}
	acc, err := h.svc.UpdateMessage(c.Request.Context(), c.Param("token"), chatN, n, body, w)
	if err != nil {
		h.respondErr(c, err)
		return
	}
	markReplayed(c, acc.Replayed)
	c.JSON(http.StatusOK, MessageResponse{ChatNumber: chatN, Number: n, Body: &body, Status: statusPending, UpdatedAt: &acc.AcceptedAt})
}

// MaxReindexBytes bounds a reindex call; the writer splits its batches below it.
const MaxReindexBytes = 64 << 20

func (h *handlers) reindex(c *gin.Context) {
	var req reindex.Request
	if !bindJSONLimit(c, &req, MaxReindexBytes) {
		return
	}
	if h.cfg.Index == nil {
		h.respondErr(c, chat.Unavailable("search"))
		return
	}
	docs, deleted := req.Index()
	if err := h.cfg.Index.Reindex(c.Request.Context(), docs, deleted); err != nil {
		h.respondErr(c, err)
		return
	}
	accepted := make([]int64, len(req.Docs))
	for i, d := range req.Docs {
		accepted[i] = d.Accepted
	}
	h.metrics.indexed(accepted, time.Now())
	if h.log.Enabled(c, slog.LevelDebug) {
		for _, d := range req.Docs {
			h.log.DebugContext(telemetry.WithTrace(c.Request.Context(), d.Trace), "indexed", "chat", d.Chat, "message", d.Number, "version", d.Version)
		}
	}
	c.JSON(http.StatusOK, reindex.Response{Indexed: len(req.Docs), Deleted: len(req.Deleted)})
}

// healthz godoc
//
//	@Summary	Liveness
//	@Tags		health
//	@Produce	json
//	@Success	200	{object}	Health
//	@Router		/healthz [get]
func (h *handlers) healthz(c *gin.Context) {
	c.JSON(http.StatusOK, Health{Status: "ok", Version: h.cfg.Version})
}

// readyz godoc
//
//	@Summary		Readiness
//	@Description	Ready while MySQL (reads) or Redis (creates) answers; the body says which. 503 when neither does. Search down alone is "degraded": only searches answer 503.
//	@Tags			health
//	@Produce		json
//	@Success		200	{object}	Readiness
//	@Failure		503	{object}	Readiness
//	@Router			/readyz [get]
func (h *handlers) readyz(c *gin.Context) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), 2*time.Second)
	defer cancel()
	r := h.svc.Ready(ctx)
	out := Readiness{Status: "ok", Version: h.cfg.Version, MySQL: "ok", Redis: "ok", Search: "ok"}
	if r.MySQL != nil {
		out.MySQL, out.Status = "unavailable", "degraded"
	}
	if r.Redis != nil {
		out.Redis, out.Status = "unavailable", "degraded"
	}
	if r.Search != nil {
		out.Search, out.Status = "unavailable", "degraded"
	}
	if r.MySQL != nil && r.Redis != nil {
		out.Status = "unavailable"
		c.JSON(http.StatusServiceUnavailable, out)
		return
	}
	c.JSON(http.StatusOK, out)
}
