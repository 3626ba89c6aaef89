package httpapi

import (
	"fmt"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/instachat/instachat/pkg/chat"
	"github.com/instachat/instachat/pkg/queue"
)

// adminRealm names the credentials a browser asks for.
const adminRealm = `realm="InstaChat admin", charset="UTF-8"`

// requireAdmin lets through callers that present ADMIN_TOKEN, as
// "Authorization: Bearer <token>" or as the password of HTTP Basic auth (any
// user name), so a browser can open the admin pages too. Without ADMIN_TOKEN
// the admin endpoints are off.
func (h *handlers) requireAdmin(c *gin.Context) {
	if h.cfg.AdminToken == "" {
		fail(c, http.StatusForbidden, "admin endpoints are disabled: set ADMIN_TOKEN")
		return
	}
	if !h.adminCredentials(c.Request) {
		c.Writer.Header().Add("WWW-Authenticate", "Basic "+adminRealm)
		c.Writer.Header().Add("WWW-Authenticate", "Bearer "+adminRealm)
		fail(c, http.StatusUnauthorized, "admin endpoint: missing or wrong credentials")
		return
	}
	c.Next()
}

// adminCredentials reports whether r carries the admin token, as a bearer
// token or as a Basic password.
func (h *handlers) adminCredentials(r *http.Request) bool {
	auth := r.Header.Get("Authorization")
	if token, ok := bearerToken(auth); ok {
		return sameSecret(token, h.cfg.AdminToken)
	}
	if _, password, ok := r.BasicAuth(); ok {
		return sameSecret(password, h.cfg.AdminToken)
	}
	return false
}

// DeadJob is a job that used up its attempts (or could never be applied). It
// names the application by nothing: jobs carry a digest of its token at most.
type DeadJob struct {
	Partition int `json:"partition" example:"3"`
	// ID names the job for replay and discard: its event id, and on the
	// hooks lane "<event id>.<webhook id>".
	ID      string `json:"id" example:"0190f5a8c3e1a2b3c4d5e6f708192a3b"`
	Type    string `json:"type,omitempty" example:"message.create"`
	Chat    int64  `json:"chat" example:"1"`
	Message int64  `json:"message" example:"42"`
	Body    string `json:"body,omitempty" example:"Hello, world"`
	// Hook is the webhook a delivery went to (hooks lane only).
	Hook string `json:"hook,omitempty" example:"wh_3mzq7v2k4xw8b1n5c6d9f0g2hj"`
	// Position is the event's position in its partition's stream
	// ("<generation>-<sequence>", the X-InstaChat-Event-Position of a
	// delivery); empty for jobs accepted before events existed.
	Position string `json:"position,omitempty" example:"1764324000123-42"`
	Attempt  int    `json:"attempt" example:"25"`
	Error    string `json:"error,omitempty" example:"apply message 1/42: lock wait timeout"`
	// EventTime is when the api accepted the job.
	EventTime *time.Time `json:"event_time,omitempty"`
	Trace     string     `json:"trace,omitempty" example:"4bf92f3577b34da6a3ce929d0e0e4736"`
	// Decoded is false for a job that is not a valid envelope: it can be
	// discarded, not replayed, and its content is not shown.
	Decoded bool `json:"decoded" example:"true"`
} // @name DeadJob

func deadJob(j queue.DeadJob) DeadJob {
	out := DeadJob{Partition: j.Partition, ID: j.ID, Decoded: j.Decoded}
	if !j.Decoded {
		return out
	}
	e := j.Envelope
	at := e.AcceptedAt()
	out.Type, out.Chat, out.Message, out.Body, out.Hook, out.Position = e.Type, e.Chat, e.Message, e.Body, e.Hook, e.Ev
	out.Attempt, out.Error, out.EventTime, out.Trace = e.Attempt, e.Error, &at, e.Trace
	return out
}

// DeadJobList is one page of dead jobs of one lane.
type DeadJobList struct {
	Lane    string    `json:"lane" example:"jobs" enums:"jobs,hooks"`
	Jobs    []DeadJob `json:"jobs"`
	Page    int       `json:"page" example:"1"`
	PerPage int       `json:"per_page" example:"20"`
	Total   int64     `json:"total" example:"42"`
} // @name DeadJobList

// ReplayResult answers the replay of one dead job.
type ReplayResult struct {
	Replayed bool `json:"replayed" example:"true"`
} // @name ReplayResult

// DiscardResult answers the discard of one dead job.
type DiscardResult struct {
	Discarded bool `json:"discarded" example:"true"`
} // @name DiscardResult

// ReplayAllResult answers a bulk replay: how many jobs were queued again and
// how many stay dead (those that do not decode, or died meanwhile).
type ReplayAllResult struct {
	Replayed  int   `json:"replayed" example:"12"`
	Remaining int64 `json:"remaining" example:"0"`
} // @name ReplayAllResult

