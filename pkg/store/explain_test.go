package store

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/instachat/instachat/pkg/chat"
	"github.com/instachat/instachat/pkg/testenv"
)

// This file checks issue 6: every query the store runs uses an index. It
// seeds a database large enough that the optimizer prefers indexes, runs
// EXPLAIN on each statement with representative arguments and fails on a
// full scan of a growing table. TestExplainCoversEveryCallSite fails when a
// Raw or Exec call site is added without an EXPLAIN case here.

// growing are the tables whose size grows with use: a full scan of one is a
// query that slows down as the service lives.
var growing = map[string]bool{
	"applications":  true,
	"chats":         true,
	"messages":      true,
	"event_journal": true,
	"search_outbox": true,
	// One row an application, and up to ten endpoints each.
	"application_settings": true,
	"webhook_endpoints":    true,
}

// explainCase is one statement the store runs.
type explainCase struct {
	name string
	// site names the Raw or Exec call site the statement comes from, as
	// "<file> <function>"; several cases may share one site (a statement
	// built from parts). Empty for statements GORM builds (Take, Create),
	// which the call-site count does not see.
	site  string
	query string
	args  []any
	// alias maps the table aliases of the statement to table names (m and c
	// are messages and chats unless said otherwise).
	alias map[string]string
	// walk marks a keyset walk in index order that stops after its LIMIT:
	// a plan of type "index" (read in index order) is fine for it, it reads
	// a page, not the table.
	walk bool
	// scanOK names a table this statement may read whole, with the reason
	// in a comment at the case.
	scanOK string
	// skip, when set, says why the statement is not explained (an INSERT:
	// EXPLAIN INSERT says nothing about reads).
	skip string
	// keyset names the table a cursor page reads (issue 12): it must plan
	// as a range on an index, without a filesort, and the statement may
	// hold neither OFFSET nor COUNT(*), so a deep page costs what the first
	// one does.
	keyset string
}

