// Package delivery runs the writer's webhook delivery workers (ADR 0016):
// they consume the hooks lane of every queue partition, POST each event,
// signed, to the endpoint it was queued for, retry failures with backoff,
// bury deliveries that used their attempts on the lane's dead list, and
// pause an endpoint that keeps failing.
//
// Deliveries are slow network calls, so one partition has many in flight at
// once: each partition's consumer takes a job (BLMOVE into its processing
// list, as the jobs lane does), then waits for one of the process's
// Concurrency slots, and settles each job on its own (Consumer.AckJob) when
// its delivery concluded. A killed writer loses nothing: its processing
// lists are requeued by the queue's upkeep, and the receiver may see a
// delivery twice (it deduplicates by the delivery id).
//
// Order: deliveries leave in the order the api accepted their events per
// partition, but run concurrently and retry independently, so a receiver
// may get the events of one chat out of order; each carries its position
// (X-InstaChat-Event-Position, "<generation>-<sequence>", increasing within
// a partition and so within a chat) for receivers that need to order them.
package delivery

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/instachat/instachat/pkg/queue"
	"github.com/instachat/instachat/pkg/settings"
	"github.com/instachat/instachat/pkg/store"
)

// Config tunes the delivery workers. The attempts a delivery gets are its
// queue's (queue.Config.MaxAttempts of the hooks lane's Queue).
type Config struct {
	// Concurrency bounds the deliveries in flight in this process, over
	// every partition (default 16).
	Concurrency int
	// Backoff is the wait after a delivery's first failure, doubling with
	// each further one up to BackoffMax, with jitter (defaults 5 s, 1 h).
	Backoff    time.Duration
	BackoffMax time.Duration
	// An endpoint that failed continuously for PauseAfter and at least
	// PauseFailures times is paused (defaults 24 h, 100).
	PauseAfter    time.Duration
	PauseFailures int
	// Block is how long one take waits for a job (default 2 s).
	Block time.Duration
	// Name names this process's consumers (one per partition); unique per
	// process (default: random).
	Name    string
	Metrics *Metrics // optional
}

// Defaults, as WEBHOOK_* documents them.
const (
	DefaultConcurrency   = 16
	DefaultBackoff       = 5 * time.Second
	DefaultBackoffMax    = time.Hour
	DefaultPauseAfter    = 24 * time.Hour
	DefaultPauseFailures = 100
	DefaultMaxAttempts   = 8
	DefaultTimeout       = 5 * time.Second
)

// Worker delivers the webhook jobs of every partition.
type Worker struct {
	cfg      Config
	q        *queue.Queue // the hooks lane
	cache    *settings.Cache
	settings *store.SettingsStore
	client   *http.Client
	failures *failures
	log      *slog.Logger
}

// New returns a worker over q, a Queue of the hooks lane (Keys.Hooks),
// reading endpoints from cache, pausing them through st, and delivering
// with client (webhook.Policy.Client). rdb is q's Redis, where each
// endpoint's run of failures is kept.
func New(cfg Config, q *queue.Queue, rdb redis.UniversalClient, cache *settings.Cache, st *store.SettingsStore, client *http.Client, log *slog.Logger) *Worker {
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = DefaultBackoff
	}
	if cfg.BackoffMax < cfg.Backoff {
		cfg.BackoffMax = max(DefaultBackoffMax, cfg.Backoff)
	}
	if cfg.PauseAfter <= 0 {
		cfg.PauseAfter = DefaultPauseAfter
	}
	if cfg.PauseFailures <= 0 {
		cfg.PauseFailures = DefaultPauseFailures
	}
	if cfg.Block <= 0 {
		cfg.Block = 2 * time.Second
	}
	if cfg.Name == "" {
		var b [6]byte
		_, _ = crand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
		cfg.Name = hex.EncodeToString(b[:])
	}
	return &Worker{cfg: cfg, q: q, cache: cache, settings: st, client: client,
		failures: &failures{rdb: rdb, keys: q.Keys(), after: cfg.PauseAfter, count: cfg.PauseFailures},
		log:      log.With("lane", q.Keys().Lane())}
}