// DiscardAllResult answers a bulk discard.
type DiscardAllResult struct {
	Discarded int `json:"discarded" example:"12"`
} // @name DiscardAllResult

// lane returns the inspector of the queue lane the request names with the
// lane query parameter: jobs (the default) or hooks. Every dead-job endpoint
// serves either lane through it. A bad lane is answered (400), and so is a
// hooks lane this server was not given (503); both return nil.
func (h *handlers) lane(c *gin.Context) *queue.Inspector {
	switch c.Query("lane") {
	case "", "jobs":
		return h.inspector
	case "hooks":
		if h.cfg.Hooks == nil {
			h.hooksOff(c)
			return nil
		}
		return h.cfg.Hooks
	}
	fail(c, http.StatusBadRequest, `lane must be "jobs" (the writer's jobs, the default) or "hooks" (webhook deliveries)`)
	return nil
}

// hooksOff answers for the webhook deliveries' lane when the server has no
// inspector of it.
func (h *handlers) hooksOff(c *gin.Context) {
	fail(c, http.StatusServiceUnavailable, "the webhook deliveries' lane is not available in this api")
}

// deadPartition reads the optional partition query parameter; -1 means all.
// A bad one is answered (400) and reported as false.
func (h *handlers) deadPartition(c *gin.Context, in *queue.Inspector) (int, bool) {
	p, err := in.ParsePartition(c.Query("partition"))
	if err != nil {
		h.respondErr(c, err)
		return 0, false
	}
	return p, true
}

// listDead godoc
//
//	@Summary		List dead jobs
//	@Description	Jobs that used up their attempts, newest first: the newest of every partition, then the second newest of each, and so on. lane=hooks lists the webhook deliveries that used theirs (or whose endpoint is paused), each with its webhook (hook) and event position. Served at /admin/dead, outside /api/v1. Jobs that do not decode show their id and decoded=false only.
//	@Tags			admin
//	@Produce		json
//	@Security		AdminAuth
//	@Security		AdminBearer
//	@Param			lane		query		string	false	"queue lane: jobs (the writer's jobs) or hooks (webhook deliveries)"	Enums(jobs, hooks)	default(jobs)
//	@Param			partition	query		int	false	"one partition (default: all)"
//	@Param			page		query		int	false	"page, from 1"		default(1)	minimum(1)	maximum(100000)
//	@Param			per_page	query		int	false	"items per page"	default(20)	minimum(1)	maximum(100)
//	@Success		200			{object}	DeadJobList
//	@Failure		400			{object}	ErrorResponse	"bad lane, partition or pagination"
//	@Failure		401			{object}	ErrorResponse	"missing or wrong ADMIN_TOKEN"
//	@Failure		403			{object}	ErrorResponse	"admin endpoints disabled (no ADMIN_TOKEN), or a cross-site request"
//	@Failure		503			{object}	ErrorResponse	"Redis unavailable"
//	@Router			/admin/dead [get]
func (h *handlers) listDead(c *gin.Context) {
	in := h.lane(c)
	if in == nil {
		return
	}
	partition, ok := h.deadPartition(c, in)
	if !ok {
		return
	}
	p, ok := pageParams(c)
	if !ok {
		return
	}
	jobs, total, err := in.Dead(c.Request.Context(), partition, p.Offset(), p.PerPage)
	if err != nil {
		h.respondErr(c, err)
		return
	}
	out := DeadJobList{Lane: in.Keys().Lane(), Jobs: make([]DeadJob, len(jobs)), Page: p.Page, PerPage: p.PerPage, Total: total}
	for i, j := range jobs {
		out.Jobs[i] = deadJob(j)
	}
	c.JSON(http.StatusOK, out)
}

// replayDead godoc
//
//	@Summary		Replay a dead job
//	@Description	Queues the dead job again at the front of its queue, with its attempts reset; on the hooks lane the delivery is attempted again (a paused endpoint's delivery dies again until the webhook is resumed). Served under /admin, outside /api/v1.
//	@Tags			admin
//	@Produce		json
//	@Security		AdminAuth
//	@Security		AdminBearer
//	@Param			id		path		string	true	"dead job id (from the list)"
//	@Param			lane	query		string	false	"queue lane: jobs (the writer's jobs) or hooks (webhook deliveries)"	Enums(jobs, hooks)	default(jobs)
//	@Success		200	{object}	ReplayResult
//	@Failure		400	{object}	ErrorResponse	"bad lane"
//	@Failure		401	{object}	ErrorResponse	"missing or wrong ADMIN_TOKEN"
//	@Failure		403	{object}	ErrorResponse	"admin endpoints disabled (no ADMIN_TOKEN), or a cross-site request"
//	@Failure		404	{object}	ErrorResponse	"no dead job has this id"
//	@Failure		409	{object}	ErrorResponse	"the job does not decode and cannot be replayed"
//	@Failure		503	{object}	ErrorResponse	"Redis unavailable"
//	@Router			/admin/dead/{id}/replay [post]
func (h *handlers) replayDead(c *gin.Context) {
	in := h.lane(c)
	if in == nil {
		return
	}
	if err := in.ReplayDead(c.Request.Context(), c.Param("id")); err != nil {
		h.respondErr(c, err)
		return
	}
	c.JSON(http.StatusOK, ReplayResult{Replayed: true})
}

