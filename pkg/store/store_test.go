package store_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
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

func TestOutOfOrderMessagesConverge(t *testing.T) {
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
	var outs []store.Outcome
	var report store.WriteReport
	err = s.InTx(ctx, func(tx *store.Tx) error {
		// The update overtakes both the chat row and the message's create.
		o, err := tx.UpdateMessage(ctx, update)
		outs = append(outs, o)
		if err != nil {
			return err
		}
		os, rep, err := tx.UpsertMessages(ctx, []store.MessageWrite{create, create})
		outs = append(outs, os...)
		report = rep
		if err != nil {
			return err
		}
		o, err = tx.UpdateMessage(ctx, older)
		outs = append(outs, o)
		if err != nil {
			return err
		}
		o, err = tx.UpdateMessage(ctx, update)
		outs = append(outs, o)
		return err
	})
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	want := []store.Outcome{store.Applied, store.Stale, store.Stale, store.Stale, store.Duplicate}
	if fmt.Sprint(outs) != fmt.Sprint(want) {
		t.Errorf("outcomes: got %v, want %v", outs, want)
	}
	if report.ChatsAhead != 0 {
		t.Errorf("chats ahead: got %d, want 0 (the update already made the chat row)", report.ChatsAhead)
	}
	m, err := s.Message(ctx, id, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	if m.Body != "second" {
		t.Errorf("body: got %q, want the newest %q", m.Body, "second")
	}
	if !m.CreatedAt.Equal(t0.Add(time.Millisecond)) {
		t.Errorf("created_at: got %v, want the create's event time %v", m.CreatedAt, t0.Add(time.Millisecond))
	}
	// The chat.create arrives last: the row exists, it takes the chat.create's time.
	var chatOuts []store.Outcome
	err = s.InTx(ctx, func(tx *store.Tx) error {
		chatOuts, err = tx.CreateChats(ctx, []store.ChatWrite{{AppID: id, Number: 1, Prov: prov("c1", -1000)}})
		return err
	})
	if err != nil || len(chatOuts) != 1 || chatOuts[0] != store.Applied {
		t.Fatalf("chat create: got %v, %v", chatOuts, err)
	}
	c, err := s.Chat(ctx, id, 1)
	if err != nil {
		t.Fatal(err)
	}
	if !c.CreatedAt.Equal(t0.Add(-1000 * time.Millisecond)) {
		t.Errorf("chat created_at: got %v, want %v", c.CreatedAt, t0.Add(-1000*time.Millisecond))
	}
	err = s.InTx(ctx, func(tx *store.Tx) error {
		chatOuts, err = tx.CreateChats(ctx, []store.ChatWrite{{AppID: id, Number: 1, Prov: prov("c1", -1000)}})
		return err
	})
	if err != nil || chatOuts[0] != store.Duplicate {
		t.Fatalf("chat create replay: got %v, %v, want duplicate", chatOuts, err)
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
	var rep store.WriteReport
	if err := s.InTx(ctx, func(tx *store.Tx) error {
		_, rep, err = tx.UpsertMessages(ctx, ws)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if rep.ChatsAhead != 3 {
		t.Errorf("chats ahead: got %d, want 3", rep.ChatsAhead)
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
		_, _, err := tx.UpsertMessages(ctx, ws)
		return err
	}); err != nil {
		t.Fatalf("write 300 large messages: %v", err)
	}
	msgs, total, err := s.Messages(ctx, app.ID, 1, chat.Page{Page: 3, PerPage: 100})
	if err != nil || total != 300 || len(msgs) != 100 || msgs[99].Body != body {
		t.Fatalf("read back: got total %d, %d messages, %v; want 300 intact", total, len(msgs), err)
	}
}
