// Package worker runs the writer's consume loop for one queue partition:
// fetch a batch reliably, apply it in one transaction, hand failures to retry
// or the dead list, acknowledge, then reindex what changed.
package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/instachat/instachat/pkg/counter"
	"github.com/instachat/instachat/pkg/queue"
	"github.com/instachat/instachat/pkg/search/reindex"
	"github.com/instachat/instachat/pkg/store"
	"github.com/instachat/instachat/pkg/telemetry"
	"github.com/instachat/instachat/services/writer/internal/apply"
)

// Config tunes a worker.
type Config struct {
	BatchSize int           // jobs per transaction
	Block     time.Duration // how long one BLMOVE waits for work
	// Linger is how long a batch smaller than BatchSize waits for more jobs
	// before it is applied: a transaction costs MySQL about the same for one
	// job as for dozens, so at moderate rates a short wait cuts MySQL's and
	// the writer's CPU per message several times. Zero applies at once.
	Linger  time.Duration
	Metrics *Metrics // optional
	// Counter heals a counter that went back when a create finds its number
	// taken (optional: without it the api's epoch check is the only guard).
	Counter *counter.Counter
	// StuckAfter is how long a batch may wait on MySQL before the worker
	// logs it as stuck, and again each time as long (default 5 s).
	StuckAfter time.Duration
	// TxTimeout bounds one batch's transaction (default 30 s): a MySQL that
	// hangs makes it fail and the batch is tried again, never lost.
	TxTimeout time.Duration
	// IndexBacklogLater leaves the documents of a full batch (BatchSize
	// jobs) that follows another full one (a backlog is waiting) to the
	// api's search catch-up,
	// which takes the batch's outbox rows once they are older than its
	// delay, instead of sending them to the live reindex. While the queue
	// drains, the api's indexing then does not take the CPU that persisting
	// needs, and the catch-up indexes the backlog later in pages of 1,000,
	// bleve's cheapest size. Searches lag by the catch-up's delay for the
	// messages of a backlog; nothing is indexed less (docs/adr/0017).
	IndexBacklogLater bool
}

// Reindexer receives the documents of committed messages and the keys of
// deleted ones.
type Reindexer interface {
	// outbox names the search outbox rows to forget once the api has
	// indexed docs and deleted the keys.
	Enqueue(docs []reindex.Doc, deleted []reindex.Key, outbox []store.OutboxBatch) bool
}

// Worker consumes one partition.
type Worker struct {
	cfg      Config
	q        *queue.Queue
	consumer *queue.Consumer
	applier  *apply.Applier
	store    *store.Store
	reindex  Reindexer
	log      *slog.Logger

	fullInARow int // full batches in a row, the last one included (see backlogged)
}

// New returns a worker for a consumer.
func New(cfg Config, q *queue.Queue, c *queue.Consumer, a *apply.Applier, st *store.Store, r Reindexer, log *slog.Logger) *Worker {
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 500
	}
	if cfg.Block <= 0 {
		cfg.Block = 2 * time.Second
	}
	if cfg.StuckAfter <= 0 {
		cfg.StuckAfter = 5 * time.Second
	}
	if cfg.TxTimeout <= 0 {
		cfg.TxTimeout = 30 * time.Second
	}
	return &Worker{cfg: cfg, q: q, consumer: c, applier: a, store: st, reindex: r,
		log: log.With("partition", c.Partition(), "consumer", c.Name())}
}

// Run consumes until ctx ends, then gives unfinished jobs back.
func (w *Worker) Run(ctx context.Context) error {
	if err := w.consumer.Beat(ctx); err != nil {
		return err
	}
	beatCtx, stopBeat := context.WithCancel(ctx)
	beatDone := make(chan struct{})
	go func() { defer close(beatDone); w.heartbeat(beatCtx) }()
	defer func() {
		// Stop beating first, then give unfinished jobs back.
		stopBeat()
		<-beatDone
		leaveCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := w.consumer.Leave(leaveCtx); err != nil {
			w.log.Warn("leave", "err", err)
		}
	}()
	wait := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := w.step(ctx)
		if err == nil {
			wait = 100 * time.Millisecond
			continue
		}
		if ctx.Err() != nil {
			break
		}
		w.log.Warn("batch not applied; jobs stay in the processing list and are tried again", "err", err, "retry_in", wait)
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
		wait = min(wait*2, 5*time.Second)
	}
	return nil
}

