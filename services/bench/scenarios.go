package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// phase is one measured load: against the api or the reference.
type phase struct {
	name  string
	rate  float64
	rec   *recorder
	stats []endpointStats
}

// loadPhase runs one open-loop load with mix m at rate for d.
func loadPhase(ctx context.Context, w *workload, m mix, rate float64, d time.Duration, cfg config, label string, log io.Writer) *phase {
	rec := newRecorder()
	pick := m.picker()
	total := int(rate * d.Seconds())
	withProgress(ctx, log, label, rec, total, func() {
		runOpenLoop(ctx, schedule{rate: rate, duration: d, maxInFlight: cfg.maxInFlight}, func(i int) (string, op) {
			name := pick(i)
			return name, w.op(name, i)
		}, rec)
	})
	return &phase{name: label, rate: rate, rec: rec, stats: rec.stats()}
}

func scrapeBoth(ctx context.Context, sys *system) (api, writer samples, err error) {
	if api, err = scrape(ctx, sys.apiURL); err != nil {
		return nil, nil, err
	}
	if writer, err = scrape(ctx, sys.writerURL); err != nil {
		return nil, nil, err
	}
	return api, writer, nil
}

func runSteady(ctx context.Context, cfg config, sys *system, rep *report, log io.Writer) error {
	api, err := newWorkload(sys.apiURL, cfg.maxInFlight, 1)
	if err != nil {
		return err
	}
	if err := api.setup(ctx, cfg.apps, cfg.chats); err != nil {
		return err
	}
	before, wBefore, err := scrapeBoth(ctx, sys)
	if err != nil {
		return err
	}
	countBefore, _ := sys.messageCount(ctx)
	cpu0 := sys.cpuNow()
	rep.prof.capture(ctx, sys, []string{"api", "writer"}, cfg.duration/4, min(cfg.profile, cfg.duration/2), rep.profileDir, rep.base(), log)
	p := loadPhase(ctx, api, cfg.mix, cfg.rate, cfg.duration, cfg, "api "+cfg.mixText, log)
	rep.phases = append(rep.phases, p)
	// Let the writer and the index catch up so the lags include the tail.
	created := okCount(p.stats, "create")
	rep.drainWait = waitPersisted(ctx, sys, countBefore+created, 2*time.Minute)
	time.Sleep(2 * time.Second) // the search lag is observed after the reindex call
	rep.cpu = append(rep.cpu, phaseCPU{name: "load and its tail", units: created, unit: "create", cpu: sys.cpuNow().minus(cpu0)})
	after, wAfter, err := scrapeBoth(ctx, sys)
	if err != nil {
		return err
	}
	rep.apiDiff, rep.writerDiff = after.diff(before), wAfter.diff(wBefore)
	rep.writerSeconds = cfg.duration.Seconds() + rep.drainWait.Seconds()

	ref, err := startReference(sys.redisAddr, sys.prefix)
	if err != nil {
		return err
	}
	defer ref.close()
	refW, err := newWorkload(ref.url(), cfg.maxInFlight, 1)
	if err != nil {
		return err
	}
	refW.chats = api.chats
	createOnly := mix{"create": 1}
	rep.refCreate = loadPhase(ctx, refW, createOnly, cfg.rate*float64(cfg.mix["create"])/float64(cfg.mix.total()), cfg.duration, cfg, "reference create", log)
	return nil
}

func okCount(st []endpointStats, name string) int64 {
	for _, s := range st {
		if s.Name == name {
			return s.Statuses[201]
		}
	}
	return 0
}

