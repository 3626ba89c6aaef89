package store_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/instachat/instachat/pkg/chat"
	"github.com/instachat/instachat/pkg/store"
	"github.com/instachat/instachat/pkg/testenv"
)

func open(t *testing.T) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), store.Config{DSN: testenv.MySQLDSN(t)})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func prov(id string, at time.Duration) store.Provenance {
	return store.Provenance{EventID: id, EventTime: t0.Add(at * time.Millisecond), ReadAt: t0.Add(time.Hour), WriteAt: t0.Add(time.Hour)}
}

func TestMigrationsAreIdempotent(t *testing.T) {
	dsn := testenv.MySQLDSN(t)
	for i := range 2 {
		s, err := store.Open(context.Background(), store.Config{DSN: dsn})
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		s.Close()
	}
}

func TestApplicationLifecycle(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	ref, err := s.CreateApplication(ctx, "Ünïcode 🚀 \"app\"", t0)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if !chat.ValidToken(ref.App.Token) {
		t.Fatalf("token %q is not a valid token", ref.App.Token)
	}
	got, err := s.Application(ctx, ref.App.Token)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if got.App.Name != "Ünïcode 🚀 \"app\"" || got.ID != ref.ID {
		t.Fatalf("got %+v, want name round-tripped and id %d", got, ref.ID)
	}
	ids, err := s.ApplicationIDs(ctx, []string{chat.TokenDigest(ref.App.Token), "000000000000000000000000"})
	if err != nil || len(ids) != 1 || ids[chat.TokenDigest(ref.App.Token)] != ref.ID {
		t.Fatalf("ApplicationIDs by digest: got %v, %v; want only %d", ids, err, ref.ID)
	}
	renamed, err := s.RenameApplication(ctx, ref.App.Token, "new", t0.Add(time.Minute))
	if err != nil || renamed.App.Name != "new" {
		t.Fatalf("rename: got %+v, %v", renamed, err)
	}
	if _, err := s.Application(ctx, "nope"); !errors.Is(err, chat.ErrNotFound) {
		t.Fatalf("unknown token: got %v, want ErrNotFound", err)
	}
	if _, err := s.RenameApplication(ctx, "nope", "x", t0); !errors.Is(err, chat.ErrNotFound) {
		t.Fatalf("rename unknown: got %v, want ErrNotFound", err)
	}
}

// chatsFor returns a chat.create write for every chat the message writes use.
func chatsFor(ws []store.MessageWrite) []store.ChatWrite {
	seen := map[store.ChatKey]bool{}
	var out []store.ChatWrite
	for _, w := range ws {
		k := store.ChatKey{AppID: w.AppID, Number: w.Chat}
		if !seen[k] {
			seen[k] = true
			out = append(out, store.ChatWrite{AppID: w.AppID, Number: w.Chat, Prov: prov(fmt.Sprintf("chat-%d-%d", w.AppID, w.Chat), 0)})
		}
	}
	return out
}