// discardDead godoc
//
//	@Summary		Discard a dead job
//	@Description	Deletes the dead job for good. Served under /admin, outside /api/v1.
//	@Tags			admin
//	@Produce		json
//	@Security		AdminAuth
//	@Security		AdminBearer
//	@Param			id		path		string	true	"dead job id (from the list)"
//	@Param			lane	query		string	false	"queue lane: jobs (the writer's jobs) or hooks (webhook deliveries)"	Enums(jobs, hooks)	default(jobs)
//	@Success		200	{object}	DiscardResult
//	@Failure		400	{object}	ErrorResponse	"bad lane"
//	@Failure		401	{object}	ErrorResponse	"missing or wrong ADMIN_TOKEN"
//	@Failure		403	{object}	ErrorResponse	"admin endpoints disabled (no ADMIN_TOKEN), or a cross-site request"
//	@Failure		404	{object}	ErrorResponse	"no dead job has this id"
//	@Failure		503	{object}	ErrorResponse	"Redis unavailable"
//	@Router			/admin/dead/{id} [delete]
func (h *handlers) discardDead(c *gin.Context) {
	in := h.lane(c)
	if in == nil {
		return
	}
	if err := in.DiscardDead(c.Request.Context(), c.Param("id")); err != nil {
		h.respondErr(c, err)
		return
	}
	c.JSON(http.StatusOK, DiscardResult{Discarded: true})
}

// replayAllDead godoc
//
//	@Summary		Replay every dead job
//	@Description	Queues every dead job that decodes again (of one partition, or all), oldest first, with attempts reset. Jobs that do not decode stay. Served under /admin, outside /api/v1.
//	@Tags			admin
//	@Produce		json
//	@Security		AdminAuth
//	@Security		AdminBearer
//	@Param			lane		query		string	false	"queue lane: jobs (the writer's jobs) or hooks (webhook deliveries)"	Enums(jobs, hooks)	default(jobs)
//	@Param			partition	query		int	false	"one partition (default: all)"
//	@Success		200			{object}	ReplayAllResult
//	@Failure		400			{object}	ErrorResponse	"bad lane or partition"
//	@Failure		401			{object}	ErrorResponse	"missing or wrong ADMIN_TOKEN"
//	@Failure		403			{object}	ErrorResponse	"admin endpoints disabled (no ADMIN_TOKEN), or a cross-site request"
//	@Failure		503			{object}	ErrorResponse	"Redis unavailable"
//	@Router			/admin/dead/replay-all [post]
func (h *handlers) replayAllDead(c *gin.Context) {
	in := h.lane(c)
	if in == nil {
		return
	}
	partition, ok := h.deadPartition(c, in)
	if !ok {
		return
	}
	n, err := in.ReplayAllDead(c.Request.Context(), partition)
	if err != nil {
		h.respondErr(c, err)
		return
	}
	_, left, err := in.Dead(c.Request.Context(), partition, 0, 0)
	if err != nil {
		h.respondErr(c, err)
		return
	}
	c.JSON(http.StatusOK, ReplayAllResult{Replayed: n, Remaining: left})
}

// discardAllDead godoc
//
//	@Summary		Discard every dead job
//	@Description	Deletes every dead job (of one partition, or all), including those that do not decode. Served under /admin, outside /api/v1.
//	@Tags			admin
//	@Produce		json
//	@Security		AdminAuth
//	@Security		AdminBearer
//	@Param			lane		query		string	false	"queue lane: jobs (the writer's jobs) or hooks (webhook deliveries)"	Enums(jobs, hooks)	default(jobs)
//	@Param			partition	query		int	false	"one partition (default: all)"
//	@Success		200			{object}	DiscardAllResult
//	@Failure		400			{object}	ErrorResponse	"bad lane or partition"
//	@Failure		401			{object}	ErrorResponse	"missing or wrong ADMIN_TOKEN"
//	@Failure		403			{object}	ErrorResponse	"admin endpoints disabled (no ADMIN_TOKEN), or a cross-site request"
//	@Failure		503			{object}	ErrorResponse	"Redis unavailable"
//	@Router			/admin/dead [delete]
func (h *handlers) discardAllDead(c *gin.Context) {
	in := h.lane(c)
	if in == nil {
		return
	}
	partition, ok := h.deadPartition(c, in)
	if !ok {
		return
	}
	n, err := in.DiscardAllDead(c.Request.Context(), partition)
	if err != nil {
		h.respondErr(c, err)
		return
	}
	c.JSON(http.StatusOK, DiscardAllResult{Discarded: n})
}