func explainCases() []explainCase {
	jq := func(sc ReconcileScope, after *ChatKey) (string, []any) {
		j, _, a, _ := reconcileKeyQueries(sc, after, 100)
		return j, a
	}
	cq := func(sc ReconcileScope, after *ChatKey) (string, []any) {
		_, c, _, a := reconcileKeyQueries(sc, after, 100)
		return c, a
	}
	var cases []explainCase
	addKeys := func(name string, sc ReconcileScope, after *ChatKey) {
		q, a := jq(sc, after)
		cases = append(cases, explainCase{name: "ReconcileKeys journal " + name, site: "reconcile.go ReconcileKeys journal", query: q, args: a, walk: true})
		q, a = cq(sc, after)
		cases = append(cases, explainCase{name: "ReconcileKeys chats " + name, site: "reconcile.go ReconcileKeys chats", query: q, args: a, walk: true})
	}
	addKeys("all", ReconcileScope{}, nil)
	addKeys("all after", ReconcileScope{}, &ChatKey{AppID: 2, Number: 30})
	addKeys("app", ReconcileScope{AppID: 2}, nil)
	addKeys("app after", ReconcileScope{AppID: 2}, &ChatKey{AppID: 2, Number: 30})
	addKeys("partition", ReconcileScope{Partitions: 4, Partition: 1}, &ChatKey{AppID: 1, Number: 10})

	// syncTable (sync.go) builds its statements from a countSpec; these are
	// its format strings filled in with the two specs of SyncCounts.
	syncSpecs := []struct{ table, column, count string }{
		{"chats", "messages_count", "SELECT COUNT(*) FROM messages m WHERE m.chat_id = t.id AND m.deleted_at IS NULL"},
		{"applications", "chats_count", "SELECT COUNT(*) FROM chats c WHERE c.application_id = t.id AND c.deleted_at IS NULL"},
	}
	for _, sp := range syncSpecs {
		alias := map[string]string{"t": sp.table}
		cases = append(cases,
			explainCase{name: "SyncCounts page " + sp.table, site: "sync.go syncTable page", alias: alias, walk: true,
				// A keyset walk over applications by primary key reads every
				// application by design, a page at a time.
				scanOK: "applications",
				query: fmt.Sprintf("SELECT t.id, t.lock_version, t.%s AS stored, (%s) AS actual FROM %s t WHERE t.id > ? ORDER BY t.id LIMIT ?",
					sp.column, sp.count, sp.table),
				args: []any{int64(0), syncPage}},
			explainCase{name: "SyncCounts reread " + sp.table, site: "sync.go syncTable one", alias: alias,
				query: fmt.Sprintf("SELECT t.id, t.lock_version, t.%s AS stored, (%s) AS actual FROM %s t WHERE t.id = ?",
					sp.column, sp.count, sp.table),
				args: []any{int64(2)}},
			explainCase{name: "SyncCounts update " + sp.table, site: "sync.go syncTable update",
				query: fmt.Sprintf("UPDATE %s SET %s = ?, lock_version = lock_version + 1 WHERE id = ? AND lock_version = ?",
					sp.table, sp.column),
				args: []any{int64(7), int64(2), int64(0)}},
		)
	}

	// casRow (reconcile.go) re-reads a row and runs the statement its caller
	// (fixChat, fixMessage) passes.
	cases = append(cases,
		explainCase{name: "casRow read chat", site: "reconcile.go casRow read",
			query: casChatQuery, args: []any{int64(5)}},
		explainCase{name: "casRow read message", site: "reconcile.go casRow read",
			query: casMessageQuery, args: []any{int64(5)}},
		explainCase{name: "fixChat update", site: "reconcile.go casRow stmt",
			query: `UPDATE chats SET deleted_at = ?, last_event_id = ?, event_time = ?,
source_part = ?, source_gen = ?, source_seq = ?, written_at = ?, updated_at = ?, lock_version = lock_version + 1 WHERE id = ? AND lock_version = ?`,
			args: []any{nil, evID, t1, 3, streamGen, uint64(7), t1, t1, int64(5), int64(0)}},
		explainCase{name: "fixChat remove", site: "reconcile.go casRow stmt",
			query: "DELETE FROM chats WHERE id = ? AND lock_version = ? AND NOT EXISTS (SELECT 1 FROM messages WHERE chat_id = ?)",
			args:  []any{int64(5), int64(0), int64(5)}},
		explainCase{name: "fixMessage update", site: "reconcile.go casRow stmt",
			query: `UPDATE messages SET body = ?, deleted_at = ?, last_event_id = ?, event_time = ?,
source_part = ?, source_gen = ?, source_seq = ?, written_at = ?, updated_at = ?, lock_version = lock_version + 1 WHERE id = ? AND lock_version = ?`,
			args: []any{"b", nil, evID, t1, 3, streamGen, uint64(7), t1, t1, int64(5), int64(0)}},
		explainCase{name: "fixMessage remove", site: "reconcile.go casRow stmt",
			query: "DELETE FROM messages WHERE id = ? AND lock_version = ?", args: []any{int64(5), int64(0)}},
	)

	return append(cases, []explainCase{
		// applications.go
		{name: "CreateApplication", skip: "GORM Create: an INSERT"},
		{name: "Application by token", // Application, RenameApplication: GORM Where("token_sha256 = ?").Take
			query: "SELECT * FROM `applications` WHERE token_sha256 = ? LIMIT 1", args: []any{tokenSHA256("tok-2")}},
		{name: "RenameApplication", site: "applications.go RenameApplication",
			query: "UPDATE applications SET name = ?, updated_at = ?, lock_version = lock_version + 1 WHERE id = ? AND lock_version = ?",
			args:  []any{"n", t1, int64(2), int64(0)}},
		{name: "ApplicationIDs", site: "applications.go ApplicationIDs",
			query: "SELECT id, token_digest FROM applications WHERE token_digest IN ?", args: []any{[]string{"digest-1", "digest-3"}}},
		{name: "MaxChatNumber", site: "applications.go MaxChatNumber",
			query: "SELECT COALESCE(MAX(number), 0) FROM chats WHERE application_id = ?", args: []any{int64(2)}},
		{name: "MaxMessageNumber chat", site: "applications.go MaxMessageNumber chat",
			query: "SELECT id FROM chats WHERE application_id = ? AND number = ?", args: []any{int64(2), int64(10)}},
		{name: "MaxMessageNumber messages", site: "applications.go MaxMessageNumber messages",
			query: "SELECT COALESCE(MAX(number), 0) FROM messages WHERE chat_id = ?", args: []any{int64(10)}},

		// seed.go
		{name: "appID", site: "seed.go appID",
			query: "SELECT id FROM applications WHERE token_digest = ?", args: []any{"digest-1"}},
		{name: "ChatSeed max", site: "seed.go ChatSeed max",
			query: "SELECT COALESCE(MAX(number), 0) FROM chats WHERE application_id = ?", args: []any{int64(2)}},
		{name: "ChatSeed deleted", site: "seed.go ChatSeed deleted",
			query: "SELECT number FROM chats WHERE application_id = ? AND deleted_at IS NOT NULL", args: []any{int64(2)}},
		{name: "MessageSeed chat", site: "seed.go MessageSeed chat",
			query: "SELECT id, deleted_at FROM chats WHERE application_id = ? AND number = ?", args: []any{int64(2), int64(10)}},
		{name: "MessageSeed max", site: "seed.go MessageSeed max",
			query: "SELECT COALESCE(MAX(number), 0) FROM messages WHERE chat_id = ?", args: []any{int64(10)}},
		// Reads the chat's rows by the (chat_id, number) key: seeding after
		// Redis lost a counter is rare, and a chat is one range of the index.
		{name: "MessageSeed deleted", site: "seed.go MessageSeed deleted",
			query: "SELECT number FROM messages WHERE chat_id = ? AND deleted_at IS NOT NULL", args: []any{int64(10)}},

		// apply.go
		{name: "CreateChats insert", site: "apply.go CreateChats", skip: "multi-row INSERT … ON DUPLICATE KEY UPDATE"},
		{name: "chatStates", site: "apply.go chatStates",
			query: "SELECT id, application_id, number, create_event_id, last_event_id, deleted_at, lock_version FROM chats WHERE (application_id, number) IN ?",
			args:  []any{[][]any{{int64(1), int64(5)}, {int64(2), int64(7)}, {int64(3), int64(60)}}}},
		{name: "insertMessages", site: "apply.go insertMessages", skip: "multi-row INSERT … ON DUPLICATE KEY UPDATE"},
		{name: "exec", site: "apply.go exec", skip: "SAVEPOINT and ROLLBACK TO SAVEPOINT: no table read"},
		{name: "messageStates", site: "apply.go messageStates",
			query: "SELECT id, chat_id, number, body, create_event_id, last_event_id, event_time, lock_version, deleted_at FROM messages WHERE (chat_id, number) IN ?",
			args:  []any{[][]any{{int64(10), int64(5)}, {int64(11), int64(6)}, {int64(150), int64(99)}}}},
		{name: "findMessage", site: "apply.go findMessage",
			query: findMessageQuery, args: []any{int64(2), int64(10), int64(42)}},
		{name: "findMessage lock", site: "apply.go findMessage lock",
			query: lockMessageQuery, args: []any{int64(4242)}},
		{name: "UpdateMessage", site: "apply.go changeMessage",
			query: `UPDATE messages SET body = ?, lock_version = lock_version + 1,
last_event_id = ?, event_time = ?, source_part = ?, source_gen = ?, source_seq = ?, read_at = ?, written_at = ?, updated_at = ?
WHERE id = ? AND lock_version = ?`,
			args: []any{"b", evID, t1, 3, streamGen, uint64(7), t1, t1, t1, int64(4242), int64(0)}},
		{name: "DeleteMessage", site: "apply.go changeMessage",
			query: `UPDATE messages SET deleted_at = ?, lock_version = lock_version + 1,
last_event_id = ?, event_time = ?, source_part = ?, source_gen = ?, source_seq = ?, read_at = ?, written_at = ?, updated_at = ?
WHERE id = ? AND lock_version = ?`,
			args: []any{t1, evID, t1, 3, streamGen, uint64(7), t1, t1, t1, int64(4242), int64(0)}},
		{name: "DeleteChat", site: "apply.go DeleteChat",
			query: `UPDATE chats SET deleted_at = ?, lock_version = lock_version + 1,
last_event_id = ?, event_time = ?, source_part = ?, source_gen = ?, source_seq = ?, read_at = ?, written_at = ?, updated_at = ?
WHERE id = ? AND lock_version = ?`,
			args: []any{t1, evID, t1, 3, streamGen, uint64(7), t1, t1, t1, int64(10), int64(0)}},
		{name: "DeleteChat numbers", site: "apply.go DeleteChat numbers",
			query: "SELECT number FROM messages WHERE chat_id = ? AND deleted_at IS NULL", args: []any{int64(10)}},
		{name: "DeleteChat messages", site: "apply.go DeleteChat messages",
			query: `UPDATE messages SET deleted_at = ?, lock_version = lock_version + 1, updated_at = ?
WHERE chat_id = ? AND deleted_at IS NULL`, args: []any{t1, t1, int64(10)}},
		{name: "SearchDocs", site: "apply.go SearchDocs",
			query: "SELECT chat_id, number, body, lock_version FROM messages WHERE (chat_id, number) IN ? AND deleted_at IS NULL",
			args:  []any{[][]any{{int64(10), int64(5)}, {int64(10), int64(6)}, {int64(150), int64(99)}}}},

		// index.go
		{name: "IndexPage", site: "index.go IndexPage", walk: true,
			query: `SELECT m.id, c.application_id, c.number AS chat_number, m.number, m.body, m.lock_version,
m.deleted_at IS NOT NULL AS deleted
FROM messages m STRAIGHT_JOIN chats c ON c.id = m.chat_id WHERE m.id > ? ORDER BY m.id LIMIT ?`, args: []any{int64(5000), 500}},

		// idempotency.go
		{name: "PurgeIdempotencyKeys", site: "idempotency.go PurgeIdempotencyKeys",
			query: "DELETE FROM idempotency_keys WHERE expires_at < ? ORDER BY expires_at LIMIT 5000", args: []any{purgeCutoff}},

		// settings.go
		{name: "appIDOf", site: "settings.go appIDOf", query: "SELECT id FROM applications WHERE token_digest = ? FOR UPDATE", args: []any{"digest"}},
		{name: "load settings", site: "settings.go load settings", query: "SELECT * FROM application_settings WHERE application_id = ?", args: []any{int64(1)}},
		{name: "load webhooks", site: "settings.go load webhooks",
			query: "SELECT * FROM webhook_endpoints WHERE application_id = ? ORDER BY position", args: []any{int64(1)}},
		{name: "save settings", site: "settings.go save settings", skip: "INSERT … ON DUPLICATE KEY UPDATE"},
		{name: "save webhooks", site: "settings.go save webhooks",
			query: "DELETE FROM webhook_endpoints WHERE application_id = ?", args: []any{int64(1)}},
		{name: "insertWebhook", site: "settings.go insertWebhook", skip: "INSERT"},

		// journal.go
		{name: "writeJournal", site: "journal.go writeJournal", skip: "multi-row INSERT"},
		{name: "PurgeJournal", site: "journal.go PurgeJournal",
			query: "DELETE FROM event_journal WHERE committed_at < ? ORDER BY committed_at LIMIT 5000", args: []any{purgeCutoff}},

		// stream.go
		{name: "EventsBetween app", site: "stream.go EventsBetween",
			query: eventsBetweenQuery + " GROUP BY stream_seq ORDER BY stream_seq LIMIT ?",
			args:  []any{3, streamGen, uint64(100), uint64(1100), int64(2), 1000}},
		{name: "EventsBetween chat", site: "stream.go EventsBetween",
			query: eventsBetweenQuery + " AND chat_number = ? GROUP BY stream_seq ORDER BY stream_seq LIMIT ?",
			args:  []any{3, streamGen, uint64(100), uint64(math.MaxInt64), int64(2), int64(5), 1000}},
		{name: "JournalSeqs", site: "stream.go JournalSeqs",
			query: journalSeqsQuery,
			args:  []any{3, streamGen, uint64(500), OutcomeParked, 5000}},

		// outbox.go
		{name: "QueueForIndexAs", site: "outbox.go QueueForIndexAs", skip: "multi-row INSERT"},
		{name: "ForgetIndexed", site: "outbox.go ForgetIndexed",
			query: "DELETE FROM search_outbox WHERE batch_id IN (?, ?)", args: []any{uint64(7), uint64(9)}},
		{name: "ProcessOutbox claim", site: "outbox.go ProcessOutbox claim", walk: true,
			query: `SELECT id, application_id, chat_number, number FROM search_outbox
WHERE created_at <= UTC_TIMESTAMP(6) - INTERVAL ? MICROSECOND ORDER BY created_at, id LIMIT ? FOR UPDATE SKIP LOCKED`, args: []any{int64(10_000_000), 100}},
		{name: "ProcessOutbox delete", site: "outbox.go ProcessOutbox delete",
			query: "DELETE FROM search_outbox WHERE id = ?", args: []any{int64(42)}},
		{name: "OutboxBacklog", site: "outbox.go OutboxBacklog",
			// An exact count of the backlog is the point (dashboards and tests
			// read it), and InnoDB counts by reading an index. The outbox is a
			// queue the catch-up drains, so it holds the backlog, not history.
			scanOK: "search_outbox",
			query:  "SELECT COUNT(*) FROM search_outbox"},

		// rebuild.go
		{name: "RebuildState", site: "rebuild.go RebuildState",
			query: `SELECT index_name, position, total, started_at, updated_at, finished_at
FROM search_rebuild WHERE index_name = ?`, args: []any{"messages_v1"}},
		{name: "StartRebuild", site: "rebuild.go StartRebuild", skip: "INSERT … ON DUPLICATE KEY UPDATE"},
		{name: "SaveRebuildPosition", site: "rebuild.go SaveRebuildPosition",
			query: `UPDATE search_rebuild SET position = ?, total = ?, updated_at = UTC_TIMESTAMP(6)
WHERE index_name = ?`, args: []any{int64(5000), int64(20000), "messages_v1"}},
		{name: "FinishRebuild", site: "rebuild.go FinishRebuild",
			query: `UPDATE search_rebuild SET finished_at = UTC_TIMESTAMP(6), updated_at = UTC_TIMESTAMP(6)
WHERE index_name = ?`, args: []any{"messages_v1"}},
		{name: "IndexProgress", site: "rebuild.go IndexProgress",
			// A progress report of a rebuild, which itself reads every message:
			// it runs once per rebuild progress poll, not per request, and needs
			// exact numbers (done reaches total when the walk ends).
			scanOK: "messages",
			query:  "SELECT COALESCE(SUM(id <= ?), 0) AS done, COUNT(*) AS total FROM messages", args: []any{int64(5000)}},

		// reads.go
		{name: "Chats count", site: "reads.go Chats count",
			query: "SELECT COUNT(*) FROM chats WHERE application_id = ? AND deleted_at IS NULL", args: []any{int64(2)}},
		{name: "Chats page", site: "reads.go Chats page",
			query: `SELECT id, application_id, number, messages_count, lock_version, created_at, updated_at
FROM chats WHERE application_id = ? AND deleted_at IS NULL ORDER BY number LIMIT ? OFFSET ?`, args: []any{int64(2), 20, 20}},
		{name: "Chat", site: "reads.go Chat",
			query: `SELECT id, application_id, number, messages_count, lock_version, created_at, updated_at
FROM chats WHERE application_id = ? AND number = ? AND deleted_at IS NULL`, args: []any{int64(2), int64(10)}},
		{name: "Messages count", site: "reads.go Messages count",
			query: `SELECT COUNT(*) FROM messages m JOIN chats c ON c.id = m.chat_id
WHERE c.application_id = ? AND c.number = ? AND m.deleted_at IS NULL`, args: []any{int64(2), int64(10)}},
		{name: "Messages page", site: "reads.go Messages page",
			query: `SELECT ` + messageColumns + ` FROM messages m JOIN chats c ON c.id = m.chat_id
WHERE c.application_id = ? AND c.number = ? AND m.deleted_at IS NULL ORDER BY m.number LIMIT ? OFFSET ?`,
			args: []any{int64(2), int64(10), 20, 40}},
		{name: "MessagesByNumber", site: "reads.go MessagesByNumber",
			query: `SELECT ` + messageColumns + ` FROM messages m JOIN chats c ON c.id = m.chat_id
WHERE c.application_id = ? AND c.number = ? AND m.number IN ? AND m.deleted_at IS NULL`,
			args: []any{int64(2), int64(10), []int64{3, 17, 99}}},

		// history.go: cursor pages and the numbers that settle their gaps.
		{name: "MessagesKeyset newest", site: "history.go MessagesKeyset", keyset: "messages",
			query: messagesKeysetSQL(chat.Newest(50)), args: []any{int64(2), int64(10), int64(math.MaxInt64), 51}},
		{name: "MessagesKeyset before", site: "history.go MessagesKeyset", keyset: "messages",
			query: messagesKeysetSQL(chat.Before(60, 50)), args: []any{int64(2), int64(10), int64(60), 51}},
		{name: "MessagesKeyset after", site: "history.go MessagesKeyset", keyset: "messages",
			query: messagesKeysetSQL(chat.After(40, 50)), args: []any{int64(2), int64(10), int64(40), 51}},
		{name: "ChatsKeyset newest", site: "history.go ChatsKeyset", keyset: "chats",
			query: chatsKeysetSQL(chat.Newest(50)), args: []any{int64(2), int64(math.MaxInt64), 51}},
		{name: "ChatsKeyset before", site: "history.go ChatsKeyset", keyset: "chats",
			query: chatsKeysetSQL(chat.Before(40, 10)), args: []any{int64(2), int64(40), 11}},
		{name: "ChatsKeyset after", site: "history.go ChatsKeyset", keyset: "chats",
			query: chatsKeysetSQL(chat.After(20, 10)), args: []any{int64(2), int64(20), 11}},
		{name: "MessageNumbersBetween", site: "history.go MessageNumbersBetween", keyset: "messages",
			query: messageNumbersSQL, args: []any{int64(2), int64(10), int64(40), int64(60), settleScan}},
		{name: "ChatNumbersBetween", site: "history.go ChatNumbersBetween", keyset: "chats",
			query: chatNumbersSQL, args: []any{int64(2), int64(20), int64(40), settleScan}},

		// reconcile.go
		{name: "ChatHistory horizon", site: "reconcile.go ChatHistory horizon",
			query: "SELECT MIN(committed_at) FROM event_journal"},
		{name: "readEvents journal page", site: "reconcile.go readEvents", walk: true,
			query: journalPageQuery, args: []any{int64(2), int64(10), int64(3), int64(3), t1, t1, int64(0), reconcilePage}},
		{name: "readRows chat", site: "reconcile.go readRows chat",
			query: chatRowQuery, args: []any{int64(2), int64(10)}},
		{name: "readRows messages page", site: "reconcile.go readRows messages", walk: true,
			query: messagePageQuery, args: []any{int64(10), int64(0), reconcilePage}},
		{name: "fixChat insert", site: "reconcile.go fixChat", skip: "INSERT … ON DUPLICATE KEY UPDATE"},
		{name: "fixMessage insert", site: "reconcile.go fixMessage", skip: "INSERT … ON DUPLICATE KEY UPDATE"},

		// store.go
		{name: "createDatabase", site: "store.go createDatabase", skip: "CREATE DATABASE: DDL on no table"},
	}...)
}