func (w *Worker) heartbeat(ctx context.Context) {
	t := time.NewTicker(w.q.Config().HeartbeatTTL / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := w.consumer.Beat(ctx); err != nil && ctx.Err() == nil {
				w.log.Warn("heartbeat", "err", err)
			}
		}
	}
}

// step handles one batch. An error means nothing was acknowledged: the
// batch stays in the processing list and the next step fetches it again.
func (w *Worker) step(ctx context.Context) error {
	raws, err := w.fetch(ctx)
	if err != nil || len(raws) == 0 {
		return err
	}
	readAt := time.Now().UTC()
	mark := readAt
	envs, undecodable := decodeAll(raws)
	res, bad, failed, err := w.applyBatch(ctx, envs, readAt, &mark)
	if err != nil {
		return err
	}
	// What did not apply is set aside before the batch is acknowledged, so a
	// crash in between redelivers it rather than losing it.
	parked, err := w.park(ctx, res)
	if err != nil {
		return err
	}
	dead, err := w.buryFailed(ctx, envs, bad, undecodable, readAt)
	if err != nil {
		return err
	}
	conflicts, err := w.keepConflicts(ctx, res)
	if err != nil {
		return err
	}
	failed += dead + conflicts
	w.cfg.Metrics.stage("park", &mark)
	if err := w.consumer.Ack(ctx, len(res.Jobs)-parked-conflicts, failed); err != nil {
		return err
	}
	w.cfg.Metrics.stage("ack", &mark)
	w.recordCompleted(ctx, res, failed)
	w.cfg.Metrics.stage("record", &mark)
	w.observe(ctx, res, w.backlogged(len(raws)))
	w.cfg.Metrics.stage("observe", &mark)
	return nil
}

// fetch takes a batch: one blocking move, then, for a small batch, a short
// linger for more jobs (see Config.Linger).
func (w *Worker) fetch(ctx context.Context) ([]string, error) {
	raws, err := w.consumer.Fetch(ctx, w.cfg.BatchSize, w.cfg.Block)
	if err != nil || len(raws) == 0 || w.cfg.Linger <= 0 || len(raws) >= w.cfg.BatchSize {
		return raws, err
	}
	select {
	case <-ctx.Done():
	case <-time.After(w.cfg.Linger):
	}
	more, err := w.consumer.FetchMore(ctx, w.cfg.BatchSize-len(raws))
	if err != nil {
		return nil, err
	}
	return append(raws, more...), nil
}

// decodeAll splits raw jobs into envelopes and those that do not decode.
func decodeAll(raws []string) (envs []queue.Envelope, undecodable []string) {
	envs = make([]queue.Envelope, 0, len(raws))
	for _, raw := range raws {
		e, err := queue.Decode(raw)
		if err != nil {
			undecodable = append(undecodable, raw)
			continue
		}
		envs = append(envs, e)
	}
	return envs, undecodable
}

// applyBatch resolves and applies the envelopes in one transaction, bounded
// by TxTimeout and watched for stalls. A batch that fails for one job's sake
// is applied job by job; failed counts the jobs that went to retry or dead
// there. bad holds the envelopes (by index) that can never apply.
func (w *Worker) applyBatch(ctx context.Context, envs []queue.Envelope, readAt time.Time, mark *time.Time) (res apply.Result, bad map[int]error, failed int, err error) {
	done := w.watch(len(envs), "waiting on MySQL")
	dbCtx, cancel := context.WithTimeout(ctx, w.cfg.TxTimeout)
	defer func() { cancel(); done() }()
	jobs, bad, err := w.applier.Resolve(dbCtx, envs, readAt)
	if err != nil {
		return apply.Result{}, nil, 0, err
	}
	w.cfg.Metrics.stage("resolve", mark)
	res, err = w.applier.Apply(dbCtx, jobs)
	cancel()
	done()
	if err != nil {
		if store.Transient(err) {
			w.cfg.Metrics.failed("transient")
			return apply.Result{}, nil, 0, err
		}
		w.cfg.Metrics.failed("job")
		// One bad job must not hold up the others: apply them one by one.
		if res, failed, err = w.applyOneByOne(ctx, jobs, err); err != nil {
			return apply.Result{}, nil, 0, err
		}
	}
	w.cfg.Metrics.stage("apply", mark)
	return res, bad, failed, nil
}

