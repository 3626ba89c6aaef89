package reconcile_test

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/instachat/instachat/pkg/queue"
	"github.com/instachat/instachat/pkg/store"
	"github.com/instachat/instachat/services/cron/internal/reconcile"
)

const (
	chatCreate = queue.TypeChatCreate
	chatDelete = queue.TypeChatDelete
	msgCreate  = queue.TypeMessageCreate
	msgUpdate  = queue.TypeMessageUpdate
	msgDelete  = queue.TypeMessageDelete

	applied   = store.OutcomeApplied
	duplicate = store.OutcomeDuplicate
	stale     = store.OutcomeStale
	parked    = store.OutcomeParked
)

// at returns event times a minute in the past, as the api accepted them
// before the writer committed them.
func clock() func(ms int) time.Time {
	base := time.Now().UTC().Add(-time.Minute).Truncate(time.Microsecond)
	return func(ms int) time.Time { return base.Add(time.Duration(ms) * time.Millisecond) }
}

func run(t *testing.T, st *store.Store, opts reconcile.Options) reconcile.Report {
	t.Helper()
	rep, err := reconcile.Run(t.Context(), st, opts)
	if err != nil {
		t.Fatalf("Run(%+v): %v", opts, err)
	}
	return rep
}

func wantCounts(t *testing.T, what string, got map[reconcile.Kind]int64, want map[reconcile.Kind]int64) {
	t.Helper()
	full := map[reconcile.Kind]int64{}
	for _, k := range reconcile.Kinds {
		full[k] = want[k]
	}
	if !maps.Equal(got, full) {
		t.Errorf("%s: got %v, want %v", what, got, full)
	}
}

