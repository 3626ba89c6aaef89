package main

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// burstResult is one closed-loop burst: against our running system or the
// reference endpoint.
type burstResult struct {
	round    int
	who      string // "ours" or "reference endpoint"
	stats    endpointStats
	elapsed  time.Duration // from the first send to the last answer
	pressure float64       // the machine's CPU pressure over the burst, % (-1: unknown)
	caught   *catchUp      // ours: how long it took to hold everything after the burst
}

// rate is the burst's creates answered 201 per second.
func (b burstResult) rate() float64 {
	if b.elapsed <= 0 {
		return 0
	}
	return float64(b.stats.Statuses[201]) / b.elapsed.Seconds()
}

// burstWarmUp is the unmeasured burst a fresh reference endpoint gets first:
// a process's first seconds (connections, pools, heap growth) are slower
// than the rest, and ours is warm by then.
const burstWarmUp = 2 * time.Second

// runBursts runs -bursts rounds: a burst against ours, its drain, a burst
// against the reference endpoint, a short pause.
func (r *pipelineRun) runBursts(ctx context.Context, ours *target) error {
	if r.cfg.bursts <= 0 {
		return nil
	}
	ref, err := startReference(r.sys.redisAddr, r.sys.prefix)
	if err != nil {
		return err
	}
	defer ref.close()
	refW, err := newPipelineWorkload(ref.url(), r.cfg)
	if err != nil {
		return err
	}
	refW.chats = ours.w.chats
	r.burst(ctx, refW, "reference endpoint warm-up", burstWarmUp)
	for round := 1; round <= r.cfg.bursts && ctx.Err() == nil; round++ {
		b := r.burst(ctx, ours.w, fmt.Sprintf("burst %d, ours", round), r.cfg.closedDuration)
		b.round, b.who = round, "ours"
		ours.want += b.stats.Statuses[201]
		c := r.waitCaughtUp(ctx, ours, time.Now(), drainLimit)
		b.caught = &c
		r.res.bursts = append(r.res.bursts, b)
		sleepCtx(ctx, 2*time.Second) // the reference starts from the same quiet machine as ours did
		b = r.burst(ctx, refW, fmt.Sprintf("burst %d, reference endpoint", round), r.cfg.closedDuration)
		b.round, b.who = round, "reference endpoint"
		r.res.bursts = append(r.res.bursts, b)
		sleepCtx(ctx, 2*time.Second)
	}
	return ctx.Err()
}

// burst sends creates to w's chats from -closed-clients connections for d,
// each its next as soon as its last was answered.
func (r *pipelineRun) burst(ctx context.Context, w *workload, label string, d time.Duration) burstResult {
	rec := newRecorder()
	pressure := cpuPressureMeter()
	start := time.Now()
	withProgress(ctx, r.log, label, rec, 0, func() {
		runClosedLoop(ctx, r.cfg.closedClients, d, rec, func(ctx context.Context, i int) int {
			return w.create(ctx, w.chats[i%len(w.chats)])
		})
	})
	b := burstResult{stats: findStats(rec.stats(), "create"), elapsed: time.Since(start), pressure: pressure()}
	fmt.Fprintf(r.log, "%s: %.0f creates/s\n", label, b.rate())
	return b
}

// burstRatio is the median burst rate of ours over the reference
// endpoint's, and both medians: the median, because one burst on a shared
// machine can meet a neighbour's load.
func burstRatio(bursts []burstResult) (ratio, ours, ref float64) {
	var o, f []float64
	for _, b := range bursts {
		if b.who == "ours" {
			o = append(o, b.rate())
		} else {
			f = append(f, b.rate())
		}
	}
	ours, ref = median(o), median(f)
	if ref > 0 {
		ratio = ours / ref
	}
	return ratio, ours, ref
}

// median is the middle value (the mean of the two middle ones for an even
// count); 0 for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if n := len(s); n%2 == 0 {
		return (s[n/2-1] + s[n/2]) / 2
	}
	return s[len(s)/2]
}
