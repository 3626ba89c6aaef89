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

	"github.com/instachat/instachat/pkg/events"
	"github.com/instachat/instachat/pkg/queue"
	"github.com/instachat/instachat/pkg/store"
)

// ErrPermanent marks a job that can never succeed (unknown application,
// unknown type); it goes to the dead list without retries.
var ErrPermanent = errors.New("permanent failure")

// Job is one decoded envelope with what the writer resolved for it. Its
// Prov.Stream is the job's position in its partition's live-event stream
// (zero for a job queued without one): the newest-wins rule compares it, the
// row keeps it, and every outcome is journaled with it.
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
	// Changed lists the messages whose write applied (bodies and deletes).
	// The Applier queues them in the search outbox inside the same
	// transaction, the durable path the api's catch-up drains.
	Changed []store.MessageKey
	// Deleted lists the messages a delete removed, for the live reindex.
	Deleted []store.MessageKey
	// Written holds the documents of rows the transaction inserted, as
	// committed: the live reindex sends them without reading them back,
	// unless another job of the batch also touched the message (see Docs).
	Written []store.IndexDoc
	// Created lists the parents (queue.ParentChat, queue.ParentMessage) whose
	// row now exists, so events parked waiting for them run next.
	Created []string
}

func (e *Effects) add(o Effects) {
	e.Reindex = append(e.Reindex, o.Reindex...)
	e.Changed = append(e.Changed, o.Changed...)
	e.Deleted = append(e.Deleted, o.Deleted...)
	e.Written = append(e.Written, o.Written...)
	e.Created = append(e.Created, o.Created...)
}

// Docs splits the messages to reindex into those whose document the batch
// knows (written once by it, by an insert, and neither touched again nor
// deleted in it) and those to read back from MySQL after commit.
func (e Effects) Docs() (known []store.IndexDoc, unknown []store.MessageKey) {
	touched := make(map[store.MessageKey]int, len(e.Reindex)+len(e.Deleted))
	for _, k := range e.Reindex {
		touched[k]++
	}
	for _, k := range e.Deleted {
		touched[k] += 2 // never known: the delete is what the index must get
	}
	written := make(map[store.MessageKey]store.IndexDoc, len(e.Written))
	for _, d := range e.Written {
		written[d.Key()] = d
	}
	for _, k := range e.Reindex {
		if d, ok := written[k]; ok && touched[k] == 1 {
			known = append(known, d)
		} else {
			unknown = append(unknown, k)
		}
	}
	return known, unknown
}

// order is the order job types run in within one batch: parents first, and
// deletes last, since a delete is final.
var order = []string{queue.TypeChatCreate, queue.TypeMessageCreate, queue.TypeMessageUpdate, queue.TypeMessageDelete, queue.TypeChatDelete}

// Handlers returns the handler of every job type.
func Handlers() map[string]Handler {
	return map[string]Handler{
		queue.TypeChatCreate:    chatCreate{},
		queue.TypeMessageCreate: messageCreate{},
		queue.TypeMessageUpdate: messageUpdate{},
		queue.TypeMessageDelete: messageDelete{},
		queue.TypeChatDelete:    chatDelete{},
	}
}

// Applier applies batches of jobs.
type Applier struct {
	store    *store.Store
	keys     queue.Keys
	handlers map[string]Handler
	mu       sync.Mutex
	appIDs   map[string]int64
}

// New returns an Applier; keys say which partition's event stream a job's
// position belongs to.
func New(st *store.Store, keys queue.Keys) *Applier {
	return &Applier{store: st, keys: keys, handlers: Handlers(), appIDs: map[string]int64{}}
}

// Stream returns e's position in its partition's live-event stream: the ev
// the counter step that accepted it spliced in, in the partition of its
// application. Jobs queued before the streams existed have none (zero), and
// so has one whose ev does not parse, which no step writes.
func (a *Applier) Stream(e queue.Envelope) store.StreamPosition {
	if e.Ev == "" {
		return store.StreamPosition{}
	}
	pos, err := events.Parse(e.Ev)
	if err != nil || pos.Gen == 0 {
		return store.StreamPosition{}
	}
	return store.StreamPosition{Part: a.keys.Partition(e.App), Gen: pos.Gen, Seq: pos.Seq}
}