// waitPersisted polls MySQL until it holds want messages or the timeout passes.
func waitPersisted(ctx context.Context, sys *system, want int64, timeout time.Duration) time.Duration {
	start := time.Now()
	for time.Since(start) < timeout && ctx.Err() == nil {
		if n, err := sys.messageCount(ctx); err == nil && n >= want {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	return time.Since(start)
}

// runRamp steps the rate up until create p99 passes the limit, three times:
// against the whole system (writer persisting and the api indexing on the
// same machine), against the api with the writer stopped (its create path
// alone, doing what the reference does: one Redis round trip per request),
// and against the reference. The ratio of the create path to the reference
// holds on any machine; the whole-system figure is what this machine
// sustains end to end.
func runRamp(ctx context.Context, cfg config, sys *system, rep *report, log io.Writer) error {
	api, err := newWorkload(sys.apiURL, cfg.maxInFlight, 1)
	if err != nil {
		return err
	}
	if err := api.setup(ctx, cfg.apps, cfg.chats); err != nil {
		return err
	}
	ref, err := startReference(sys.redisAddr, sys.prefix)
	if err != nil {
		return err
	}
	defer ref.close()
	refW, err := newWorkload(ref.url(), cfg.maxInFlight, 1)
	if err != nil {
		return err
	}
	refW.chats = api.chats
	// The reference and the create path alone first, with the writer
	// stopped; then the writer drains what they queued, and the whole
	// system ramps.
	rep.rampRef, rep.refSteps = rampUp(ctx, refW, "reference", cfg.rate, cfg, log)
	sys.stop("writer")
	before, err := sys.messageCount(ctx)
	if err != nil {
		return err
	}
	rep.rampAPI, rep.phases = rampUp(ctx, api, "api", cfg.rate, cfg, log)
	var queued int64
	for _, p := range rep.phases {
		queued += okCount(p.stats, "create")
	}
	if err := sys.start(ctx, "writer"); err != nil {
		return err
	}
	fmt.Fprintf(log, "writer draining the %d creates of the create-path ramp\n", queued)
	rep.drainWait = waitPersisted(ctx, sys, before+queued, 10*time.Minute)
	// The api indexes what the writer persisted; the whole-system ramp
	// starts from a quiet system.
	rep.drainWait += sys.waitQuiet(ctx, "api", 10*time.Minute)
	rep.rampSystem, rep.systemSteps = rampUp(ctx, api, "system", cfg.systemRate, cfg, log)
	return nil
}

// rampUp runs creates against w from rate from, ×cfg.stepFactor per step,
// and returns the highest rate whose create p99 stayed under cfg.p99Limit
// (with 99 % answered) and every step it ran. A step that misses the limit
// is run once more before the ramp stops: on a shared machine one noisy
// step should not decide the maximum. Every ramp gets the same rule, and
// both tries are in the report.
func rampUp(ctx context.Context, w *workload, who string, from float64, cfg config, log io.Writer) (best float64, steps []*phase) {
	createOnly := mix{"create": 1}
	for rate := from; ctx.Err() == nil; rate *= cfg.stepFactor {
		held := false
		for try := 1; try <= 2 && !held && ctx.Err() == nil; try++ {
			label := fmt.Sprintf("%s ramp %.0f/s", who, rate)
			if try == 2 {
				label += " (again)"
			}
			p := loadPhase(ctx, w, createOnly, rate, cfg.step, cfg, label, log)
			steps = append(steps, p)
			st := p.stats[0]
			held = st.P99 < cfg.p99Limit && st.OK >= st.Count*99/100
			time.Sleep(2 * time.Second) // let queues settle between steps
		}
		if !held {
			return best, steps
		}
		best = rate
	}
	return best, steps
}

// runBacklog queues jobs with the writer stopped, then starts it and
// measures how fast MySQL fills.
func runBacklog(ctx context.Context, cfg config, sys *system, rep *report, log io.Writer) error {
	api, err := newWorkload(sys.apiURL, cfg.maxInFlight, 1)
	if err != nil {
		return err
	}
	if err := api.setup(ctx, cfg.apps, cfg.chats); err != nil {
		return err
	}
	// Fill as fast as the api takes it (closed loop: this is not a latency test).
	fillStart := time.Now()
	cpu0 := sys.cpuNow()
	rec := fillBacklog(ctx, api, cfg.backlog, log)
	rep.fillTime = time.Since(fillStart)
	cpu1 := sys.cpuNow()
	rep.phases = append(rep.phases, &phase{name: "backlog fill", rec: rec, stats: rec.stats()})
	queued := okCount(rep.phases[0].stats, "create (writer stopped)")
	rep.backlogQueued = queued

	apiBefore, err := scrape(ctx, sys.apiURL)
	if err != nil {
		return err
	}
	if !cfg.drainIndex {
		sys.stop("api")
	}
	if err := drainBacklog(ctx, cfg, sys, rep, queued, log); err != nil {
		return err
	}
	cpu2 := sys.cpuNow()
	rep.cpu = append(rep.cpu,
		phaseCPU{name: "fill (api creates, writer stopped)", units: queued, unit: "create", cpu: cpu1.minus(cpu0)},
		phaseCPU{name: "drain (writer start → all rows in MySQL)", units: queued, unit: "message", cpu: cpu2.minus(cpu1)})
	if cfg.drainIndex {
		if err := waitSearchable(ctx, sys, rep, queued, log); err != nil {
			return err
		}
		rep.cpu = append(rep.cpu, phaseCPU{name: "indexing after the drain (all rows in MySQL → all searchable)",
			units: queued, unit: "message", cpu: sys.cpuNow().minus(cpu2)})
	}
	time.Sleep(2 * time.Second)
	wAfter, err := scrape(ctx, sys.writerURL)
	if err != nil {
		return err
	}
	apiAfter := apiBefore // no search lag when the api was stopped
	if cfg.drainIndex {
		if apiAfter, err = scrape(ctx, sys.apiURL); err != nil {
			return err
		}
	}
	rep.writerDiff, rep.apiDiff = wAfter, apiAfter.diff(apiBefore) // the writer's counters started at zero
	rep.writerSeconds = rep.drainTime.Seconds()
	return nil
}

// fillBacklog sends n creates from 64 clients, each as soon as the api
// answered the last, and records them.
func fillBacklog(ctx context.Context, api *workload, n int, log io.Writer) *recorder {
	rec := newRecorder()
	var next atomic.Int64
	withProgress(ctx, log, "queueing backlog", rec, n, func() {
		var wg sync.WaitGroup
		for range 64 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for ctx.Err() == nil {
					i := int(next.Add(1)) - 1
					if i >= n {
						return
					}
					at := time.Now()
					c := api.chats[i%len(api.chats)]
					status := api.create(ctx, c)
					rec.record("create (writer stopped)", at, time.Since(at), status)
				}
			}()
		}
		wg.Wait()
	})
	return rec
}

