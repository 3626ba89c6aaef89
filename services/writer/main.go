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

	"github.com/instachat/instachat/pkg/config"
	"github.com/instachat/instachat/pkg/counter"
	"github.com/instachat/instachat/pkg/health"
	"github.com/instachat/instachat/pkg/queue"
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

func run(ctx context.Context, getenv func(string) string, out io.Writer) error {
	env := config.NewEnv(getenv)
	common := config.ReadCommon(env, "writer")
	addr := env.String("HTTP_ADDR", ":8081")
	apiURL := env.String("API_URL", "http://127.0.0.1:8080")
	internalToken := env.Secret("INTERNAL_TOKEN", "the secret presented to the api's /internal/reindex", true)
	reindexLinger := env.Duration("WRITER_REINDEX_LINGER", 100*time.Millisecond)
	metrics := telemetry.NewRegistry()
	wcfg := worker.Config{BatchSize: env.Int("WRITER_BATCH_SIZE", 500), Block: env.Duration("WRITER_BLOCK", 2*time.Second),
		Linger: env.Duration("WRITER_LINGER", 50*time.Millisecond), Metrics: worker.NewMetrics(metrics)}
	common.Store.RowLocks = env.String("WRITER_ROW_LOCKS", "false") == "true"
	if err := env.Err(); err != nil {
		return err
	}
	log, err := common.Logger(ctx, out)
	if err != nil {
		return err
	}
	// Each partition's consumer holds one connection in BLMOVE.
	common.Redis.PoolSize = max(common.Redis.PoolSize, common.Partitions*2+16)
	conns, err := common.Connect(ctx)
	if err != nil {
		return err
	}
	defer conns.Close()
	st, rdb := conns.Store, conns.Redis
	q := queue.New(rdb, common.Keys(), common.Queue)
	metrics.MustRegister(queue.NewCollector(q))
	wcfg.Counter = counter.New(rdb, common.Keys(), st, common.Counter)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The reindex sender outlives the workers so it can send their last batches.
	rxCtx, stopRx := context.WithCancel(context.WithoutCancel(ctx))
	defer stopRx()
	rx := reindex.New(reindex.Config{APIURL: apiURL, InternalToken: internalToken, Linger: reindexLinger, Forget: st.ForgetIndexed}, log)
	rxDone := make(chan struct{})
	go func() { defer close(rxDone); rx.Run(rxCtx) }()
	var wg sync.WaitGroup
	wg.Go(func() { maintain(ctx, q, log) })

	applier := apply.New(st)
	host, _ := os.Hostname()
	errc := make(chan error, common.Partitions+1)
	for p := range common.Partitions {
		name := fmt.Sprintf("%s-%d-%s", host, os.Getpid(), strconv.FormatInt(time.Now().UnixNano()%1e9, 36))
		w := worker.New(wcfg, q, q.NewConsumer(p, name), applier, st, rx, log)
		wg.Go(func() {
			if err := w.Run(ctx); err != nil {
				errc <- fmt.Errorf("partition %d: %w", p, err)
			}
		})
	}

	handler := health.Handler(version, []health.Check{
		{Name: "mysql", Run: st.Ping},
		{Name: "redis", Run: func(ctx context.Context) error { return rdb.Ping(ctx).Err() }},
	}, telemetry.MetricsMux(metrics))
	wg.Go(func() {
		if err := health.Serve(ctx, addr, handler, 10*time.Second); err != nil {
			errc <- err
		}
	})
	log.Info("writer started", "partitions", common.Partitions, "batch", wcfg.BatchSize, "addr", addr, "version", version)
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
