package main

import (
	"context"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// op is one request the load generator can send; it returns the HTTP status
// (0 for a transport error or a timeout, statusUnreadable for a 2xx whose
// body is not what the endpoint answers).
type op func(ctx context.Context) int

// statusUnreadable is the status an op records for a 2xx whose body did not
// decode (see statusOf). A body cut off by the attempt timeout is a
// transport error, 0.
const statusUnreadable = -1

// schedule describes an open-loop run: requests at a constant rate for a
// duration, at most maxInFlight at once.
type schedule struct {
	rate        float64
	duration    time.Duration
	maxInFlight int
}

// interval is the time between two scheduled sends.
func (s schedule) interval() time.Duration { return time.Duration(float64(time.Second) / s.rate) }

// requests is how many requests the schedule sends.
func (s schedule) requests() int { return int(s.duration / s.interval()) }

// runOpenLoop sends requests at fixed intervals from start. Latency is
// measured from each request's SCHEDULED send time, so when the server (or
// the in-flight cap) makes requests wait, the wait counts: coordinated
// omission cannot hide queueing. pick chooses the endpoint for request i.
func runOpenLoop(ctx context.Context, s schedule, pick func(i int) (string, op), rec *recorder) {
	interval := s.interval()
	n := s.requests()
	sem := make(chan struct{}, s.maxInFlight)
	var wg sync.WaitGroup
	start := time.Now()
	rec.begin(start)
	for i := 0; i < n; i++ {
		at := start.Add(time.Duration(i) * interval)
		if d := time.Until(at); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-ctx.Done():
				t.Stop()
				wg.Wait()
				return
			case <-t.C:
			}
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return
		}
		name, do := pick(i)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			status := do(ctx)
			rec.record(name, at, time.Since(at), status)
		}()
	}
	wg.Wait()
}

// recorder keeps an HDR histogram per endpoint, errors by status and
// per-second series for the charts. Safe for concurrent use.
type recorder struct {
	mu       sync.Mutex
	start    time.Time
	hists    map[string]*hdrhistogram.Histogram
	statuses map[string]map[int]int64
	perSec   map[string][]*hdrhistogram.Histogram // by second of scheduled time
	done     atomic.Int64
	first    time.Time
	last     time.Time
}

func newRecorder() *recorder {
	return &recorder{
		hists:    map[string]*hdrhistogram.Histogram{},
		statuses: map[string]map[int]int64{},
		perSec:   map[string][]*hdrhistogram.Histogram{},
	}
}

func newHist() *hdrhistogram.Histogram {
	return hdrhistogram.New(1, int64(5*time.Minute/time.Microsecond), 3) // microseconds
}

func (r *recorder) begin(t time.Time) {
	r.mu.Lock()
	if r.start.IsZero() {
		r.start = t
	}
	r.mu.Unlock()
}

func (r *recorder) record(name string, scheduled time.Time, lat time.Duration, status int) {
	us := lat.Microseconds()
	if us < 1 {
		us = 1
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	h := r.hists[name]
	if h == nil {
		h = newHist()
		r.hists[name] = h
		r.statuses[name] = map[int]int64{}
	}
	_ = h.RecordValue(us)
	r.statuses[name][status]++
	if r.start.IsZero() {
		r.start = scheduled
	}
	sec := int(scheduled.Sub(r.start) / time.Second)
	if sec < 0 || sec > maxSeconds {
		sec = 0 // out of the chart's range: counted, charted at 0
	}
	for len(r.perSec[name]) <= sec {
		r.perSec[name] = append(r.perSec[name], newHist())
	}
	_ = r.perSec[name][sec].RecordValue(us)
	if r.first.IsZero() || scheduled.Before(r.first) {
		r.first = scheduled
	}
	if end := scheduled.Add(lat); end.After(r.last) {
		r.last = end
	}
	r.done.Add(1)
}

// maxSeconds bounds the per-second series (a day).
const maxSeconds = 86400

// endpointStats summarises one endpoint.
type endpointStats struct {
	Name                string
	Count               int64
	OK                  int64
	P50, P90, P99, P999 time.Duration
	Max                 time.Duration
	Rate                float64 // completed requests per second over the run
	Statuses            map[int]int64
}

func (r *recorder) stats() []endpointStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	span := r.last.Sub(r.first).Seconds()
	var out []endpointStats
	for name, h := range r.hists {
		out = append(out, summarize(name, h, r.statuses[name], span))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// group is one row for every endpoint whose name match accepts, as if they
// were one endpoint named label.
func (r *recorder) group(label string, match func(name string) bool) endpointStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	h := newHist()
	statuses := map[int]int64{}
	for name, eh := range r.hists {
		if match(name) {
			h.Merge(eh)
			for code, n := range r.statuses[name] {
				statuses[code] += n
			}
		}
	}
	return summarize(label, h, statuses, r.last.Sub(r.first).Seconds())
}

// summarize turns one histogram (µs) and its statuses into a row; span is
// the run's length in seconds.
func summarize(name string, h *hdrhistogram.Histogram, statuses map[int]int64, span float64) endpointStats {
	us := func(q float64) time.Duration { return time.Duration(h.ValueAtQuantile(q)) * time.Microsecond }
	st := endpointStats{Name: name, Count: h.TotalCount(), P50: us(50), P90: us(90), P99: us(99), P999: us(99.9),
		Max: time.Duration(h.Max()) * time.Microsecond, Statuses: map[int]int64{}}
	for code, n := range statuses {
		st.Statuses[code] = n
		if code >= 200 && code < 300 {
			st.OK += n
		}
	}
	if span > 0 {
		st.Rate = float64(st.Count) / span
	}
	return st
}

// groupSeries is series' p99 per second over every endpoint match accepts.
func (r *recorder) groupSeries(match func(name string) bool) (p99ms []float64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var secs []*hdrhistogram.Histogram
	for name, hs := range r.perSec {
		if !match(name) {
			continue
		}
		for i, h := range hs {
			for len(secs) <= i {
				secs = append(secs, newHist())
			}
			secs[i].Merge(h)
		}
	}
	for _, h := range secs {
		p99ms = append(p99ms, float64(h.ValueAtQuantile(99))/1000)
	}
	return p99ms
}

// series returns, per second of the run, the request count and p99 for name.
func (r *recorder) series(name string) (counts []float64, p99ms []float64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, h := range r.perSec[name] {
		counts = append(counts, float64(h.TotalCount()))
		p99ms = append(p99ms, float64(h.ValueAtQuantile(99))/1000)
	}
	return counts, p99ms
}
