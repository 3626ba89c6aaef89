package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/instachat/instachat/pkg/telemetry"
)

// httpMetrics counts requests and their latency by route template and
// status, and what the rate limits refused or could not check.
type httpMetrics struct {
	requests        *prometheus.CounterVec
	latency         *prometheus.HistogramVec
	searchable      prometheus.Histogram
	rateLimited     *prometheus.CounterVec
	rateLimitErrors *prometheus.CounterVec
	idempotent      *prometheus.CounterVec
}

func newHTTPMetrics(reg prometheus.Registerer) *httpMetrics {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "instachat_http_requests_total", Help: "HTTP requests by route template, method and status.",
		}, []string{"route", "method", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "instachat_http_request_duration_seconds", Help: "HTTP request latency by route template, method and status.",
			Buckets: telemetry.LatencyBuckets,
		}, []string{"route", "method", "status"}),
	}
	m.searchable = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "instachat_job_searchable_lag_seconds", Help: "Time from the api accepting a message change to the index holding it (live reindex path).",
		Buckets: telemetry.LagBuckets,
	})
	m.rateLimited = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "instachat_rate_limited_total", Help: "Requests refused with 429 by rate limit (application_create per client address, application_writes per application).",
	}, []string{"limit"})
	m.rateLimitErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "instachat_rate_limit_errors_total", Help: "Rate limit checks that failed (Redis error or timeout) and let the request through unlimited.",
	}, []string{"limit"})
	m.idempotent = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "instachat_idempotent_requests_total",
		Help: "Writes that carried an Idempotency-Key, by outcome: fresh (done now), replayed (the first answer given again), reused (422: the key belongs to another request), refused (any other error, which records nothing).",
	}, []string{"outcome"})
	for _, outcome := range []string{"fresh", "replayed", "reused", "refused"} {
		m.idempotent.WithLabelValues(outcome)
	}
	// Both limits show from the start, at 0, also when limiting is off.
	for _, name := range []string{limitApplicationCreate, limitApplicationWrites} {
		m.rateLimited.WithLabelValues(name)
		m.rateLimitErrors.WithLabelValues(name)
	}
	reg.MustRegister(m.requests, m.latency, m.searchable, m.rateLimited, m.rateLimitErrors, m.idempotent)
	return m
}

// middleware records every request under its route template (never the raw
// path, which holds application tokens). Event streams are counted but kept
// out of the latency histogram: they last minutes to hours by design.
func (m *httpMetrics) middleware() gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		route := c.FullPath()
		if route == "" {
			route = "unmatched"
		}
		status, method := strconv.Itoa(c.Writer.Status()), methodLabel(c.Request.Method)
		m.requests.WithLabelValues(route, method, status).Inc()
		if !streamRoutes[route] || c.Writer.Status() >= 300 { // a refusal, not a stream
			m.latency.WithLabelValues(route, method, status).Observe(time.Since(start).Seconds())
		}
		if c.Request.Method != http.MethodGet && c.Request.Header.Get(idempotencyKeyHeader) != "" {
			m.idempotent.WithLabelValues(idempotencyOutcome(c)).Inc()
		}
	}
}

// idempotencyOutcome names what became of a write that carried an
// Idempotency-Key, from its answer.
func idempotencyOutcome(c *gin.Context) string {
	switch status := c.Writer.Status(); {
	case c.Writer.Header().Get(replayedHeader) == "true":
		return "replayed"
	case status == http.StatusUnprocessableEntity:
		return "reused"
	case status < 300:
		return "fresh"
	}
	return "refused"
}

// methodLabel is a request's method as a metric label or log field: one of
// the methods the api knows, or "other". A client may send any token as its
// method; labelled as sent, made-up methods would each start new series and
// long ones would bloat every scrape.
func methodLabel(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions:
		return method
	}
	return "other"
}

// indexed records how long indexed documents took to become searchable.
func (m *httpMetrics) indexed(accepted []int64, now time.Time) {
	if m == nil {
		return
	}
	for _, a := range accepted {
		if a > 0 {
			m.searchable.Observe(now.Sub(time.UnixMicro(a)).Seconds())
		}
	}
}
