// Command writer consumes InstaChat's job queue and persists chats and
// messages to MySQL in small idempotent batched transactions, then asks the
// api to reindex what changed. Run several replicas to scale out.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/instachat/instachat/pkg/config"
	"github.com/instachat/instachat/pkg/counter"
	"github.com/instachat/instachat/pkg/health"
	"github.com/instachat/instachat/pkg/queue"
	appsettings "github.com/instachat/instachat/pkg/settings"
	"github.com/instachat/instachat/pkg/store"
	"github.com/instachat/instachat/pkg/telemetry"
	"github.com/instachat/instachat/pkg/webhook"
	"github.com/instachat/instachat/services/writer/internal/apply"
	"github.com/instachat/instachat/services/writer/internal/delivery"
	"github.com/instachat/instachat/services/writer/internal/reindex"
	"github.com/instachat/instachat/services/writer/internal/worker"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "writer:", err)
		os.Exit(1)
	}
}

// run reads the settings, connects to MySQL and Redis and serves until ctx
// ends or a worker or the health server fails.
func run(ctx context.Context, getenv func(string) string, out io.Writer) error {
	metrics := telemetry.NewRegistry()
	cfg, err := readSettings(config.NewEnv(getenv), metrics)
	if err != nil {
		return err
	}
	log, err := cfg.common.Logger(ctx, out)
	if err != nil {
		return err
	}
	// Each partition's consumer holds one connection in BLMOVE; with
	// webhooks on, so does each partition's delivery consumer, and each
	// delivery in flight settles through Redis.
	pool := cfg.common.Partitions*2 + 16
	if cfg.hooks.sealer != nil {
		pool += cfg.common.Partitions + cfg.hooks.delivery.Concurrency
	}
	cfg.common.Redis.PoolSize = max(cfg.common.Redis.PoolSize, pool)
	conns, err := cfg.common.Connect(ctx)
	if err != nil {
		return err
	}
	defer conns.Close()
	return serve(ctx, cfg, conns.Store, conns.Redis, metrics, log)
}

// settings are the writer's configuration, read once from the environment.
type settings struct {
	common  config.Common
	addr    string         // the health and metrics server's
	reindex reindex.Config // Forget is set once the store is open
	worker  worker.Config  // Counter is set once Redis is connected
	hooks   hooksSettings
}

// hooksSettings configure the webhook deliveries (WEBHOOK_*).
type hooksSettings struct {
	key         string              // WEBHOOK_KEY
	sealer      *appsettings.Sealer // from key; nil (no key): deliveries are not consumed
	policy      webhook.Policy
	timeout     time.Duration
	maxAttempts int
	delivery    delivery.Config
}

// readSettings reads the writer's settings; the workers' metrics go to
// metrics.
func readSettings(env *config.Env, metrics *prometheus.Registry) (settings, error) {
	var s settings
	s.common = config.ReadCommon(env, "writer")
	s.addr = env.String("HTTP_ADDR", ":8081")
	s.reindex.APIURL = env.String("API_URL", "http://127.0.0.1:8080")
	s.reindex.InternalToken = env.Secret("INTERNAL_TOKEN", "the secret presented to the api's /internal/reindex", true)
	s.reindex.Linger = env.Duration("WRITER_REINDEX_LINGER", 100*time.Millisecond)
	s.worker = worker.Config{BatchSize: env.Int("WRITER_BATCH_SIZE", 500), Block: env.Duration("WRITER_BLOCK", 2*time.Second),
		Linger: env.Duration("WRITER_LINGER", 50*time.Millisecond), Metrics: worker.NewMetrics(metrics),
		IndexBacklogLater: env.String("WRITER_INDEX_BACKLOG_LATER", "true") == "true"}
	s.common.Store.RowLocks = env.String("WRITER_ROW_LOCKS", "false") == "true"
	if err := env.Err(); err != nil {
		return s, err
	}
	var err error
	if s.hooks, err = readHooks(env); err != nil {
		return s, err
	}
	if s.hooks.sealer != nil {
		s.hooks.delivery.Metrics = delivery.NewMetrics(metrics)
	}
	return s, nil
}

