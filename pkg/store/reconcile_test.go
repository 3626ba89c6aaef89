package store

import (
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/instachat/instachat/pkg/chat"
	"github.com/instachat/instachat/pkg/testenv"
)

// These tests live inside the package: the EXPLAIN check runs the very
// queries a reconcile pass runs.

func openForReconcile(t *testing.T) *Store {
	t.Helper()
	s, err := Open(t.Context(), Config{DSN: testenv.MySQLDSN(t)})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

var rt0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// entry is one journaled delivery at rt0 + ms.
func entry(app, chatN, msg int64, id, typ, outcome string, ms int, body string) JournalEntry {
	e := JournalEntry{EventID: id, Type: typ, AppID: app, Chat: chatN, Message: msg,
		EventTime: rt0.Add(time.Duration(ms) * time.Millisecond), ReadAt: rt0, Attempt: 1, Outcome: outcome}
	if typ == "message.create" || typ == "message.update" {
		e.Body = &body
	}
	return e
}

// seedMany writes apps × chats chats with msgs messages each, and their
// journal, so the optimizer has realistic tables to plan against.
func seedMany(t *testing.T, s *Store, apps, chats, msgs int) {
	t.Helper()
	ctx := t.Context()
	for a := 1; a <= apps; a++ {
		var cw []ChatWrite
		var mw []MessageWrite
		var js []JournalEntry
		for c := 1; c <= chats; c++ {
			id := fmt.Sprintf("c-%d-%d", a, c)
			cw = append(cw, ChatWrite{AppID: int64(a), Number: int64(c), Prov: Provenance{EventID: id, EventTime: rt0, ReadAt: rt0, WriteAt: rt0}})
			js = append(js, entry(int64(a), int64(c), 0, id, "chat.create", OutcomeApplied, 0, ""))
			for m := 1; m <= msgs; m++ {
				id := fmt.Sprintf("m-%d-%d-%d", a, c, m)
				mw = append(mw, MessageWrite{AppID: int64(a), Chat: int64(c), Number: int64(m), Body: "b",
					Prov: Provenance{EventID: id, EventTime: rt0.Add(time.Second), ReadAt: rt0, WriteAt: rt0}})
				js = append(js, entry(int64(a), int64(c), int64(m), id, "message.create", OutcomeApplied, 1000, "b"))
			}
		}
		err := s.InTx(ctx, func(tx *Tx) error {
			if _, err := tx.CreateChats(ctx, cw); err != nil {
				return err
			}
			if _, err := tx.CreateMessages(ctx, mw); err != nil {
				return err
			}
			return tx.Journal(ctx, js)
		})
		if err != nil {
			t.Fatalf("seed app %d: %v", a, err)
		}
	}
	for _, table := range []string{"chats", "messages", "event_journal"} {
		if err := s.db.Exec("ANALYZE TABLE " + table).Error; err != nil {
			t.Fatalf("analyze %s: %v", table, err)
		}
	}
}

type planRow struct {
	Table string
	Type  string
	Key   sql.NullString
	Extra sql.NullString
}

func explain(t *testing.T, s *Store, q string, args ...any) []planRow {
	t.Helper()
	rows, err := s.db.Raw("EXPLAIN "+q, args...).Rows()
	if err != nil {
		t.Fatalf("explain %s: %v", q, err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out []planRow
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		var p planRow
		for i, c := range cols {
			switch c {
			case "table":
				p.Table = vals[i].String
			case "type":
				p.Type = vals[i].String
			case "key":
				p.Key = vals[i]
			case "Extra":
				p.Extra = vals[i]
			}
		}
		out = append(out, p)
	}
	return out
}

func TestReconcileQueriesUseAnIndex(t *testing.T) {
	s := openForReconcile(t)
	seedMany(t, s, 30, 20, 4)
	after := &ChatKey{AppID: 7, Number: 3}
	type query struct {
		name string
		q    string
		args []any
	}
	var qs []query
	for _, sc := range []ReconcileScope{
		{}, {Partitions: 4, Partition: 1}, {AppID: 7}, {AppID: 7, Partitions: 3, Partition: 2},
	} {
		for _, a := range []*ChatKey{nil, after} {
			jq, cq, jargs, cargs := reconcileKeyQueries(sc, a, 100)
			name := fmt.Sprintf("keys %+v after %v", sc, a)
			qs = append(qs, query{name + " (journal)", jq, jargs}, query{name + " (chats)", cq, cargs})
		}
	}
	qs = append(qs,
		query{"journal page", journalPageQuery, []any{7, 3, int64(2), int64(2), rt0, rt0, 0, reconcilePage}},
		query{"chat row", chatRowQuery, []any{7, 3}},
		query{"message page", messagePageQuery, []any{40, 1, reconcilePage}},
	)
	for _, q := range qs {
		for _, p := range explain(t, s, q.q, q.args...) {
			t.Logf("%s: %+v", q.name, p)
			if p.Type == "ALL" || !p.Key.Valid {
				t.Errorf("%s: got plan type %q key %v (%s); want an index", q.name, p.Type, p.Key.String, p.Extra.String)
			}
			if q.name == "journal page" && p.Extra.Valid && strings.Contains(p.Extra.String, "filesort") {
				t.Errorf("%s: got %q; want rows read in index order", q.name, p.Extra.String)
			}
		}
	}
}

func TestReconcileKeysCoverEveryChatOnceAcrossPartitions(t *testing.T) {
	s := openForReconcile(t)
	ctx := t.Context()
	seedMany(t, s, 3, 7, 0)
	// A chat known to the journal only (its create is still parked) and one
	// known to the chats table only (its journal was purged).
	if err := s.JournalOutside(ctx, []JournalEntry{entry(2, 50, 1, "m-orphan", "message.create", OutcomeParked, 5, "x")}); err != nil {
		t.Fatal(err)
	}
	if err := s.db.Exec("DELETE FROM event_journal WHERE event_id = 'c-3-7'").Error; err != nil {
		t.Fatal(err)
	}
	var want []ChatKey
	for a := int64(1); a <= 3; a++ {
		for c := int64(1); c <= 7; c++ {
			want = append(want, ChatKey{AppID: a, Number: c})
			if a == 2 && c == 7 {
				want = append(want, ChatKey{AppID: 2, Number: 50})
			}
		}
	}
	all := func(sc ReconcileScope) []ChatKey {
		t.Helper()
		var out []ChatKey
		var after *ChatKey
		for {
			page, err := s.ReconcileKeys(ctx, sc, after, 4)
			if err != nil {
				t.Fatalf("ReconcileKeys(%+v): %v", sc, err)
			}
			out = append(out, page...)
			if len(page) < 4 {
				return out
			}
			after = &page[len(page)-1]
		}
	}
	if got := all(ReconcileScope{}); !slices.Equal(got, want) {
		t.Fatalf("full pass: got %v, want %v", got, want)
	}
	var union []ChatKey
	for p := range 3 {
		got := all(ReconcileScope{Partitions: 3, Partition: p})
		for _, k := range got {
			if ChatPartition(k, 3) != p {
				t.Errorf("partition %d: got %v, whose partition is %d", p, k, ChatPartition(k, 3))
			}
		}
		union = append(union, got...)
	}
	slices.SortFunc(union, func(a, b ChatKey) int {
		if keyLess(a, b) {
			return -1
		}
		if keyLess(b, a) {
			return 1
		}
		return 0
	})
	if !slices.Equal(union, want) {
		t.Errorf("partitions 0..2 together: got %v, want every chat once: %v", union, want)
	}
	if got := all(ReconcileScope{AppID: 2}); len(got) != 8 || got[7] != (ChatKey{AppID: 2, Number: 50}) {
		t.Errorf("application 2: got %v, want its 7 chats and chat 50", got)
	}
	if got := all(ReconcileScope{AppID: 2, Chat: 5}); !slices.Equal(got, []ChatKey{{AppID: 2, Number: 5}}) {
		t.Errorf("one chat: got %v, want [{2 5}]", got)
	}
	if _, err := s.ReconcileKeys(ctx, ReconcileScope{Chat: 5}, nil, 10); !errors.Is(err, chat.ErrInvalid) {
		t.Errorf("chat without application: got %v, want ErrInvalid", err)
	}
}

func TestChatHistoryFoldsDeliveriesIntoEvents(t *testing.T) {
	s := openForReconcile(t)
	ctx := t.Context()
	js := []JournalEntry{
		entry(1, 1, 0, "e-chat", "chat.create", OutcomeApplied, 0, ""),
		entry(1, 1, 1, "e-upd", "message.update", OutcomeParked, 30, "new"),
		entry(1, 1, 1, "e-create", "message.create", OutcomeApplied, 10, "old"),
		entry(1, 1, 1, "e-upd", "message.update", OutcomeApplied, 30, "new"),
		entry(1, 1, 1, "e-upd", "message.update", OutcomeDuplicate, 30, "new"),
		entry(1, 1, 1, "e-stale", "message.update", OutcomeStale, 20, "older"),
		entry(1, 1, 2, "e-waiting", "message.update", OutcomeParked, 5, "w"),
		entry(1, 1, 3, "e-dead", "message.create", OutcomeParked, 6, "d"),
		entry(1, 1, 3, "e-dead", "message.create", OutcomeDead, 6, "d"),
		entry(1, 2, 0, "e-other", "chat.create", OutcomeApplied, 0, ""),
	}
	// Enough deliveries of one message to span several pages.
	for i := range 2*reconcilePage + 7 {
		js = append(js, entry(1, 1, 4, fmt.Sprintf("e-many-%04d", i), "message.update", OutcomeStale, 100+i%50, "m"))
	}
	if err := s.JournalOutside(ctx, js); err != nil {
		t.Fatal(err)
	}
	h, err := s.ChatHistory(ctx, ChatKey{AppID: 1, Number: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Events) != 4+2*reconcilePage+7 {
		t.Fatalf("got %d events, want %d (each that took effect once)", len(h.Events), 4+2*reconcilePage+7)
	}
	var ids []string
	for _, e := range h.Events[:4] {
		ids = append(ids, e.EventID)
	}
	if want := []string{"e-chat", "e-create", "e-stale", "e-upd"}; !slices.Equal(ids, want) {
		t.Errorf("first events: got %v, want %v (by event time)", ids, want)
	}
	if h.Events[3].Body != "new" || h.Events[3].Message != 1 || h.Events[3].Type != "message.update" {
		t.Errorf("e-upd: got %+v", h.Events[3])
	}
	if !slices.IsSortedFunc(h.Events, func(a, b ReplayEvent) int {
		if c := a.EventTime.Compare(b.EventTime); c != 0 {
			return c
		}
		if a.EventID < b.EventID {
			return -1
		}
		return 1
	}) {
		t.Errorf("events are not ordered by (event_time, event_id)")
	}
	if h.NeverApplied != (NeverApplied{Parked: 1, Dead: 1}) {
		t.Errorf("never applied: got %+v, want 1 parked and 1 dead", h.NeverApplied)
	}
	if h.Chat != nil || len(h.Messages) != 0 {
		t.Errorf("rows: got chat %v and %d messages, want none", h.Chat, len(h.Messages))
	}
	if h.Horizon.IsZero() {
		t.Errorf("horizon: got zero, want the oldest commit")
	}
}

func TestChatHistoryReadsRowsInPages(t *testing.T) {
	s := openForReconcile(t)
	ctx := t.Context()
	n := reconcilePage + 3
	var mw []MessageWrite
	for i := 1; i <= n; i++ {
		mw = append(mw, MessageWrite{AppID: 1, Chat: 1, Number: int64(i), Body: fmt.Sprint(i),
			Prov: Provenance{EventID: fmt.Sprintf("m%d", i), EventTime: rt0, ReadAt: rt0, WriteAt: rt0}})
	}
	err := s.InTx(ctx, func(tx *Tx) error {
		if _, err := tx.CreateChats(ctx, []ChatWrite{{AppID: 1, Number: 1, Prov: Provenance{EventID: "c", EventTime: rt0, ReadAt: rt0, WriteAt: rt0}}}); err != nil {
			return err
		}
		_, err := tx.CreateMessages(ctx, mw)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	h, err := s.ChatHistory(ctx, ChatKey{AppID: 1, Number: 1})
	if err != nil {
		t.Fatal(err)
	}
	if h.Chat == nil || h.Chat.LastEventID != "c" || !h.Chat.CreatedAt.Equal(rt0) {
		t.Fatalf("chat: got %+v, want the row of event c", h.Chat)
	}
	if len(h.Messages) != n || h.Messages[n-1].Number != int64(n) || h.Messages[n-1].Body != fmt.Sprint(n) {
		t.Fatalf("messages: got %d, want %d in number order", len(h.Messages), n)
	}
	if !h.Horizon.IsZero() {
		t.Errorf("horizon of an empty journal: got %v, want zero", h.Horizon)
	}
}

func TestRepairWritesOnlyRowsThatDidNotChange(t *testing.T) {
	s := openForReconcile(t)
	ctx := t.Context()
	key := ChatKey{AppID: 1, Number: 1}
	p := func(id string, ms int) Provenance {
		at := rt0.Add(time.Duration(ms) * time.Millisecond)
		return Provenance{EventID: id, EventTime: at, ReadAt: at, WriteAt: at}
	}
	err := s.InTx(ctx, func(tx *Tx) error {
		if _, err := tx.CreateChats(ctx, []ChatWrite{{AppID: 1, Number: 1, Prov: p("c", 0)}}); err != nil {
			return err
		}
		_, err := tx.CreateMessages(ctx, []MessageWrite{
			{AppID: 1, Chat: 1, Number: 1, Body: "one", Prov: p("m1", 1)},
			{AppID: 1, Chat: 1, Number: 2, Body: "two", Prov: p("m2", 2)},
		})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	h, err := s.ChatHistory(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	// A count sync bumps the chat's lock_version: that changes nothing a
	// check compares, so the repair retries and goes through.
	if _, err := s.SyncCounts(ctx); err != nil {
		t.Fatal(err)
	}
	m1 := h.Messages[0]
	gone := rt0.Add(time.Minute)
	fix := ChatRepair{Key: key,
		Chat: &RowFix{Op: RepairUpdate, Seen: h.Chat, LastEventID: "c-del", EventTime: gone, DeletedAt: &gone},
		Messages: []MessageFix{
			{Number: 1, RowFix: RowFix{Op: RepairUpdate, Seen: &m1.StoredRow, SeenBody: m1.Body, Body: "fixed", LastEventID: "m1-upd", EventTime: gone}},
			{Number: 3, RowFix: RowFix{Op: RepairInsert, Body: "three", LastEventID: "m3", EventTime: gone, CreatedAt: gone, DeletedAt: &gone}},
		}}
	if err := s.Repair(ctx, fix, time.Now()); err != nil {
		t.Fatalf("repair: %v", err)
	}
	after, err := s.ChatHistory(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if after.Chat.DeletedAt == nil || after.Chat.LastEventID != "c-del" {
		t.Errorf("chat: got %+v, want deleted by c-del", after.Chat)
	}
	if len(after.Messages) != 3 || after.Messages[0].Body != "fixed" || after.Messages[0].LastEventID != "m1-upd" ||
		after.Messages[2].DeletedAt == nil || after.Messages[2].Body != "three" {
		t.Errorf("messages: got %+v", after.Messages)
	}
	var queued int64
	if err := s.db.Raw("SELECT COUNT(*) FROM search_outbox").Scan(&queued).Error; err != nil || queued != 2 {
		t.Errorf("search outbox: got %d, %v; want the 2 repaired messages", queued, err)
	}

	// The writer updates message 2 after the check read it: the repair must
	// not overwrite the newer body, and writes nothing at all.
	m2 := after.Messages[1]
	err = s.InTx(ctx, func(tx *Tx) error {
		_, err := tx.UpdateMessage(ctx, MessageWrite{AppID: 1, Chat: 1, Number: 2, Body: "newer", Prov: p("m2-upd", 90000)})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	m1 = after.Messages[0]
	err = s.Repair(ctx, ChatRepair{Key: key, Messages: []MessageFix{
		{Number: 1, RowFix: RowFix{Op: RepairRemove, Seen: &m1.StoredRow, SeenBody: m1.Body}},
		{Number: 2, RowFix: RowFix{Op: RepairUpdate, Seen: &m2.StoredRow, SeenBody: m2.Body, Body: "stale", LastEventID: "x", EventTime: rt0}},
	}}, time.Now())
	if !errors.Is(err, chat.ErrConflict) {
		t.Fatalf("repair of a changed row: got %v, want ErrConflict", err)
	}
	got, err := s.ChatHistory(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Messages) != 3 || got.Messages[1].Body != "newer" {
		t.Errorf("after the refused repair: got %+v, want message 1 kept and message 2's newer body", got.Messages)
	}
}
