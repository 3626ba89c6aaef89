package store

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/instachat/instachat/pkg/chat"
	"github.com/instachat/instachat/pkg/search"
)

// Provenance says which event last wrote a row and when: the event time is
// when the api accepted it, ReadAt when the writer took it, WriteAt when the
// writer wrote it.
type Provenance struct {
	EventID   string
	EventTime time.Time
	ReadAt    time.Time
	WriteAt   time.Time
}

// newer reports whether event (t, id) wins over the row's (rowT, rowID):
// the newest event time wins, ties go to the larger event id.
func newer(t time.Time, id string, rowT time.Time, rowID string) bool {
	if !t.Equal(rowT) {
		return t.After(rowT)
	}
	return id > rowID
}

// Outcome is what applying one event did.
type Outcome int

// Outcomes of applying an event.
const (
	Applied   Outcome = iota // the event changed the row
	Duplicate                // the event had been applied before
	Stale                    // a newer event already wrote the row
)

func (o Outcome) String() string {
	switch o {
	case Applied:
		return "applied"
	case Duplicate:
		return "duplicate"
	case Stale:
		return "stale"
	}
	return fmt.Sprintf("outcome(%d)", int(o))
}

// ChatWrite creates chat Number of application AppID.
type ChatWrite struct {
	AppID  int64
	Number int64
	Prov   Provenance
}

// ChatKey names a chat by its application's id and its number.
type ChatKey struct {
	AppID  int64
	Number int64
}

// MessageWrite creates or updates one message.
type MessageWrite struct {
	AppID  int64
	Chat   int64
	Number int64
	Body   string
	Prov   Provenance
}

// MessageKey names a message by application id, chat number and number.
type MessageKey struct {
	AppID  int64
	Chat   int64
	Number int64
}

// Key returns the message's key.
func (w MessageWrite) Key() MessageKey {
	return MessageKey{AppID: w.AppID, Chat: w.Chat, Number: w.Number}
}

// Tx is one writer transaction. It runs at READ COMMITTED so optimistic
// lock_version retries see the row a concurrent writer committed.
type Tx struct {
	db *gorm.DB
}