func TestOutOfOrderEventsParkAndConverge(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	app, err := s.CreateApplication(ctx, "a", t0)
	if err != nil {
		t.Fatal(err)
	}
	id := app.ID
	create := store.MessageWrite{AppID: id, Chat: 1, Number: 1, Body: "first", Prov: prov("e1", 1)}
	update := store.MessageWrite{AppID: id, Chat: 1, Number: 1, Body: "second", Prov: prov("e2", 2)}
	older := store.MessageWrite{AppID: id, Chat: 1, Number: 1, Body: "older", Prov: prov("e0", 0)}
	del := store.MessageWrite{AppID: id, Chat: 1, Number: 1, Prov: prov("e3", 3)}
	apply := func(fn func(tx *store.Tx) (store.Outcome, error)) store.Outcome {
		t.Helper()
		var o store.Outcome
		if err := s.InTx(ctx, func(tx *store.Tx) error { var err error; o, err = fn(tx); return err }); err != nil {
			t.Fatal(err)
		}
		return o
	}
	steps := []struct {
		name string
		run  func(tx *store.Tx) (store.Outcome, error)
		want store.Outcome
	}{
		{"update before the chat exists", func(tx *store.Tx) (store.Outcome, error) { return tx.UpdateMessage(ctx, update) }, store.ParkedNoChat},
		{"create before the chat exists", func(tx *store.Tx) (store.Outcome, error) {
			o, err := tx.CreateMessages(ctx, []store.MessageWrite{create})
			return o[0], err
		}, store.ParkedNoChat},
		{"chat create", func(tx *store.Tx) (store.Outcome, error) {
			o, err := tx.CreateChats(ctx, []store.ChatWrite{{AppID: id, Number: 1, Prov: prov("c1", -1000)}})
			return o[0], err
		}, store.Applied},
		{"update before the message exists", func(tx *store.Tx) (store.Outcome, error) { return tx.UpdateMessage(ctx, update) }, store.ParkedNoMessage},
		{"delete before the message exists", func(tx *store.Tx) (store.Outcome, error) { return tx.DeleteMessage(ctx, del) }, store.ParkedNoMessage},
		{"create", func(tx *store.Tx) (store.Outcome, error) {
			o, err := tx.CreateMessages(ctx, []store.MessageWrite{create})
			return o[0], err
		}, store.Applied},
		{"create again", func(tx *store.Tx) (store.Outcome, error) {
			o, err := tx.CreateMessages(ctx, []store.MessageWrite{create})
			return o[0], err
		}, store.Duplicate},
		{"parked update replayed", func(tx *store.Tx) (store.Outcome, error) { return tx.UpdateMessage(ctx, update) }, store.Applied},
		{"older update", func(tx *store.Tx) (store.Outcome, error) { return tx.UpdateMessage(ctx, older) }, store.Stale},
		{"update again", func(tx *store.Tx) (store.Outcome, error) { return tx.UpdateMessage(ctx, update) }, store.Duplicate},
		{"chat create again", func(tx *store.Tx) (store.Outcome, error) {
			o, err := tx.CreateChats(ctx, []store.ChatWrite{{AppID: id, Number: 1, Prov: prov("c1", -1000)}})
			return o[0], err
		}, store.Duplicate},
	}
	for _, st := range steps {
		if got := apply(st.run); got != st.want {
			t.Errorf("%s: got %v (%d), want %v (%d)", st.name, got, got, st.want, st.want)
		}
	}
	m, err := s.Message(ctx, id, 1, 1)
	if err != nil || m.Body != "second" || !m.CreatedAt.Equal(t0.Add(time.Millisecond)) {
		t.Fatalf("message: got %+v, %v; want the newest body and the create's time", m, err)
	}
	// The parked delete replays: the message is gone from reads, for good.
	if got := apply(func(tx *store.Tx) (store.Outcome, error) { return tx.DeleteMessage(ctx, del) }); got != store.Applied {
		t.Fatalf("delete: got %v, want applied", got)
	}
	if _, err := s.Message(ctx, id, 1, 1); !errors.Is(err, chat.ErrNotFound) {
		t.Errorf("read a deleted message: got %v, want not found", err)
	}
	late := store.MessageWrite{AppID: id, Chat: 1, Number: 1, Body: "late", Prov: prov("e9", 9)}
	if got := apply(func(tx *store.Tx) (store.Outcome, error) { return tx.UpdateMessage(ctx, late) }); got != store.StaleDeleted {
		t.Errorf("update after delete: got %v, want stale (deleted)", got)
	}
	max, err := s.MaxMessageNumber(ctx, id, 1)
	if err != nil || max != 1 {
		t.Errorf("highest number after delete: got %d, %v; want 1 (numbers are never reused)", max, err)
	}
}

