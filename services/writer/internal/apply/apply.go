// Package apply is the writer's handler layer: each job type has one handler
// that reads, decides and writes its jobs inside a small transaction shared
// with the other jobs of the batch. Observers (reindex, logs) run after commit.
// Adding a job type means adding a handler to Handlers.
package apply

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/instachat/instachat/pkg/queue"
	"github.com/instachat/instachat/pkg/store"
)

// ErrPermanent marks a job that can never succeed (unknown application,
// unknown type); it goes to the dead list without retries.
var ErrPermanent = errors.New("permanent failure")

// Job is one decoded envelope with what the writer resolved for it.
type Job struct {
	Env   queue.Envelope
	AppID int64
	Prov  store.Provenance
}

// Handler applies the jobs of one type inside tx and returns one outcome per job.
type Handler interface {
	Apply(ctx context.Context, tx *store.Tx, jobs []Job) ([]store.Outcome, Effects, error)
}

// Effects is what a handler's writes mean for the index and for others.
type Effects struct {
	// Reindex lists the messages to send to the api after commit (the live,
	// best-effort path): changed ones and duplicates.
	Reindex []store.MessageKey
	// Changed lists the messages whose write applied. The Applier queues them
	// in the search outbox inside the same transaction, the durable path the
	// api's catch-up drains; duplicates and stale writes changed nothing.
	Changed    []store.MessageKey
	ChatsAhead int // chat rows created because a message came first
}

// Handlers maps job types to their handlers, in the order they run in a batch.
var order = []string{queue.TypeChatCreate, queue.TypeMessageCreate, queue.TypeMessageUpdate}

// Handlers returns the handler of every job type.
func Handlers() map[string]Handler {
	return map[string]Handler{
		queue.TypeChatCreate:    chatCreate{},
		queue.TypeMessageCreate: messageCreate{},
		queue.TypeMessageUpdate: messageUpdate{},
	}
}

// Applier applies batches of jobs.
type Applier struct {
	store    *store.Store
	handlers map[string]Handler
	mu       sync.Mutex
	appIDs   map[string]int64
}

// New returns an Applier.
func New(st *store.Store) *Applier {
	return &Applier{store: st, handlers: Handlers(), appIDs: map[string]int64{}}
}

// Result is what a committed batch did.
type Result struct {
	Outcomes map[store.Outcome]int
	Effects  Effects
	Jobs     []Job
	Each     []store.Outcome // outcome of Jobs[i]
}

// Resolve turns envelopes into jobs: it looks up application ids and stamps
// provenance. Jobs that can never apply come back in failed with ErrPermanent.
func (a *Applier) Resolve(ctx context.Context, envs []queue.Envelope, readAt time.Time) (jobs []Job, failed map[int]error, err error) {
	failed = map[int]error{}
	var unknown []string
	a.mu.Lock()
	for _, e := range envs {
		if _, ok := a.appIDs[e.App]; !ok {
			unknown = append(unknown, e.App)
		}
	}
	a.mu.Unlock()
	if len(unknown) > 0 {
		ids, err := a.store.ApplicationIDs(ctx, unknown)
		if err != nil {
			return nil, nil, err
		}
		a.mu.Lock()
		if len(a.appIDs) > 100000 {
			a.appIDs = map[string]int64{}
		}
		for t, id := range ids {
			a.appIDs[t] = id
		}
		a.mu.Unlock()
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for i, e := range envs {
		id, ok := a.appIDs[e.App]
		switch {
		case !ok:
			failed[i] = fmt.Errorf("job %s: unknown application: %w", e.ID, ErrPermanent)
			continue
		case a.handlers[e.Type] == nil:
			failed[i] = fmt.Errorf("job %s: unknown type %q: %w", e.ID, e.Type, ErrPermanent)
			continue
		}
		jobs = append(jobs, Job{Env: e, AppID: id, Prov: store.Provenance{
			EventID: e.ID, EventTime: e.AcceptedAt(), ReadAt: readAt,
		}})
	}
	return jobs, failed, nil
}

// Apply writes jobs in one transaction, each type through its handler, and
// queues the messages they changed for the search index in the same
// transaction.
func (a *Applier) Apply(ctx context.Context, jobs []Job) (Result, error) {
	byType := map[string][]int{}
	for i, j := range jobs {
		byType[j.Env.Type] = append(byType[j.Env.Type], i)
	}
	res := Result{Outcomes: map[store.Outcome]int{}, Jobs: jobs, Each: make([]store.Outcome, len(jobs))}
	err := a.store.InTx(ctx, func(tx *store.Tx) error {
		res.Effects = Effects{}
		writeAt := time.Now().UTC()
		for _, typ := range order {
			idx := byType[typ]
			if len(idx) == 0 {
				continue
			}
			batch := make([]Job, len(idx))
			for k, i := range idx {
				batch[k] = jobs[i]
				batch[k].Prov.WriteAt = writeAt
			}
			outs, eff, err := a.handlers[typ].Apply(ctx, tx, batch)
			if err != nil {
				return fmt.Errorf("apply %s: %w", typ, err)
			}
			for k, i := range idx {
				res.Each[i] = outs[k]
			}
			res.Effects.Reindex = append(res.Effects.Reindex, eff.Reindex...)
			res.Effects.Changed = append(res.Effects.Changed, eff.Changed...)
			res.Effects.ChatsAhead += eff.ChatsAhead
		}
		if err := tx.QueueForIndex(ctx, res.Effects.Changed); err != nil {
			return fmt.Errorf("apply: %w", err)
		}
		return nil
	})
	if err != nil {
		return Result{}, err
	}
	for _, o := range res.Each {
		res.Outcomes[o]++
	}
	return res, nil
}