// drainBacklog starts the writer and polls MySQL until it holds the queued
// messages (or 30 minutes pass), recording the start-up, the fill curve and
// the drain time in rep.
func drainBacklog(ctx context.Context, cfg config, sys *system, rep *report, queued int64, log io.Writer) error {
	start := time.Now()
	if err := sys.start(ctx, "writer"); err != nil {
		return err
	}
	rep.writerStartup = time.Since(start)
	rep.prof.capture(ctx, sys, []string{"api", "writer"}, 0, cfg.profile, rep.profileDir, rep.base(), log)
	fmt.Fprintf(log, "writer up after %v; draining %d jobs\n", rep.writerStartup.Round(time.Millisecond), queued)
	line := newStatusLine(log)
	for ctx.Err() == nil {
		n, err := sys.messageCount(ctx)
		if err != nil {
			return err
		}
		rep.drainSeries = append(rep.drainSeries, drainPoint{time.Since(start), n})
		line.Show("drain: %8d/%-8d  %5.1fs ", n, queued, time.Since(start).Seconds())
		if n >= queued || time.Since(start) > 30*time.Minute {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	line.End()
	rep.drainTime = time.Since(start)
	rep.drainEnd = time.Now()
	return nil
}

// waitSearchable polls until every queued message is searchable (in
// messages and no longer in search_outbox, read in one statement: a row
// leaves the outbox only once the api indexed its message), or 10 minutes
// pass, and records the time since the writer started in rep.
func waitSearchable(ctx context.Context, sys *system, rep *report, queued int64, log io.Writer) error {
	line := newStatusLine(log)
	defer line.End()
	for deadline := time.Now().Add(10 * time.Minute); ctx.Err() == nil && time.Now().Before(deadline); {
		var persisted, outbox int64
		err := sys.db.QueryRowContext(ctx, "SELECT (SELECT COUNT(*) FROM messages), (SELECT COUNT(*) FROM search_outbox)").Scan(&persisted, &outbox)
		if err != nil {
			return fmt.Errorf("count searchable messages: %w", err)
		}
		line.Show("searchable: %8d/%-8d  %5.1fs ", persisted-outbox, queued, (rep.drainTime + time.Since(rep.drainEnd)).Seconds())
		if persisted-outbox >= queued {
			rep.searchableTime = rep.drainTime + time.Since(rep.drainEnd)
			return nil
		}
		select {
		case <-ctx.Done():
		case <-time.After(250 * time.Millisecond):
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return errors.New("not every queued message was searchable 10 minutes after the drain")
}

// drainPoint is MySQL's message count at a moment of the drain.
type drainPoint struct {
	at    time.Duration
	count int64
}
