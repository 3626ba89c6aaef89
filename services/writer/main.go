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
	"github.com/instachat/instachat/pkg/store"
	"github.com/instachat/instachat/pkg/telemetry"
	"github.com/instachat/instachat/services/writer/internal/apply"
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
	// Each partition's consumer holds one connection in BLMOVE.
	cfg.common.Redis.PoolSize = max(cfg.common.Redis.PoolSize, cfg.common.Partitions*2+16)
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
		Linger: env.Duration("WRITER_LINGER", 50*time.Millisecond), Metrics: worker.NewMetrics(metrics)}
	s.common.Store.RowLocks = env.String("WRITER_ROW_LOCKS", "false") == "true"
	return s, env.Err()
}

// serve runs the reindex sender, the queue's upkeep, one worker per
// partition and the health server until ctx ends or one of them fails, then
// stops them in order: the reindex sender last, so it can send the workers'
// last batches.
func serve(ctx context.Context, cfg settings, st *store.Store, rdb redis.UniversalClient, metrics *prometheus.Registry, log *slog.Logger) error {
	q := queue.New(rdb, cfg.common.Keys(), cfg.common.Queue)
	metrics.MustRegister(queue.NewCollector(queue.NewInspector(rdb, cfg.common.Keys())))
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
	wg.Go(func() { maintain(ctx, q, log) })

	errc := make(chan error, cfg.common.Partitions+1)
	startWorkers(ctx, &wg, errc, cfg, q, st, rx, log)

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

// maintain is the queue's upkeep, which the writers own (ADR 0011): it
// requeues the jobs of dead consumers and promotes due retries and parked
// jobs whose backoff passed.
func maintain(ctx context.Context, q *queue.Queue, log *slog.Logger) {
	promote := time.NewTicker(time.Second)
	defer promote.Stop()
	reap := time.NewTicker(q.Config().HeartbeatTTL / 2)
	defer reap.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-promote.C:
			if _, err := q.PromoteDue(ctx, time.Now()); err != nil && ctx.Err() == nil {
				log.Warn("promote retries", "err", err)
			}
			if _, err := q.PromoteParked(ctx, time.Now()); err != nil && ctx.Err() == nil {
				log.Warn("promote parked jobs", "err", err)
			}
		case <-reap.C:
			n, err := q.RequeueOrphans(ctx)
			if err != nil && ctx.Err() == nil {
				log.Warn("requeue orphaned jobs", "err", err)
			}
			if n > 0 {
				log.Info("requeued jobs of a dead consumer", "jobs", n)
			}
		}
	}
}
