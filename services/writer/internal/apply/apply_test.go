package apply_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/instachat/instachat/pkg/chat"
	"github.com/instachat/instachat/pkg/queue"
	"github.com/instachat/instachat/pkg/store"
	"github.com/instachat/instachat/pkg/testenv"
	"github.com/instachat/instachat/services/writer/internal/apply"
)

// TestUpdatesNewestByStreamPosition applies two updates of one message whose
// event times contradict their stream positions (two api replicas, one clock
// behind), in both orders and in one batch: the update with the later
// position wins each time, and the row keeps its position.
func TestUpdatesNewestByStreamPosition(t *testing.T) {
	const gen = 1795864464673
	base := time.Now().Add(-time.Minute)
	job := func(tok, id, typ string, msg int64, body string, ms int, seq int) queue.Envelope {
		return queue.Envelope{ID: id, Type: typ, App: tok, Chat: 1, Message: msg, Body: body,
			Time: base.Add(time.Duration(ms) * time.Millisecond).UnixMicro(), Ev: fmt.Sprintf("%d-%d", gen, seq)}
	}
	for _, order := range []string{"later position first", "later time first", "one batch, later time first"} {
		t.Run(order, func(t *testing.T) {
			ctx := context.Background()
			st, err := store.Open(ctx, store.Config{DSN: testenv.MySQLDSN(t)})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			keys := queue.NewKeys(testenv.Name("ic:"), 4)
			a := apply.New(st, keys)
			app, err := st.CreateApplication(ctx, "positions", time.Now())
			if err != nil {
				t.Fatal(err)
			}
			tok := chat.TokenDigest(app.App.Token)
			laterPos := job(tok, "u-pos", queue.TypeMessageUpdate, 1, "later position", 10, 4)
			laterTime := job(tok, "u-time", queue.TypeMessageUpdate, 1, "later time", 20, 3)
			batches := map[string][][]queue.Envelope{
				"later position first":        {{laterPos}, {laterTime}},
				"later time first":            {{laterTime}, {laterPos}},
				"one batch, later time first": {{laterTime, laterPos}},
			}[order]
			batches = append([][]queue.Envelope{{
				job(tok, "c", queue.TypeChatCreate, 0, "", 0, 1),
				job(tok, "m", queue.TypeMessageCreate, 1, "original", 1, 2),
			}}, batches...)
			outcomes := map[string]store.Outcome{}
			for _, envs := range batches {
				jobs, failed, err := a.Resolve(ctx, envs, time.Now())
				if err != nil || len(failed) > 0 {
					t.Fatalf("resolve: %v, %v", failed, err)
				}
				res, err := a.Apply(ctx, jobs)
				if err != nil {
					t.Fatalf("apply: %v", err)
				}
				for i, j := range res.Jobs {
					outcomes[j.Env.ID] = res.Each[i]
				}
			}
			if outcomes["u-pos"] != store.Applied {
				t.Errorf("update with the later position: got %v, want applied", outcomes["u-pos"])
			}
			if want := map[bool]store.Outcome{true: store.Stale, false: store.Applied}[order == "later position first"]; outcomes["u-time"] != want {
				t.Errorf("update with the later time: got %v, want %v", outcomes["u-time"], want)
			}
			m, err := st.Message(ctx, app.ID, 1, 1)
			if err != nil || m.Body != "later position" {
				t.Fatalf("body: got %q, %v; want the later position's", m.Body, err)
			}
			h, err := st.ChatHistory(ctx, store.ChatKey{AppID: app.ID, Number: 1})
			if err != nil || len(h.Messages) != 1 {
				t.Fatalf("read back: %+v, %v", h, err)
			}
			want := store.StreamPosition{Part: keys.Partition(tok), Gen: gen, Seq: 4}
			if got := h.Messages[0]; got.LastEventID != "u-pos" || got.Stream != want {
				t.Errorf("row provenance: got event %s at %v, want u-pos at %v", got.LastEventID, got.Stream, want)
			}
			if h.Chat.Stream != (store.StreamPosition{Part: want.Part, Gen: gen, Seq: 1}) {
				t.Errorf("chat row position: got %v, want 1", h.Chat.Stream)
			}
		})
	}
}

// TestEffectsDocs checks which messages are reindexed from the batch's own
// writes: only those inserted once and not touched again or deleted in it.
func TestEffectsDocs(t *testing.T) {
	k := func(n int64) store.MessageKey { return store.MessageKey{AppID: 1, Chat: 1, Number: n} }
	doc := func(n int64) store.IndexDoc {
		return store.IndexDoc{AppID: 1, Chat: 1, Number: n, Body: fmt.Sprint("body ", n)}
	}
	e := apply.Effects{
		// 1 created; 2 created then updated; 3 created then deleted; 4 a
		// duplicate (no document written); 5 created.
		Reindex: []store.MessageKey{k(1), k(2), k(3), k(4), k(5), k(2)},
		Deleted: []store.MessageKey{k(3)},
		Written: []store.IndexDoc{doc(1), doc(2), doc(3), doc(5)},
	}
	known, unknown := e.Docs()
	if want := []store.IndexDoc{doc(1), doc(5)}; !slices.Equal(known, want) {
		t.Errorf("known: got %+v, want %+v", known, want)
	}
	if want := []store.MessageKey{k(2), k(3), k(4), k(2)}; !slices.Equal(unknown, want) {
		t.Errorf("to read back: got %+v, want %+v", unknown, want)
	}
}