func exec(t *testing.T, db *sql.DB, q string, args ...any) {
	t.Helper()
	if _, err := db.ExecContext(t.Context(), q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// scenario builds, through the writer's store calls, chats that saw every
// out-of-order case, and returns the writer of application A.
func scenario(t *testing.T, st *store.Store) (a, b *writer) {
	a, b = newWriter(t, st, "A"), newWriter(t, st, "B")
	at := clock()
	ev := func(id, typ string, chatN, msg int64, body string, ms int) event {
		return event{id: id, typ: typ, chat: chatN, message: msg, body: body, at: at(ms)}
	}
	deliveries := []struct {
		e    event
		want string
	}{
		// Chat 1: an update before its chat, a stale update, redeliveries,
		// an update and a delete before their create, an update after a
		// delete, and an update that is still parked.
		{ev("a1-m1-u2", msgUpdate, 1, 1, "second edit", 30), parked},
		{ev("a1-c", chatCreate, 1, 0, "", 1), applied},
		{ev("a1-m1", msgCreate, 1, 1, "hello", 10), applied},
		{ev("a1-m1-u2", msgUpdate, 1, 1, "second edit", 30), applied},
		{ev("a1-m1-u1", msgUpdate, 1, 1, "first edit", 20), stale},
		{ev("a1-m1", msgCreate, 1, 1, "hello", 10), duplicate}, // a redelivery after the row changed
		{ev("a1-m2-u", msgUpdate, 1, 2, "m2 edited", 25), parked},
		{ev("a1-m2", msgCreate, 1, 2, "m2", 15), applied},
		{ev("a1-m2-u", msgUpdate, 1, 2, "m2 edited", 25), applied},
		{ev("a1-m2-u", msgUpdate, 1, 2, "m2 edited", 25), duplicate},
		{ev("a1-m3", msgCreate, 1, 3, "m3", 12), applied},
		{ev("a1-m3-d", msgDelete, 1, 3, "", 40), applied},
		{ev("a1-m3-u", msgUpdate, 1, 3, "too late", 35), stale},
		{ev("a1-m4-d", msgDelete, 1, 4, "", 45), parked},
		{ev("a1-m4", msgCreate, 1, 4, "m4", 16), applied},
		{ev("a1-m4-d", msgDelete, 1, 4, "", 45), applied},
		{ev("a1-m5-u", msgUpdate, 1, 5, "never created", 50), parked},
		// Chat 2: a message before its chat, the chat deleted, a message
		// that arrives after the delete (born deleted), a stale update.
		{ev("a2-m1", msgCreate, 2, 1, "x", 105), parked},
		{ev("a2-c", chatCreate, 2, 0, "", 100), applied},
		{ev("a2-m1", msgCreate, 2, 1, "x", 105), applied},
		{ev("a2-d", chatDelete, 2, 0, "", 150), applied},
		{ev("a2-m2", msgCreate, 2, 2, "y", 145), applied},
		{ev("a2-m1-u", msgUpdate, 2, 1, "z", 160), stale},
		{ev("a2-d", chatDelete, 2, 0, "", 150), duplicate},
		// Chats 3 and 4: in order.
		{ev("a3-c", chatCreate, 3, 0, "", 200), applied},
		{ev("a3-m1", msgCreate, 3, 1, "one", 201), applied},
		{ev("a3-m2", msgCreate, 3, 2, "two", 202), applied},
		{ev("a3-m3", msgCreate, 3, 3, "three", 203), applied},
		{ev("a3-m1-u", msgUpdate, 3, 1, "one edited", 210), applied},
		{ev("a4-c", chatCreate, 4, 0, "", 300), applied},
		{ev("a4-m1", msgCreate, 4, 1, "four one", 301), applied},
		{ev("a4-m2", msgCreate, 4, 2, "four two", 302), applied},
	}
	for _, d := range deliveries {
		a.deliver(d.e, d.want)
	}
	b.deliver(ev("b1-c", chatCreate, 1, 0, "", 1), applied)
	b.deliver(ev("b1-m1", msgCreate, 1, 1, "bee", 2), applied)
	// A message whose chat never came: parked, then dead; and a job of an
	// unknown application, dead before it was resolved (application id 0).
	lost := ev("a9-m1", msgCreate, 9, 1, "lost", 400)
	a.deliver(lost, parked)
	a.bury(a.app, lost, "parent never arrived: message_before_chat")
	a.bury(0, ev("ghost", chatCreate, 1, 0, "", 401), "unknown application")
	return a, b
}

func TestReplayMatchesWhatTheWriterWrote(t *testing.T) {
	st, _ := env(t)
	a, b := scenario(t, st)
	rep := run(t, st, reconcile.Options{Partition: -1})
	if !rep.Clean() {
		t.Fatalf("got differences, want none:\n%s", rep)
	}
	want := reconcile.Report{EventsReplayed: 26, ChatsChecked: 5, MessagesChecked: 12,
		NeverApplied: store.NeverApplied{Parked: 1, Dead: 2}}
	if rep.EventsReplayed != want.EventsReplayed || rep.ChatsChecked != want.ChatsChecked ||
		rep.MessagesChecked != want.MessagesChecked || rep.NeverApplied != want.NeverApplied || rep.Unverifiable != (reconcile.Unverifiable{}) {
		t.Errorf("got %s\nwant %d events, %d chats, %d messages, never applied %+v, nothing unverifiable",
			rep, want.EventsReplayed, want.ChatsChecked, want.MessagesChecked, want.NeverApplied)
	}
	if !strings.Contains(rep.String(), "clean") {
		t.Errorf("summary: got %q, want it to say clean", rep.String())
	}

	tests := []struct {
		name                   string
		opts                   reconcile.Options
		chats, messages, dead  int64
		events, parkedMessages int64
	}{
		{"application A", reconcile.Options{AppID: a.app, Partition: -1}, 4, 11, 1, 24, 1},
		{"application B", reconcile.Options{AppID: b.app, Partition: -1}, 1, 1, 0, 2, 0},
		{"one chat", reconcile.Options{AppID: a.app, Chat: 2, Partition: -1}, 1, 2, 0, 5, 0},
		{"a chat with no rows", reconcile.Options{AppID: a.app, Chat: 9, Partition: -1}, 0, 0, 1, 0, 0},
	}
	for _, tt := range tests {
		rep := run(t, st, tt.opts)
		if !rep.Clean() || rep.ChatsChecked != tt.chats || rep.MessagesChecked != tt.messages ||
			rep.NeverApplied.Dead != tt.dead || rep.EventsReplayed != tt.events || rep.NeverApplied.Parked != tt.parkedMessages {
			t.Errorf("%s: got %s\nwant clean, %d chats, %d messages, %d events, %d parked, %d dead",
				tt.name, rep, tt.chats, tt.messages, tt.events, tt.parkedMessages, tt.dead)
		}
	}
}

func TestReportsAndRepairsEveryKindOfDifference(t *testing.T) {
	st, db := env(t)
	a, _ := scenario(t, st)
	// The journal has been recording for an hour: a repair removes a row
	// without history only well after the journal's horizon.
	exec(t, db, "UPDATE event_journal SET committed_at = committed_at - INTERVAL 1 HOUR")
	chatID := func(n int64) int64 {
		t.Helper()
		var id int64
		if err := db.QueryRowContext(t.Context(), "SELECT id FROM chats WHERE application_id = ? AND number = ?", a.app, n).Scan(&id); err != nil {
			t.Fatal(err)
		}
		return id
	}
	c1, c2, c3, c4 := chatID(1), chatID(2), chatID(3), chatID(4)
	exec(t, db, "UPDATE messages SET body = 'tampered' WHERE chat_id = ? AND number = 1", c3)
	exec(t, db, "DELETE FROM messages WHERE chat_id = ? AND number = 2", c3)
	exec(t, db, "UPDATE messages SET last_event_id = 'a3-c' WHERE chat_id = ? AND number = 3", c3)
	exec(t, db, `INSERT INTO messages (chat_id, number, body, last_event_id, event_time, read_at, written_at, created_at, updated_at)
VALUES (?, 99, 'extra', 'nobody', UTC_TIMESTAMP(6), UTC_TIMESTAMP(6), UTC_TIMESTAMP(6), UTC_TIMESTAMP(6), UTC_TIMESTAMP(6))`, c3)
	exec(t, db, "UPDATE messages SET deleted_at = NULL WHERE chat_id = ? AND number = 3", c1)
	exec(t, db, "UPDATE chats SET deleted_at = NULL WHERE id = ?", c2)
	exec(t, db, "DELETE FROM messages WHERE chat_id = ?", c4)
	exec(t, db, "DELETE FROM chats WHERE id = ?", c4)
	exec(t, db, `INSERT INTO chats (application_id, number, last_event_id, event_time, read_at, written_at, created_at, updated_at)
VALUES (?, 50, 'nobody', UTC_TIMESTAMP(6), UTC_TIMESTAMP(6), UTC_TIMESTAMP(6), UTC_TIMESTAMP(6), UTC_TIMESTAMP(6))`, a.app)

	want := map[reconcile.Kind]int64{
		reconcile.MissingRow:        4, // chat 4, its two messages, chat 3 message 2
		reconcile.UnexpectedRow:     2, // chat 3 message 99, chat 50
		reconcile.BodyMismatch:      1, // chat 3 message 1
		reconcile.DeletedMismatch:   2, // chat 1 message 3, chat 2
		reconcile.LastEventMismatch: 1, // chat 3 message 3
	}
	rep := run(t, st, reconcile.Options{Partition: -1})
	t.Logf("before the repair:\n%s", rep)
	wantCounts(t, "differences", rep.Differences, want)
	wantCounts(t, "fixed without -repair", rep.Fixed, nil)
	if rep.Clean() || rep.Total() != 10 || len(rep.Examples) != 10 || rep.ChatsChecked != 6 {
		t.Errorf("got total %d with %d examples in %d chats, want 10 of each in 6 chats:\n%s", rep.Total(), len(rep.Examples), rep.ChatsChecked, rep)
	}
	for _, d := range rep.Examples {
		if strings.Contains(d.Detail, "tampered") || strings.Contains(d.Detail, "one edited") {
			t.Errorf("example %q quotes a message body", d)
		}
	}
	var decoded map[string]any
	if b, err := json.Marshal(rep); err != nil || json.Unmarshal(b, &decoded) != nil || decoded["differences"].(map[string]any)["missing_row"] != float64(4) {
		t.Errorf("JSON report: got %v (%v), want differences.missing_row = 4", decoded, err)
	}

	// One chat alone reports only its own differences.
	one := run(t, st, reconcile.Options{AppID: a.app, Chat: 3, Partition: -1})
	wantCounts(t, "chat 3", one.Differences, map[reconcile.Kind]int64{
		reconcile.MissingRow: 1, reconcile.UnexpectedRow: 1, reconcile.BodyMismatch: 1, reconcile.LastEventMismatch: 1})

	var outboxBefore int
	if err := db.QueryRowContext(t.Context(), "SELECT COUNT(*) FROM search_outbox").Scan(&outboxBefore); err != nil {
		t.Fatal(err)
	}
	fixed := run(t, st, reconcile.Options{Partition: -1, Repair: true})
	t.Logf("repair:\n%s", fixed)
	wantCounts(t, "differences found by the repair", fixed.Differences, want)
	wantCounts(t, "fixed", fixed.Fixed, want)
	if fixed.Conflicts != 0 || !strings.Contains(fixed.String(), "fixed: 10") {
		t.Errorf("repair: got %s, want 10 fixed and no conflicts", fixed)
	}
	after := run(t, st, reconcile.Options{Partition: -1})
	if !after.Clean() || after.ChatsChecked != 5 || after.MessagesChecked != 12 {
		t.Fatalf("after the repair: got %s, want clean with 5 chats and 12 messages", after)
	}

	ctx := t.Context()
	for _, m := range []struct {
		chat, n int64
		body    string
	}{{3, 1, "one edited"}, {3, 2, "two"}, {4, 1, "four one"}, {4, 2, "four two"}} {
		got, err := st.Message(ctx, a.app, m.chat, m.n)
		if err != nil || got.Body != m.body {
			t.Errorf("message %d/%d after the repair: got %+v, %v; want body %q", m.chat, m.n, got, err, m.body)
		}
	}
	if _, err := st.Message(ctx, a.app, 3, 99); err == nil {
		t.Errorf("message 3/99 after the repair: still there, want it removed")
	}
	if _, err := st.Message(ctx, a.app, 1, 3); err == nil {
		t.Errorf("message 1/3 after the repair: live, want it deleted again")
	}
	if _, err := st.Chat(ctx, a.app, 2); err == nil {
		t.Errorf("chat 2 after the repair: live, want it deleted again")
	}
	var extraChats int
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM chats WHERE number = 50").Scan(&extraChats); err != nil || extraChats != 0 {
		t.Errorf("chat 50 after the repair: got %d rows, %v; want it removed", extraChats, err)
	}
	var outboxAfter int
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM search_outbox").Scan(&outboxAfter); err != nil {
		t.Fatal(err)
	}
	if outboxAfter-outboxBefore != 7 {
		t.Errorf("search outbox: got %d new rows, want one per repaired message (7)", outboxAfter-outboxBefore)
	}
}

