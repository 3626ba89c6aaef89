// Package telemetry sets up structured logging and carries trace ids, so one
// id follows a request through its job, the writer's transaction and the
// reindex call.
package telemetry

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"strings"
)

type traceCtxKey struct{}

// NewTraceID returns a random 128-bit trace id in hex (W3C trace-id form).
func NewTraceID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// WithTrace returns ctx carrying a trace id.
func WithTrace(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, traceCtxKey{}, id)
}

// Trace returns the trace id in ctx, or "".
func Trace(ctx context.Context) string {
	id, _ := ctx.Value(traceCtxKey{}).(string)
	return id
}

// TraceFromHeaders picks the trace id of a W3C traceparent header, else a
// well-formed X-Request-ID, else a new id.
func TraceFromHeaders(traceparent, requestID string) string {
	if parts := strings.Split(traceparent, "-"); len(parts) == 4 && len(parts[1]) == 32 && isHex(parts[1]) {
		return parts[1]
	}
	if n := len(requestID); n >= 8 && n <= 64 && isToken(requestID) {
		return requestID
	}
	return NewTraceID()
}

func isHex(s string) bool {
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

func isToken(s string) bool {
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// LogConfig chooses the log format and level.
type LogConfig struct {
	Format  string // "json" or "text"
	Level   string // "debug", "info", "warn", "error"
	Service string // added to every line
}

// NewLogger returns a slog.Logger that adds the trace id of the context to
// every line logged with a context.
func NewLogger(w io.Writer, cfg LogConfig) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.Level)); err != nil {
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler
	if cfg.Format == "json" {
		h = slog.NewJSONHandler(w, opts)
	} else {
		h = slog.NewTextHandler(w, opts)
	}
	return slog.New(traceHandler{h}).With("service", cfg.Service)
}

type traceHandler struct{ slog.Handler }

func (h traceHandler) Handle(ctx context.Context, r slog.Record) error {
	if id := Trace(ctx); id != "" {
		r.AddAttrs(slog.String("trace_id", id))
	}
	return h.Handler.Handle(ctx, r)
}

func (h traceHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return traceHandler{h.Handler.WithAttrs(attrs)}
}

func (h traceHandler) WithGroup(name string) slog.Handler {
	return traceHandler{h.Handler.WithGroup(name)}
}
