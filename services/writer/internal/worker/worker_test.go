package worker_test

import (
	"context"
	"io"
	"log/slog"
	"sync"
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

// docSink records reindex batches.
type docSink struct {
	mu     sync.Mutex
	docs   map[reindex.Key]reindex.Doc
	outbox []store.OutboxBatch
}

func (s *docSink) Enqueue(docs []reindex.Doc, deleted []reindex.Key, outbox []store.OutboxBatch) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range docs {
		s.docs[d.Key()] = d
	}
	s.outbox = append(s.outbox, outbox...)
	return true
}

func (s *docSink) get(k reindex.Key) (reindex.Doc, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.docs[k]
	return d, ok
}

func TestWorkerAppliesOutOfOrderDuplicatesAndDeadJobs(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st, err := store.Open(ctx, store.Config{DSN: testenv.MySQLDSN(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rdb, prefix := testenv.Redis(t)
	q := queue.New(rdb, queue.NewKeys(prefix, 1), queue.Config{MaxAttempts: 3, HeartbeatTTL: 3 * time.Second})
	app, err := st.CreateApplication(ctx, "writer test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	tok := chat.TokenDigest(app.App.Token)
	base := time.Now().Add(-time.Minute)
	at := func(ms int) int64 { return base.Add(time.Duration(ms) * time.Millisecond).UnixMicro() }
	msg := func(id, typ string, chatN, n int64, body string, ms int) queue.Envelope {
		return queue.Envelope{ID: id, Type: typ, App: tok, Chat: chatN, Message: n, Body: body, Time: at(ms)}
	}
	// Pushed in this order, the writer sees: an update before its create and
	// before its chat, a message before its chat, a stale update, duplicates,
	// and two jobs that can never apply.
	jobs := []queue.Envelope{
		msg("e-upd2", queue.TypeMessageUpdate, 1, 1, "newest body", 30),
		msg("e-m1", queue.TypeMessageCreate, 1, 1, "original body", 10),
		msg("e-m2", queue.TypeMessageCreate, 1, 2, "second message", 11),
		msg("e-upd1", queue.TypeMessageUpdate, 1, 1, "older edit", 20),
		{ID: "e-c1", Type: queue.TypeChatCreate, App: tok, Chat: 1, Time: at(1)},
		msg("e-m2", queue.TypeMessageCreate, 1, 2, "second message", 11),
		{ID: "e-ghost", Type: queue.TypeChatCreate, App: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", Chat: 1, Time: at(2)},
	}
	for _, e := range jobs {
		if err := q.Push(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	if err := rdb.LPush(ctx, q.Keys().Pending(0), "{not json").Err(); err != nil {
		t.Fatal(err)
	}

	sink := &docSink{docs: map[reindex.Key]reindex.Doc{}}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	w := worker.New(worker.Config{BatchSize: 3, Block: 100 * time.Millisecond}, q, q.NewConsumer(0, testenv.Name("c")), apply.New(st, q.Keys()), st, sink, log)
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()

	deadline := time.Now().Add(20 * time.Second)
	for {
		d, err := queue.NewInspector(rdb, q.Keys()).Depths(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if d[0].Pending == 0 && d[0].Processing == 0 && d[0].Dead == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("queue did not drain: %+v", d[0])
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("worker: %v", err)
	}

	ctx = context.Background()
	m1, err := st.Message(ctx, app.ID, 1, 1)
	if err != nil || m1.Body != "newest body" {
		t.Errorf("message 1: got %+v, %v; want the newest update's body", m1, err)
	}
	if !m1.CreatedAt.Equal(time.UnixMicro(at(10)).UTC()) {
		t.Errorf("message 1 created_at: got %v, want the create's event time %v", m1.CreatedAt, time.UnixMicro(at(10)).UTC())
	}
	_, total, err := st.Messages(ctx, app.ID, 1, chat.Page{Page: 1, PerPage: 10})
	if err != nil || total != 2 {
		t.Errorf("messages in chat 1: got %d, %v; want 2 (the duplicate is not a second row)", total, err)
	}
	c, err := st.Chat(ctx, app.ID, 1)
	if err != nil || !c.CreatedAt.Equal(time.UnixMicro(at(1)).UTC()) {
		t.Errorf("chat 1: got %+v, %v; want created at the chat.create's time", c, err)
	}
	if d, ok := sink.get(reindex.Key{AppID: app.ID, Chat: 1, Number: 1}); !ok || d.Body != "newest body" {
		t.Errorf("reindexed message 1: got %+v, %v; want the newest body", d, ok)
	}
	// The search outbox holds the applied message writes only: of the six
	// message jobs, the stale update and the duplicate create queue nothing
	// (how many of the rest applied depends on how they were batched).
	rows, keys := peekOutbox(t, st)
	wantKeys := []store.MessageKey{{AppID: app.ID, Chat: 1, Number: 1}, {AppID: app.ID, Chat: 1, Number: 2}}
	if rows < 2 || rows > 3 || !sameKeys(keys, wantKeys) {
		t.Errorf("search outbox: got %d rows for %v; want 2 or 3 rows for %v", rows, keys, wantKeys)
	}
	dead, err := rdb.LRange(ctx, q.Keys().Dead(0), 0, -1).Result()
	if err != nil || len(dead) != 2 {
		t.Fatalf("dead list: got %v, %v; want the undecodable job and the unknown application's job", dead, err)
	}
	var sawGhost, sawRaw bool
	for _, raw := range dead {
		if raw == "{not json" {
			sawRaw = true
			continue
		}
		e, err := queue.Decode(raw)
		if err == nil && e.ID == "e-ghost" && e.Error != "" {
			sawGhost = true
		}
	}
	if !sawGhost || !sawRaw {
		t.Errorf("dead list: got %q; want e-ghost with its error and the raw undecodable job", dead)
	}
	// Every outbox row the worker wrote belongs to a batch it handed to the
	// reindexer: forgetting those batches leaves the catch-up nothing.
	sink.mu.Lock()
	outbox := sink.outbox
	sink.mu.Unlock()
	if n, err := st.OutboxBacklog(ctx); err != nil || n == 0 || len(outbox) == 0 {
		t.Fatalf("outbox rows %d (err %v), batches handed over %d: want both > 0", n, err, len(outbox))
	}
	if err := st.ForgetIndexed(ctx, outbox); err != nil {
		t.Fatal(err)
	}
	if n, _ := st.OutboxBacklog(ctx); n != 0 {
		t.Errorf("%d outbox rows left after forgetting the batches the worker handed over, want 0", n)
	}
}
