package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	ic "github.com/instachat/instachat/client"
	svcconfig "github.com/instachat/instachat/pkg/config"
	"github.com/instachat/instachat/pkg/queue"
)

// The webhooks scenario (issue 14) measures what webhooks cost the create
// path and how long a delivery takes. The load generator runs the receiver
// (receiver.go) on loopback; the services run with WEBHOOK_KEY and
// WEBHOOK_ALLOW_HOSTS=127.0.0.1, and the writer with its delivery defaults.
// Phases, each started once the system is idle (every accepted create
// persisted, the hooks lane empty, writer and api quiet), after a warm-up
// (a short closed loop without webhooks, not counted: in a trial run the
// first phase of a fresh api ran at 60 % of the same phase run later):
//
//  1. create throughput, closed loop, to -apps applications without
//     webhooks;
//  2. the same to -apps other applications with one endpoint each, for
//     every event: the api queues a delivery per event on the hooks lane
//     and the writer delivers beside persisting;
//  3. phase 1 once more, so drift between identical phases (a neighbour's
//     load on the shared machine) shows next to the ratio, and phase 2 is
//     compared with the mean of the two phases around it as well;
//  4. delivery: creates at -rate for -duration (open loop) to fresh chats
//     of the applications with webhooks; the receiver times each event
//     from the create's 201 to its arrival, then the run waits for the
//     last one.
//
// Unlike the subscribe scenario the writer runs in every phase: it is the
// one that delivers, and comparing phases where it persists with one where
// it persists and delivers is what "with webhooks on" means for a create.
// Each closed-loop phase's CPU is counted until the system is idle again,
// so it holds the persisting (and delivering) its creates caused.

const (
	hooksIdleTimeout  = 10 * time.Minute // for the writer to catch up after a phase
	hooksTailTimeout  = 2 * time.Minute  // after the delivery load, for the last events
	hooksFirstTimeout = time.Minute      // for the chats' first deliveries, before any phase
	hooksWarmUpMax    = 10 * time.Second // the warm-up's length: a third of a phase, at most this
	hooksSettle       = 5 * time.Second  // after the last arrival, for the writer to settle its deliveries
)

// webhookSettings turn webhooks on for the run's services: a fresh sealing
// key, and the receiver's loopback address allowed.
func webhookSettings() []string {
	return []string{"WEBHOOK_KEY=" + randHex(32), "WEBHOOK_ALLOW_HOSTS=127.0.0.1"}
}

// webhooksResult is what the webhooks scenario measured.
type webhooksResult struct {
	endpoints            int
	warmUp               *phase // not measured: the api's first closed loop
	without, with, again *phase // closed-loop creates
	windows              map[string]hookWindow
	contention           map[string]string // phase → the machine's CPU pressure and load over it
	delivery             *phase            // the open-loop creates
	timedChats           int
	latency              *recorder // 201 → arrival, one sample per event
	tally                hookTally
	tail                 time.Duration
	laneEnd              laneDepth
	deliveryDiff         samples // the writer's /metrics over the delivery phase and its tail
	totals               receiverTotals
	setupIdle            time.Duration
}

// hookWindow is what the writer delivered during a closed-loop phase and
// in the drain after it.
type hookWindow struct {
	lane               laneDepth     // the hooks lane when the phase ended
	delivered, drained float64       // deliveries answered 2xx during the phase, and after it until idle
	drain              time.Duration // from the phase's end until the system was idle
}

// laneDepth is the hooks lane's size over every partition.
type laneDepth struct {
	pending, processing, retry, dead int64
	err                              error
}

func (d laneDepth) queued() int64 { return d.pending + d.processing + d.retry }

// hooksRun is one run's state.
type hooksRun struct {
	cfg     config
	sys     *system
	rep     *report
	res     *webhooksResult
	log     io.Writer
	rcv     *receiver
	lane    *queue.Inspector
	w       *workload
	plain   []*chatRef  // chats of applications without webhooks
	hooked  []*chatRef  // closed-loop chats of applications with one
	timed   []*hookChat // the delivery phase's chats, in the same applications
	created int64       // creates answered 201 so far
}

