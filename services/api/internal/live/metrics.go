package live

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the live streams' Prometheus series.
type Metrics struct {
	subscribers *prometheus.GaugeVec
	delivered   *prometheus.CounterVec
	drops       *prometheus.CounterVec
	resumes     *prometheus.CounterVec
	delivery    prometheus.Histogram
}

// NewMetrics registers the series on reg, every label value at 0 from the start.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		subscribers: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "instachat_event_subscribers", Help: "Open live-event streams by transport (sse, ws) and scope (chat, app).",
		}, []string{"transport", "scope"}),
		delivered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "instachat_events_delivered_total", Help: "Events written and flushed to live-event streams, by transport.",
		}, []string{"transport"}),
		drops: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "instachat_event_drops_total", Help: "Live-event streams closed or refused: slow (buffer full), write_timeout (a write failed), limit_process and limit_app (429).",
		}, []string{"reason"}),
		resumes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "instachat_event_resumes_total", Help: "Streams resumed from a position, by where the missed events came from (ring, redis, journal) or reset when they could not be served.",
		}, []string{"source"}),
		delivery: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "instachat_event_delivery_seconds", Help: "Time from the api accepting a write to its event being flushed to a live stream.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}),
	}
	for _, t := range []string{transportSSE, transportWS} {
		m.delivered.WithLabelValues(t)
		for _, s := range []string{"chat", "app"} {
			m.subscribers.WithLabelValues(t, s)
		}
	}
	for _, r := range []string{"slow", "write_timeout", "limit_process", "limit_app"} {
		m.drops.WithLabelValues(r)
	}
	for _, s := range []string{"ring", "redis", "journal", "reset"} {
		m.resumes.WithLabelValues(s)
	}
	reg.MustRegister(m.subscribers, m.delivered, m.drops, m.resumes, m.delivery)
	return m
}

// The methods do nothing on a nil *Metrics.

func (m *Metrics) subscribed(transport, scope string, d float64) {
	if m != nil {
		m.subscribers.WithLabelValues(transport, scope).Add(d)
	}
}

func (m *Metrics) drop(reason string) {
	if m != nil {
		m.drops.WithLabelValues(reason).Inc()
	}
}

func (m *Metrics) resumed(source string) {
	if m != nil {
		m.resumes.WithLabelValues(source).Inc()
	}
}

// flushed records events that reached a client at now.
func (m *Metrics) flushed(transport string, accepted []time.Time, now time.Time) {
	if m == nil || len(accepted) == 0 {
		return
	}
	m.delivered.WithLabelValues(transport).Add(float64(len(accepted)))
	for _, a := range accepted {
		m.delivery.Observe(max(now.Sub(a), 0).Seconds())
	}
}
