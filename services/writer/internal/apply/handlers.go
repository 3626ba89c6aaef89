package apply

import (
	"context"

	"github.com/instachat/instachat/pkg/store"
)

type chatCreate struct{}

func (chatCreate) Apply(ctx context.Context, tx *store.Tx, jobs []Job) ([]store.Outcome, Effects, error) {
	ws := make([]store.ChatWrite, len(jobs))
	for i, j := range jobs {
		ws[i] = store.ChatWrite{AppID: j.AppID, Number: j.Env.Chat, Prov: j.Prov}
	}
	outs, err := tx.CreateChats(ctx, ws)
	return outs, Effects{}, err
}

type messageCreate struct{}

func (messageCreate) Apply(ctx context.Context, tx *store.Tx, jobs []Job) ([]store.Outcome, Effects, error) {
	ws := make([]store.MessageWrite, len(jobs))
	for i, j := range jobs {
		ws[i] = messageWrite(j)
	}
	outs, rep, err := tx.UpsertMessages(ctx, ws)
	if err != nil {
		return nil, Effects{}, err
	}
	return outs, Effects{Reindex: toReindex(ws, outs), Changed: applied(ws, outs), ChatsAhead: rep.ChatsAhead}, nil
}

type messageUpdate struct{}

func (messageUpdate) Apply(ctx context.Context, tx *store.Tx, jobs []Job) ([]store.Outcome, Effects, error) {
	outs := make([]store.Outcome, len(jobs))
	ws := make([]store.MessageWrite, len(jobs))
	for i, j := range jobs {
		ws[i] = messageWrite(j)
		o, err := tx.UpdateMessage(ctx, ws[i])
		if err != nil {
			return nil, Effects{}, err
		}
		outs[i] = o
	}
	return outs, Effects{Reindex: toReindex(ws, outs), Changed: applied(ws, outs)}, nil
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
		if outs[i] != store.Stale {
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