// Run delivers until ctx ends. Deliveries in flight then are canceled and
// not counted as attempts; every job not settled goes back to its pending
// list (Consumer.Leave) before Run returns.
func (w *Worker) Run(ctx context.Context) {
	slots := make(chan struct{}, w.cfg.Concurrency)
	consumers := make([]*queue.Consumer, w.q.Keys().Partitions())
	var loops, inflight sync.WaitGroup
	for p := range consumers {
		c := w.q.NewConsumer(p, w.cfg.Name+"-"+strconv.Itoa(p))
		consumers[p] = c
		loops.Go(func() { w.consume(ctx, c, slots, &inflight) })
	}
	beatCtx, stopBeat := context.WithCancel(context.WithoutCancel(ctx))
	beatDone := make(chan struct{})
	go func() { defer close(beatDone); w.heartbeat(beatCtx, consumers) }()
	w.log.Info("webhook deliveries started", "partitions", len(consumers), "concurrency", w.cfg.Concurrency,
		"max_attempts", w.q.Config().MaxAttempts)

	loops.Wait()
	inflight.Wait()
	// Beating stops before the jobs go back, as the jobs lane's worker does.
	stopBeat()
	<-beatDone
	leaveCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	for _, c := range consumers {
		if err := c.Leave(leaveCtx); err != nil {
			w.log.Warn("leave; the heartbeat expires and the upkeep requeues the jobs", "consumer", c.Name(), "err", err)
		}
	}
}

// consume takes partition c's jobs one at a time and starts each delivery
// once a slot is free. A taken job waits for its slot in the processing
// list, so a partition holds at most one job it has not started.
func (w *Worker) consume(ctx context.Context, c *queue.Consumer, slots chan struct{}, inflight *sync.WaitGroup) {
	wait := 100 * time.Millisecond
	for ctx.Err() == nil {
		raws, err := c.Take(ctx, 1, w.cfg.Block)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			w.log.Warn("take webhook deliveries", "partition", c.Partition(), "err", err, "retry_in", wait)
			sleep(ctx, wait)
			wait = min(wait*2, 5*time.Second)
			continue
		}
		wait = 100 * time.Millisecond
		for _, raw := range raws {
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				return // the job stays in the processing list: Leave gives it back
			}
			inflight.Go(func() {
				defer func() { <-slots }()
				w.handle(ctx, c, raw)
			})
		}
	}
}

// heartbeat keeps the consumers alive while they hold jobs, also while
// every slot is busy and none of them takes.
func (w *Worker) heartbeat(ctx context.Context, consumers []*queue.Consumer) {
	t := time.NewTicker(w.q.Config().HeartbeatTTL / 3)
	defer t.Stop()
	for {
		for _, c := range consumers {
			if err := c.Beat(ctx); err != nil && ctx.Err() == nil {
				w.log.Warn("heartbeat", "consumer", c.Name(), "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// backoff is the wait before the next attempt after n failures: Backoff
// doubling per failure, at most BackoffMax, less up to a quarter of it at
// random so that an endpoint's retries spread out.
func (w *Worker) backoff(n int) time.Duration {
	d := w.cfg.Backoff
	for i := 1; i < n && d < w.cfg.BackoffMax; i++ {
		d *= 2
	}
	d = min(d, w.cfg.BackoffMax)
	return d - time.Duration(rand.Int64N(int64(d/4)+1))
}

// settle runs op, a step that records a concluded delivery in Redis, until
// it succeeds, even while ctx ends, with a deadline per try; it gives up
// when ctx has ended and a try failed: the job is still in the processing
// list then, and Leave (or the upkeep) gives it back to be delivered again.
func (w *Worker) settle(ctx context.Context, what string, op func(context.Context) error) bool {
	wait := 100 * time.Millisecond
	for {
		opCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		err := op(opCtx)
		cancel()
		if err == nil {
			return true
		}
		if ctx.Err() != nil {
			w.log.Warn(what+"; the delivery is given back and made again", "err", err)
			return false
		}
		w.log.Warn(what+"; trying again", "err", err, "retry_in", wait)
		sleep(ctx, wait)
		wait = min(wait*2, 5*time.Second)
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