const evID = "0123456789abcdef0123456789abcdef"

var (
	t1 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	// purgeCutoff keeps the newest nine tenths of the seeded journal, as a
	// retention purge does.
	purgeCutoff = t1.Add(journalRows / 10 * time.Minute)
)

// streamGen is the generation of the seeded journal's positions; the
// oldest tenth of the journal has none (from before the streams).
const streamGen = uint64(1795864464673)

const (
	seedApps     = 3
	seedChats    = 200
	chatMessages = 100 // per chat: 20,000 messages
	journalRows  = 20000
	outboxRows   = 5000
)

func TestExplainUsesIndexes(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, Config{DSN: testenv.MySQLDSN(t)})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	sqlDB, err := s.db.DB()
	if err != nil {
		t.Fatal(err)
	}
	seedExplain(t, sqlDB)
	for _, c := range explainCases() {
		t.Run(c.name, func(t *testing.T) {
			if c.skip != "" {
				t.Skipf("not explained: %s", c.skip)
			}
			plan := explainPlan(t, s, c)
			if c.keyset != "" {
				checkKeyset(t, c, plan)
			}
			for _, r := range plan {
				table := r.table
				if a, ok := c.alias[table]; ok {
					table = a
				} else if a, ok := map[string]string{"m": "messages", "c": "chats"}[table]; ok {
					table = a
				}
				if !growing[table] || table == c.scanOK {
					continue
				}
				switch {
				case r.typ == "ALL":
					t.Errorf("full table scan of %s (rows %s, extra %q): want an index lookup\nplan:\n%s", table, r.rows, r.extra, planText(plan))
				case r.typ == "index" && !c.walk:
					t.Errorf("full index scan of %s on %s (rows %s): want a range or ref lookup\nplan:\n%s", table, r.key, r.rows, planText(plan))
				}
			}
		})
	}
}

