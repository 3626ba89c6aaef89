package store

import (
	"context"
	"database/sql"
	"fmt"
	"hash/crc32"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/instachat/instachat/pkg/chat"
)

// The reads and writes of a reconcile pass (services/cron/internal/reconcile):
// the journal's events and the rows of one chat at a time, read in one
// consistent snapshot, and the repairs that write the replayed state back.

// reconcilePage bounds the rows one reconcile read returns.
const reconcilePage = 500

// ReconcileScope says which chats a reconcile pass reads: every chat, one
// application's or one chat, optionally narrowed to one partition of
// CRC32("<application id>:<chat number>") so that a full pass can be split.
type ReconcileScope struct {
	AppID      int64 // 0: every application
	Chat       int64 // 0: every chat of AppID; needs AppID
	Partitions int   // 0 or 1: no partitioning
	Partition  int   // with Partitions > 1: 0 ≤ Partition < Partitions
}

// validate reports a scope that names no set of chats.
func (sc ReconcileScope) validate() error {
	switch {
	case sc.AppID < 0 || sc.Chat < 0:
		return fmt.Errorf("reconcile scope: ids must not be negative: %w", chat.ErrInvalid)
	case sc.Chat != 0 && sc.AppID == 0:
		return fmt.Errorf("reconcile scope: a chat needs its application: %w", chat.ErrInvalid)
	case sc.Partitions > 1 && (sc.Partition < 0 || sc.Partition >= sc.Partitions):
		return fmt.Errorf("reconcile scope: partition %d is not in 0..%d: %w", sc.Partition, sc.Partitions-1, chat.ErrInvalid)
	}
	return nil
}

func (sc ReconcileScope) partitioned() bool { return sc.Partitions > 1 }

// ChatPartition returns the partition of a full reconcile pass that checks
// chat key: CRC32("<application id>:<chat number>") mod partitions, the same
// function the scoped queries evaluate in MySQL.
func ChatPartition(key ChatKey, partitions int) int {
	if partitions <= 1 {
		return 0
	}
	s := strconv.FormatInt(key.AppID, 10) + ":" + strconv.FormatInt(key.Number, 10)
	return int(crc32.ChecksumIEEE([]byte(s)) % uint32(partitions))
}

// partitionFilter keeps the chats of one partition; {chat} names the table's
// chat number column.
const partitionFilter = " AND CRC32(CONCAT(application_id, ':', {chat})) % ? = ?"

// reconcileKeyQueries returns the keyset queries that list the chat keys of
// sc after a cursor, from the journal and from the chats table. Both walk an
// index in key order (idx_journal_key as a loose scan, the chats' unique key)
// and stop after the page, whatever the partition filter leaves.
func reconcileKeyQueries(sc ReconcileScope, after *ChatKey, limit int) (journal, chats string, jargs, cargs []any) {
	var where string
	var args []any
	switch {
	case sc.AppID != 0 && after != nil:
		where, args = "application_id = ? AND {chat} > ?", []any{sc.AppID, after.Number}
	case sc.AppID != 0:
		where, args = "application_id = ?", []any{sc.AppID}
	case after != nil:
		where, args = "(application_id > ? OR application_id = ? AND {chat} > ?)", []any{after.AppID, after.AppID, after.Number}
	default:
		where = "1 = 1"
	}
	if sc.partitioned() {
		where += partitionFilter
		args = append(args, sc.Partitions, sc.Partition)
	}
	journal = "SELECT application_id, chat_number FROM event_journal WHERE " + strings.ReplaceAll(where, "{chat}", "chat_number") +
		" GROUP BY application_id, chat_number ORDER BY application_id, chat_number LIMIT ?"
	chats = "SELECT application_id, number AS chat_number FROM chats WHERE " + strings.ReplaceAll(where, "{chat}", "number") +
		" ORDER BY application_id, number LIMIT ?"
	jargs = append(append([]any{}, args...), limit)
	cargs = append(append([]any{}, args...), limit)
	return journal, chats, jargs, cargs
}

