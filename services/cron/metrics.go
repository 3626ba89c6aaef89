package main

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// syncMetrics report the counter sync: runs by result, duration and the
// drift it corrected.
type syncMetrics struct {
	runs     *prometheus.CounterVec
	duration prometheus.Histogram
	drift    prometheus.Counter
	rows     *prometheus.CounterVec
}

func newSyncMetrics(reg prometheus.Registerer) *syncMetrics {
	m := &syncMetrics{
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "instachat_counter_sync_runs_total", Help: "Counter sync runs by result (ok, error).",
		}, []string{"result"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "instachat_counter_sync_duration_seconds", Help: "Counter sync duration.",
			Buckets: []float64{.01, .05, .1, .5, 1, 5, 10, 30, 60, 300, 900},
		}),
		drift: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "instachat_counter_sync_drift_total", Help: "Sum of |stored − actual| over the counts the sync corrected.",
		}),
		rows: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "instachat_counter_sync_corrected_total", Help: "Rows whose count the sync corrected, by table.",
		}, []string{"table"}),
	}
	reg.MustRegister(m.runs, m.duration, m.drift, m.rows)
	return m
}

func (m *syncMetrics) observe(start time.Time, chats, apps, drift int64, err error) {
	if m == nil {
		return
	}
	m.duration.Observe(time.Since(start).Seconds())
	if err != nil {
		m.runs.WithLabelValues("error").Inc()
		return
	}
	m.runs.WithLabelValues("ok").Inc()
	m.drift.Add(float64(drift))
	m.rows.WithLabelValues("chats").Add(float64(chats))
	m.rows.WithLabelValues("applications").Add(float64(apps))
}
