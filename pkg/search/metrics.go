package search

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Measured wraps an engine and reports each call's latency and errors.
type Measured struct {
	e       Engine
	latency *prometheus.HistogramVec
	errors  *prometheus.CounterVec
}

// WithMetrics returns e measured into reg as instachat_search_duration_seconds
// and instachat_search_errors_total, by operation (search, index, delete).
func WithMetrics(e Engine, reg prometheus.Registerer) *Measured {
	m := &Measured{
		e: e,
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "instachat_search_duration_seconds", Help: "Search engine call latency by operation.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .02, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"op", "backend"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "instachat_search_errors_total", Help: "Search engine call errors by operation.",
		}, []string{"op", "backend"}),
	}
	reg.MustRegister(m.latency, m.errors)
	return m
}

func (m *Measured) observe(op string, start time.Time, err error) {
	backend := m.e.Info().Backend
	m.latency.WithLabelValues(op, backend).Observe(time.Since(start).Seconds())
	if err != nil {
		m.errors.WithLabelValues(op, backend).Inc()
	}
}

// Info forwards to the engine.
func (m *Measured) Info() Info { return m.e.Info() }

// Index forwards to the engine and measures the call.
func (m *Measured) Index(ctx context.Context, docs []Doc) error {
	start := time.Now()
	err := m.e.Index(ctx, docs)
	m.observe("index", start, err)
	return err
}

// Delete forwards to the engine and measures the call.
func (m *Measured) Delete(ctx context.Context, keys []Key) error {
	start := time.Now()
	err := m.e.Delete(ctx, keys)
	m.observe("delete", start, err)
	return err
}

// Search forwards to the engine and measures the call.
func (m *Measured) Search(ctx context.Context, q Query) (Result, error) {
	start := time.Now()
	res, err := m.e.Search(ctx, q)
	m.observe("search", start, err)
	return res, err
}

// SwitchOver forwards to the engine.
func (m *Measured) SwitchOver(ctx context.Context) error { return m.e.SwitchOver(ctx) }

// Ping forwards to the engine; readiness checks are not measured.
func (m *Measured) Ping(ctx context.Context) error { return m.e.Ping(ctx) }

// Close closes the engine.
func (m *Measured) Close() error { return m.e.Close() }