// ReconcileKeys returns up to limit chat keys of sc that come after after (nil:
// from the first) in key order: every chat that has a row or a journal entry.
// Call it again with the last key returned until it returns fewer than limit.
func (s *Store) ReconcileKeys(ctx context.Context, sc ReconcileScope, after *ChatKey, limit int) ([]ChatKey, error) {
	if err := sc.validate(); err != nil {
		return nil, err
	}
	if limit <= 0 {
		return nil, fmt.Errorf("reconcile keys: limit must be positive, got %d", limit)
	}
	if sc.Chat != 0 {
		key := ChatKey{AppID: sc.AppID, Number: sc.Chat}
		if after != nil && !keyLess(*after, key) || sc.partitioned() && ChatPartition(key, sc.Partitions) != sc.Partition {
			return nil, nil
		}
		return []ChatKey{key}, nil
	}
	jq, cq, jargs, cargs := reconcileKeyQueries(sc, after, limit)
	type keyRow struct {
		ApplicationID int64
		ChatNumber    int64
	}
	var fromJournal, fromChats []keyRow
	if err := s.db.WithContext(ctx).Raw(jq, jargs...).Scan(&fromJournal).Error; err != nil {
		return nil, wrap("reconcile: list journal chats", err)
	}
	if err := s.db.WithContext(ctx).Raw(cq, cargs...).Scan(&fromChats).Error; err != nil {
		return nil, wrap("reconcile: list chats", err)
	}
	// Merge the two sorted pages; past the end of a full page the other page
	// may hold keys this one has not reached yet, so stop at the first limit.
	out := make([]ChatKey, 0, limit)
	i, j := 0, 0
	for len(out) < limit && (i < len(fromJournal) || j < len(fromChats)) {
		var k ChatKey
		switch {
		case j == len(fromChats):
			k = ChatKey{AppID: fromJournal[i].ApplicationID, Number: fromJournal[i].ChatNumber}
			i++
		case i == len(fromJournal):
			k = ChatKey{AppID: fromChats[j].ApplicationID, Number: fromChats[j].ChatNumber}
			j++
		default:
			a := ChatKey{AppID: fromJournal[i].ApplicationID, Number: fromJournal[i].ChatNumber}
			b := ChatKey{AppID: fromChats[j].ApplicationID, Number: fromChats[j].ChatNumber}
			switch {
			case keyLess(a, b):
				k = a
				i++
			case keyLess(b, a):
				k = b
				j++
			default:
				k = a
				i++
				j++
			}
		}
		out = append(out, k)
	}
	return out, nil
}

func keyLess(a, b ChatKey) bool {
	if a.AppID != b.AppID {
		return a.AppID < b.AppID
	}
	return a.Number < b.Number
}

// ReplayEvent is one event that took effect at least once (one of its
// deliveries was applied, a duplicate or stale), as the journal recorded it.
type ReplayEvent struct {
	EventID   string
	Type      string
	Message   int64 // 0 for chat events
	Body      string
	EventTime time.Time
	Stream    StreamPosition // zero for an event from before the streams
}

// Source returns what the newest-wins rule compares of e.
func (e ReplayEvent) Source() Source {
	return Source{EventID: e.EventID, EventTime: e.EventTime, Stream: e.Stream}
}

// NeverApplied counts the events of which no delivery took effect.
type NeverApplied struct {
	Parked int64 `json:"parked"` // only parked: still waiting for its parent, or lost on the way
	Dead   int64 `json:"dead"`   // ended on the dead list
}

// StoredRow is a chat row as a reconcile pass compares it.
type StoredRow struct {
	ID          int64
	LockVersion int64
	LastEventID string
	EventTime   time.Time
	Stream      StreamPosition // the last event's position; zero when the row has none
	CreatedAt   time.Time
	DeletedAt   *time.Time
}

// Source returns the event that last wrote the row, as the newest-wins rule
// compares it.
func (r StoredRow) Source() Source {
	return Source{EventID: r.LastEventID, EventTime: r.EventTime, Stream: r.Stream}
}

// StoredMessage is a message row as a reconcile pass compares it.
type StoredMessage struct {
	StoredRow
	Number int64
	Body   string
}

// ChatHistory is one chat as a reconcile pass sees it: the journal's events
// and the rows, read in one consistent snapshot, so an event the writer
// commits meanwhile is either in both or in neither.
type ChatHistory struct {
	Key ChatKey
	// Events are the distinct events that took effect, ordered by
	// (event_time, event_id): each once, however often it was delivered.
	// The order is one to apply them in; which event wins a row is
	// Source.Newer's to say.
	Events       []ReplayEvent
	NeverApplied NeverApplied
	// Conflicts are the creates the writer refused because another event
	// had created their number (journal outcome number_conflict), in event
	// order; none of their deliveries took effect.
	Conflicts []ReplayEvent
	Chat      *StoredRow      // nil when the chat has no row
	Messages  []StoredMessage // by number
	// Horizon is when the oldest journal entry still kept committed: an
	// event accepted before it may have been purged by retention. It is
	// zero when the journal is empty.
	Horizon time.Time
}

