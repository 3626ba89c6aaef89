package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/instachat/instachat/pkg/config"
	"github.com/instachat/instachat/pkg/queue"
	"github.com/instachat/instachat/pkg/store"
	"github.com/instachat/instachat/pkg/telemetry"
)

// jobs are cron's jobs, run on a schedule by serve or once by a command.
// Each logs what it did and returns its error; the caller reports it.
type jobs struct {
	store     *store.Store
	queue     *queue.Queue
	redis     redis.UniversalClient
	log       *slog.Logger
	retention time.Duration // how long the event journal keeps entries
	metrics   *syncMetrics
}

// openJobs connects to MySQL and Redis with the common settings; close
// releases both.
func openJobs(ctx context.Context, common config.Common, retention time.Duration, log *slog.Logger, reg prometheus.Registerer) (j *jobs, close func(), err error) {
	conns, err := common.Connect(ctx)
	if err != nil {
		return nil, nil, err
	}
	rdb := conns.Redis
	j = &jobs{store: conns.Store, queue: queue.New(rdb, common.Keys(), common.Queue), redis: rdb, log: log, retention: retention,
		metrics: newSyncMetrics(reg)}
	return j, conns.Close, nil
}

// oneJob is a command that runs one job once: `cron sync`, `cron purge`,
// `cron requeue`.
func oneJob(name string, job func(*jobs, context.Context) error) runFunc {
	return withError(func(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
		if len(args) > 0 {
			return fmt.Errorf("%s takes no arguments, got %q\n%s", name, args, usage())
		}
		env := config.NewEnv(getenv)
		common := config.ReadCommon(env, "cron")
		retention := env.Duration("JOURNAL_RETENTION", 7*24*time.Hour)
		if err := env.Err(); err != nil {
			return err
		}
		printTarget(stderr, common)
		j, closeJobs, err := openJobs(ctx, common, retention, telemetry.NewLogger(stdout, common.Log), prometheus.NewRegistry())
		if err != nil {
			return err
		}
		defer closeJobs()
		return job(j, ctx)
	})
}

// printTarget names the database and the key prefix a command works on, so
// a command run with the wrong settings says so before it acts. It never
// prints a password.
func printTarget(w io.Writer, common config.Common) {
	db, where := "?", "?"
	if mc, err := mysql.ParseDSN(common.Store.DSN); err == nil {
		db, where = mc.DBName, mc.Addr
	}
	fmt.Fprintf(w, "cron: database %s on %s, key prefix %q\n", db, where, common.KeyPrefix)
}

// purge keeps the event journal bounded and drops the idempotency records
// of application writes that stopped answering (migration 0009).
func (j *jobs) purge(ctx context.Context) error {
	n, err := j.store.PurgeJournal(ctx, time.Now().Add(-j.retention))
	if err != nil {
		return fmt.Errorf("journal purge: %w", err)
	}
	keys, err := j.store.PurgeIdempotencyKeys(ctx, time.Now())
	if err != nil {
		return fmt.Errorf("idempotency key purge: %w", err)
	}
	j.log.Info("journal purged", "entries", n, "retention", j.retention.String(), "expired_idempotency_keys", keys)
	return nil
}

// sync recounts chats_count and messages_count.
func (j *jobs) sync(ctx context.Context) error {
	start := time.Now()
	rep, err := j.store.SyncCounts(ctx)
	j.metrics.observe(start, rep.ChatsCorrected, rep.AppsCorrected, rep.Drift, err)
	if err != nil {
		return fmt.Errorf("counter sync: %w", err)
	}
	j.log.Info("counter sync done", "chats_checked", rep.ChatsChecked, "chats_corrected", rep.ChatsCorrected,
		"applications_checked", rep.ApplicationsChecked, "applications_corrected", rep.AppsCorrected,
		"drift", rep.Drift, "conflicts", rep.Conflicts, "duration_ms", time.Since(start).Milliseconds())
	return nil
}

// requeue gives the jobs of dead writers back to their queues. The writers
// own this job (every QUEUE_HEARTBEAT_TTL/2); the command is for an operator
// who wants it now.
func (j *jobs) requeue(ctx context.Context) error {
	n, err := j.queue.RequeueOrphans(ctx)
	if err != nil {
		return fmt.Errorf("requeue: %w", err)
	}
	j.log.Info("requeued jobs of dead writers", "jobs", n)
	return nil
}
