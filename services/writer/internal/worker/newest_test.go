package worker_test

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/instachat/instachat/pkg/counter"
	"github.com/instachat/instachat/pkg/events"
	"github.com/instachat/instachat/pkg/queue"
	"github.com/instachat/instachat/pkg/search/reindex"
	"github.com/instachat/instachat/pkg/testenv"
	"github.com/instachat/instachat/services/writer/internal/apply"
	"github.com/instachat/instachat/services/writer/internal/worker"
)

// TestRowEndsWithTheStreamsLastUpdate accepts two updates of one message
// through the counter step as two api replicas would, the second from a
// replica whose clock is a second behind, and runs the writer: MySQL ends
// with the body of the last message.updated event on the stream, the one a
// subscriber saw last, not with the one of the later event time.
func TestRowEndsWithTheStreamsLastUpdate(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st, rdb, keys, q, c, app, tok := newStreamRig(ctx, t, 3, "two replicas")
	now := time.Now()
	job := func(typ string, chatN, msg int64, body string, clock time.Time) queue.Envelope {
		return queue.Envelope{ID: queue.NewEventID(clock), Type: typ, App: tok, Chat: chatN, Message: msg, Body: body, Time: clock.UnixMicro()}
	}
	for _, e := range []queue.Envelope{
		job(queue.TypeChatCreate, 0, 0, "", now),
		job(queue.TypeMessageCreate, 1, 0, "original", now),
		job(queue.TypeMessageUpdate, 1, 1, "replica one", now.Add(10*time.Millisecond)),
		job(queue.TypeMessageUpdate, 1, 1, "replica two, clock behind", now.Add(-time.Second)),
	} {
		if _, err := c.Accept(ctx, e, counter.Claim{}); err != nil {
			t.Fatal(err)
		}
	}
	_, last, gen, err := events.NewReader(rdb, keys).Bounds(ctx, 0)
	if err != nil || last.Seq != 4 {
		t.Fatalf("stream: got last %v, %v; want 4 events", last, err)
	}
	evs, err := events.NewReader(rdb, keys).Range(ctx, 0, events.Position{Gen: gen}, last, 10)
	if err != nil || len(evs) != 4 || evs[3].Type != events.MessageUpdated {
		t.Fatalf("stream events: got %+v, %v", evs, err)
	}
	lastBody := evs[3].Body

	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	w := worker.New(worker.Config{BatchSize: 10, Block: 100 * time.Millisecond}, q, q.NewConsumer(0, testenv.Name("c")), apply.New(st, keys), st,
		&docSink{docs: map[reindex.Key]reindex.Doc{}}, log)
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		seqs, err := st.JournalSeqs(ctx, 0, gen, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		if slices.Equal(seqs, []uint64{1, 2, 3, 4}) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("journaled positions: got %v, want 1..4", seqs)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("worker: %v", err)
	}
	m, err := st.Message(context.Background(), app.ID, 1, 1)
	if err != nil || m.Body != lastBody || lastBody != "replica two, clock behind" {
		t.Errorf("body: got %q, %v; want the stream's last update, %q", m.Body, err, lastBody)
	}
}
