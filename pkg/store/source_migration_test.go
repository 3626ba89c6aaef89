package store

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/instachat/instachat/pkg/testenv"
)

// TestMigrationFillsRowPositionsFromTheJournal brings a database to the
// schema before migration 0011, writes rows and journal entries as the
// writer did then (positions in the journal only), and checks that opening
// the store gives each row the position of the event that last wrote it when
// the journal holds one, and leaves it NULL otherwise.
func TestMigrationFillsRowPositionsFromTheJournal(t *testing.T) {
	ctx := context.Background()
	dsn := testenv.MySQLDSN(t)
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	migs, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := db.ExecContext(ctx, q, args...); err != nil {
			t.Fatalf("%.60s…: %v", q, err)
		}
	}
	exec("CREATE TABLE schema_migrations (version INT NOT NULL PRIMARY KEY, name VARCHAR(255) NOT NULL, applied_at DATETIME(6) NOT NULL) ENGINE=InnoDB")
	for _, m := range migs {
		if m.version >= 11 {
			continue
		}
		for _, stmt := range m.stmts {
			exec(stmt)
		}
		exec("INSERT INTO schema_migrations VALUES (?, ?, UTC_TIMESTAMP(6))", m.version, m.name)
	}

	const gen = uint64(1795864464673)
	t0 := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	exec("INSERT INTO applications (id, token_sha256, token_digest, name, created_at, updated_at) VALUES (1, ?, 'digest-1', 'a', ?, ?)",
		tokenSHA256("tok-1"), t0, t0)
	chat := func(id, number int64, last string) {
		exec(`INSERT INTO chats (id, application_id, number, create_event_id, last_event_id, event_time, read_at, written_at, created_at, updated_at)
VALUES (?, 1, ?, ?, ?, ?, ?, ?, ?, ?)`, id, number, last, last, t0, t0, t0, t0, t0)
	}
	message := func(chatID, number int64, last string) {
		exec(`INSERT INTO messages (chat_id, number, body, create_event_id, last_event_id, event_time, read_at, written_at, created_at, updated_at)
VALUES (?, ?, 'b', ?, ?, ?, ?, ?, ?, ?)`, chatID, number, last, last, t0, t0, t0, t0, t0)
	}
	// journal records one delivery; seq 0 records it without a position.
	journal := func(id, typ string, chatN, msg int64, outcome string, part int, seq uint64) {
		var p, g, s any
		if seq != 0 {
			p, g, s = part, gen, seq
		}
		exec(`INSERT INTO event_journal (event_id, type, application_id, chat_number, message_number, event_time, read_at, committed_at,
attempt, outcome, stream_part, stream_gen, stream_seq) VALUES (?, ?, 1, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?)`,
			id, typ, chatN, msg, t0, t0, t0, outcome, p, g, s)
	}
	chat(1, 1, "c1")
	chat(2, 2, "c2-del")
	chat(3, 3, "c3-legacy")
	message(1, 1, "m1-u")
	message(1, 2, "m2-legacy")
	message(1, 3, "m3-purged")
	journal("c1", "chat.create", 1, 0, OutcomeApplied, 2, 1)
	journal("c2", "chat.create", 2, 0, OutcomeApplied, 2, 2)
	journal("c2-del", "chat.delete", 2, 0, OutcomeApplied, 2, 9)
	journal("c3-legacy", "chat.create", 3, 0, OutcomeApplied, 0, 0)
	journal("m1", "message.create", 1, 1, OutcomeApplied, 2, 3)
	journal("m1-u", "message.update", 1, 1, OutcomeParked, 2, 5)
	journal("m1-u", "message.update", 1, 1, OutcomeApplied, 2, 5)
	journal("m2-legacy", "message.create", 1, 2, OutcomeApplied, 0, 0)
	journal("m3-stale", "message.update", 1, 3, OutcomeStale, 2, 7) // not the row's last event

	s, err := Open(ctx, Config{DSN: dsn})
	if err != nil {
		t.Fatalf("open (applies 0011): %v", err)
	}
	defer s.Close()
	type want struct {
		table  string
		id     int64
		seq    uint64 // 0: NULL
		reason string
	}
	for _, w := range []want{
		{"chats", 1, 1, "its create"},
		{"chats", 2, 9, "its delete, the last event"},
		{"chats", 3, 0, "journaled without a position"},
		{"messages", 1, 5, "its update, journaled twice"},
		{"messages", 2, 0, "journaled without a position"},
		{"messages", 3, 0, "its last event is no longer journaled"},
	} {
		var part, g, seq sql.NullInt64
		q := "SELECT source_part, source_gen, source_seq FROM " + w.table + " WHERE id = ?"
		if w.table == "messages" {
			q = "SELECT source_part, source_gen, source_seq FROM messages WHERE chat_id = 1 AND number = ?"
		}
		if err := db.QueryRowContext(ctx, q, w.id).Scan(&part, &g, &seq); err != nil {
			t.Fatal(err)
		}
		switch {
		case w.seq == 0 && (part.Valid || g.Valid || seq.Valid):
			t.Errorf("%s %d (%s): got position %v/%v/%v, want NULL", w.table, w.id, w.reason, part, g, seq)
		case w.seq != 0 && (part.Int64 != 2 || uint64(g.Int64) != gen || uint64(seq.Int64) != w.seq):
			t.Errorf("%s %d (%s): got position %v/%v/%v, want 2/%d/%d", w.table, w.id, w.reason, part, g, seq, gen, w.seq)
		}
	}
}
