package httpapi

import (
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/instachat/instachat/pkg/telemetry"
)

const traceKey = "trace_id"

// traceMiddleware gives every request a trace id: the caller's X-Request-ID
// (or the trace id of a W3C traceparent) when well-formed, a new one otherwise.
// The id goes into the request context (so slog lines carry it), the job
// envelope and the response header.
func traceMiddleware() gin.HandlerFunc {
	return func(c *gin.Context) {
		id := telemetry.TraceFromHeaders(c.GetHeader("traceparent"), c.GetHeader("X-Request-ID"))
		c.Set(traceKey, id)
		c.Request = c.Request.WithContext(telemetry.WithTrace(c.Request.Context(), id))
		c.Header("X-Request-ID", id)
		c.Next()
	}
}

func traceID(c *gin.Context) string { return c.GetString(traceKey) }

// logMiddleware logs one line per request with the route template, never the
// raw path: paths carry application tokens, which are secrets.
func logMiddleware(log *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		route := c.FullPath()
		if route == "" {
			route = "unmatched"
		}
		if route == "/healthz" || route == "/readyz" {
			return
		}
		level := slog.LevelInfo
		if c.Writer.Status() >= 500 {
			level = slog.LevelError
		}
		log.Log(c.Request.Context(), level, "request",
			"method", methodLabel(c.Request.Method), "route", route, "status", c.Writer.Status(),
			"duration_ms", float64(time.Since(start).Microseconds())/1000)
	}
}

// recoverMiddleware turns a panic into a logged 500 with a JSON body.
func recoverMiddleware(log *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		defer func() {
			if r := recover(); r != nil {
				log.ErrorContext(c.Request.Context(), "panic", "route", c.FullPath(), "panic", r)
				fail(c, http.StatusInternalServerError, "internal error")
			}
		}()
		c.Next()
	}
}

// newlineWriter remembers the last byte a handler wrote.
type newlineWriter struct {
	gin.ResponseWriter
	last byte
}

// Unwrap lets http.ResponseController reach the connection (deadlines of
// event streams) through this wrapper.
func (w *newlineWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *newlineWriter) Write(b []byte) (int, error) {
	if len(b) > 0 {
		w.last = b[len(b)-1]
	}
	return w.ResponseWriter.Write(b)
}

func (w *newlineWriter) WriteString(s string) (int, error) {
	if len(s) > 0 {
		w.last = s[len(s)-1]
	}
	return w.ResponseWriter.WriteString(s)
}

// jsonNewline ends every JSON response with a newline, as curl users and
// line-oriented tools expect (gin's JSON rendering writes none). Event
// streams are text/event-stream or hijacked (WebSocket): left alone.
func jsonNewline() gin.HandlerFunc {
	return func(c *gin.Context) {
		w := &newlineWriter{ResponseWriter: c.Writer}
		c.Writer = w
		c.Next()
		if w.Written() && w.last != '\n' && strings.HasPrefix(w.Header().Get("Content-Type"), "application/json") {
			_, _ = w.ResponseWriter.Write([]byte{'\n'})
		}
	}
}
