package delivery

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/instachat/instachat/pkg/webhook"
)

// Metrics count the webhook deliveries. The endpoint label is the webhook
// id: at most settings.MaxWebhooks per application.
type Metrics struct {
	deliveries *prometheus.CounterVec
	seconds    prometheus.Histogram
	retries    prometheus.Counter
	pauses     prometheus.Counter
}

// NewMetrics registers the delivery metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "instachat_webhook_deliveries_total",
			Help: "Webhook delivery attempts by endpoint and outcome (ok, http_error, timeout, connect, forbidden, tls, canceled), " +
				"and deliveries not attempted (dropped: endpoint deleted or unsubscribed) or buried on the dead list (dead: after the last attempt, or endpoint paused).",
		}, []string{"endpoint", "outcome"}),
		seconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "instachat_webhook_delivery_seconds", Help: "Duration of webhook delivery requests, until the status and excerpt were read.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}),
		retries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "instachat_webhook_retries_total", Help: "Failed webhook deliveries scheduled for another attempt.",
		}),
		pauses: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "instachat_webhook_endpoints_paused_total", Help: "Webhook endpoints this process paused because they kept failing.",
		}),
	}
	reg.MustRegister(m.deliveries, m.seconds, m.retries, m.pauses)
	return m
}

// delivered counts an attempt by its outcome.
func (m *Metrics) delivered(endpoint string, res webhook.Result) {
	if m == nil {
		return
	}
	m.deliveries.WithLabelValues(endpoint, string(res.Kind)).Inc()
	if res.Kind != webhook.KindCanceled {
		m.seconds.Observe(res.Duration.Seconds())
	}
}

// outcome counts a delivery dropped or buried.
func (m *Metrics) outcome(endpoint, outcome string) {
	if m != nil {
		m.deliveries.WithLabelValues(endpoint, outcome).Inc()
	}
}

func (m *Metrics) retried() {
	if m != nil {
		m.retries.Inc()
	}
}

func (m *Metrics) paused() {
	if m != nil {
		m.pauses.Inc()
	}
}