// buryFailed keeps the jobs that can never apply on the dead list for
// inspection: those that do not decode, exactly as queued, and those whose
// application or type is unknown. It returns how many it buried.
func (w *Worker) buryFailed(ctx context.Context, envs []queue.Envelope, bad map[int]error, undecodable []string, readAt time.Time) (int, error) {
	for _, raw := range undecodable {
		if err := w.q.BuryRaw(ctx, w.consumer.Partition(), raw); err != nil {
			return 0, err
		}
		w.log.Warn("undecodable job moved to the dead list")
	}
	for i, cause := range bad {
		j := apply.Job{Env: envs[i], Prov: store.Provenance{ReadAt: readAt, Stream: w.applier.Stream(envs[i])}}
		if err := w.kill(ctx, j, cause, false); err != nil {
			return 0, err
		}
	}
	return len(undecodable) + len(bad), nil
}

// kill ends a job on the dead list the one way every death is recorded:
// buried (unless the queue already moved it there), journaled, counted and
// logged under its trace id.
func (w *Worker) kill(ctx context.Context, j apply.Job, cause error, moved bool) error {
	if !moved {
		if err := w.q.Bury(ctx, j.Env, cause); err != nil {
			return err
		}
	}
	entry := apply.JournalEntry(j, store.OutcomeDead, cause.Error())
	if err := w.store.JournalOutside(ctx, []store.JournalEntry{entry}); err != nil {
		return err
	}
	w.cfg.Metrics.job(j.Env.Type, store.OutcomeDead)
	w.log.WarnContext(telemetry.WithTrace(ctx, j.Env.Trace), "job dead", "job", j.Env.ID, "type", j.Env.Type,
		"attempt", j.Env.Attempt+1, "err", cause)
	return nil
}

// watch logs the batch as stuck each time it has waited StuckAfter more,
// until the returned function is called (once or more).
func (w *Worker) watch(jobs int, doing string) (done func()) {
	stop := make(chan struct{})
	start := time.Now()
	go func() {
		t := time.NewTicker(w.cfg.StuckAfter)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				w.log.Warn("batch stuck: still "+doing+"; its jobs stay in the processing list and nothing is lost",
					"jobs", jobs, "waiting_s", int(time.Since(start).Seconds()))
			}
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { close(stop) }) }
}

