package reconcile_test

import (
	"testing"

	"github.com/instachat/instachat/pkg/store"
	"github.com/instachat/instachat/services/cron/internal/reconcile"
)

// TestReplayDecidesByStreamPosition delivers, through the writer's store
// calls, two updates of one message whose event times contradict their
// stream positions, in both orders, and two legacy updates without
// positions: the replay reaches what the writer wrote (the later position;
// for the legacy pair the later event time). A row left as a writer that
// compared event times would have left it is reported and repaired to the
// later position's body, and a row missing its position gets it back.
func TestReplayDecidesByStreamPosition(t *testing.T) {
	st, db := env(t)
	a := newWriter(t, st, "positions")
	at := clock()
	const part, gen = 5, uint64(1795864464673)
	ev := func(id, typ string, chatN, msg int64, body string, ms int, seq uint64) event {
		e := event{id: id, typ: typ, chat: chatN, message: msg, body: body, at: at(ms)}
		if seq != 0 {
			e.stream = store.StreamPosition{Part: part, Gen: gen, Seq: seq}
		}
		return e
	}
	deliveries := []struct {
		e    event
		want string
	}{
		// Chat 1: the later position first; the later event time is stale.
		{ev("c1", chatCreate, 1, 0, "", 1, 1), applied},
		{ev("c1-m", msgCreate, 1, 1, "original", 2, 2), applied},
		{ev("c1-u-pos", msgUpdate, 1, 1, "later position", 10, 4), applied},
		{ev("c1-u-time", msgUpdate, 1, 1, "later time", 20, 3), stale},
		// Chat 2: the later event time first; the later position overrides it.
		{ev("c2", chatCreate, 2, 0, "", 1, 5), applied},
		{ev("c2-m", msgCreate, 2, 1, "original", 2, 6), applied},
		{ev("c2-u-time", msgUpdate, 2, 1, "later time", 30, 7), applied},
		{ev("c2-u-pos", msgUpdate, 2, 1, "later position", 25, 8), applied},
		// Chat 3: events from before the streams keep the event-time rule.
		{ev("c3", chatCreate, 3, 0, "", 1, 0), applied},
		{ev("c3-m", msgCreate, 3, 1, "original", 2, 0), applied},
		{ev("c3-u-late", msgUpdate, 3, 1, "later time", 50, 0), applied},
		{ev("c3-u-early", msgUpdate, 3, 1, "earlier time", 40, 0), stale},
	}
	for _, d := range deliveries {
		a.deliver(d.e, d.want)
	}
	for chatN, body := range map[int64]string{1: "later position", 2: "later position", 3: "later time"} {
		if m, err := st.Message(t.Context(), a.app, chatN, 1); err != nil || m.Body != body {
			t.Errorf("chat %d: got %q, %v; want %q", chatN, m.Body, err, body)
		}
	}
	rep := run(t, st, reconcile.Options{Partition: -1})
	if !rep.Clean() || rep.ChatsChecked != 3 || rep.MessagesChecked != 3 {
		t.Fatalf("got %s\nwant clean, 3 chats and 3 messages checked", rep)
	}

	chatID := func(n int64) int64 {
		t.Helper()
		var id int64
		if err := db.QueryRowContext(t.Context(), "SELECT id FROM chats WHERE application_id = ? AND number = ?", a.app, n).Scan(&id); err != nil {
			t.Fatal(err)
		}
		return id
	}
	// Chat 1 as a writer comparing event times would have left it; chat 2's
	// message without its position.
	exec(t, db, `UPDATE messages SET body = 'later time', last_event_id = 'c1-u-time', event_time = ?,
source_part = NULL, source_gen = NULL, source_seq = NULL WHERE chat_id = ? AND number = 1`, at(20), chatID(1))
	exec(t, db, "UPDATE messages SET source_part = NULL, source_gen = NULL, source_seq = NULL WHERE chat_id = ? AND number = 1", chatID(2))
	want := map[reconcile.Kind]int64{reconcile.BodyMismatch: 1, reconcile.LastEventMismatch: 2}
	rep = run(t, st, reconcile.Options{Partition: -1, Repair: true})
	t.Logf("repair:\n%s", rep)
	wantCounts(t, "differences", rep.Differences, want)
	wantCounts(t, "fixed", rep.Fixed, want)
	if after := run(t, st, reconcile.Options{Partition: -1}); !after.Clean() {
		t.Fatalf("after the repair: got %s, want clean", after)
	}
	for chatN, seq := range map[int64]uint64{1: 4, 2: 8} {
		h, err := st.ChatHistory(t.Context(), store.ChatKey{AppID: a.app, Number: chatN})
		if err != nil {
			t.Fatal(err)
		}
		m := h.Messages[0]
		if wantPos := (store.StreamPosition{Part: part, Gen: gen, Seq: seq}); m.Body != "later position" || m.Stream != wantPos {
			t.Errorf("chat %d after the repair: got %q at %v, want %q at %v", chatN, m.Body, m.Stream, "later position", wantPos)
		}
	}
}
