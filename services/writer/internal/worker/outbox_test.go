package worker_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/instachat/instachat/pkg/chat"
	"github.com/instachat/instachat/pkg/queue"
	"github.com/instachat/instachat/pkg/store"
	"github.com/instachat/instachat/pkg/testenv"
	"github.com/instachat/instachat/services/writer/internal/apply"
)

var errPeek = errors.New("peek only")

// peekOutbox returns the search outbox's row count and its distinct keys,
// sorted, leaving the rows in place (the claim is rolled back).
func peekOutbox(t *testing.T, st *store.Store) (int64, []store.MessageKey) {
	t.Helper()
	ctx := context.Background()
	rows, err := st.OutboxBacklog(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var keys []store.MessageKey
	_, err = st.ProcessOutbox(ctx, 10000, 0, func(k []store.MessageKey) error { keys = k; return errPeek })
	if err != nil && !errors.Is(err, errPeek) {
		t.Fatal(err)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].Chat != keys[j].Chat {
			return keys[i].Chat < keys[j].Chat
		}
		return keys[i].Number < keys[j].Number
	})
	return rows, keys
}

func sameKeys(got, want []store.MessageKey) bool { return fmt.Sprint(got) == fmt.Sprint(want) }

func TestApplyQueuesOnlyAppliedMessageWritesForTheIndex(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, store.Config{DSN: testenv.MySQLDSN(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	app, err := st.CreateApplication(ctx, "outbox", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	digest := chat.TokenDigest(app.App.Token)
	base := time.Now().Add(-time.Minute)
	env := func(id, typ string, chatN, n int64, ms int) queue.Envelope {
		return queue.Envelope{ID: id, Type: typ, App: digest, Chat: chatN, Message: n, Body: "body of " + id,
			Time: base.Add(time.Duration(ms) * time.Millisecond).UnixMicro()}
	}
	key := func(chatN, n int64) store.MessageKey { return store.MessageKey{AppID: app.ID, Chat: chatN, Number: n} }
	a := apply.New(st, queue.NewKeys("ic:", 1))
	steps := []struct {
		name     string
		batch    []queue.Envelope
		outcomes []store.Outcome
		reindex  int                // keys sent to the live reindex after commit
		queued   []store.MessageKey // outbox keys after the step
		rows     int64              // outbox rows after the step
	}{
		{
			name: "creates apply",
			batch: []queue.Envelope{
				env("c1", queue.TypeChatCreate, 1, 0, 1),
				env("m1", queue.TypeMessageCreate, 1, 1, 10),
				env("m2", queue.TypeMessageCreate, 1, 2, 11),
			},
			outcomes: []store.Outcome{store.Applied, store.Applied, store.Applied},
			reindex:  2, queued: []store.MessageKey{key(1, 1), key(1, 2)}, rows: 2,
		},
		{
			name:     "a redelivered create is a duplicate: reindexed live, not queued",
			batch:    []queue.Envelope{env("m1", queue.TypeMessageCreate, 1, 1, 10)},
			outcomes: []store.Outcome{store.Duplicate},
			reindex:  1, queued: []store.MessageKey{key(1, 1), key(1, 2)}, rows: 2,
		},
		{
			name:     "an update older than the row is stale",
			batch:    []queue.Envelope{env("u0", queue.TypeMessageUpdate, 1, 1, 5)},
			outcomes: []store.Outcome{store.Stale},
			reindex:  0, queued: []store.MessageKey{key(1, 1), key(1, 2)}, rows: 2,
		},
		{
			name: "a newer update applies; its repeat in the batch is a duplicate",
			batch: []queue.Envelope{
				env("u1", queue.TypeMessageUpdate, 1, 2, 20),
				env("u1", queue.TypeMessageUpdate, 1, 2, 20),
			},
			outcomes: []store.Outcome{store.Applied, store.Duplicate},
			reindex:  2, queued: []store.MessageKey{key(1, 1), key(1, 2)}, rows: 3,
		},
		{
			name:     "an update ahead of its create and its chat is parked, writing nothing",
			batch:    []queue.Envelope{env("u2", queue.TypeMessageUpdate, 2, 7, 30)},
			outcomes: []store.Outcome{store.ParkedNoChat},
			reindex:  0, queued: []store.MessageKey{key(1, 1), key(1, 2)}, rows: 3,
		},
	}
	for _, s := range steps {
		jobs, failed, err := a.Resolve(ctx, s.batch, time.Now())
		if err != nil || len(failed) != 0 {
			t.Fatalf("%s: resolve: %v, failed %v", s.name, err, failed)
		}
		res, err := a.Apply(ctx, jobs)
		if err != nil {
			t.Fatalf("%s: apply: %v", s.name, err)
		}
		if fmt.Sprint(res.Each) != fmt.Sprint(s.outcomes) {
			t.Errorf("%s: outcomes: got %v, want %v", s.name, res.Each, s.outcomes)
		}
		if len(res.Effects.Reindex) != s.reindex {
			t.Errorf("%s: live reindex: got %d keys, want %d", s.name, len(res.Effects.Reindex), s.reindex)
		}
		rows, keys := peekOutbox(t, st)
		if rows != s.rows || !sameKeys(keys, s.queued) {
			t.Errorf("%s: outbox: got %d rows for %v, want %d rows for %v", s.name, rows, keys, s.rows, s.queued)
		}
	}
}