func TestPartitionsCoverEveryChatExactlyOnce(t *testing.T) {
	st, db := env(t)
	at := clock()
	const chats = 20
	var writers []*writer
	for _, name := range []string{"P", "Q"} {
		w := newWriter(t, st, name)
		writers = append(writers, w)
		for c := int64(1); c <= chats/2; c++ {
			w.deliver(event{id: fmt.Sprintf("%s%d-c", name, c), typ: chatCreate, chat: c, at: at(int(c))}, applied)
			w.deliver(event{id: fmt.Sprintf("%s%d-m", name, c), typ: msgCreate, chat: c, message: 1, body: "hi", at: at(int(c) + 1)}, applied)
		}
	}
	// Every chat gets one difference, so the examples name the chats each
	// partition checked.
	exec(t, db, "UPDATE messages SET body = 'tampered'")

	seen := map[string]int{}
	var checked int64
	for p := range 4 {
		rep := run(t, st, reconcile.Options{Partitions: 4, Partition: p})
		checked += rep.ChatsChecked
		if rep.Total() != rep.ChatsChecked {
			t.Errorf("partition %d: got %d differences in %d chats, want one per chat", p, rep.Total(), rep.ChatsChecked)
		}
		for _, d := range rep.Examples {
			seen[fmt.Sprintf("%d/%d", d.AppID, d.Chat)]++
		}
	}
	if checked != chats || len(seen) != chats {
		t.Errorf("partitions 0..3: got %d chats checked, %d distinct; want %d", checked, len(seen), chats)
	}
	for k, n := range seen {
		if n != 1 {
			t.Errorf("chat %s: checked by %d partitions, want 1", k, n)
		}
	}
	all := run(t, st, reconcile.Options{Partitions: 4, Partition: -1})
	if all.ChatsChecked != chats || all.Differences[reconcile.BodyMismatch] != chats {
		t.Errorf("all partitions in turn: got %s, want %d chats with one body mismatch each", all, chats)
	}
	one := run(t, st, reconcile.Options{AppID: writers[1].app, Partitions: 4, Partition: -1})
	if one.ChatsChecked != chats/2 {
		t.Errorf("application Q in partitions: got %d chats, want %d", one.ChatsChecked, chats/2)
	}
	for _, bad := range []reconcile.Options{{Partitions: 4, Partition: 4}, {Chat: 3, Partition: -1}, {Partition: -2}} {
		if _, err := reconcile.Run(t.Context(), st, bad); err == nil {
			t.Errorf("Run(%+v): got no error, want one", bad)
		}
	}
}

