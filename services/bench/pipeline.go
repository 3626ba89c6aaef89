package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"time"
)

// The pipeline scenario measures issue 15's figures in one run:
//
//  1. The reference pipeline (refpipeline.go, in its own process) is ramped
//     with creates: open loop, steps of -step from -rate, ×-step-factor per
//     step. A step holds when create p99 ≤ -p99-limit, every request is
//     answered 201, and everything it sent is persisted in MySQL and
//     searchable within -catch-up of its end; a missed step runs once more,
//     then the ramp stops. The harness waits for the pipeline to catch up
//     after every step (however long it takes, up to drainLimit), so no
//     step starts on the last one's backlog.
//  2. The process stops, its table is dropped and its index removed, and
//     once MariaDB is quiet our whole pipeline (api, writer, cron) is
//     ramped from -system-rate by the same rule.
//  3. With -profile, the highest step ours held runs once more (not judged
//     again) with CPU profiles of the api and the writer.
//  4. Creates at half of ours' highest held rate for -duration, open loop:
//     the create p99 of issue 15's table, judged by the same rule. It
//     starts once the api and the writer are quiet: the merges left by
//     the ramp's last, missed step are the harness's order, not the cost
//     of running at half the rate.
//  5. -bursts rounds of closed-loop bursts (-closed-clients connections for
//     -closed-duration): one against our running system (the writer
//     persisting and the api indexing what came before and during it), then
//     the system drains, then one against the reference endpoint
//     (reference.go: decode + one Redis round trip). Interleaving the two
//     gives both the same drift of the shared machine.
//
// Reference first: our phases (ramp, its highest step profiled, half rate,
// bursts) need our ramp's result and run one after another on the same
// system, and ramping the reference on a fresh database, before our
// pipeline wrote anything, gives both ramps the same start: an empty table
// and index, MariaDB idle. Our services idle during the reference's ramp
// (the usage table shows their share). Both pipelines get the same message
// text (pipelineText, the same seed) and the same chats.

// pipelineResult is what the pipeline scenario measured.
type pipelineResult struct {
	rule                 rampRule
	refSteps, ourSteps   []*stepResult
	refBest, ourBest     float64 // the highest held rates (0: none held)
	refCapped, ourCapped bool    // the ramp stopped at -max-steps while holding
	profiled             *stepResult
	half                 *stepResult
	halfQuiet            time.Duration // waiting for the api and the writer to go quiet before it
	bursts               []burstResult
	refDrop              time.Duration // dropping the reference's table and waiting for MariaDB to settle
	liveIndexed          int64         // the api's searchable-lag samples over our ramp (live reindex path)
	ourCreated           int64         // creates ours answered 201 over its ramp
}

// pipelineRun is one run's state.
type pipelineRun struct {
	cfg config
	sys *system
	rep *report
	res *pipelineResult
	log io.Writer
}

func runPipeline(ctx context.Context, cfg config, sys *system, rep *report, log io.Writer) error {
	r := &pipelineRun{cfg: cfg, sys: sys, rep: rep, log: log,
		res: &pipelineResult{rule: rampRule{p99: cfg.p99Limit, catchUp: cfg.catchUp}}}
	rep.pipeline = r.res
	ours, err := newPipelineWorkload(sys.apiURL, cfg)
	if err != nil {
		return err
	}
	if err := ours.setup(ctx, cfg.apps, cfg.chats); err != nil {
		return err
	}
	if err := r.rampReference(ctx, ours.chats); err != nil {
		return err
	}
	ourT := &target{who: "ours", w: ours, pl: &ourPipeline{sys: sys}}
	if err := r.rampOurs(ctx, ourT); err != nil {
		return err
	}
	if r.res.ourBest > 0 && cfg.profile > 0 {
		r.profileHighest(ctx, ourT)
	}
	if r.res.ourBest > 0 {
		if err := r.halfRate(ctx, ourT); err != nil {
			return err
		}
	}
	return r.runBursts(ctx, ourT)
}

// newPipelineWorkload is a workload against base writing issue 15's text.
func newPipelineWorkload(base string, cfg config) (*workload, error) {
	w, err := newWorkload(base, cfg.maxInFlight, 1)
	if err != nil {
		return nil, err
	}
	w.text = newTextGenSpec(1, pipelineText)
	return w, nil
}

// rampReference ramps the reference pipeline on chats (it takes any token
// and chat, so the ones made for ours), then stops it and drops its table.
func (r *pipelineRun) rampReference(ctx context.Context, chats []*chatRef) error {
	ref, err := startRefPipeline(ctx, r.sys)
	if err != nil {
		return err
	}
	defer ref.close()
	w, err := newPipelineWorkload(ref.url(), r.cfg)
	if err != nil {
		return err
	}
	w.chats = chats
	t := &target{who: "reference", w: w, pl: ref}
	cpu0 := cpuWithBench(r.sys)
	r.res.refBest, r.res.refSteps, r.res.refCapped = r.ramp(ctx, t, r.cfg.rate)
	r.rep.cpu = append(r.rep.cpu, phaseCPU{name: "reference ramp (steps and catch-ups)", units: t.want, unit: "message", cpu: cpuWithBench(r.sys).minus(cpu0)})
	ref.close()
	start := time.Now()
	if _, err := r.sys.db.ExecContext(ctx, "DROP TABLE IF EXISTS `"+refTable+"`"); err != nil {
		return fmt.Errorf("drop the reference table: %w", err)
	}
	if p := r.sys.external["mariadb"]; p != nil {
		waitQuietPid(ctx, p.pid, 2*time.Minute)
	}
	r.res.refDrop = time.Since(start)
	return ctx.Err()
}