func TestDeleteChatTakesItsMessages(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	app, err := s.CreateApplication(ctx, "del", t0)
	if err != nil {
		t.Fatal(err)
	}
	var ws []store.MessageWrite
	for n := int64(1); n <= 5; n++ {
		ws = append(ws, store.MessageWrite{AppID: app.ID, Chat: 2, Number: n, Body: "bye", Prov: prov(fmt.Sprint("m", n), time.Duration(n))})
	}
	if err := s.InTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.CreateChats(ctx, chatsFor(ws)); err != nil {
			return err
		}
		_, err := tx.CreateMessages(ctx, ws)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	var o store.Outcome
	var numbers []int64
	if err := s.InTx(ctx, func(tx *store.Tx) error {
		o, numbers, err = tx.DeleteChat(ctx, store.ChatWrite{AppID: app.ID, Number: 2, Prov: prov("d2", 100)})
		return err
	}); err != nil || o != store.Applied || len(numbers) != 5 {
		t.Fatalf("delete chat: got %v, %v, %v; want applied with 5 messages", o, numbers, err)
	}
	if _, err := s.Chat(ctx, app.ID, 2); !errors.Is(err, chat.ErrNotFound) {
		t.Errorf("read a deleted chat: got %v, want not found", err)
	}
	// A message created before the delete but delivered after it is born deleted.
	late := store.MessageWrite{AppID: app.ID, Chat: 2, Number: 6, Body: "late", Prov: prov("m6", 6)}
	if err := s.InTx(ctx, func(tx *store.Tx) error {
		_, err := tx.CreateMessages(ctx, []store.MessageWrite{late})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if _, total, err := s.Messages(ctx, app.ID, 2, chat.Page{Page: 1, PerPage: 10}); err != nil || total != 0 {
		t.Errorf("messages of a deleted chat: got %d, %v; want 0", total, err)
	}
	rep, err := s.SyncCounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := s.Application(ctx, app.App.Token)
	if a.App.ChatsCount != 0 {
		t.Errorf("chats_count after deleting the only chat: got %d (report %+v), want 0", a.App.ChatsCount, rep)
	}
	docs, err := s.SearchDocs(ctx, []store.MessageKey{{AppID: app.ID, Chat: 2, Number: 1}})
	if err != nil || len(docs) != 0 {
		t.Errorf("search docs of deleted messages: got %v, %v; want none (the index forgets them)", docs, err)
	}
}

func TestSyncCountsAndReads(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	app, err := s.CreateApplication(ctx, "a", t0)
	if err != nil {
		t.Fatal(err)
	}
	var ws []store.MessageWrite
	for chatN := int64(1); chatN <= 3; chatN++ {
		for n := int64(1); n <= chatN*5; n++ {
			ws = append(ws, store.MessageWrite{AppID: app.ID, Chat: chatN, Number: n, Body: fmt.Sprintf("m %d %d", chatN, n), Prov: prov(fmt.Sprintf("e%d-%d", chatN, n), time.Duration(n))})
		}
	}
	if err := s.InTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.CreateChats(ctx, chatsFor(ws)); err != nil {
			return err
		}
		_, err = tx.CreateMessages(ctx, ws)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	got, err := s.SyncCounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got.ChatsCorrected != 3 || got.AppsCorrected != 1 || got.Drift != 5+10+15+3 {
		t.Errorf("sync report: got %+v, want 3 chats, 1 app corrected, drift 33", got)
	}
	again, err := s.SyncCounts(ctx)
	if err != nil || again.ChatsCorrected != 0 || again.AppsCorrected != 0 {
		t.Errorf("second sync: got %+v, %v, want nothing corrected", again, err)
	}
	a, _ := s.Application(ctx, app.App.Token)
	if a.App.ChatsCount != 3 {
		t.Errorf("chats_count: got %d, want 3", a.App.ChatsCount)
	}
	chats, total, err := s.Chats(ctx, app.ID, chat.Page{Page: 1, PerPage: 2})
	if err != nil || total != 3 || len(chats) != 2 || chats[0].Number != 1 || chats[1].MessagesCount != 10 {
		t.Errorf("chats page: got %+v total %d, %v", chats, total, err)
	}
	msgs, total, err := s.Messages(ctx, app.ID, 3, chat.Page{Page: 2, PerPage: 10})
	if err != nil || total != 15 || len(msgs) != 5 || msgs[0].Number != 11 {
		t.Errorf("messages page 2: got %d messages (first %+v) total %d, %v", len(msgs), msgs, total, err)
	}
	docs, err := s.SearchDocs(ctx, []store.MessageKey{{AppID: app.ID, Chat: 2, Number: 3}, {AppID: app.ID, Chat: 9, Number: 1}})
	if err != nil || len(docs) != 1 || docs[0].Body != "m 2 3" || docs[0].Version != 0 {
		t.Errorf("search docs: got %+v, %v", docs, err)
	}
	max, err := s.MaxMessageNumber(ctx, app.ID, 3)
	if err != nil || max != 15 {
		t.Errorf("max message number: got %d, %v, want 15", max, err)
	}
}

func TestLargeBatchesAreSplit(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	app, err := s.CreateApplication(ctx, "big", t0)
	if err != nil {
		t.Fatal(err)
	}
	// 300 bodies of 16 KiB of quotes: about 10 MiB once escaped, more than
	// many servers' max_allowed_packet if sent as one statement.
	body := strings.Repeat("'", 16*1024)
	var ws []store.MessageWrite
	for n := int64(1); n <= 300; n++ {
		ws = append(ws, store.MessageWrite{AppID: app.ID, Chat: 1, Number: n, Body: body, Prov: prov(fmt.Sprintf("big-%d", n), time.Duration(n))})
	}
	if err := s.InTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.CreateChats(ctx, chatsFor(ws)); err != nil {
			return err
		}
		_, err := tx.CreateMessages(ctx, ws)
		return err
	}); err != nil {
		t.Fatalf("write 300 large messages: %v", err)
	}
	msgs, total, err := s.Messages(ctx, app.ID, 1, chat.Page{Page: 3, PerPage: 100})
	if err != nil || total != 300 || len(msgs) != 100 || msgs[99].Body != body {
		t.Fatalf("read back: got total %d, %d messages, %v; want 300 intact", total, len(msgs), err)
	}
}

