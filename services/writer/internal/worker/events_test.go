package worker_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/instachat/instachat/pkg/chat"
	"github.com/instachat/instachat/pkg/counter"
	"github.com/instachat/instachat/pkg/events"
	"github.com/instachat/instachat/pkg/queue"
	"github.com/instachat/instachat/pkg/search/reindex"
	"github.com/instachat/instachat/pkg/store"
	"github.com/instachat/instachat/pkg/testenv"
	"github.com/instachat/instachat/services/writer/internal/apply"
	"github.com/instachat/instachat/services/writer/internal/worker"
)

// TestJournalHoldsStreamPositions checks that every outcome the writer
// journals carries the position the counter step gave the job (parked and
// then applied, dead, stale alike), so the journal can serve the range of a
// stream Redis no longer holds: every position of the generation is there,
// once, with its event.
func TestJournalHoldsStreamPositions(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st, rdb, keys, q, c, app, tok := newStreamRig(ctx, t, 1, "events test")
	job := func(typ string, chatN, msg int64, body string) queue.Envelope {
		return queue.Envelope{ID: queue.NewEventID(time.Now()), Type: typ, App: tok, Chat: chatN, Message: msg, Body: body, Time: time.Now().UnixMicro()}
	}
	for _, e := range []queue.Envelope{
		job(queue.TypeChatCreate, 0, 0, ""),
		job(queue.TypeMessageCreate, 1, 0, "one"),
		job(queue.TypeMessageCreate, 1, 0, "two"),
		job(queue.TypeMessageUpdate, 1, 1, "uno"),
		job(queue.TypeMessageDelete, 1, 2, ""),
		job(queue.TypeChatCreate, 0, 0, ""),
		job(queue.TypeChatDelete, 2, 0, ""),
	} {
		if _, err := c.Accept(ctx, e, counter.Claim{}); err != nil {
			t.Fatal(err)
		}
	}
	first, last, gen, err := events.NewReader(rdb, keys).Bounds(ctx, 0)
	if err != nil || first.Seq != 1 || last.Seq != 7 {
		t.Fatalf("stream bounds: got %v..%v, %v; want 1..7", first, last, err)
	}
	// A job of an unknown application that carries a position dies at once,
	// and is journaled with it.
	ghost := job(queue.TypeChatCreate, 1, 0, "")
	ghost.App, ghost.Ev = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", fmt.Sprintf("%d-%d", gen, 8)
	if err := q.Push(ctx, ghost); err != nil {
		t.Fatal(err)
	}

	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	w := worker.New(worker.Config{BatchSize: 2, Block: 100 * time.Millisecond}, q, q.NewConsumer(0, testenv.Name("c")), apply.New(st, keys), st,
		&docSink{docs: map[reindex.Key]reindex.Doc{}}, log)
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		seqs, err := st.JournalSeqs(ctx, 0, gen, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		if slices.Equal(seqs, []uint64{1, 2, 3, 4, 5, 6, 7, 8}) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("journaled positions: got %v, want 1..8", seqs)
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("worker: %v", err)
	}

	ctx = context.Background()
	got, err := st.EventsBetween(ctx, 0, gen, 0, 0, app.ID, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"1 chat.create 1 0 ", "2 message.create 1 1 one", "3 message.create 1 2 two", "4 message.update 1 1 uno",
		"5 message.delete 1 2 ", "6 chat.create 2 0 ", "7 chat.delete 2 0 "}
	var have []string
	for _, e := range got {
		have = append(have, fmt.Sprintf("%d %s %d %d %s", e.Seq, e.Type, e.Chat, e.Message, e.Body))
	}
	if !slices.Equal(have, want) {
		t.Errorf("journaled events of the application:\n got %q\nwant %q", have, want)
	}
	if got, err := st.EventsBetween(ctx, 0, gen, 1, 7, app.ID, 1, 0); err != nil || len(got) != 4 || got[0].Seq != 2 || got[3].Seq != 5 {
		t.Errorf("journaled events of chat 1 between 1 and 7: got %+v, %v; want 2..5", got, err)
	}
}

// newStreamRig is a fresh MySQL database and Redis prefix with one partition,
// its queue (maxAttempts deliveries a job), a counter and one application
// seeded in Redis, whose token digest is tok.
func newStreamRig(ctx context.Context, t *testing.T, maxAttempts int, name string) (st *store.Store, rdb *redis.Client, keys queue.Keys,
	q *queue.Queue, c *counter.Counter, app store.AppRef, tok string) {
	t.Helper()
	st, err := store.Open(ctx, store.Config{DSN: testenv.MySQLDSN(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	rdb, prefix := testenv.Redis(t)
	keys = queue.NewKeys(prefix, 1)
	q = queue.New(rdb, keys, queue.Config{MaxAttempts: maxAttempts, HeartbeatTTL: 3 * time.Second})
	c = counter.New(rdb, keys, st, counter.Config{})
	if app, err = st.CreateApplication(ctx, name, time.Now()); err != nil {
		t.Fatal(err)
	}
	tok = chat.TokenDigest(app.App.Token)
	if err := c.SeedApplication(ctx, tok, counter.Seed{}); err != nil {
		t.Fatal(err)
	}
	return st, rdb, keys, q, c, app, tok
}
