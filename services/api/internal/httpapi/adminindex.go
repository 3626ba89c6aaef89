package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/instachat/instachat/pkg/chat"
	"github.com/instachat/instachat/services/api/internal/index"
)

// RebuildProgressPath is where a rebuild's progress is read.
const RebuildProgressPath = "/admin/index/rebuild"

// RebuildStarted answers a rebuild request.
type RebuildStarted struct {
	Started  bool   `json:"started" example:"true"`
	Progress string `json:"progress" example:"/admin/index/rebuild"`
} // @name RebuildStarted

// RebuildProgress is the state of the search index's rebuild.
type RebuildProgress struct {
	Index string `json:"index" example:"bleve-v1"`
	// Status is "running" (queued or running in this api), "finished",
	// "interrupted" (started, unfinished, not running: it resumes at the next
	// start or request) or "never".
	Status     string     `json:"status" example:"running" enums:"running,finished,interrupted,never"`
	Done       int64      `json:"done" example:"450000"`
	Total      int64      `json:"total" example:"1000000"`
	StartedAt  *time.Time `json:"started_at,omitempty"`
	UpdatedAt  *time.Time `json:"updated_at,omitempty"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
} // @name RebuildProgress

// startRebuild godoc
//
//	@Summary		Rebuild the search index
//	@Description	Starts rebuilding the search index from MySQL in the api's background, resuming an unfinished rebuild unless restart=true; searches keep working meanwhile. Follow it at GET /admin/index/rebuild (the Location header). `api rebuild` (`make reindex`) asks a running api this way.
//	@Tags			admin
//	@Produce		json
//	@Security		AdminAuth
//	@Security		AdminBearer
//	@Param			restart	query		bool	false	"start from the first message"
//	@Success		202		{object}	RebuildStarted
//	@Header			202		{string}	Location	"the progress URL"
//	@Failure		400		{object}	ErrorResponse	"restart is not a boolean"
//	@Failure		401		{object}	ErrorResponse	"missing or wrong ADMIN_TOKEN"
//	@Failure		403		{object}	ErrorResponse	"admin endpoints disabled (no ADMIN_TOKEN), or a cross-site request"
//	@Failure		409		{object}	ErrorResponse	"a rebuild is already running; follow it at the Location"
//	@Failure		503		{object}	ErrorResponse	"search unavailable"
//	@Router			/admin/index/rebuild [post]
func (h *handlers) startRebuild(c *gin.Context) {
	restart := false
	if raw := c.Query("restart"); raw != "" {
		var err error
		if restart, err = strconv.ParseBool(raw); err != nil {
			fail(c, http.StatusBadRequest, "restart must be true or false")
			return
		}
	}
	if h.cfg.Index == nil {
		h.respondErr(c, chat.Unavailable("search"))
		return
	}
	c.Header("Location", RebuildProgressPath)
	if !h.cfg.Index.StartRebuild(restart) {
		fail(c, http.StatusConflict, "a rebuild is already running; follow it at GET "+RebuildProgressPath)
		return
	}
	h.log.InfoContext(c, "search index rebuild requested", "restart", restart)
	c.JSON(http.StatusAccepted, RebuildStarted{Started: true, Progress: RebuildProgressPath})
}

// rebuildProgress godoc
//
//	@Summary		Search index rebuild progress
//	@Description	The rebuild of the index searches use: running, finished, interrupted or never started, with the messages walked (done) out of all (total).
//	@Tags			admin
//	@Produce		json
//	@Security		AdminAuth
//	@Security		AdminBearer
//	@Success		200	{object}	RebuildProgress
//	@Failure		401	{object}	ErrorResponse	"missing or wrong ADMIN_TOKEN"
//	@Failure		403	{object}	ErrorResponse	"admin endpoints disabled (no ADMIN_TOKEN)"
//	@Failure		503	{object}	ErrorResponse	"MySQL or search unavailable"
//	@Router			/admin/index/rebuild [get]
func (h *handlers) rebuildProgress(c *gin.Context) {
	if h.cfg.Index == nil {
		h.respondErr(c, chat.Unavailable("search"))
		return
	}
	p, err := h.cfg.Index.RebuildProgress(c.Request.Context())
	if err != nil {
		h.respondErr(c, err)
		return
	}
	c.JSON(http.StatusOK, rebuildProgress(p))
}

func rebuildProgress(p index.Progress) RebuildProgress {
	out := RebuildProgress{Index: p.Index, Done: p.Done, Total: p.Total,
		StartedAt: timeOrNil(p.StartedAt), UpdatedAt: timeOrNil(p.UpdatedAt), FinishedAt: timeOrNil(p.FinishedAt)}
	switch {
	case p.Running:
		out.Status = "running"
	case !p.Started:
		out.Status = "never"
	case !p.FinishedAt.IsZero():
		out.Status = "finished"
	default:
		out.Status = "interrupted"
	}
	return out
}

func timeOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}
