package queue

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Collector reports queue depth and the age of the oldest job per state,
// read from Redis at scrape time, so every service that registers it shows
// the same truth.
type Collector struct {
	in      *Inspector
	timeout time.Duration
	jobs    *prometheus.Desc
	oldest  *prometheus.Desc
	up      *prometheus.Desc
}

// NewCollector returns a Collector over an inspector of the queue. The jobs
// lane's metrics are named instachat_queue_*; another lane's carry its name
// (instachat_hooks_queue_* for Keys.Hooks), so a process can register both.
func NewCollector(in *Inspector) *Collector {
	name, of := "instachat_queue_", ""
	if lane := in.keys.Lane(); lane != "jobs" {
		name, of = "instachat_"+lane+"_queue_", " ("+lane+" lane)"
	}
	return &Collector{
		in:      in,
		timeout: 2 * time.Second,
		jobs: prometheus.NewDesc(name+"jobs", "Jobs per queue state and partition"+of+", read from Redis at scrape time.",
			[]string{"state", "partition"}, nil),
		oldest: prometheus.NewDesc(name+"oldest_job_age_seconds", "Age of the oldest job per queue state"+of+" (since the api accepted it).",
			[]string{"state"}, nil),
		up: prometheus.NewDesc(name+"scrape_ok", "1 when Redis answered the last scrape of the queue"+of+".", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.jobs
	ch <- c.oldest
	ch <- c.up
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	depths, err := c.in.Depths(ctx)
	if err != nil {
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 1)
	for _, d := range depths {
		p := strconv.Itoa(d.Partition)
		for state, n := range map[string]int64{"pending": d.Pending, "processing": d.Processing, "retry": d.Retry, "parked": d.Parked, "dead": d.Dead} {
			ch <- prometheus.MustNewConstMetric(c.jobs, prometheus.GaugeValue, float64(n), state, p)
		}
	}
	ages, err := c.in.OldestAges(ctx, time.Now())
	if err != nil {
		return
	}
	for state, age := range ages {
		ch <- prometheus.MustNewConstMetric(c.oldest, prometheus.GaugeValue, age.Seconds(), state)
	}
}

// OldestAges returns, per state, the age of its oldest job across partitions
// (0 when the state is empty), from each job's acceptance time.
func (in *Inspector) OldestAges(ctx context.Context, now time.Time) (map[string]time.Duration, error) {
	out := map[string]time.Duration{"pending": 0, "processing": 0, "retry": 0, "parked": 0, "dead": 0}
	note := func(state, raw string) {
		if e, err := Decode(raw); err == nil && e.Time > 0 {
			if age := now.Sub(e.AcceptedAt()); age > out[state] {
				out[state] = age
			}
		}
	}
	for p := 0; p < in.keys.Partitions(); p++ {
		pipe := in.rdb.Pipeline()
		pending := pipe.LIndex(ctx, in.keys.Pending(p), -1)
		dead := pipe.LIndex(ctx, in.keys.Dead(p), -1)
		retry := pipe.ZRange(ctx, in.keys.Retry(p), 0, 0)
		parents := pipe.ZRange(ctx, in.keys.ParkedDue(p), 0, 0)
		names := pipe.SMembers(ctx, in.keys.Consumers(p))
		_, _ = pipe.Exec(ctx) // missing keys answer redis.Nil; real errors show below
		if err := names.Err(); err != nil {
			return nil, redisErr(fmt.Sprintf("list consumers of partition %d", p), err)
		}
		note("pending", pending.Val())
		note("dead", dead.Val())
		for _, raw := range retry.Val() {
			note("retry", raw)
		}
		for _, parent := range parents.Val() {
			if raw, err := in.rdb.LIndex(ctx, in.keys.Parked(p, parent), -1).Result(); err == nil {
				note("parked", raw)
			}
		}
		for _, name := range names.Val() {
			if raw, err := in.rdb.LIndex(ctx, in.keys.Processing(p, name), -1).Result(); err == nil {
				note("processing", raw)
			}
		}
	}
	return out, nil
}