// Result is what a committed batch did.
type Result struct {
	Outcomes map[store.Outcome]int
	Effects  Effects
	Jobs     []Job
	Each     []store.Outcome // outcome of Jobs[i]
	// Outbox names the search outbox rows the transactions added; the
	// writer forgets them once the api has indexed their messages.
	Outbox []store.OutboxBatch
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
			EventID: e.ID, EventTime: e.AcceptedAt(), Stream: a.Stream(e), ReadAt: readAt,
		}})
	}
	return jobs, failed, nil
}

// Apply writes jobs in one transaction, each type through its handler,
// queues the messages they changed for the search index and records every
// outcome in the journal, all in the same transaction.
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
				jobs[i].Prov.WriteAt = writeAt
				batch[k] = jobs[i]
			}
			outs, eff, err := a.handlers[typ].Apply(ctx, tx, batch)
			if err != nil {
				return fmt.Errorf("apply %s: %w", typ, err)
			}
			for k, i := range idx {
				res.Each[i] = outs[k]
			}
			res.Effects.add(eff)
		}
		res.Outbox = nil
		if len(res.Effects.Changed) > 0 {
			batch := store.NewOutboxBatch()
			if err := tx.QueueForIndexAs(ctx, batch, res.Effects.Changed); err != nil {
				return fmt.Errorf("apply: %w", err)
			}
			res.Outbox = []store.OutboxBatch{batch}
		}
		entries := make([]store.JournalEntry, len(jobs))
		for i, j := range jobs {
			detail := Detail(j.Env.Type, res.Each[i])
			switch {
			case res.Each[i] == store.NumberConflict:
				detail = ConflictDetail(j.Env)
			case j.Env.Origin != "":
				detail = "renumbered: carries event " + j.Env.Origin + ", whose number was taken"
			}
			entries[i] = JournalEntry(j, res.Each[i].String(), detail)
		}
		return tx.Journal(ctx, entries)
	})
	if err != nil {
		return Result{}, err
	}
	for _, o := range res.Each {
		res.Outcomes[o]++
	}
	return res, nil
}

// JournalEntry describes one delivery of a job for the journal.
func JournalEntry(j Job, outcome, detail string) store.JournalEntry {
	e := store.JournalEntry{
		EventID: j.Env.ID, Type: j.Env.Type, AppID: j.AppID, Chat: j.Env.Chat, Message: j.Env.Message,
		EventTime: j.Env.AcceptedAt(), ReadAt: j.Prov.ReadAt, Attempt: j.Env.Attempt,
		Outcome: outcome, Detail: detail, TraceID: j.Env.Trace, Stream: j.Prov.Stream,
	}
	if outcome == store.OutcomeApplied || outcome == store.OutcomeDuplicate || outcome == store.OutcomeStale {
		e.WrittenAt = j.Prov.WriteAt
	}
	if j.Env.Type == queue.TypeMessageCreate || j.Env.Type == queue.TypeMessageUpdate {
		body := j.Env.Body
		e.Body = &body
	}
	return e
}

// ConflictDetail describes a number conflict for the journal and the dead job.
func ConflictDetail(e queue.Envelope) string {
	if e.Type == queue.TypeChatCreate {
		return fmt.Sprintf("chat %d already holds a row another event created; the chat row is left alone and this create kept on the dead list", e.Chat)
	}
	return fmt.Sprintf("message %d of chat %d already holds a row another event created; the stored message is left alone and this one kept on the dead list", e.Message, e.Chat)
}

// Out-of-order kinds, as the journal and the metrics name them.
const (
	KindMessageBeforeChat  = "message_before_chat"
	KindUpdateBeforeCreate = "update_before_create"
	KindDeleteBeforeCreate = "delete_before_create"
	KindStaleUpdate        = "stale_update"
	KindAfterDelete        = "after_delete"
)

// Detail names the out-of-order case an outcome reveals, or "".
func Detail(typ string, o store.Outcome) string {
	switch {
	case o == store.ParkedNoChat && typ == queue.TypeChatDelete:
		return KindDeleteBeforeCreate
	case o == store.ParkedNoChat:
		return KindMessageBeforeChat
	case o == store.ParkedNoMessage && typ == queue.TypeMessageDelete:
		return KindDeleteBeforeCreate
	case o == store.ParkedNoMessage:
		return KindUpdateBeforeCreate
	case o == store.StaleDeleted:
		return KindAfterDelete
	case o == store.Stale:
		return KindStaleUpdate
	}
	return ""
}

// Parent names the row a parked job waits for.
func Parent(e queue.Envelope, o store.Outcome) string {
	if o == store.ParkedNoMessage {
		return queue.ParentMessage(e.App, e.Chat, e.Message)
	}
	return queue.ParentChat(e.App, e.Chat)
}