// readHooks reads and checks the webhook deliveries' settings.
func readHooks(env *config.Env) (hooksSettings, error) {
	h := hooksSettings{
		key:         env.Secret("WEBHOOK_KEY", "opens the webhook signing secrets the api sealed in MySQL (the api's WEBHOOK_KEY); empty turns deliveries off", false),
		timeout:     env.Duration("WEBHOOK_TIMEOUT", delivery.DefaultTimeout),
		maxAttempts: env.Int("WEBHOOK_MAX_ATTEMPTS", delivery.DefaultMaxAttempts),
		delivery: delivery.Config{
			Concurrency:   env.Int("WEBHOOK_CONCURRENCY", delivery.DefaultConcurrency),
			Backoff:       env.Duration("WEBHOOK_BACKOFF", delivery.DefaultBackoff),
			BackoffMax:    env.Duration("WEBHOOK_BACKOFF_MAX", delivery.DefaultBackoffMax),
			PauseAfter:    env.Duration("WEBHOOK_PAUSE_AFTER", delivery.DefaultPauseAfter),
			PauseFailures: env.Int("WEBHOOK_PAUSE_FAILURES", delivery.DefaultPauseFailures),
		},
	}
	if err := env.Err(); err != nil {
		return h, err
	}
	var err error
	if h.key != "" {
		if h.sealer, err = appsettings.NewSealer(h.key); err != nil {
			return h, fmt.Errorf("WEBHOOK_KEY: %w", err)
		}
	}
	if h.policy, err = webhook.ParsePolicy(env.String("WEBHOOK_ALLOW_HOSTS", "")); err != nil {
		return h, fmt.Errorf("WEBHOOK_ALLOW_HOSTS: %w", err)
	}
	d := h.delivery
	switch {
	case h.timeout < 100*time.Millisecond || h.timeout > time.Minute:
		return h, fmt.Errorf("WEBHOOK_TIMEOUT must be from 100ms to 1m, got %s", h.timeout)
	case d.Concurrency < 1 || d.Concurrency > 1024:
		return h, fmt.Errorf("WEBHOOK_CONCURRENCY must be from 1 to 1024 deliveries in flight, got %d", d.Concurrency)
	case h.maxAttempts < 1 || h.maxAttempts > 100:
		return h, fmt.Errorf("WEBHOOK_MAX_ATTEMPTS must be from 1 to 100, got %d", h.maxAttempts)
	case d.Backoff < 10*time.Millisecond:
		return h, fmt.Errorf("WEBHOOK_BACKOFF must be at least 10ms, got %s", d.Backoff)
	case d.BackoffMax < d.Backoff || d.BackoffMax > 7*24*time.Hour:
		return h, fmt.Errorf("WEBHOOK_BACKOFF_MAX must be from WEBHOOK_BACKOFF (%s) to 168h, got %s", d.Backoff, d.BackoffMax)
	case d.PauseAfter < time.Second || d.PauseAfter > 30*24*time.Hour:
		return h, fmt.Errorf("WEBHOOK_PAUSE_AFTER must be from 1s to 720h, got %s", d.PauseAfter)
	case d.PauseFailures < 1:
		return h, fmt.Errorf("WEBHOOK_PAUSE_FAILURES must be at least 1, got %d", d.PauseFailures)
	}
	return h, nil
}

// serve runs the reindex sender, the queue's upkeep, one worker per
// partition and the health server until ctx ends or one of them fails, then
// stops them in order: the reindex sender last, so it can send the workers'
// last batches.
func serve(ctx context.Context, cfg settings, st *store.Store, rdb redis.UniversalClient, metrics *prometheus.Registry, log *slog.Logger) error {
	q := queue.New(rdb, cfg.common.Keys(), cfg.common.Queue)
	metrics.MustRegister(queue.NewCollector(queue.NewInspector(rdb, cfg.common.Keys())))
	// The webhook deliveries' lane: the same queue with its own attempts.
	hooksQueue := queue.New(rdb, cfg.common.Keys().Hooks(), queue.Config{MaxAttempts: cfg.hooks.maxAttempts,
		HeartbeatTTL: cfg.common.Queue.HeartbeatTTL, DeadCap: cfg.common.Queue.DeadCap})
	metrics.MustRegister(queue.NewCollector(queue.NewInspector(rdb, hooksQueue.Keys())))
	cfg.worker.Counter = counter.New(rdb, cfg.common.Keys(), st, cfg.common.Counter)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The reindex sender outlives the workers so it can send their last batches.
	rxCtx, stopRx := context.WithCancel(context.WithoutCancel(ctx))
	defer stopRx()
	cfg.reindex.Forget = st.ForgetIndexed
	rx := reindex.New(cfg.reindex, log)
	rxDone := make(chan struct{})
	go func() { defer close(rxDone); rx.Run(rxCtx) }()
	var wg sync.WaitGroup
	// Both lanes get the upkeep, also while this writer does not deliver:
	// another writer may, and its dead consumers' jobs must go back.
	wg.Go(func() { maintain(ctx, []*queue.Queue{q, hooksQueue}, log) })

	errc := make(chan error, cfg.common.Partitions+1)
	startWorkers(ctx, &wg, errc, cfg, q, st, rx, log)
	startDeliveries(ctx, &wg, cfg, hooksQueue, st, rdb, log)

	handler := health.Handler(version, []health.Check{
		{Name: "mysql", Run: st.Ping},
		{Name: "redis", Run: func(ctx context.Context) error { return rdb.Ping(ctx).Err() }},
	}, telemetry.MetricsMux(metrics))
	wg.Go(func() {
		if err := health.Serve(ctx, cfg.addr, handler, 10*time.Second); err != nil {
			errc <- err
		}
	})
	log.Info("writer started", "partitions", cfg.common.Partitions, "batch", cfg.worker.BatchSize, "addr", cfg.addr, "version", version)
	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
	}
	log.Info("writer shutting down")
	cancel() // stops the workers, the maintenance loop and the health server
	wg.Wait()
	stopRx()
	<-rxDone
	return runErr
}