func TestConcurrentUpdatesNewestWins(t *testing.T) {
	for _, rowLocks := range []bool{false, true} {
		t.Run(fmt.Sprintf("row locks %v", rowLocks), func(t *testing.T) {
			ctx := context.Background()
			s, err := store.Open(ctx, store.Config{DSN: testenv.MySQLDSN(t), RowLocks: rowLocks})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			app, err := s.CreateApplication(ctx, "hot", t0)
			if err != nil {
				t.Fatal(err)
			}
			create := store.MessageWrite{AppID: app.ID, Chat: 1, Number: 1, Body: "v0", Prov: prov("c", 0)}
			if err := s.InTx(ctx, func(tx *store.Tx) error {
				if _, err := tx.CreateChats(ctx, chatsFor([]store.MessageWrite{create})); err != nil {
					return err
				}
				_, err := tx.CreateMessages(ctx, []store.MessageWrite{create})
				return err
			}); err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			errs := make(chan error, 40)
			for i := 1; i <= 40; i++ {
				wg.Go(func() {
					w := store.MessageWrite{AppID: app.ID, Chat: 1, Number: 1, Body: fmt.Sprint("v", i), Prov: prov(fmt.Sprintf("u%02d", i), time.Duration(i))}
					errs <- s.InTx(ctx, func(tx *store.Tx) error { _, err := tx.UpdateMessage(ctx, w); return err })
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Errorf("update: %v", err)
				}
			}
			m, err := s.Message(ctx, app.ID, 1, 1)
			if err != nil || m.Body != "v40" {
				t.Errorf("body after 40 concurrent updates: got %q, %v; want the newest, v40", m.Body, err)
			}
		})
	}
}

func TestJournalWriteAndPurge(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	body := "hello"
	old := store.JournalEntry{EventID: "e-old", Type: "message.create", AppID: 1, Chat: 1, Message: 1, Body: &body,
		EventTime: t0, ReadAt: t0, WrittenAt: t0, Outcome: store.OutcomeApplied}
	if err := s.InTx(ctx, func(tx *store.Tx) error { return tx.Journal(ctx, []store.JournalEntry{old}) }); err != nil {
		t.Fatalf("journal in a transaction: %v", err)
	}
	if err := s.JournalOutside(ctx, []store.JournalEntry{{EventID: "e-dead", Type: "chat.create", EventTime: t0, ReadAt: t0,
		Outcome: store.OutcomeDead, Detail: strings.Repeat("x", 300)}}); err != nil {
		t.Fatalf("journal outside (detail over 255 characters is cut): %v", err)
	}
	if n, err := s.PurgeJournal(ctx, time.Now().Add(-time.Hour)); err != nil || n != 0 {
		t.Fatalf("purge with a cutoff before both: got %d, %v; want 0", n, err)
	}
	if n, err := s.PurgeJournal(ctx, time.Now().Add(time.Minute)); err != nil || n != 2 {
		t.Fatalf("purge with a cutoff after both: got %d, %v; want 2", n, err)
	}
}