// settleScan is how many numbers a gap check reads at most, as the api asks.
const settleScan = 1000

// offsetOrCount finds what a cursor page must not do.
var offsetOrCount = regexp.MustCompile(`(?i)\bOFFSET\b|\bCOUNT\s*\(`)

// checkKeyset fails a cursor page statement that is not a range read in
// index order on its table, or that counts or skips rows.
func checkKeyset(t *testing.T, c explainCase, plan []planStep) {
	t.Helper()
	if m := offsetOrCount.FindString(c.query); m != "" {
		t.Errorf("a cursor page statement holds %q: want neither OFFSET nor COUNT(*)\n%s", m, c.query)
	}
	found := false
	for _, r := range plan {
		table := r.table
		if a, ok := map[string]string{"m": "messages", "c": "chats"}[table]; ok {
			table = a
		}
		if strings.Contains(r.extra, "filesort") {
			t.Errorf("%s sorts its rows (extra %q): want them read in index order\nplan:\n%s", table, r.extra, planText(plan))
		}
		if table != c.keyset {
			continue
		}
		found = true
		if r.typ != "range" || r.key == "" {
			t.Errorf("%s plans as type=%s key=%q: want a range on an index\nplan:\n%s", table, r.typ, r.key, planText(plan))
		}
	}
	if !found {
		t.Errorf("no step of the plan reads %s\nplan:\n%s", c.keyset, planText(plan))
	}
}

