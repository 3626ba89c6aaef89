package worker

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/instachat/instachat/pkg/telemetry"
	"github.com/instachat/instachat/services/writer/internal/apply"
)

// Metrics are the writer's job counters and pipeline lags.
type Metrics struct {
	jobs       *prometheus.CounterVec
	outOfOrder *prometheus.CounterVec
	commitLag  prometheus.Histogram
	batches    prometheus.Histogram
	failures   *prometheus.CounterVec
	stages     *prometheus.HistogramVec
	conflicts  *prometheus.CounterVec
	later      prometheus.Counter
}

// NewMetrics registers the writer's metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		jobs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "instachat_jobs_total", Help: "Jobs by type and outcome (applied, duplicate, stale, parked, retried, dead).",
		}, []string{"type", "outcome"}),
		outOfOrder: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "instachat_out_of_order_total", Help: "Out-of-order events detected, by kind.",
		}, []string{"kind"}),
		commitLag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "instachat_job_commit_lag_seconds", Help: "Time from the api accepting a job to its commit in MySQL.",
			Buckets: telemetry.LagBuckets,
		}),
		batches: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "instachat_batch_size", Help: "Jobs per writer transaction.",
			Buckets: []float64{1, 2, 5, 10, 25, 50, 100, 250, 500, 1000},
		}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "instachat_batch_failures_total", Help: "Batches that did not commit, by reason (transient, job).",
		}, []string{"reason"}),
		stages: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "instachat_writer_stage_seconds", Help: "Time one batch spends in each stage of the writer's loop (fetch, resolve, apply, park, ack, record, observe).",
			Buckets: telemetry.LatencyBuckets,
		}, []string{"stage"}),
	}
	m.conflicts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "instachat_number_conflicts_total",
		Help: "Creates whose number another event's row already held (a number handed out twice), kept on the dead list, by job type.",
	}, []string{"type"})
	m.later = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "instachat_writer_index_later_jobs_total",
		Help: "Jobs of full batches (a backlog behind them) left to the api's search catch-up instead of the live reindex.",
	})
	reg.MustRegister(m.jobs, m.outOfOrder, m.commitLag, m.batches, m.failures, m.stages, m.conflicts, m.later)
	return m
}

func (m *Metrics) committed(res apply.Result, at time.Time) {
	if m == nil {
		return
	}
	m.batches.Observe(float64(len(res.Jobs)))
	for i, j := range res.Jobs {
		o := res.Each[i]
		m.jobs.WithLabelValues(j.Env.Type, o.String()).Inc()
		if k := apply.Detail(j.Env.Type, o); k != "" {
			m.outOfOrder.WithLabelValues(k).Inc()
		}
		if !o.Parked() {
			m.commitLag.Observe(at.Sub(j.Env.AcceptedAt()).Seconds())
		}
	}
}

func (m *Metrics) indexedLater(jobs int) {
	if m != nil {
		m.later.Add(float64(jobs))
	}
}

func (m *Metrics) job(typ, outcome string) {
	if m != nil {
		m.jobs.WithLabelValues(typ, outcome).Inc()
	}
}

func (m *Metrics) conflict(typ string) {
	if m != nil {
		m.conflicts.WithLabelValues(typ).Inc()
	}
}

func (m *Metrics) failed(reason string) {
	if m != nil {
		m.failures.WithLabelValues(reason).Inc()
	}
}

// stage observes the time since *start under name and moves *start to now.
func (m *Metrics) stage(name string, start *time.Time) {
	now := time.Now()
	if m != nil {
		m.stages.WithLabelValues(name).Observe(now.Sub(*start).Seconds())
	}
	*start = now
}
