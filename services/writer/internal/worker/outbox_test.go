package worker_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"testing"
	"time"

	"github.com/instachat/instachat/pkg/chat"
	"github.com/instachat/instachat/pkg/queue"
	"github.com/instachat/instachat/pkg/search/reindex"
	"github.com/instachat/instachat/pkg/store"
	"github.com/instachat/instachat/pkg/testenv"
	"github.com/instachat/instachat/services/writer/internal/apply"
	"github.com/instachat/instachat/services/writer/internal/worker"
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

// TestBacklogIsLeftToTheCatchUp: with IndexBacklogLater, the first full
// batch is reindexed live and every full batch after it in a row is left in
// the search outbox for the api's catch-up; without it, every batch is
// reindexed live. Nothing leaves the outbox here (the sink forgets nothing),
// so every message stays queued for the catch-up either way.
func TestBacklogIsLeftToTheCatchUp(t *testing.T) {
	for _, later := range []bool{true, false} {
		t.Run(fmt.Sprintf("later=%v", later), func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			st, _, _, q, _, app, tok := newStreamRig(ctx, t, 3, "backlog")
			at := time.Now().Add(-time.Minute).UnixMicro()
			// Nine jobs, batches of three: [chat, 1, 2], [3, 4, 5], [6, 7, 8].
			jobs := []queue.Envelope{{ID: "c1", Type: queue.TypeChatCreate, App: tok, Chat: 1, Time: at}}
			for n := int64(1); n <= 8; n++ {
				jobs = append(jobs, queue.Envelope{ID: fmt.Sprintf("m%d", n), Type: queue.TypeMessageCreate, App: tok,
					Chat: 1, Message: n, Body: fmt.Sprintf("body %d", n), Time: at + n})
			}
			for _, e := range jobs {
				if err := q.Push(ctx, e); err != nil {
					t.Fatal(err)
				}
			}
			sink := &docSink{docs: map[reindex.Key]reindex.Doc{}}
			log := slog.New(slog.NewTextHandler(io.Discard, nil))
			w := worker.New(worker.Config{BatchSize: 3, Block: 100 * time.Millisecond, IndexBacklogLater: later},
				q, q.NewConsumer(0, testenv.Name("c")), apply.New(st, q.Keys()), st, sink, log)
			done := make(chan error, 1)
			go func() { done <- w.Run(ctx) }()
			var keys []store.MessageKey
			deadline := time.Now().Add(20 * time.Second)
			for len(keys) < 8 {
				if time.Now().After(deadline) {
					t.Fatalf("outbox: %v, want all 8 messages", keys)
				}
				time.Sleep(50 * time.Millisecond)
				_, keys = peekOutbox(t, st)
			}
			cancel()
			if err := <-done; err != nil {
				t.Fatalf("worker: %v", err)
			}
			live := map[int64]bool{}
			for n := int64(1); n <= 8; n++ {
				if _, ok := sink.get(reindex.Key{AppID: app.ID, Chat: 1, Number: n}); ok {
					live[n] = true
				}
			}
			want := map[int64]bool{1: true, 2: true}
			if !later {
				want = map[int64]bool{1: true, 2: true, 3: true, 4: true, 5: true, 6: true, 7: true, 8: true}
			}
			if fmt.Sprint(live) != fmt.Sprint(want) {
				t.Errorf("reindexed live: %v, want %v", live, want)
			}
		})
	}
}