type planStep struct {
	id, selectType, table, typ, key, rows, extra string
}

func planText(plan []planStep) string {
	var b strings.Builder
	for _, r := range plan {
		fmt.Fprintf(&b, "  %s %s table=%s type=%s key=%s rows=%s extra=%s\n", r.id, r.selectType, r.table, r.typ, r.key, r.rows, r.extra)
	}
	return b.String()
}

// explainPlan runs EXPLAIN on c through GORM, so "IN ?" expands the way the store
// runs it.
func explainPlan(t *testing.T, s *Store, c explainCase) []planStep {
	t.Helper()
	rows, err := s.db.Raw("EXPLAIN "+c.query, c.args...).Rows()
	if err != nil {
		t.Fatalf("explain %s: %v", c.query, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	var plan []planStep
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		m := map[string]string{}
		for i, c := range cols {
			m[c] = vals[i].String
		}
		plan = append(plan, planStep{id: m["id"], selectType: m["select_type"], table: m["table"], typ: m["type"],
			key: m["key"], rows: m["rows"], extra: m["Extra"]})
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if testing.Verbose() {
		t.Logf("plan:\n%s", planText(plan))
	}
	return plan
}

// seedExplain fills every table with multi-row INSERTs and refreshes the
// optimizer's statistics.
func seedExplain(t *testing.T, db *sql.DB) {
	t.Helper()
	ts := "'2026-01-02 03:04:05'"
	var stmts []string
	var apps []string
	for a := 1; a <= seedApps; a++ {
		apps = append(apps, fmt.Sprintf("(%d,UNHEX(SHA2('tok-%d',256)),'digest-%d','app',%s,%s)", a, a, a, ts, ts))
	}
	stmts = append(stmts, "INSERT INTO applications (id, token_sha256, token_digest, name, created_at, updated_at) VALUES "+strings.Join(apps, ","))
	var chats []string
	for c := 1; c <= seedChats; c++ {
		deleted := "NULL"
		if c%17 == 0 {
			deleted = ts
		}
		chats = append(chats, fmt.Sprintf("(%d,%d,%d,%d,%s,'%s',%s,%s,%s,%s,%s)",
			c, (c-1)%seedApps+1, (c-1)/seedApps+1, chatMessages, deleted, evID, ts, ts, ts, ts, ts))
	}
	stmts = append(stmts, "INSERT INTO chats (id, application_id, number, messages_count, deleted_at, last_event_id, event_time, read_at, written_at, created_at, updated_at) VALUES "+strings.Join(chats, ","))
	var msgs []string
	flush := func(prefix string, rows *[]string) {
		if len(*rows) > 0 {
			stmts = append(stmts, prefix+strings.Join(*rows, ","))
			*rows = nil
		}
	}
	const msgPrefix = "INSERT INTO messages (chat_id, number, body, deleted_at, last_event_id, event_time, read_at, written_at, created_at, updated_at) VALUES "
	for c := 1; c <= seedChats; c++ {
		for n := 1; n <= chatMessages; n++ {
			deleted := "NULL"
			if n%10 == 0 {
				deleted = ts
			}
			msgs = append(msgs, fmt.Sprintf("(%d,%d,'message %d of chat %d',%s,'%s',%s,%s,%s,%s,%s)", c, n, n, c, deleted, evID, ts, ts, ts, ts, ts))
			if len(msgs) == 2000 {
				flush(msgPrefix, &msgs)
			}
		}
	}
	flush(msgPrefix, &msgs)
	const journalPrefix = "INSERT INTO event_journal (event_id, type, application_id, chat_number, message_number, body, event_time, read_at, written_at, committed_at, attempt, outcome, stream_part, stream_gen, stream_seq) VALUES "
	var journal []string
	for i := range journalRows {
		c := i%seedChats + 1
		at := fmt.Sprintf("'%s'", t1.Add(time.Duration(i)*time.Minute).Format("2006-01-02 15:04:05"))
		pos := "NULL,NULL,NULL"
		if i >= journalRows/10 {
			pos = fmt.Sprintf("%d,%d,%d", i%8, streamGen, i/8+1)
		}
		journal = append(journal, fmt.Sprintf("('%032x','message.create',%d,%d,%d,'body',%s,%s,%s,%s,1,'applied',%s)",
			i, (c-1)%seedApps+1, (c-1)/seedApps+1, i/seedChats+1, at, at, at, at, pos))
		if len(journal) == 2000 {
			flush(journalPrefix, &journal)
		}
	}
	flush(journalPrefix, &journal)
	const outboxPrefix = "INSERT INTO search_outbox (application_id, chat_number, number, batch_id, created_at) VALUES "
	var outbox []string
	for i := range outboxRows {
		outbox = append(outbox, fmt.Sprintf("(%d,%d,%d,%d,%s)", i%seedApps+1, i%60+1, i%chatMessages+1, i/50, ts))
		if len(outbox) == 2000 {
			flush(outboxPrefix, &outbox)
		}
	}
	flush(outboxPrefix, &outbox)
	stmts = append(stmts, "INSERT INTO search_rebuild (index_name, position, total, started_at, updated_at) VALUES ('messages_v1', 0, 0, "+ts+", "+ts+")")
	stmts = append(stmts, "ANALYZE TABLE applications, chats, messages, event_journal, search_outbox, search_rebuild")
	for _, q := range stmts {
		rows, err := db.Query(q) // ANALYZE TABLE returns rows
		if err != nil {
			t.Fatalf("seed: %.80s…: %v", q, err)
		}
		rows.Close()
	}
}

// rawCallSite matches a statement the store hands to GORM.
var rawCallSite = regexp.MustCompile(`\.(Raw|Exec)\(`)

func TestExplainCoversEveryCallSite(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	sites := map[string]map[string]bool{} // file → sites covered or skipped
	for _, c := range explainCases() {
		if c.site == "" {
			continue
		}
		file, _, _ := strings.Cut(c.site, " ")
		if sites[file] == nil {
			sites[file] = map[string]bool{}
		}
		sites[file][c.site] = true
	}
	seen := map[string]bool{}
	sort.Strings(files)
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		seen[f] = true
		got, want := len(rawCallSite.FindAll(src, -1)), len(sites[f])
		if got != want {
			t.Errorf("%s has %d Raw/Exec call sites, explain_test.go covers or skips %d: give each statement of a new call site an EXPLAIN case (or a skip with its reason) in explainCases", f, got, want)
		}
	}
	for f := range sites {
		if !seen[f] {
			t.Errorf("explainCases names %s, which is not a store source file", f)
		}
	}
}