// WebhookDelivery is one attempt to deliver an event to a webhook, or the
// decision not to attempt it (queue.HookDelivery), as an admin sees it.
type WebhookDelivery struct {
	// ID is the delivery id, the X-InstaChat-Delivery header: the same for
	// every attempt of one event to one webhook, and the id of its dead job.
	ID       string `json:"id" example:"0190f5a8c3e1a2b3c4d5e6f708192a3b.wh_3mzq7v2k4xw8b1n5c6d9f0g2hj"`
	Endpoint string `json:"endpoint" example:"wh_3mzq7v2k4xw8b1n5c6d9f0g2hj"`
	Event    string `json:"event" example:"message.created"`
	Position string `json:"position" example:"1764324000123-42"`
	Attempt  int    `json:"attempt" example:"1"`
	// Outcome is the attempt's kind, or dropped (the webhook is gone or no
	// longer wants the event) or dead (the webhook is paused) when none was
	// made.
	Outcome    string    `json:"outcome" example:"http_error" enums:"ok,http_error,timeout,connect,forbidden,tls,dropped,dead"`
	Status     int       `json:"status,omitempty" example:"500"`
	DurationMS int64     `json:"duration_ms" example:"84"`
	At         time.Time `json:"at"`
	Excerpt    string    `json:"excerpt,omitempty" example:"upstream unavailable"`
	Error      string    `json:"error,omitempty" example:"HTTP 500"`
	// Next is what became of the delivery: retry, dead, or empty when it is
	// done (delivered or dropped).
	Next string `json:"next,omitempty" example:"retry" enums:"retry,dead"`
} // @name WebhookDelivery

// WebhookDeliveryList is an application's recent webhook deliveries.
type WebhookDeliveryList struct {
	Deliveries []WebhookDelivery `json:"deliveries"`
} // @name WebhookDeliveryList

// Bounds of the recent deliveries' limit parameter.
const (
	defaultDeliveries = 50
	maxDeliveries     = queue.HookDeliveriesCap
)

// webhookDeliveries godoc
//
//	@Summary		Recent webhook deliveries of an application
//	@Description	The application's most recent webhook deliveries, newest first, over all its webhooks: each attempt with its outcome, status, duration, the start of the answer and what came next (the writers keep the last 100 per application, for 30 days after the last). Served under /admin, outside /api/v1.
//	@Tags			admin
//	@Produce		json
//	@Security		AdminAuth
//	@Security		AdminBearer
//	@Param			token	path		string	true	"application token"
//	@Param			limit	query		int		false	"deliveries to show"	default(50)	minimum(1)	maximum(100)
//	@Success		200		{object}	WebhookDeliveryList
//	@Failure		400		{object}	ErrorResponse	"bad limit"
//	@Failure		401		{object}	ErrorResponse	"missing or wrong ADMIN_TOKEN"
//	@Failure		403		{object}	ErrorResponse	"admin endpoints disabled (no ADMIN_TOKEN), or a cross-site request"
//	@Failure		404		{object}	ErrorResponse	"unknown token"
//	@Failure		503		{object}	ErrorResponse	"MySQL or Redis unavailable"
//	@Router			/admin/applications/{token}/webhook-deliveries [get]
func (h *handlers) webhookDeliveries(c *gin.Context) {
	limit, ok := queryInt(c, "limit")
	if !ok {
		return
	}
	if limit == 0 {
		limit = defaultDeliveries
	}
	if limit > maxDeliveries {
		fail(c, http.StatusBadRequest, fmt.Sprintf("limit must be at most %d", maxDeliveries))
		return
	}
	token := c.Param("token")
	if _, err := h.svc.Application(c.Request.Context(), token); err != nil {
		h.respondErr(c, err)
		return
	}
	ds, err := h.inspector.HookDeliveries(c.Request.Context(), chat.TokenDigest(token), limit)
	if err != nil {
		h.respondErr(c, err)
		return
	}
	out := WebhookDeliveryList{Deliveries: make([]WebhookDelivery, len(ds))}
	for i, d := range ds {
		out.Deliveries[i] = WebhookDelivery{ID: d.ID, Endpoint: d.Endpoint, Event: d.Event, Position: d.Position, Attempt: d.Attempt,
			Outcome: d.Outcome, Status: d.Status, DurationMS: d.DurationMS, At: d.Time(), Excerpt: d.Excerpt, Error: d.Error, Next: d.Next}
	}
	c.JSON(http.StatusOK, out)
}