func TestPurgedHistoryIsUnverifiableNotADifference(t *testing.T) {
	st, db := env(t)
	w := newWriter(t, st, "old")
	at := clock()
	w.deliver(event{id: "o-c", typ: chatCreate, chat: 1, at: at(1)}, applied)
	w.deliver(event{id: "o-m1", typ: msgCreate, chat: 1, message: 1, body: "old one", at: at(2)}, applied)
	w.deliver(event{id: "o-m2", typ: msgCreate, chat: 1, message: 2, body: "old two", at: at(3)}, applied)
	time.Sleep(20 * time.Millisecond)
	cutoff := time.Now().UTC()
	time.Sleep(20 * time.Millisecond)
	w.deliver(event{id: "o-m1-u", typ: msgUpdate, chat: 1, message: 1, body: "edited later", at: at(50)}, applied)
	w.deliver(event{id: "n-c", typ: chatCreate, chat: 2, at: at(60)}, applied)
	w.deliver(event{id: "n-m1", typ: msgCreate, chat: 2, message: 1, body: "new", at: at(61)}, applied)
	if n, err := st.PurgeJournal(t.Context(), cutoff); err != nil || n != 3 {
		t.Fatalf("purge: got %d, %v; want the 3 entries of the first deliveries", n, err)
	}

	rep := run(t, st, reconcile.Options{Partition: -1})
	if !rep.Clean() || rep.Unverifiable != (reconcile.Unverifiable{Chats: 1, Messages: 2}) || rep.ChatsChecked != 1 || rep.MessagesChecked != 1 {
		t.Fatalf("got %s\nwant clean, chat 1 and its 2 messages unverifiable, chat 2 checked", rep)
	}
	// A row younger than the journal's horizon must have its create in the
	// journal, even in a chat whose own creation was purged.
	var c1 int64
	if err := db.QueryRowContext(t.Context(), "SELECT id FROM chats WHERE application_id = ? AND number = 1", w.app).Scan(&c1); err != nil {
		t.Fatal(err)
	}
	exec(t, db, `INSERT INTO messages (chat_id, number, body, last_event_id, event_time, read_at, written_at, created_at, updated_at)
VALUES (?, 7, 'extra', 'nobody', UTC_TIMESTAMP(6), UTC_TIMESTAMP(6), UTC_TIMESTAMP(6), UTC_TIMESTAMP(6), UTC_TIMESTAMP(6))`, c1)
	rep = run(t, st, reconcile.Options{Partition: -1})
	wantCounts(t, "after an extra row", rep.Differences, map[reconcile.Kind]int64{reconcile.UnexpectedRow: 1})
	// It is younger than the horizon by less than the clocks may disagree:
	// reported, but a repair does not remove it.
	rep = run(t, st, reconcile.Options{Partition: -1, Repair: true})
	if rep.Total() != 1 || rep.Fixed[reconcile.UnexpectedRow] != 0 || !strings.Contains(rep.Examples[0].Detail, "horizon") {
		t.Errorf("repair next to the horizon: got %s, want the row reported and left", rep)
	}
	if _, err := st.Message(t.Context(), w.app, 1, 7); err != nil {
		t.Errorf("message 1/7: got %v, want it kept", err)
	}
}