// ChatHistory reads one chat's journal and rows in one read-only snapshot,
// each in keyset pages over an index.
func (s *Store) ChatHistory(ctx context.Context, key ChatKey) (ChatHistory, error) {
	h := ChatHistory{Key: key}
	err := s.db.WithContext(ctx).Transaction(func(db *gorm.DB) error {
		var horizon sql.NullTime
		if err := db.Raw("SELECT MIN(committed_at) FROM event_journal").Row().Scan(&horizon); err != nil {
			return wrap("journal horizon", err)
		}
		h.Horizon = horizon.Time
		if err := readEvents(db, &h); err != nil {
			return err
		}
		return readRows(db, &h)
	}, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
	if err != nil {
		return ChatHistory{}, fmt.Errorf("reconcile chat %d/%d: %w", key.AppID, key.Number, err)
	}
	return h, nil
}

// journalPageQuery reads one page of a chat's deliveries in the order of
// idx_journal_key (message_number, event_time, then the primary key the
// index carries), so MySQL neither scans nor sorts beyond the page.
const journalPageQuery = `SELECT id, event_id, type, message_number, body, event_time, IFNULL(stream_part, 0) AS stream_part,
IFNULL(stream_gen, 0) AS stream_gen, IFNULL(stream_seq, 0) AS stream_seq, outcome FROM event_journal
WHERE application_id = ? AND chat_number = ?
AND (message_number > ? OR message_number = ? AND (event_time > ? OR event_time = ? AND id > ?))
ORDER BY message_number, event_time, id LIMIT ?`

type deliveryRow struct {
	ID            int64
	EventID       string
	Type          string
	MessageNumber int64
	Body          *string
	EventTime     time.Time
	StreamPart    int // zero when NULL
	StreamGen     uint64
	StreamSeq     uint64
	Outcome       string
}

// readEvents reads every delivery of the chat and folds them into distinct
// events: those that took effect, and counts of those that never did.
func readEvents(db *gorm.DB, h *ChatHistory) error {
	t := eventTally{byID: map[string]*talliedEvent{}}
	msg, at, id := int64(math.MinInt64), time.Time{}, int64(0)
	for {
		var rows []deliveryRow
		err := db.Raw(journalPageQuery, h.Key.AppID, h.Key.Number, msg, msg, at, at, id, reconcilePage).Scan(&rows).Error
		if err != nil {
			return wrap("read journal", err)
		}
		t.add(rows)
		if len(rows) < reconcilePage {
			break
		}
		last := rows[len(rows)-1]
		msg, at, id = last.MessageNumber, last.EventTime, last.ID
	}
	t.fold(h)
	return nil
}

// eventTally gathers the deliveries of each event, in the order the events
// first appear in the journal.
type eventTally struct {
	byID  map[string]*talliedEvent
	order []string
}

// talliedEvent is one event and what its deliveries came to.
type talliedEvent struct {
	ev                           ReplayEvent
	took, conflict, dead, parked bool
}

// add counts one page of deliveries.
func (t *eventTally) add(rows []deliveryRow) {
	for _, r := range rows {
		e := t.byID[r.EventID]
		if e == nil {
			e = &talliedEvent{ev: ReplayEvent{EventID: r.EventID, Type: r.Type, Message: r.MessageNumber, EventTime: r.EventTime}}
			t.byID[r.EventID] = e
			t.order = append(t.order, r.EventID)
		}
		if r.Body != nil {
			e.ev.Body = *r.Body
		}
		if e.ev.Stream.IsZero() {
			// Every delivery of an event carries its one position.
			e.ev.Stream = StreamPosition{Part: r.StreamPart, Gen: r.StreamGen, Seq: r.StreamSeq}
		}
		switch r.Outcome {
		case OutcomeApplied, OutcomeDuplicate, OutcomeStale:
			e.took = true
		case OutcomeNumberConflict:
			e.conflict = true
		case OutcomeDead:
			e.dead = true
		case OutcomeParked:
			e.parked = true
		}
	}
}

// fold puts each event in h by what became of it: any delivery that took
// effect makes it an event to replay, else a conflict, else a dead or
// parked one never applied. Events and conflicts end in event time order.
func (t *eventTally) fold(h *ChatHistory) {
	for _, eid := range t.order {
		e := t.byID[eid]
		switch {
		case e.took:
			h.Events = append(h.Events, e.ev)
		case e.conflict:
			h.Conflicts = append(h.Conflicts, e.ev)
		case e.dead:
			h.NeverApplied.Dead++
		case e.parked:
			h.NeverApplied.Parked++
		}
	}
	for _, evs := range [][]ReplayEvent{h.Events, h.Conflicts} {
		sort.Slice(evs, func(i, j int) bool {
			a, b := evs[i], evs[j]
			if !a.EventTime.Equal(b.EventTime) {
				return a.EventTime.Before(b.EventTime)
			}
			return a.EventID < b.EventID
		})
	}
}

// rowSourceColumns reads a row's source position, NULL as zero (none).
const rowSourceColumns = "IFNULL(source_part, 0) AS source_part, IFNULL(source_gen, 0) AS source_gen, IFNULL(source_seq, 0) AS source_seq"

const (
	chatRowQuery = `SELECT id, lock_version, last_event_id, event_time, ` + rowSourceColumns + `, created_at, deleted_at FROM chats
WHERE application_id = ? AND number = ?`
	messagePageQuery = `SELECT id, number, body, lock_version, last_event_id, event_time, ` + rowSourceColumns + `, created_at, deleted_at FROM messages
WHERE chat_id = ? AND number > ? ORDER BY number LIMIT ?`
	casChatQuery    = "SELECT id, lock_version, last_event_id, event_time, " + rowSourceColumns + ", created_at, deleted_at FROM chats WHERE id = ?"
	casMessageQuery = "SELECT id, number, body, lock_version, last_event_id, event_time, " + rowSourceColumns + ", created_at, deleted_at FROM messages WHERE id = ?"
)

// readRows reads the chat row and its message rows, deleted ones included.
func readRows(db *gorm.DB, h *ChatHistory) error {
	var chats []messageStateRow
	if err := db.Raw(chatRowQuery, h.Key.AppID, h.Key.Number).Scan(&chats).Error; err != nil {
		return wrap("read chat", err)
	}
	if len(chats) == 0 {
		return nil
	}
	c := chats[0].stored().StoredRow
	h.Chat = &c
	after := int64(math.MinInt64)
	for {
		var rows []messageStateRow
		if err := db.Raw(messagePageQuery, h.Chat.ID, after, reconcilePage).Scan(&rows).Error; err != nil {
			return wrap("read messages", err)
		}
		for _, r := range rows {
			h.Messages = append(h.Messages, r.stored())
		}
		if len(rows) < reconcilePage {
			return nil
		}
		after = rows[len(rows)-1].Number
	}
}

// messageStateRow is the flat shape a message row (or, without number and
// body, a chat row) scans into.
type messageStateRow struct {
	ID          int64
	Number      int64
	Body        string
	LockVersion int64
	LastEventID string
	EventTime   time.Time
	SourcePart  int // zero when NULL (rowSourceColumns)
	SourceGen   uint64
	SourceSeq   uint64
	CreatedAt   time.Time
	DeletedAt   *time.Time
}

func (r messageStateRow) stored() StoredMessage {
	return StoredMessage{Number: r.Number, Body: r.Body, StoredRow: StoredRow{
		ID: r.ID, LockVersion: r.LockVersion, LastEventID: r.LastEventID, EventTime: r.EventTime,
		Stream:    StreamPosition{Part: r.SourcePart, Gen: r.SourceGen, Seq: r.SourceSeq},
		CreatedAt: r.CreatedAt, DeletedAt: r.DeletedAt,
	}}
}

// RepairOp says what a repair does to one row.
type RepairOp int

// Repair operations.
const (
	RepairUpdate RepairOp = iota // set the row's state to the replayed one
	RepairInsert                 // create the row the replay expects
	RepairRemove                 // delete a row that no event created
)

// RowFix sets one chat or message row to its replayed state.
type RowFix struct {
	Op RepairOp
	// Seen is the row the check compared (RepairUpdate, RepairRemove). The fix
	// applies only while the row still is as seen, apart from lock_version
	// bumps that change nothing the check compared (a count sync).
	Seen     *StoredRow
	SeenBody string // the message body the check compared
	Body     string // message rows only
	// CreateEventID is the event that created the row (RepairInsert).
	CreateEventID string
	LastEventID   string
	EventTime     time.Time
	Stream        StreamPosition // the last event's position (zero: none)
	CreatedAt     time.Time
	DeletedAt     *time.Time
}

// MessageFix is a RowFix for message Number.
type MessageFix struct {
	Number int64
	RowFix
}

// ChatRepair is every fix one chat needs, written in one transaction.
type ChatRepair struct {
	Key      ChatKey
	Chat     *RowFix // nil: the chat row is right
	Messages []MessageFix
}

// errChanged marks a row that changed since the check read it: the writer
// applied something meanwhile, so the chat has to be checked again.
var errChanged = fmt.Errorf("row changed since it was checked: %w", chat.ErrConflict)

// Repair writes r in one transaction and queues every message it touched
// for the search index. Each row is written with an optimistic lock_version
// update that retries a bounded number of times while the row still carries
// what the check saw. It returns an error wrapping chat.ErrConflict when a
// row changed since the check (the caller checks the chat again) and writes
// nothing then.
func (s *Store) Repair(ctx context.Context, r ChatRepair, now time.Time) error {
	return s.InTx(ctx, func(tx *Tx) error {
		if r.Chat != nil && r.Chat.Op != RepairRemove {
			if err := tx.fixChat(ctx, r.Key, *r.Chat, now); err != nil {
				return err
			}
		}
		var chatID int64
		if len(r.Messages) > 0 {
			ids, err := tx.selectChatIDs(ctx, []ChatKey{r.Key})
			if err != nil {
				return err
			}
			if chatID = ids[r.Key]; chatID == 0 {
				return fmt.Errorf("repair chat %d/%d: no chat row for its messages: %w", r.Key.AppID, r.Key.Number, errChanged)
			}
		}
		fixes := append([]MessageFix(nil), r.Messages...)
		sort.Slice(fixes, func(i, j int) bool { return fixes[i].Number < fixes[j].Number })
		keys := make([]MessageKey, 0, len(fixes))
		for _, f := range fixes {
			if err := tx.fixMessage(ctx, chatID, f, now); err != nil {
				return fmt.Errorf("repair message %d/%d/%d: %w", r.Key.AppID, r.Key.Number, f.Number, err)
			}
			keys = append(keys, MessageKey{AppID: r.Key.AppID, Chat: r.Key.Number, Number: f.Number})
		}
		if r.Chat != nil && r.Chat.Op == RepairRemove {
			if err := tx.fixChat(ctx, r.Key, *r.Chat, now); err != nil {
				return err
			}
		}
		return tx.QueueForIndex(ctx, keys)
	})
}

func updatedAt(f RowFix) time.Time {
	if f.DeletedAt != nil && f.DeletedAt.After(f.EventTime) {
		return *f.DeletedAt
	}
	return f.EventTime
}

func (tx *Tx) fixChat(ctx context.Context, key ChatKey, f RowFix, now time.Time) error {
	db := tx.db.WithContext(ctx)
	switch f.Op {
	case RepairInsert:
		part, gen, seq := f.Stream.columns()
		res := db.Exec(`INSERT INTO chats (application_id, number, deleted_at, create_event_id, last_event_id, event_time, source_part, source_gen, source_seq,
read_at, written_at, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?) ON DUPLICATE KEY UPDATE id = id`,
			key.AppID, key.Number, f.DeletedAt, f.CreateEventID, f.LastEventID, f.EventTime, part, gen, seq, now, now, f.CreatedAt, updatedAt(f))
		if res.Error != nil {
			return wrap("repair: insert chat", res.Error)
		}
		if res.RowsAffected != 1 {
			return fmt.Errorf("repair: insert chat %d/%d: %w", key.AppID, key.Number, errChanged)
		}
		return nil
	case RepairUpdate:
		part, gen, seq := f.Stream.columns()
		return tx.casRow(ctx, "chats", f, "", `UPDATE chats SET deleted_at = ?, last_event_id = ?, event_time = ?,
source_part = ?, source_gen = ?, source_seq = ?, written_at = ?, updated_at = ?, lock_version = lock_version + 1 WHERE id = ? AND lock_version = ?`,
			f.DeletedAt, f.LastEventID, f.EventTime, part, gen, seq, now, updatedAt(f))
	case RepairRemove:
		return tx.casRow(ctx, "chats", f, "",
			"DELETE FROM chats WHERE id = ? AND lock_version = ? AND NOT EXISTS (SELECT 1 FROM messages WHERE chat_id = ?)")
	}
	return fmt.Errorf("repair chat: unknown operation %d", f.Op)
}

func (tx *Tx) fixMessage(ctx context.Context, chatID int64, f MessageFix, now time.Time) error {
	part, gen, seq := f.Stream.columns()
	switch f.Op {
	case RepairInsert:
		res := tx.db.WithContext(ctx).Exec(`INSERT INTO messages (chat_id, number, body, deleted_at, create_event_id, last_event_id, event_time, source_part, source_gen, source_seq,
read_at, written_at, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?) ON DUPLICATE KEY UPDATE id = id`,
			chatID, f.Number, f.Body, f.DeletedAt, f.CreateEventID, f.LastEventID, f.EventTime, part, gen, seq, now, now, f.CreatedAt, updatedAt(f.RowFix))
		if res.Error != nil {
			return wrap("insert", res.Error)
		}
		if res.RowsAffected != 1 {
			return fmt.Errorf("insert: %w", errChanged)
		}
		return nil
	case RepairUpdate:
		return tx.casRow(ctx, "messages", f.RowFix, f.SeenBody, `UPDATE messages SET body = ?, deleted_at = ?, last_event_id = ?, event_time = ?,
source_part = ?, source_gen = ?, source_seq = ?, written_at = ?, updated_at = ?, lock_version = lock_version + 1 WHERE id = ? AND lock_version = ?`,
			f.Body, f.DeletedAt, f.LastEventID, f.EventTime, part, gen, seq, now, updatedAt(f.RowFix))
	case RepairRemove:
		return tx.casRow(ctx, "messages", f.RowFix, f.SeenBody, "DELETE FROM messages WHERE id = ? AND lock_version = ?")
	}
	return fmt.Errorf("unknown operation %d", f.Op)
}

// casRow runs stmt (whose last two placeholders are id and lock_version, plus
// the id again for a chat removal) against the row f.Seen names: it re-reads
// the row, gives up with errChanged if what the check compared changed, and
// retries when only lock_version moved.
func (tx *Tx) casRow(ctx context.Context, table string, f RowFix, seenBody, stmt string, args ...any) error {
	if f.Seen == nil {
		return fmt.Errorf("repair %s: no row seen to %s", table, map[RepairOp]string{RepairUpdate: "update", RepairRemove: "remove"}[f.Op])
	}
	db := tx.db.WithContext(ctx)
	for range maxLockRetries {
		var rows []messageStateRow
		q := casChatQuery
		if table == "messages" {
			q = casMessageQuery
		}
		if err := db.Raw(q, f.Seen.ID).Scan(&rows).Error; err != nil {
			return wrap("repair: read "+table, err)
		}
		if len(rows) == 0 || !sameRow(rows[0], *f.Seen, table != "messages" || rows[0].Body == seenBody) {
			return fmt.Errorf("repair %s row %d: %w", table, f.Seen.ID, errChanged)
		}
		a := append(append([]any{}, args...), f.Seen.ID, rows[0].LockVersion)
		if f.Op == RepairRemove && table == "chats" {
			a = append(a, f.Seen.ID)
		}
		res := db.Exec(stmt, a...)
		if res.Error != nil {
			return wrap("repair "+table, res.Error)
		}
		if res.RowsAffected == 1 {
			return nil
		}
	}
	return fmt.Errorf("repair %s row %d: lock_version kept changing: %w", table, f.Seen.ID, errChanged)
}

func sameRow(r messageStateRow, seen StoredRow, sameBody bool) bool {
	sameDeleted := (r.DeletedAt == nil) == (seen.DeletedAt == nil) &&
		(r.DeletedAt == nil || r.DeletedAt.Equal(*seen.DeletedAt))
	return sameBody && sameDeleted && r.LastEventID == seen.LastEventID && r.EventTime.Equal(seen.EventTime) &&
		r.stored().Stream == seen.Stream
}
