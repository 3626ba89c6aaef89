package apply

import (
	"context"

	"github.com/instachat/instachat/pkg/queue"
	"github.com/instachat/instachat/pkg/store"
)

type chatCreate struct{}

func (chatCreate) Apply(ctx context.Context, tx *store.Tx, jobs []Job) ([]store.Outcome, Effects, error) {
	ws := make([]store.ChatWrite, len(jobs))
	for i, j := range jobs {
		ws[i] = store.ChatWrite{AppID: j.AppID, Number: j.Env.Chat, Prov: j.Prov}
	}
	outs, err := tx.CreateChats(ctx, ws)
	if err != nil {
		return nil, Effects{}, err
	}
	var eff Effects
	for i, j := range jobs {
		if outs[i] == store.Applied || outs[i] == store.Duplicate {
			eff.Created = append(eff.Created, queue.ParentChat(j.Env.App, j.Env.Chat))
		}
	}
	return outs, eff, nil
}

type messageCreate struct{}

func (messageCreate) Apply(ctx context.Context, tx *store.Tx, jobs []Job) ([]store.Outcome, Effects, error) {
	ws := make([]store.MessageWrite, len(jobs))
	for i, j := range jobs {
		ws[i] = messageWrite(j)
	}
	outs, written, err := tx.CreateMessagesIndexed(ctx, ws)
	if err != nil {
		return nil, Effects{}, err
	}
	eff := Effects{Reindex: toReindex(ws, outs), Changed: applied(ws, outs), Written: written}
	for i, j := range jobs {
		if outs[i] == store.Applied || outs[i] == store.Duplicate {
			eff.Created = append(eff.Created, queue.ParentMessage(j.Env.App, j.Env.Chat, j.Env.Message))
		}
	}
	return outs, eff, nil
}

type messageUpdate struct{}

func (messageUpdate) Apply(ctx context.Context, tx *store.Tx, jobs []Job) ([]store.Outcome, Effects, error) {
	return eachMessage(ctx, jobs, tx.UpdateMessage)
}

type messageDelete struct{}

func (messageDelete) Apply(ctx context.Context, tx *store.Tx, jobs []Job) ([]store.Outcome, Effects, error) {
	outs, eff, err := eachMessage(ctx, jobs, tx.DeleteMessage)
	if err != nil {
		return nil, Effects{}, err
	}
	eff.Deleted, eff.Reindex = eff.Changed, nil
	return outs, eff, nil
}

// eachMessage applies one message write per job, in order.
func eachMessage(ctx context.Context, jobs []Job, write func(context.Context, store.MessageWrite) (store.Outcome, error)) ([]store.Outcome, Effects, error) {
	outs := make([]store.Outcome, len(jobs))
	ws := make([]store.MessageWrite, len(jobs))
	for i, j := range jobs {
		ws[i] = messageWrite(j)
		o, err := write(ctx, ws[i])
		if err != nil {
			return nil, Effects{}, err
		}
		outs[i] = o
	}
	return outs, Effects{Reindex: toReindex(ws, outs), Changed: applied(ws, outs)}, nil
}

type chatDelete struct{}

func (chatDelete) Apply(ctx context.Context, tx *store.Tx, jobs []Job) ([]store.Outcome, Effects, error) {
	outs := make([]store.Outcome, len(jobs))
	var eff Effects
	for i, j := range jobs {
		o, numbers, err := tx.DeleteChat(ctx, store.ChatWrite{AppID: j.AppID, Number: j.Env.Chat, Prov: j.Prov})
		if err != nil {
			return nil, Effects{}, err
		}
		outs[i] = o
		for _, n := range numbers {
			k := store.MessageKey{AppID: j.AppID, Chat: j.Env.Chat, Number: n}
			eff.Changed = append(eff.Changed, k)
			eff.Deleted = append(eff.Deleted, k)
		}
	}
	return outs, eff, nil
}

func messageWrite(j Job) store.MessageWrite {
	return store.MessageWrite{AppID: j.AppID, Chat: j.Env.Chat, Number: j.Env.Message, Body: j.Env.Body, Prov: j.Prov}
}

// toReindex lists the messages to reindex after commit: those the write
// changed, and duplicates too, because a redelivered job may be one whose
// first delivery committed but died before its reindex call (the index skips
// versions it has).
func toReindex(ws []store.MessageWrite, outs []store.Outcome) []store.MessageKey {
	var keys []store.MessageKey
	for i, w := range ws {
		if outs[i] == store.Applied || outs[i] == store.Duplicate {
			keys = append(keys, w.Key())
		}
	}
	return keys
}

// applied lists the messages whose write applied, for the search outbox. A
// duplicate's first delivery already queued its message in its own
// transaction, and a stale write left the body alone.
func applied(ws []store.MessageWrite, outs []store.Outcome) []store.MessageKey {
	var keys []store.MessageKey
	for i, w := range ws {
		if outs[i] == store.Applied {
			keys = append(keys, w.Key())
		}
	}
	return keys
}