// startWorkers starts one worker per partition in wg; a worker that fails
// sends its error to errc.
func startWorkers(ctx context.Context, wg *sync.WaitGroup, errc chan<- error, cfg settings, q *queue.Queue, st *store.Store, rx *reindex.Client, log *slog.Logger) {
	applier := apply.New(st, cfg.common.Keys())
	host, _ := os.Hostname()
	for p := range cfg.common.Partitions {
		name := fmt.Sprintf("%s-%d-%s", host, os.Getpid(), strconv.FormatInt(time.Now().UnixNano()%1e9, 36))
		w := worker.New(cfg.worker, q, q.NewConsumer(p, name), applier, st, rx, log)
		wg.Go(func() {
			if err := w.Run(ctx); err != nil {
				errc <- fmt.Errorf("partition %d: %w", p, err)
			}
		})
	}
}

// startDeliveries starts the webhook deliveries in wg, with the settings
// cache they read endpoints from, or logs once that webhooks are off.
func startDeliveries(ctx context.Context, wg *sync.WaitGroup, cfg settings, q *queue.Queue, st *store.Store, rdb redis.UniversalClient, log *slog.Logger) {
	if cfg.hooks.sealer == nil {
		log.Info("webhooks are off: WEBHOOK_KEY is not set, so this writer delivers none; deliveries queued on the hooks lane wait for a writer that has it")
		return
	}
	ss := st.Settings(cfg.hooks.sealer)
	cache := appsettings.NewCache(ss, rdb, appsettings.Channel(cfg.common.KeyPrefix), log)
	// Not awaited with the workers: Cache.Run stays blocked in its
	// subscription after ctx ends until a message comes; closing Redis when
	// run returns ends it.
	go cache.Run(ctx)
	dc := cfg.hooks.delivery
	host, _ := os.Hostname()
	dc.Name = fmt.Sprintf("%s-%d-%s-hooks", host, os.Getpid(), strconv.FormatInt(time.Now().UnixNano()%1e9, 36))
	d := delivery.New(dc, q, rdb, cache, ss, cfg.hooks.policy.Client(cfg.hooks.timeout), log)
	wg.Go(func() { d.Run(ctx) })
	log.Info("webhooks on", "allow_hosts", cfg.hooks.policy.String(), "timeout", cfg.hooks.timeout)
}

// maintain is the queue's upkeep, which the writers own (ADR 0011), for each
// lane: it requeues the jobs of dead consumers and promotes due retries and
// parked jobs whose backoff passed.
func maintain(ctx context.Context, lanes []*queue.Queue, log *slog.Logger) {
	promote := time.NewTicker(time.Second)
	defer promote.Stop()
	reap := time.NewTicker(lanes[0].Config().HeartbeatTTL / 2)
	defer reap.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-promote.C:
			for _, q := range lanes {
				promoteDue(ctx, q, log)
			}
		case <-reap.C:
			for _, q := range lanes {
				n, err := q.RequeueOrphans(ctx)
				if err != nil && ctx.Err() == nil {
					log.Warn("requeue orphaned jobs", "lane", q.Keys().Lane(), "err", err)
				}
				if n > 0 {
					log.Info("requeued jobs of a dead consumer", "lane", q.Keys().Lane(), "jobs", n)
				}
			}
		}
	}
}

// promoteDue moves a lane's due retries and parked jobs back to pending.
func promoteDue(ctx context.Context, q *queue.Queue, log *slog.Logger) {
	if _, err := q.PromoteDue(ctx, time.Now()); err != nil && ctx.Err() == nil {
		log.Warn("promote retries", "lane", q.Keys().Lane(), "err", err)
	}
	if _, err := q.PromoteParked(ctx, time.Now()); err != nil && ctx.Err() == nil {
		log.Warn("promote parked jobs", "lane", q.Keys().Lane(), "err", err)
	}
}
