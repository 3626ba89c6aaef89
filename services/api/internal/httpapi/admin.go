package httpapi

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

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
	Partition int    `json:"partition" example:"3"`
	ID        string `json:"id" example:"0190f5a8c3e1a2b3c4d5e6f708192a3b"`
	Type      string `json:"type,omitempty" example:"message.create"`
	Chat      int64  `json:"chat" example:"1"`
	Message   int64  `json:"message" example:"42"`
	Body      string `json:"body,omitempty" example:"Hello, world"`
	Attempt   int    `json:"attempt" example:"25"`
	Error     string `json:"error,omitempty" example:"apply message 1/42: lock wait timeout"`
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
	out.Type, out.Chat, out.Message, out.Body = e.Type, e.Chat, e.Message, e.Body
	out.Attempt, out.Error, out.EventTime, out.Trace = e.Attempt, e.Error, &at, e.Trace
	return out
}

// DeadJobList is one page of dead jobs.
type DeadJobList struct {
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

// deadPartition reads the optional partition query parameter; -1 means all.
// A bad one is answered (400) and reported as false.
func (h *handlers) deadPartition(c *gin.Context) (int, bool) {
	p, err := h.inspector.ParsePartition(c.Query("partition"))
	if err != nil {
		h.respondErr(c, err)
		return 0, false
	}
	return p, true
}

// listDead godoc
//
//	@Summary		List dead jobs
//	@Description	Jobs that used up their attempts, newest first: the newest of every partition, then the second newest of each, and so on. Served at /admin/dead, outside /api/v1. Jobs that do not decode show their id and decoded=false only.
//	@Tags			admin
//	@Produce		json
//	@Security		AdminAuth
//	@Security		AdminBearer
//	@Param			partition	query		int	false	"one partition (default: all)"
//	@Param			page		query		int	false	"page, from 1"		default(1)	minimum(1)	maximum(100000)
//	@Param			per_page	query		int	false	"items per page"	default(20)	minimum(1)	maximum(100)
//	@Success		200			{object}	DeadJobList
//	@Failure		400			{object}	ErrorResponse	"bad partition or pagination"
//	@Failure		401			{object}	ErrorResponse	"missing or wrong ADMIN_TOKEN"
//	@Failure		403			{object}	ErrorResponse	"admin endpoints disabled (no ADMIN_TOKEN), or a cross-site request"
//	@Failure		503			{object}	ErrorResponse	"Redis unavailable"
//	@Router			/admin/dead [get]
func (h *handlers) listDead(c *gin.Context) {
	partition, ok := h.deadPartition(c)
	if !ok {
		return
	}
	p, ok := pageParams(c)
	if !ok {
		return
	}
	jobs, total, err := h.inspector.Dead(c.Request.Context(), partition, p.Offset(), p.PerPage)
	if err != nil {
		h.respondErr(c, err)
		return
	}
	out := DeadJobList{Jobs: make([]DeadJob, len(jobs)), Page: p.Page, PerPage: p.PerPage, Total: total}
	for i, j := range jobs {
		out.Jobs[i] = deadJob(j)
	}
	c.JSON(http.StatusOK, out)
}

// replayDead godoc
//
//	@Summary		Replay a dead job
//	@Description	Queues the dead job again at the front of its queue, with its attempts reset. Served under /admin, outside /api/v1.
//	@Tags			admin
//	@Produce		json
//	@Security		AdminAuth
//	@Security		AdminBearer
//	@Param			id	path		string	true	"dead job id (from the list)"
//	@Success		200	{object}	ReplayResult
//	@Failure		401	{object}	ErrorResponse	"missing or wrong ADMIN_TOKEN"
//	@Failure		403	{object}	ErrorResponse	"admin endpoints disabled (no ADMIN_TOKEN), or a cross-site request"
//	@Failure		404	{object}	ErrorResponse	"no dead job has this id"
//	@Failure		409	{object}	ErrorResponse	"the job does not decode and cannot be replayed"
//	@Failure		503	{object}	ErrorResponse	"Redis unavailable"
//	@Router			/admin/dead/{id}/replay [post]
func (h *handlers) replayDead(c *gin.Context) {
	if err := h.inspector.ReplayDead(c.Request.Context(), c.Param("id")); err != nil {
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
//	@Param			id	path		string	true	"dead job id (from the list)"
//	@Success		200	{object}	DiscardResult
//	@Failure		401	{object}	ErrorResponse	"missing or wrong ADMIN_TOKEN"
//	@Failure		403	{object}	ErrorResponse	"admin endpoints disabled (no ADMIN_TOKEN), or a cross-site request"
//	@Failure		404	{object}	ErrorResponse	"no dead job has this id"
//	@Failure		503	{object}	ErrorResponse	"Redis unavailable"
//	@Router			/admin/dead/{id} [delete]
func (h *handlers) discardDead(c *gin.Context) {
	if err := h.inspector.DiscardDead(c.Request.Context(), c.Param("id")); err != nil {
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
//	@Param			partition	query		int	false	"one partition (default: all)"
//	@Success		200			{object}	ReplayAllResult
//	@Failure		400			{object}	ErrorResponse	"bad partition"
//	@Failure		401			{object}	ErrorResponse	"missing or wrong ADMIN_TOKEN"
//	@Failure		403			{object}	ErrorResponse	"admin endpoints disabled (no ADMIN_TOKEN), or a cross-site request"
//	@Failure		503			{object}	ErrorResponse	"Redis unavailable"
//	@Router			/admin/dead/replay-all [post]
func (h *handlers) replayAllDead(c *gin.Context) {
	partition, ok := h.deadPartition(c)
	if !ok {
		return
	}
	n, err := h.inspector.ReplayAllDead(c.Request.Context(), partition)
	if err != nil {
		h.respondErr(c, err)
		return
	}
	_, left, err := h.inspector.Dead(c.Request.Context(), partition, 0, 0)
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
//	@Param			partition	query		int	false	"one partition (default: all)"
//	@Success		200			{object}	DiscardAllResult
//	@Failure		400			{object}	ErrorResponse	"bad partition"
//	@Failure		401			{object}	ErrorResponse	"missing or wrong ADMIN_TOKEN"
//	@Failure		403			{object}	ErrorResponse	"admin endpoints disabled (no ADMIN_TOKEN), or a cross-site request"
//	@Failure		503			{object}	ErrorResponse	"Redis unavailable"
//	@Router			/admin/dead [delete]
func (h *handlers) discardAllDead(c *gin.Context) {
	partition, ok := h.deadPartition(c)
	if !ok {
		return
	}
	n, err := h.inspector.DiscardAllDead(c.Request.Context(), partition)
	if err != nil {
		h.respondErr(c, err)
		return
	}
	c.JSON(http.StatusOK, DiscardAllResult{Discarded: n})
}