// InTx runs fn in one transaction and commits if it returns nil.
func (s *Store) InTx(ctx context.Context, fn func(tx *Tx) error) error {
	err := s.db.WithContext(ctx).Transaction(func(db *gorm.DB) error {
		return fn(&Tx{db: db})
	}, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
	if err != nil {
		return wrap("writer transaction", err)
	}
	return nil
}

// CreateChats inserts chat rows idempotently and reports each event's outcome.
// A row that a message created ahead of its chat.create keeps its id and
// takes the earlier creation time.
func (tx *Tx) CreateChats(ctx context.Context, ws []ChatWrite) ([]Outcome, error) {
	if len(ws) == 0 {
		return nil, nil
	}
	keys := make([]ChatKey, len(ws))
	for i, w := range ws {
		keys[i] = ChatKey{AppID: w.AppID, Number: w.Number}
	}
	existing, err := tx.chatEvents(ctx, keys)
	if err != nil {
		return nil, err
	}
	out := make([]Outcome, len(ws))
	var todo []ChatWrite
	seen := map[string]bool{}
	for i, w := range ws {
		if existing[keys[i]] == w.Prov.EventID || seen[w.Prov.EventID] {
			out[i] = Duplicate
			continue
		}
		seen[w.Prov.EventID] = true
		todo = append(todo, w)
	}
	// A row created ahead by a message takes the chat.create as its provenance.
	return out, tx.upsertChats(ctx, todo, "created_at = LEAST(created_at, VALUES(created_at)), "+
		"last_event_id = VALUES(last_event_id), event_time = VALUES(event_time), read_at = VALUES(read_at), written_at = VALUES(written_at)")
}

// chatEvents returns the last event id of each existing chat among keys.
func (tx *Tx) chatEvents(ctx context.Context, keys []ChatKey) (map[ChatKey]string, error) {
	var rows []struct {
		ApplicationID int64
		Number        int64
		LastEventID   string
	}
	err := tx.db.WithContext(ctx).Raw("SELECT application_id, number, last_event_id FROM chats WHERE (application_id, number) IN ?", chatTuples(keys)).Scan(&rows).Error
	if err != nil {
		return nil, wrap("read chats", err)
	}
	out := make(map[ChatKey]string, len(rows))
	for _, r := range rows {
		out[ChatKey{AppID: r.ApplicationID, Number: r.Number}] = r.LastEventID
	}
	return out, nil
}

func chatTuples(keys []ChatKey) [][]any {
	t := make([][]any, len(keys))
	for i, k := range keys {
		t[i] = []any{k.AppID, k.Number}
	}
	return t
}

func (tx *Tx) upsertChats(ctx context.Context, ws []ChatWrite, onDup string) error {
	if len(ws) == 0 {
		return nil
	}
	sort.Slice(ws, func(i, j int) bool {
		if ws[i].AppID != ws[j].AppID {
			return ws[i].AppID < ws[j].AppID
		}
		return ws[i].Number < ws[j].Number
	})
	var sb strings.Builder
	sb.WriteString("INSERT INTO chats (application_id, number, last_event_id, event_time, read_at, written_at, created_at, updated_at) VALUES ")
	args := make([]any, 0, len(ws)*8)
	for i, w := range ws {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString("(?,?,?,?,?,?,?,?)")
		p := w.Prov
		args = append(args, w.AppID, w.Number, p.EventID, p.EventTime, p.ReadAt, p.WriteAt, p.EventTime, p.EventTime)
	}
	sb.WriteString(" ON DUPLICATE KEY UPDATE ")
	sb.WriteString(onDup)
	if err := tx.db.WithContext(ctx).Exec(sb.String(), args...).Error; err != nil {
		return wrap("insert chats", err)
	}
	return nil
}

// chatIDs returns the row id of each chat among keys, creating rows for chats
// whose chat.create has not been applied yet (a message arrived first). The
// api only accepts messages for chat numbers it handed out, so the chat is real.
func (tx *Tx) chatIDs(ctx context.Context, keys []ChatKey, prov map[ChatKey]Provenance) (map[ChatKey]int64, int, error) {
	ids, err := tx.selectChatIDs(ctx, keys)
	if err != nil {
		return nil, 0, err
	}
	var missing []ChatWrite
	for _, k := range keys {
		if _, ok := ids[k]; !ok {
			missing = append(missing, ChatWrite{AppID: k.AppID, Number: k.Number, Prov: prov[k]})
		}
	}
	if len(missing) == 0 {
		return ids, 0, nil
	}
	if err := tx.upsertChats(ctx, missing, "id = id"); err != nil {
		return nil, 0, err
	}
	ids, err = tx.selectChatIDs(ctx, keys)
	if err != nil {
		return nil, 0, err
	}
	return ids, len(missing), nil
}

func (tx *Tx) selectChatIDs(ctx context.Context, keys []ChatKey) (map[ChatKey]int64, error) {
	var rows []struct {
		ID            int64
		ApplicationID int64
		Number        int64
	}
	err := tx.db.WithContext(ctx).Raw("SELECT id, application_id, number FROM chats WHERE (application_id, number) IN ?", chatTuples(keys)).Scan(&rows).Error
	if err != nil {
		return nil, wrap("read chat ids", err)
	}
	out := make(map[ChatKey]int64, len(rows))
	for _, r := range rows {
		out[ChatKey{AppID: r.ApplicationID, Number: r.Number}] = r.ID
	}
	return out, nil
}

type messageState struct {
	ChatID      int64
	Number      int64
	LastEventID string
	EventTime   time.Time
	LockVersion int64
	ID          int64
}

type msgID struct{ chatID, number int64 }

// WriteReport counts what a batch of message writes did beyond its outcomes.
type WriteReport struct {
	// ChatsAhead counts chat rows created because a message arrived before
	// its chat.create (an out-of-order event, corrected by creating the row).
	ChatsAhead int
}

// UpsertMessages writes message bodies idempotently with "newest event wins":
// a create arriving after a newer update (or a replayed old event) changes
// nothing. It reports each write's outcome.
func (tx *Tx) UpsertMessages(ctx context.Context, ws []MessageWrite) ([]Outcome, WriteReport, error) {
	if len(ws) == 0 {
		return nil, WriteReport{}, nil
	}
	prov := map[ChatKey]Provenance{}
	var keys []ChatKey
	for _, w := range ws {
		k := ChatKey{AppID: w.AppID, Number: w.Chat}
		if _, ok := prov[k]; !ok {
			prov[k] = w.Prov
			keys = append(keys, k)
		}
	}
	ids, ahead, err := tx.chatIDs(ctx, keys, prov)
	if err != nil {
		return nil, WriteReport{}, err
	}
	rowKeys := make([]msgID, len(ws))
	for i, w := range ws {
		id, ok := ids[ChatKey{AppID: w.AppID, Number: w.Chat}]
		if !ok {
			return nil, WriteReport{}, fmt.Errorf("write message %d/%d: chat row missing after insert", w.Chat, w.Number)
		}
		rowKeys[i] = msgID{chatID: id, number: w.Number}
	}
	states, err := tx.messageStates(ctx, rowKeys)
	if err != nil {
		return nil, WriteReport{}, err
	}
	out := make([]Outcome, len(ws))
	type pending struct {
		key msgID
		w   MessageWrite
	}
	var todo []pending
	for i, w := range ws {
		st, ok := states[rowKeys[i]]
		switch {
		case ok && st.LastEventID == w.Prov.EventID:
			out[i] = Duplicate
			continue
		case ok && !newer(w.Prov.EventTime, w.Prov.EventID, st.EventTime, st.LastEventID):
			// A stale write still goes through the upsert below, which leaves
			// the body alone but moves created_at back to the create's time.
			out[i] = Stale
		default:
			// Later writes in the same batch compare against this one.
			states[rowKeys[i]] = messageState{LastEventID: w.Prov.EventID, EventTime: w.Prov.EventTime}
		}
		todo = append(todo, pending{key: rowKeys[i], w: w})
	}
	if len(todo) == 0 {
		return out, WriteReport{ChatsAhead: ahead}, nil
	}
	sort.SliceStable(todo, func(i, j int) bool {
		if todo[i].key.chatID != todo[j].key.chatID {
			return todo[i].key.chatID < todo[j].key.chatID
		}
		return todo[i].key.number < todo[j].key.number
	})
	// One statement per chunk keeps each under max_allowed_packet (MySQL 5.7
	// and some managed servers default to 4 MiB; escaping can double a body).
	for start := 0; start < len(todo); {
		end, size := start, 0
		for end < len(todo) && (end == start || size+len(todo[end].w.Body) <= maxStatementBodyBytes) {
			size += len(todo[end].w.Body)
			end++
		}
		chunk := make([]MessageWrite, 0, end-start)
		keys := make([]msgID, 0, end-start)
		for _, t := range todo[start:end] {
			chunk = append(chunk, t.w)
			keys = append(keys, t.key)
		}
		if err := tx.insertMessages(ctx, keys, chunk); err != nil {
			return nil, WriteReport{}, err
		}
		start = end
	}
	return out, WriteReport{ChatsAhead: ahead}, nil
}

// maxStatementBodyBytes bounds the message bodies in one INSERT statement.
const maxStatementBodyBytes = 1 << 20

// insertMessages writes rows with "newest event wins" in one statement.
func (tx *Tx) insertMessages(ctx context.Context, keys []msgID, ws []MessageWrite) error {
	var sb strings.Builder
	sb.WriteString("INSERT INTO messages (chat_id, number, body, last_event_id, event_time, read_at, written_at, created_at, updated_at) VALUES ")
	args := make([]any, 0, len(ws)*9)
	for i, w := range ws {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString("(?,?,?,?,?,?,?,?,?)")
		p := w.Prov
		args = append(args, keys[i].chatID, keys[i].number, w.Body, p.EventID, p.EventTime, p.ReadAt, p.WriteAt, p.EventTime, p.EventTime)
	}
	// MySQL applies these assignments left to right, each seeing the ones
	// before it, so the columns the condition reads are assigned last:
	// last_event_id before event_time, and event_time's own condition then
	// reduces to "strictly newer time" (a tie already moved last_event_id).
	const wins = "(VALUES(event_time), VALUES(last_event_id)) > (event_time, last_event_id)"
	sb.WriteString(" ON DUPLICATE KEY UPDATE " +
		"body = IF(" + wins + ", VALUES(body), body), " +
		"lock_version = IF(" + wins + ", lock_version + 1, lock_version), " +
		"read_at = IF(" + wins + ", VALUES(read_at), read_at), " +
		"written_at = IF(" + wins + ", VALUES(written_at), written_at), " +
		"updated_at = IF(" + wins + ", VALUES(updated_at), updated_at), " +
		"created_at = LEAST(created_at, VALUES(created_at)), " +
		"last_event_id = IF(" + wins + ", VALUES(last_event_id), last_event_id), " +
		"event_time = IF(VALUES(event_time) > event_time, VALUES(event_time), event_time)")
	if err := tx.db.WithContext(ctx).Exec(sb.String(), args...).Error; err != nil {
		return wrap("write messages", err)
	}
	return nil
}

func (tx *Tx) messageStates(ctx context.Context, keys []msgID) (map[msgID]messageState, error) {
	t := make([][]any, len(keys))
	for i, k := range keys {
		t[i] = []any{k.chatID, k.number}
	}
	var rows []messageState
	err := tx.db.WithContext(ctx).Raw("SELECT id, chat_id, number, last_event_id, event_time, lock_version FROM messages WHERE (chat_id, number) IN ?", t).Scan(&rows).Error
	if err != nil {
		return nil, wrap("read messages", err)
	}
	out := make(map[msgID]messageState, len(rows))
	for _, r := range rows {
		out[msgID{chatID: r.ChatID, number: r.Number}] = r
	}
	return out, nil
}

// UpdateMessage changes one message's body with optimistic locking: read the
// row and its lock_version, decide (newest event wins), then update only if
// lock_version is unchanged, re-reading and retrying a bounded number of times.
// An update whose message row does not exist yet (it overtook its create) is
// written as the row; the create then arrives stale.
func (tx *Tx) UpdateMessage(ctx context.Context, w MessageWrite) (Outcome, error) {
	for range maxLockRetries {
		var rows []messageState
		err := tx.db.WithContext(ctx).Raw(`SELECT m.id, m.chat_id, m.number, m.last_event_id, m.event_time, m.lock_version
FROM messages m JOIN chats c ON c.id = m.chat_id WHERE c.application_id = ? AND c.number = ? AND m.number = ?`,
			w.AppID, w.Chat, w.Number).Scan(&rows).Error
		if err != nil {
			return 0, wrap("read message", err)
		}
		if len(rows) == 0 {
			out, _, err := tx.UpsertMessages(ctx, []MessageWrite{w})
			if err != nil {
				return 0, err
			}
			return out[0], nil
		}
		st := rows[0]
		if st.LastEventID == w.Prov.EventID {
			return Duplicate, nil
		}
		if !newer(w.Prov.EventTime, w.Prov.EventID, st.EventTime, st.LastEventID) {
			return Stale, nil
		}
		p := w.Prov
		res := tx.db.WithContext(ctx).Exec(`UPDATE messages SET body = ?, lock_version = lock_version + 1,
last_event_id = ?, event_time = ?, read_at = ?, written_at = ?, updated_at = ? WHERE id = ? AND lock_version = ?`,
			w.Body, p.EventID, p.EventTime, p.ReadAt, p.WriteAt, p.EventTime, st.ID, st.LockVersion)
		if res.Error != nil {
			return 0, wrap("update message", res.Error)
		}
		if res.RowsAffected == 1 {
			return Applied, nil
		}
	}
	return 0, fmt.Errorf("update message %d/%d: lock_version kept changing: %w", w.Chat, w.Number, chat.ErrConflict)
}

// SearchDocs reads the current body and version of each message, for the
// search index. The version is the row's lock_version, which grows with every
// body change, so a late reindex of an older body never replaces a newer one.
// Messages that do not exist are skipped.
func (s *Store) SearchDocs(ctx context.Context, keys []MessageKey) ([]search.Doc, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	seen := map[ChatKey]bool{}
	var chats []ChatKey
	for _, k := range keys {
		ck := ChatKey{AppID: k.AppID, Number: k.Chat}
		if !seen[ck] {
			seen[ck] = true
			chats = append(chats, ck)
		}
	}
	tx := &Tx{db: s.db}
	ids, err := tx.selectChatIDs(ctx, chats)
	if err != nil {
		return nil, err
	}
	byID := make(map[int64]ChatKey, len(ids))
	var t [][]any
	for _, k := range keys {
		id, ok := ids[ChatKey{AppID: k.AppID, Number: k.Chat}]
		if !ok {
			continue
		}
		byID[id] = ChatKey{AppID: k.AppID, Number: k.Chat}
		t = append(t, []any{id, k.Number})
	}
	if len(t) == 0 {
		return nil, nil
	}
	var rows []struct {
		ChatID      int64
		Number      int64
		Body        string
		LockVersion int64
	}
	err = s.db.WithContext(ctx).Raw("SELECT chat_id, number, body, lock_version FROM messages WHERE (chat_id, number) IN ?", t).Scan(&rows).Error
	if err != nil {
		return nil, wrap("read messages for search", err)
	}
	out := make([]search.Doc, len(rows))
	for i, r := range rows {
		ck := byID[r.ChatID]
		out[i] = search.Doc{AppID: ck.AppID, Chat: ck.Number, Number: r.Number, Body: r.Body, Version: r.LockVersion}
	}
	return out, nil
}