func runWebhooks(ctx context.Context, cfg config, sys *system, rep *report, log io.Writer) error {
	rcv, err := startReceiver()
	if err != nil {
		return fmt.Errorf("start the webhook receiver: %w", err)
	}
	defer rcv.close()
	common := svcconfig.ReadCommon(svcconfig.NewEnv(sys.lookupEnv(cfg.getenv)), "writer")
	r := &hooksRun{cfg: cfg, sys: sys, rep: rep, log: log, rcv: rcv,
		lane: queue.NewInspector(sys.rdb, common.Keys().Hooks()),
		res:  &webhooksResult{windows: map[string]hookWindow{}, contention: map[string]string{}}}
	rep.webhooks = r.res
	if err := r.setup(ctx); err != nil {
		return err
	}
	if err := r.firstDeliveries(ctx); err != nil {
		return err
	}
	r.res.setupIdle = r.idle(ctx, "setup")
	r.res.warmUp = r.closedLoop(ctx, "warm-up, no webhooks", r.plain, loopOpts{d: min(hooksWarmUpMax, r.cfg.closedDuration/3), warmUp: true})
	r.res.without = r.closedLoop(ctx, "creates, no webhooks", r.plain, loopOpts{d: r.cfg.closedDuration})
	r.res.with = r.closedLoop(ctx, "creates, webhooks on", r.hooked, loopOpts{d: r.cfg.closedDuration, profileWriter: true})
	r.res.again = r.closedLoop(ctx, "creates, no webhooks (again)", r.plain, loopOpts{d: r.cfg.closedDuration})
	if err := r.deliver(ctx); err != nil {
		return err
	}
	r.res.totals = rcv.totals()
	return ctx.Err()
}

// setup creates -apps applications without webhooks and -apps with one
// endpoint each (the receiver's), each with -chats chats; the latter get
// as many again for the delivery phase.
func (r *hooksRun) setup(ctx context.Context) error {
	var err error
	if r.w, err = newWorkload(r.sys.apiURL, r.cfg.maxInFlight, 1); err != nil {
		return err
	}
	if err := r.w.setup(ctx, r.cfg.apps, r.cfg.chats); err != nil {
		return err
	}
	r.plain = r.w.chats
	fmt.Fprintf(r.log, "creating %d applications with a webhook to %s, %d chats each\n", r.cfg.apps, r.rcv.url, 2*r.cfg.chats)
	for a := range r.cfg.apps {
		created, err := r.w.retrying.CreateApplication(ctx, fmt.Sprintf("bench hooked %d", a))
		if err != nil {
			return fmt.Errorf("create application %d: %w", a, err)
		}
		app := r.w.retrying.App(created.Token)
		s, err := app.PutSettings(ctx, ic.SettingsInput{Webhooks: ic.Set([]ic.WebhookInput{{URL: r.rcv.endpoint(a)}})}, ic.AnyVersion)
		if err != nil {
			return fmt.Errorf("save the webhook of application %d: %w", a, err)
		}
		if len(s.Webhooks) != 1 || s.Webhooks[0].Secret == "" {
			return fmt.Errorf("save the webhook of application %d: got %d endpoints, want one with its secret", a, len(s.Webhooks))
		}
		r.rcv.setSecret(a, s.Webhooks[0].Secret)
		for c := range 2 * r.cfg.chats {
			chat, err := app.CreateChat(ctx)
			if err != nil {
				return fmt.Errorf("create chat %d of application %d: %w", c, a, err)
			}
			ref := &chatRef{token: created.Token, number: chat.Number}
			if c < r.cfg.chats {
				r.hooked = append(r.hooked, ref)
			} else {
				r.timed = append(r.timed, r.rcv.time(a, &subChat{ref: ref}))
			}
		}
	}
	r.res.endpoints, r.res.timedChats = r.cfg.apps, len(r.timed)
	return nil
}