// rampOurs ramps the whole system and keeps the api's live-path searchable
// samples over it, to check the searchable count against.
func (r *pipelineRun) rampOurs(ctx context.Context, t *target) error {
	start, err := t.pl.progress(ctx)
	if err != nil {
		return err
	}
	t.want = start.persisted
	before, err := scrape(ctx, r.sys.apiURL)
	if err != nil {
		return err
	}
	cpu0 := cpuWithBench(r.sys)
	r.res.ourBest, r.res.ourSteps, r.res.ourCapped = r.ramp(ctx, t, r.cfg.systemRate)
	r.res.ourCreated = t.want - start.persisted
	r.rep.cpu = append(r.rep.cpu, phaseCPU{name: "our ramp (steps and catch-ups)", units: r.res.ourCreated, unit: "message", cpu: cpuWithBench(r.sys).minus(cpu0)})
	after, err := scrape(ctx, r.sys.apiURL)
	if err != nil {
		return err
	}
	r.res.liveIndexed = promLag(after.diff(before), "instachat_job_searchable_lag_seconds").Count
	return ctx.Err()
}

// ramp steps t's rate up from `from` by the rule and returns the highest
// rate that held, every step run, and whether -max-steps stopped it while
// it still held. A missed step runs once more: on a shared machine one
// noisy step should not decide the maximum; both tries are reported.
func (r *pipelineRun) ramp(ctx context.Context, t *target, from float64) (best float64, steps []*stepResult, capped bool) {
	for level := 0; ctx.Err() == nil; level++ {
		if r.cfg.maxSteps > 0 && level >= r.cfg.maxSteps {
			return best, steps, true
		}
		rate := from * math.Pow(r.cfg.stepFactor, float64(level))
		held := false
		for try := 1; try <= 2 && !held && ctx.Err() == nil; try++ {
			label := fmt.Sprintf("%s %.0f/s", t.who, rate)
			if try == 2 {
				label += " (again)"
			}
			s := r.step(ctx, t, rate, r.cfg.step, label)
			s.try = try
			steps = append(steps, s)
			fmt.Fprintf(r.log, "%s: p99 %s ms, %d/%d created, persisted %s, searchable %s: %s\n", label, ms(s.stats.P99), s.created(), s.sent,
				afterText(s.caught.persisted), afterText(s.caught.searchable), s.missesText())
			if !s.caught.done() {
				return best, steps, false // a backlog it cannot drain: no further step would mean anything
			}
			held = s.held
		}
		if !held {
			return best, steps, false
		}
		best = rate
	}
	return best, steps, false
}

// afterText is a catch-up time in seconds, or "not within the wait".
func afterText(d time.Duration) string {
	if d < 0 {
		return "not within the wait"
	}
	return fmt.Sprintf("after %.1f s", d.Seconds())
}

// profileHighest runs ours' highest held step once more with CPU profiles
// of the api and the writer over its middle half.
func (r *pipelineRun) profileHighest(ctx context.Context, t *target) {
	d := min(r.cfg.profile, r.cfg.step/2)
	what := fmt.Sprintf("CPU, %v, ours at its highest held step (%.0f creates/s)", d, r.res.ourBest)
	for _, name := range []string{"api", "writer"} {
		r.rep.prof.captureAs(ctx, r.sys, name, name+"-cpu-highest-step", what, r.cfg.step/4, d, r.rep.profileDir, r.rep.base(), r.log)
	}
	r.res.profiled = r.step(ctx, t, r.res.ourBest, r.cfg.step, fmt.Sprintf("ours %.0f/s (profiled)", r.res.ourBest))
	r.rep.prof.wait() // the excerpts take a core: make them now, not in the next phase
}

// halfRate runs creates against ours at half its highest held rate for
// -duration, with the services' /metrics diffed over it for the report's
// pipeline section and the CPU each process spent per create.
func (r *pipelineRun) halfRate(ctx context.Context, t *target) error {
	r.res.halfQuiet = r.sys.waitQuiet(ctx, "api", 2*time.Minute) + r.sys.waitQuiet(ctx, "writer", time.Minute)
	api, writer, err := scrapeBoth(ctx, r.sys)
	if err != nil {
		return err
	}
	cpu0 := cpuWithBench(r.sys)
	rate := r.res.ourBest / 2
	r.res.half = r.step(ctx, t, rate, r.cfg.duration, fmt.Sprintf("ours %.0f/s (half rate)", rate))
	r.rep.cpu = append(r.rep.cpu, phaseCPU{name: fmt.Sprintf("half rate, %.0f creates/s, and its catch-up", rate), units: r.res.half.created(), unit: "create", cpu: cpuWithBench(r.sys).minus(cpu0)})
	api2, writer2, err := scrapeBoth(ctx, r.sys)
	if err != nil {
		return err
	}
	r.rep.apiDiff, r.rep.writerDiff = api2.diff(api), writer2.diff(writer)
	r.rep.writerSeconds = r.cfg.duration.Seconds() + max(0, r.res.half.caught.persisted).Seconds()
	return nil
}
