package main

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// pipeline is what a ramp step asks of the pipeline it loads: how far it got
// (what MySQL holds and what its index finds) and the lags it recorded.
// There are two: ours (the whole system, ourPipeline) and the reference
// (refClient, reading the reference pipeline's stats routes).
type pipeline interface {
	url() string
	progress(ctx context.Context) (pipelineProgress, error)
	// lags returns the lags recorded since the last call and starts new ones.
	lags(ctx context.Context) (stepLags, error)
}

// pipelineProgress is how many messages a pipeline holds in MySQL and how
// many its index finds; failures counts the reference consumer's failed
// batches (0 for ours, whose retries show in the writer's /metrics).
type pipelineProgress struct {
	persisted, searchable, failures int64
}

// target is one pipeline under load: the workload sending its creates, the
// pipeline asked how far it got, how many messages it must hold once caught
// up (what it held at the start plus every create answered 201), and the
// failed batches it had reported at the last catch-up.
type target struct {
	who      string
	w        *workload
	pl       pipeline
	want     int64
	failures int64
}

// rampRule is issue 15's rule for a step to hold: create p99 at most p99,
// every request answered 201, and everything the step sent persisted and
// searchable within catchUp of the step's end. The end is the schedule's:
// answers that come late eat into catchUp.
type rampRule struct {
	p99     time.Duration
	catchUp time.Duration
}

// stepResult is one step (one try) of a ramp, or another open-loop phase
// judged by the same rule.
type stepResult struct {
	who      string
	label    string
	rate     float64       // target requests per second
	d        time.Duration // the step's length
	try      int           // 2: the rerun of a missed step
	sent     int64         // requests the schedule holds
	stats    endpointStats // the creates
	phase    *phase
	caught   catchUp
	failures int64 // failed batches the pipeline reported over the step and its catch-up
	lags     stepLags
	pressure float64 // the machine's CPU pressure over the step, % of wall time (-1: unknown)
	held     bool
	misses   []string // why it did not hold
}

// created is the step's creates answered 201.
func (s *stepResult) created() int64 { return s.stats.Statuses[201] }

// catchUp is how long after a step's end a pipeline held everything it had
// answered 201 so far: persisted in MySQL, and searchable.
type catchUp struct {
	persisted, searchable time.Duration // from the step's end; -1: not within the wait
	want                  int64
	got                   pipelineProgress // at the last look
	err                   error            // the last look's, if it failed
}

// done reports whether both counts reached want.
func (c catchUp) done() bool { return c.persisted >= 0 && c.searchable >= 0 }

// judge applies the rule to s and returns whether it held and, if not,
// every reason why.
func (rule rampRule) judge(s *stepResult) (held bool, misses []string) {
	st := s.stats
	if st.P99 > rule.p99 {
		misses = append(misses, fmt.Sprintf("p99 %s ms > %s ms", ms(st.P99), ms(rule.p99)))
	}
	if bad := st.Count - s.created(); bad > 0 {
		misses = append(misses, fmt.Sprintf("%d not 201", bad))
	}
	if st.Count < s.sent {
		misses = append(misses, fmt.Sprintf("%d of %d sent", st.Count, s.sent))
	}
	for _, c := range []struct {
		what  string
		after time.Duration
		got   int64
	}{{"persisted", s.caught.persisted, s.caught.got.persisted}, {"searchable", s.caught.searchable, s.caught.got.searchable}} {
		switch {
		case c.after < 0 && s.caught.err != nil:
			misses = append(misses, fmt.Sprintf("%d of %d %s (last count: %v)", c.got, s.caught.want, c.what, s.caught.err))
		case c.after < 0:
			misses = append(misses, fmt.Sprintf("%d of %d %s", c.got, s.caught.want, c.what))
		case c.after > rule.catchUp:
			misses = append(misses, fmt.Sprintf("%s after %.1f s > %v", c.what, c.after.Seconds(), rule.catchUp))
		}
	}
	if s.failures > 0 {
		misses = append(misses, fmt.Sprintf("%d failed batches", s.failures))
	}
	return len(misses) == 0, misses
}

// step runs creates against t at rate for d (open loop), then waits until t
// holds everything answered 201 (up to drainLimit, so the next step starts
// without a backlog), and judges the step.
func (r *pipelineRun) step(ctx context.Context, t *target, rate float64, d time.Duration, label string) *stepResult {
	if _, err := t.pl.lags(ctx); err != nil { // start the step's lag window
		fmt.Fprintf(r.log, "%s: %v\n", label, err)
	}
	pressure := cpuPressureMeter()
	start := time.Now()
	p := loadPhase(ctx, t.w, mix{"create": 1}, rate, d, r.cfg, label, r.log)
	s := &stepResult{who: t.who, label: label, rate: rate, d: d, try: 1, phase: p,
		sent: int64(schedule{rate: rate, duration: d}.requests()), stats: findStats(p.stats, "create")}
	t.want += s.created()
	s.caught = r.waitCaughtUp(ctx, t, start.Add(d), drainLimit)
	s.failures, t.failures = max(0, s.caught.got.failures-t.failures), max(t.failures, s.caught.got.failures)
	s.pressure = pressure()
	var err error
	if s.lags, err = t.pl.lags(ctx); err != nil {
		fmt.Fprintf(r.log, "%s: %v\n", label, err) // the report shows no lags for the step
	}
	s.held, s.misses = r.res.rule.judge(s)
	return s
}

// drainLimit bounds the wait for a pipeline to catch up after a step; a
// pipeline that needs longer stops its ramp.
const drainLimit = 5 * time.Minute

// waitCaughtUp polls t until it holds t.want messages persisted and
// searchable, or limit passes after end, and returns when each got there,
// measured from end. A count is timed when its query started: it shows the
// state from then. Every 100 ms within the rule's catch-up time, every
// second after it: a count is a scan of the table, and a long drain should
// not pay for a resolution no verdict needs.
func (r *pipelineRun) waitCaughtUp(ctx context.Context, t *target, end time.Time, limit time.Duration) catchUp {
	c := catchUp{persisted: -1, searchable: -1, want: t.want}
	line := newStatusLine(r.log)
	defer line.End()
	for ctx.Err() == nil {
		at := max(0, time.Since(end))
		got, err := t.pl.progress(ctx)
		c.err = err
		if err == nil {
			c.got = got
			if c.persisted < 0 && got.persisted >= c.want {
				c.persisted = at
			}
			if c.searchable < 0 && got.searchable >= c.want {
				c.searchable = at
			}
		}
		if c.done() || at > limit {
			return c
		}
		line.Show("%s catching up: %d/%d persisted, %d searchable  %5.1fs ", t.who, c.got.persisted, c.want, c.got.searchable, at.Seconds())
		if at < r.res.rule.catchUp {
			sleepCtx(ctx, 100*time.Millisecond)
		} else {
			sleepCtx(ctx, time.Second)
		}
	}
	return c
}

// missesText is a step's verdict for the report.
func (s *stepResult) missesText() string {
	if s.held {
		return "held"
	}
	return "missed: " + strings.Join(s.misses, "; ")
}