// firstDeliveries waits for the chat.created events of the chats just made
// to reach the receiver: a run whose deliveries all fail would wait for an
// empty lane in vain and measure nothing.
func (r *hooksRun) firstDeliveries(ctx context.Context) error {
	want := int64(len(r.hooked) + len(r.timed))
	deadline := time.Now().Add(hooksFirstTimeout)
	for ctx.Err() == nil && time.Now().Before(deadline) {
		if r.rcv.totals().byType[ic.EventChatCreated] >= want {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	t := r.rcv.totals()
	if t.deliveries > 0 {
		fmt.Fprintf(r.log, "only %d of %d chat.created deliveries arrived in %v; going on\n", t.byType[ic.EventChatCreated], want, hooksFirstTimeout)
		return ctx.Err()
	}
	outcomes := "unknown"
	if s, err := scrape(ctx, r.sys.writerURL); err == nil {
		outcomes = fmt.Sprint(s.byLabel("instachat_webhook_deliveries_total", "outcome"))
	}
	return fmt.Errorf("no webhook delivery reached the receiver in %v (%d requests, %d bad signatures; the writer's outcomes: %s)",
		hooksFirstTimeout, t.requests, t.badSigs, outcomes)
}

// idle waits until every create answered so far is persisted, the hooks
// lane holds nothing to deliver, and the writer and the api are quiet; it
// returns how long that took.
func (r *hooksRun) idle(ctx context.Context, after string) time.Duration {
	start := time.Now()
	line := newStatusLine(r.log)
	for time.Since(start) < hooksIdleTimeout && ctx.Err() == nil {
		n, err := r.sys.messageCount(ctx)
		d := r.depth(ctx)
		if err == nil && n >= r.created && d.err == nil && d.queued() == 0 {
			break
		}
		line.Show("after %s: %d/%d messages persisted, hooks lane %d pending, %d in flight, %d to retry  %5.1fs ",
			after, n, r.created, d.pending, d.processing, d.retry, time.Since(start).Seconds())
		time.Sleep(250 * time.Millisecond)
	}
	line.End()
	r.sys.waitQuiet(ctx, "writer", 2*time.Minute)
	r.sys.waitQuiet(ctx, "api", 2*time.Minute)
	return time.Since(start)
}

// depth reads the hooks lane's size.
func (r *hooksRun) depth(ctx context.Context) laneDepth {
	ds, err := r.lane.Depths(ctx)
	if err != nil {
		return laneDepth{err: err}
	}
	var d laneDepth
	for _, p := range ds {
		d.pending += p.Pending
		d.processing += p.Processing
		d.retry += p.Retry
		d.dead += p.Dead
	}
	return d
}

// okDeliveries is the writer's deliveries answered 2xx in s.
func okDeliveries(s samples) float64 {
	return s.sum("instachat_webhook_deliveries_total", `outcome="ok"`)
}

// loopOpts shape one closed-loop phase.
type loopOpts struct {
	d             time.Duration // its length
	profileWriter bool          // take the writer's CPU profile during it
	warmUp        bool          // not measured: no CPU or deliveries filed
}

// closedLoop sends creates to chats from -closed-clients clients for o.d,
// then waits until the system is idle, counting the CPU over both.
func (r *hooksRun) closedLoop(ctx context.Context, label string, chats []*chatRef, o loopOpts) *phase {
	d := o.d
	before, err := scrape(ctx, r.sys.writerURL)
	if err != nil {
		fmt.Fprintf(r.log, "scrape writer: %v\n", err)
	}
	cpu0 := cpuWithBench(r.sys)
	if o.profileWriter {
		pd := min(r.cfg.profile, d/2)
		r.rep.prof.captureAs(ctx, r.sys, "writer", "writer-cpu-webhooks-on", fmt.Sprintf("CPU, %v, closed-loop creates with webhooks on", pd),
			d/4, pd, r.rep.profileDir, r.rep.base(), r.log)
	}
	rec := newRecorder()
	load := machineLoad()
	withProgress(ctx, r.log, label, rec, 0, func() {
		runClosedLoop(ctx, r.cfg.closedClients, d, rec, func(ctx context.Context, i int) int {
			return r.w.create(ctx, chats[i%len(chats)])
		})
	})
	r.res.contention[label] = load()
	end := time.Now()
	p := &phase{name: label, rec: rec, stats: rec.stats()}
	created := okCount(p.stats, "create")
	r.created += created
	win := hookWindow{lane: r.depth(ctx)}
	mid, _ := scrape(ctx, r.sys.writerURL)
	r.rep.prof.wait()
	r.idle(ctx, label)
	win.drain = time.Since(end)
	after, _ := scrape(ctx, r.sys.writerURL)
	win.delivered, win.drained = okDeliveries(mid.diff(before)), okDeliveries(after.diff(mid))
	if o.warmUp {
		return p
	}
	r.res.windows[label] = win
	r.rep.cpu = append(r.rep.cpu, phaseCPU{name: label + ", until idle", units: created, unit: "create", cpu: cpuWithBench(r.sys).minus(cpu0)})
	return p
}

// deliver runs creates at -rate to the timed chats for -duration, then
// waits until every answered create's event has arrived (or
// hooksTailTimeout passes), and files the latencies and the tally.
func (r *hooksRun) deliver(ctx context.Context) error {
	apiBefore, writerBefore, err := scrapeBoth(ctx, r.sys)
	if err != nil {
		return err
	}
	cpu0 := cpuWithBench(r.sys)
	d := min(r.cfg.profile, r.cfg.duration/2)
	what := fmt.Sprintf("delivery at %.0f creates/s", r.cfg.rate)
	for _, name := range []string{"api", "writer"} {
		r.rep.prof.captureAs(ctx, r.sys, name, name+"-cpu-delivery", fmt.Sprintf("CPU, %v, %s", d, what), r.cfg.duration/4, d, r.rep.profileDir, r.rep.base(), r.log)
	}
	r.rep.prof.captureSelf(ctx, "bench-cpu-delivery", fmt.Sprintf("CPU of the load generator and receiver, %v, %s", d, what), r.cfg.duration/4, d, r.rep.profileDir, r.rep.base(), r.log)
	rec := newRecorder()
	label := fmt.Sprintf("delivery %.0f creates/s", r.cfg.rate)
	load := machineLoad()
	withProgress(ctx, r.log, label, rec, int(r.cfg.rate*r.cfg.duration.Seconds()), func() {
		runOpenLoop(ctx, schedule{rate: r.cfg.rate, duration: r.cfg.duration, maxInFlight: r.cfg.maxInFlight}, func(i int) (string, op) {
			c := r.timed[i%len(r.timed)].sub
			return "create", func(ctx context.Context) int { return c.create(ctx, r.w) }
		}, rec)
	})
	r.res.contention[label] = load()
	r.res.delivery = &phase{name: label, rate: r.cfg.rate, rec: rec, stats: rec.stats()}
	created := okCount(r.res.delivery.stats, "create")
	r.created += created
	r.res.tail = r.waitDelivered(ctx)
	r.res.laneEnd = r.settledLane(ctx)
	r.rep.cpu = append(r.rep.cpu, phaseCPU{name: label + " and its tail", units: created, unit: "create", cpu: cpuWithBench(r.sys).minus(cpu0)})
	r.rep.prof.wait()
	apiAfter, writerAfter, err := scrapeBoth(ctx, r.sys)
	if err != nil {
		return err
	}
	r.res.deliveryDiff = writerAfter.diff(writerBefore)
	r.rep.apiDiff, r.rep.writerDiff = apiAfter.diff(apiBefore), r.res.deliveryDiff
	r.rep.writerSeconds = r.cfg.duration.Seconds() + r.res.tail.Seconds()
	r.res.tally = r.rcv.tally(r.timed)
	r.res.latency = r.rcv.latencies(r.timed, rec.start)
	return nil
}

// waitDelivered waits until every answered create of the timed chats has
// its event at the receiver, or hooksTailTimeout passes.
func (r *hooksRun) waitDelivered(ctx context.Context) time.Duration {
	start := time.Now()
	line := newStatusLine(r.log)
	var shown time.Time
	for time.Since(start) < hooksTailTimeout && ctx.Err() == nil && !r.rcv.caughtUp(r.timed) {
		if time.Since(shown) >= 500*time.Millisecond {
			d := r.depth(ctx)
			line.Show("waiting for the last deliveries: hooks lane %d pending, %d in flight, %d to retry  %5.1fs ",
				d.pending, d.processing, d.retry, time.Since(start).Seconds())
			shown = time.Now()
		}
		time.Sleep(20 * time.Millisecond)
	}
	line.End()
	tail := time.Since(start)
	fmt.Fprintf(r.log, "last delivery %.2fs after the load\n", tail.Seconds())
	return tail
}

// settledLane reads the hooks lane once the writer has settled what it
// delivered (the receiver can have the last delivery before the writer
// acknowledged it), waiting at most hooksSettle.
func (r *hooksRun) settledLane(ctx context.Context) laneDepth {
	deadline := time.Now().Add(hooksSettle)
	for {
		d := r.depth(ctx)
		if d.err != nil || d.queued() == 0 || time.Now().After(deadline) || ctx.Err() != nil {
			return d
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// webhookSettingsText is the services' webhook settings as the report
// shows them: the key is a secret, its value is not.
func webhookSettingsText() string {
	var parts []string
	for _, kv := range webhookSettings() {
		k, v, _ := strings.Cut(kv, "=")
		if k == "WEBHOOK_KEY" {
			v = "<random, 64 hex digits>"
		}
		parts = append(parts, k+"="+v)
	}
	return strings.Join(parts, " ")
}
