package reconcile_test

import (
	"database/sql"
	"testing"
	"time"

	"github.com/instachat/instachat/pkg/queue"
	"github.com/instachat/instachat/pkg/store"
	"github.com/instachat/instachat/pkg/testenv"
)

// The writer's apply package (services/writer/internal/apply) cannot be
// imported from the cron module, so these tests deliver events through the
// same store calls its handlers make and journal each outcome in the same
// transaction with the entry apply.JournalEntry writes.

type event struct {
	id      string
	typ     string
	chat    int64
	message int64
	body    string
	at      time.Time
	stream  store.StreamPosition // zero: an event from before the streams
}

// writer delivers events for one application.
type writer struct {
	t   *testing.T
	st  *store.Store
	app int64
}

// env opens a store on a fresh database and returns it with a raw handle
// on the same database, for tests to tamper with rows behind its back.
func env(t *testing.T) (*store.Store, *sql.DB) {
	t.Helper()
	dsn := testenv.MySQLDSN(t)
	st, err := store.Open(t.Context(), store.Config{DSN: dsn})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return st, db
}

func newWriter(t *testing.T, st *store.Store, name string) *writer {
	t.Helper()
	ref, err := st.CreateApplication(t.Context(), name, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return &writer{t: t, st: st, app: ref.ID}
}

// deliver applies one delivery of e and checks its outcome is want.
func (w *writer) deliver(e event, want string) {
	w.t.Helper()
	got, err := w.apply(e)
	if err != nil {
		w.t.Fatalf("deliver %s: %v", e.id, err)
	}
	if got != want {
		w.t.Fatalf("deliver %s (%s): got %s, want %s", e.id, e.typ, got, want)
	}
}

// apply applies one delivery of e and returns its journaled outcome. It is
// safe to call from any goroutine.
func (w *writer) apply(e event) (string, error) {
	ctx := w.t.Context()
	now := time.Now().UTC()
	prov := store.Provenance{EventID: e.id, EventTime: e.at, Stream: e.stream, ReadAt: now, WriteAt: now}
	mw := store.MessageWrite{AppID: w.app, Chat: e.chat, Number: e.message, Body: e.body, Prov: prov}
	var got store.Outcome
	err := w.st.InTx(ctx, func(tx *store.Tx) error {
		var err error
		switch e.typ {
		case queue.TypeChatCreate:
			var outs []store.Outcome
			outs, err = tx.CreateChats(ctx, []store.ChatWrite{{AppID: w.app, Number: e.chat, Prov: prov}})
			if err == nil {
				got = outs[0]
			}
		case queue.TypeMessageCreate:
			var outs []store.Outcome
			outs, err = tx.CreateMessages(ctx, []store.MessageWrite{mw})
			if err == nil {
				got = outs[0]
			}
		case queue.TypeMessageUpdate:
			got, err = tx.UpdateMessage(ctx, mw)
		case queue.TypeMessageDelete:
			got, err = tx.DeleteMessage(ctx, mw)
		case queue.TypeChatDelete:
			got, _, err = tx.DeleteChat(ctx, store.ChatWrite{AppID: w.app, Number: e.chat, Prov: prov})
		}
		if err != nil {
			return err
		}
		if got == store.Applied && e.typ != queue.TypeChatCreate && e.typ != queue.TypeChatDelete {
			if err := tx.QueueForIndex(ctx, []store.MessageKey{mw.Key()}); err != nil {
				return err
			}
		}
		return tx.Journal(ctx, []store.JournalEntry{journalEntry(w.app, e, prov, got.String())})
	})
	return got.String(), err
}

// bury journals e as dead, as the writer does outside a transaction.
func (w *writer) bury(app int64, e event, cause string) {
	w.t.Helper()
	entry := journalEntry(app, e, store.Provenance{ReadAt: time.Now().UTC()}, store.OutcomeDead)
	entry.Detail = cause
	if err := w.st.JournalOutside(w.t.Context(), []store.JournalEntry{entry}); err != nil {
		w.t.Fatal(err)
	}
}

// journalEntry mirrors apply.JournalEntry.
func journalEntry(app int64, e event, p store.Provenance, outcome string) store.JournalEntry {
	j := store.JournalEntry{EventID: e.id, Type: e.typ, AppID: app, Chat: e.chat, Message: e.message,
		EventTime: e.at, ReadAt: p.ReadAt, Attempt: 0, Outcome: outcome, Stream: e.stream}
	if outcome == store.OutcomeApplied || outcome == store.OutcomeDuplicate || outcome == store.OutcomeStale {
		j.WrittenAt = p.WriteAt
	}
	if e.typ == queue.TypeMessageCreate || e.typ == queue.TypeMessageUpdate {
		body := e.body
		j.Body = &body
	}
	return j
}