func TestCleanWhileTheWriterWrites(t *testing.T) {
	st, _ := env(t)
	w := newWriter(t, st, "busy")
	at := clock()
	const chats, events = 4, 240
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range events {
			c := int64(i%chats) + 1
			n := int64(i/chats) + 1
			e := event{id: fmt.Sprintf("e%04d", i), chat: c, at: at(i)}
			switch {
			case n == 1:
				e.typ = chatCreate
			case n%5 == 0:
				e.typ, e.message = msgDelete, n-2
			case n%3 == 0:
				e.typ, e.message, e.body = msgUpdate, n-1, fmt.Sprintf("edit %d", i)
			default:
				e.typ, e.message, e.body = msgCreate, n, fmt.Sprintf("body %d", i)
			}
			if _, err := w.apply(e); err != nil {
				t.Errorf("apply %s: %v", e.id, err)
				return
			}
		}
	}()
	defer func() { <-done }() // a failing run must not leave the writer behind
	runs := 0
	for finished := false; !finished; runs++ {
		select {
		case <-done:
			finished = true
		default:
		}
		rep := run(t, st, reconcile.Options{Partition: -1, Repair: true})
		if !rep.Clean() {
			t.Fatalf("run %d while the writer writes: got differences:\n%s", runs, rep)
		}
	}
	rep := run(t, st, reconcile.Options{Partition: -1})
	// Some updates and deletes name messages that were never created: they
	// stay parked and never apply.
	if !rep.Clean() || rep.ChatsChecked != chats || rep.EventsReplayed+rep.NeverApplied.Parked != events || rep.NeverApplied.Parked == 0 {
		t.Errorf("after %d runs beside the writer: got %s, want clean with %d chats and %d events, some only parked", runs, rep, chats, events)
	}
}
