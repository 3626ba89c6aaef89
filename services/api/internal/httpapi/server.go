// Package httpapi is the api's HTTP edge: routes, request binding, response
// shapes and the one place that maps domain errors to status codes. Gin
// types stay inside this package.
package httpapi

import (
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/instachat/instachat/pkg/queue"
	"github.com/instachat/instachat/pkg/telemetry"
	"github.com/instachat/instachat/services/api/internal/chats"
	"github.com/instachat/instachat/services/api/internal/dashboard"
	"github.com/instachat/instachat/services/api/internal/index"
	"github.com/instachat/instachat/services/api/internal/live"
)

// MaxHeaderBytes bounds a request's line and headers (http.Server's
// MaxHeaderBytes); net/http answers 431 beyond it. The api's requests carry a
// token in the path and a few short headers: 16 KiB leaves room for long
// cookies and trace headers while a client can no longer make every request
// hold a megabyte of memory (Go's default).
const MaxHeaderBytes = 16 << 10

// Config holds what the HTTP layer needs besides the service.
type Config struct {
	// InternalToken is the shared secret the writer presents to /internal/*.
	InternalToken string
	// Index takes the writer's reindex calls; without it they answer 503.
	Index *index.Index
	// AdminToken is the secret that opens /admin/*; empty turns them off.
	AdminToken string
	// Version is reported by /healthz.
	Version string
	// Metrics, when set, receives the HTTP metrics and is served at /metrics.
	Metrics *prometheus.Registry
	// RateLimit limits application creates and writes; its zero value limits nothing.
	RateLimit RateLimit
	// TrustedProxies are the peers whose X-Forwarded-For names the client
	// (for the per-address limit); none means the TCP peer is the client.
	TrustedProxies []netip.Prefix
	// HistorySettle is how long a number still being written may hold back
	// the items after it in a cursor page (chats.DefaultSettle when zero).
	HistorySettle time.Duration
	// Live serves the event streams; without it they answer 503.
	Live *live.Hub
	// Hooks inspects the webhook deliveries' lane (queue.Keys.Hooks) for
	// the admin endpoints (?lane=hooks) and its dashboard page; without it
	// they answer 503.
	Hooks *queue.Inspector
}

// NewServer returns the api's http.Handler. Gin's mode is process-wide, so
// main sets it (release), not this constructor. The queue inspector (the
// jobs lane) serves the admin endpoints (dead jobs) and the queue
// dashboard; cfg.Hooks does the same for the webhook deliveries' lane.
func NewServer(cfg Config, svc *chats.Service, inspector *queue.Inspector, log *slog.Logger) http.Handler {
	if cfg.HistorySettle <= 0 {
		cfg.HistorySettle = chats.DefaultSettle
	}
	r := gin.New()
	if err := trustProxies(r, cfg.TrustedProxies); err != nil {
		// Prefixes always parse; should one not, trust no proxy at all.
		log.Error("trusted proxies refused; trusting none", "err", err)
		_ = trustProxies(r, nil)
	}
	r.HandleMethodNotAllowed = true
	// Handlers still hand c.Request.Context(), never c, to the service:
	// database/sql watches a query's context from a goroutine that may
	// outlive the handler, and gin reuses a *gin.Context for later requests.
	r.ContextWithFallback = true
	r.Use(jsonNewline(), traceMiddleware(), logMiddleware(log), recoverMiddleware(log))
	var metrics *httpMetrics
	if cfg.Metrics != nil {
		metrics = newHTTPMetrics(cfg.Metrics)
		r.Use(metrics.middleware())
		r.GET("/metrics", gin.WrapH(telemetry.MetricsHandler(cfg.Metrics)))
	}
	r.NoRoute(func(c *gin.Context) { fail(c, http.StatusNotFound, "no such route") })
	r.NoMethod(func(c *gin.Context) { fail(c, http.StatusMethodNotAllowed, "method not allowed on this route") })
	cfg.RateLimit.AppWrites = svc.WriteRateLimit
	h := &handlers{svc: svc, inspector: inspector, cfg: cfg, log: log, metrics: metrics, limits: newLimiter(cfg.RateLimit, metrics, log),
		dashboard: dashboard.New(dashboard.Config{Path: jobsDashboardPath, AdminToken: cfg.AdminToken, Lanes: dashboardLanes}, inspector, log)}
	if cfg.Hooks != nil {
		h.hooksDashboard = dashboard.New(dashboard.Config{Path: hooksDashboardPath, AdminToken: cfg.AdminToken, Lanes: dashboardLanes}, cfg.Hooks, log)
	}
	addRoutes(r, h)
	return r
}

type handlers struct {
	metrics   *httpMetrics // nil without cfg.Metrics
	limits    *limiter     // nil when rate limiting is off
	svc       *chats.Service
	inspector *queue.Inspector
	cfg       Config
	log       *slog.Logger
	dashboard *dashboard.Dashboard // the jobs lane's
	// hooksDashboard is the webhook deliveries' lane's; nil without cfg.Hooks.
	hooksDashboard *dashboard.Dashboard
}

// The queue dashboard's pages, one per lane, each linking to both.
const (
	jobsDashboardPath  = "/admin/queues"
	hooksDashboardPath = "/admin/queues/hooks"
)

// dashboardLanes are the links at the top of both pages.
var dashboardLanes = []dashboard.Lane{{Name: "Jobs", Path: jobsDashboardPath}, {Name: "Webhook deliveries", Path: hooksDashboardPath}}