// park sets aside the jobs whose parent row is missing, or buries those that
// waited too often, and returns how many it parked or buried.
func (w *Worker) park(ctx context.Context, res apply.Result) (int, error) {
	n := 0
	for i, j := range res.Jobs {
		o := res.Each[i]
		if !o.Parked() {
			continue
		}
		n++
		dead, err := w.q.Park(ctx, j.Env, apply.Parent(j.Env, o), time.Now())
		if err != nil {
			return n, err
		}
		if dead {
			if err := w.kill(ctx, j, errors.New("parent never arrived: "+apply.Detail(j.Env.Type, o)), true); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

// keepConflicts keeps every create whose number another event's row holds
// whole on the dead list (kind number_conflict), where replaying it gives it
// a new number, and heals the counter that handed the number out again. The
// journal already recorded the conflict in the batch's transaction. It
// returns how many it kept.
func (w *Worker) keepConflicts(ctx context.Context, res apply.Result) (int, error) {
	n := 0
	for i, j := range res.Jobs {
		if res.Each[i] != store.NumberConflict {
			continue
		}
		n++
		cause := fmt.Errorf("%s: %s", store.OutcomeNumberConflict, apply.ConflictDetail(j.Env))
		if err := w.q.BuryConflict(ctx, j.Env, cause); err != nil {
			return n, err
		}
		w.cfg.Metrics.conflict(j.Env.Type)
		w.log.WarnContext(telemetry.WithTrace(ctx, j.Env.Trace), "number conflict: the create is kept on the dead list and its row left alone",
			"job", j.Env.ID, "type", j.Env.Type, "chat", j.Env.Chat, "message", j.Env.Message)
		w.heal(ctx, j)
	}
	return n, nil
}

// heal raises the counter that handed out a taken number to MySQL's highest
// persisted number, so the next numbers are fresh. A failure is logged: the
// next conflict tries again, and nothing is lost meanwhile.
func (w *Worker) heal(ctx context.Context, j apply.Job) {
	if w.cfg.Counter == nil {
		return
	}
	var max int64
	var err error
	chatNumber := int64(0)
	if j.Env.Type == queue.TypeMessageCreate {
		chatNumber = j.Env.Chat
		max, err = w.store.MaxMessageNumber(ctx, j.AppID, chatNumber)
	} else {
		max, err = w.store.MaxChatNumber(ctx, j.AppID)
	}
	if err == nil {
		var behind bool
		if behind, err = w.cfg.Counter.Heal(ctx, j.Env.App, chatNumber, max); behind {
			w.log.Warn("counter was behind the persisted numbers; raised", "chat", chatNumber, "to", max)
		}
	}
	if err != nil {
		w.log.Warn("heal counter after a number conflict", "err", err)
	}
}

// applyOneByOne applies each job in its own transaction; a job that fails
// goes to retry (or dead once out of attempts). A transient error stops it.
func (w *Worker) applyOneByOne(ctx context.Context, jobs []apply.Job, batchErr error) (apply.Result, int, error) {
	w.log.Warn("batch failed; applying its jobs one by one", "jobs", len(jobs), "err", batchErr)
	total := apply.Result{Outcomes: map[store.Outcome]int{}}
	failed := 0
	for _, j := range jobs {
		res, err := w.applier.Apply(ctx, []apply.Job{j})
		if err != nil {
			if store.Transient(err) {
				return apply.Result{}, 0, err
			}
			dead, rerr := w.q.Retry(ctx, j.Env, err, time.Now())
			if rerr != nil {
				return apply.Result{}, 0, rerr
			}
			if dead {
				if kerr := w.kill(ctx, j, err, true); kerr != nil {
					return apply.Result{}, 0, kerr
				}
			} else {
				w.cfg.Metrics.job(j.Env.Type, "retried")
				w.log.WarnContext(telemetry.WithTrace(ctx, j.Env.Trace), "job failed; it is retried after a backoff", "job", j.Env.ID, "type", j.Env.Type, "attempt", j.Env.Attempt+1, "err", err)
			}
			failed++
			continue
		}
		total.Jobs = append(total.Jobs, res.Jobs...)
		total.Each = append(total.Each, res.Each...)
		for o, n := range res.Outcomes {
			total.Outcomes[o] += n
		}
		total.Effects.Reindex = append(total.Effects.Reindex, res.Effects.Reindex...)
		total.Effects.Deleted = append(total.Effects.Deleted, res.Effects.Deleted...)
		total.Effects.Created = append(total.Effects.Created, res.Effects.Created...)
		total.Outbox = append(total.Outbox, res.Outbox...)
	}
	return total, failed, nil
}

// backlogAfter is how many full batches in a row mean a backlog (see
// Config.IndexBacklogLater): one full batch can be a burst's last, the
// second shows the queue still held a batch behind the first.
const backlogAfter = 2

// backlogged reports, for a batch of n jobs, whether its documents are left
// to the search catch-up: when Config.IndexBacklogLater is set and it is at
// least the backlogAfter-th full batch in a row.
func (w *Worker) backlogged(n int) bool {
	if n < w.cfg.BatchSize {
		w.fullInARow = 0
		return false
	}
	w.fullInARow++
	return w.cfg.IndexBacklogLater && w.fullInARow >= backlogAfter
}

// observe runs after commit: sends waiting events of the parents this batch
// created back to be applied, logs each job under its trace id, counts the
// out-of-order cases, and reindexes, unless indexLater leaves that to the
// search catch-up (see Config.IndexBacklogLater).
func (w *Worker) observe(ctx context.Context, res apply.Result, indexLater bool) {
	w.cfg.Metrics.committed(res, time.Now())
	if len(res.Effects.Created) > 0 {
		if n, err := w.q.Unpark(ctx, w.consumer.Partition(), res.Effects.Created); err != nil {
			w.log.Warn("unpark; the parked jobs retry after their backoff", "err", err)
		} else if n > 0 {
			w.log.Debug("unparked jobs whose parent committed", "jobs", n)
		}
	}
	kinds := map[string]int{}
	for i, j := range res.Jobs {
		if k := apply.Detail(j.Env.Type, res.Each[i]); k != "" {
			kinds[k]++
		}
		if w.log.Enabled(ctx, slog.LevelDebug) {
			w.log.DebugContext(telemetry.WithTrace(ctx, j.Env.Trace), "job applied", "job", j.Env.ID, "type", j.Env.Type,
				"chat", j.Env.Chat, "message", j.Env.Message, "outcome", res.Each[i].String(), "detail", apply.Detail(j.Env.Type, res.Each[i]),
				"lag_ms", time.Since(j.Env.AcceptedAt()).Milliseconds())
		}
	}
	w.log.Debug("batch committed", "jobs", len(res.Jobs), "applied", res.Outcomes[store.Applied],
		"duplicate", res.Outcomes[store.Duplicate], "stale", res.Outcomes[store.Stale]+res.Outcomes[store.StaleDeleted],
		"parked", res.Outcomes[store.ParkedNoChat]+res.Outcomes[store.ParkedNoMessage], "out_of_order", kinds)
	if indexLater && len(res.Outbox) > 0 {
		w.cfg.Metrics.indexedLater(len(res.Jobs))
		return // the outbox rows stay for the api's catch-up
	}
	var deleted []reindex.Key
	for _, k := range res.Effects.Deleted {
		deleted = append(deleted, reindex.Key{AppID: k.AppID, Chat: k.Chat, Number: k.Number})
	}
	outbox := res.Outbox
	known, unknown := res.Effects.Docs()
	if len(unknown) > 0 {
		rows, err := w.store.SearchDocs(ctx, unknown)
		if err != nil {
			w.log.Warn("read messages for reindex; the search outbox catches up", "err", err)
			outbox = nil // the catch-up indexes them
		}
		known = append(known, rows...)
	}
	var docs []reindex.Doc
	if len(known) > 0 {
		byKey := make(map[store.MessageKey]apply.Job, len(res.Jobs))
		for _, j := range res.Jobs {
			byKey[store.MessageKey{AppID: j.AppID, Chat: j.Env.Chat, Number: j.Env.Message}] = j
		}
		docs = make([]reindex.Doc, len(known))
		for i, d := range known {
			j := byKey[d.Key()]
			docs[i] = reindex.Doc{AppID: d.AppID, Chat: d.Chat, Number: d.Number, Body: d.Body, Version: d.Version,
				Trace: j.Env.Trace, Accepted: j.Env.Time}
		}
	}
	w.reindex.Enqueue(docs, deleted, outbox)
}

// recordCompleted feeds the queue dashboard's recent jobs and throughput
// chart. The batch is already acknowledged, so a failure is only logged.
func (w *Worker) recordCompleted(ctx context.Context, res apply.Result, failed int) {
	done := make([]queue.Completed, 0, len(res.Jobs))
	for i, j := range res.Jobs {
		if res.Each[i].Parked() {
			continue // waiting for its parent, not completed
		}
		done = append(done, queue.CompletedFrom(j.Env, res.Each[i].String()))
	}
	if err := w.q.RecordCompleted(ctx, w.consumer.Partition(), done, failed, time.Now()); err != nil {
		w.log.Warn("record completed jobs for the dashboard", "err", err)
	}
}
