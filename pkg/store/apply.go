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
)

// Provenance says which event last wrote a row and when: the event time is
// when the api accepted it, ReadAt when the writer took it, WriteAt when the
// writer wrote it. Stream is the event's position in its partition's
// live-event stream, which the writer takes from the job (zero for a job
// queued without one).
type Provenance struct {
	EventID   string
	EventTime time.Time
	Stream    StreamPosition
	ReadAt    time.Time
	WriteAt   time.Time
}

// source returns what the newest-wins rule compares of the event.
func (p Provenance) source() Source {
	return Source{EventID: p.EventID, EventTime: p.EventTime, Stream: p.Stream}
}

// Source names an event as the newest-wins rule compares it: its id, its
// event time and its stream position. A row keeps the Source of the event
// that last wrote it (last_event_id, event_time, source_part/gen/seq).
type Source struct {
	EventID   string
	EventTime time.Time
	Stream    StreamPosition // zero: none
}

// Newer reports whether event s wins over row, the event that last wrote a
// row: "newest event wins", decided the same way by every writer and by the
// reconcile replay (ADR 0015).
//
// When both carry a position in the same partition's stream, the later
// position wins. The stream is the order the api accepted the writes in: the
// Redis step that accepts a write assigns its position atomically, whichever
// api replica runs it, and subscribers receive message.updated events in that
// order, so the row ends with the body of the last event they saw. Event
// times come from the clocks of several api replicas and can contradict that
// order by their skew.
//
// A greater generation is later. A new generation starts only when Redis
// went back in time, numbered by Redis's clock in milliseconds and above
// every generation the stream still holds (package counter), so it is lower
// than an earlier one only when the stream was lost whole and the new Redis's
// clock reads earlier than the previous generation's start: an error larger
// than that generation's whole life. Event times would do no better across
// that boundary (after FLUSHALL the next write may come milliseconds later,
// from another api replica), and one order per stream keeps the rule
// transitive there.
//
// Otherwise the old rule decides: the later event time, ties to the larger
// event id. That covers events and rows from before the streams (no
// position) and positions of different partitions, which are different
// streams with unrelated sequences (an application changes partition only
// when the partition count does). Equal positions are one event.
func (s Source) Newer(row Source) bool {
	if p, q := s.Stream, row.Stream; !p.IsZero() && !q.IsZero() && p.Part == q.Part && (p.Gen != q.Gen || p.Seq != q.Seq) {
		if p.Gen != q.Gen {
			return p.Gen > q.Gen
		}
		return p.Seq > q.Seq
	}
	if !s.EventTime.Equal(row.EventTime) {
		return s.EventTime.After(row.EventTime)
	}
	return s.EventID > row.EventID
}

// Outcome is what applying one event did.
type Outcome int

// Outcomes of applying an event.
const (
	Applied         Outcome = iota // the event changed the row
	Duplicate                      // the event had been applied before
	Stale                          // a newer event already wrote the row
	StaleDeleted                   // the row was deleted; nothing changes it any more
	ParkedNoChat                   // the chat row does not exist yet: park until it commits
	ParkedNoMessage                // the message row does not exist yet: park until it commits
	NumberConflict                 // another event created the row: keep this one elsewhere, never overwrite
)

func (o Outcome) String() string {
	switch o {
	case Applied:
		return "applied"
	case Duplicate:
		return "duplicate"
	case Stale, StaleDeleted:
		return "stale"
	case ParkedNoChat, ParkedNoMessage:
		return "parked"
	case NumberConflict:
		return OutcomeNumberConflict
	}
	return fmt.Sprintf("outcome(%d)", int(o))
}

// Parked reports whether the event must wait for its parent.
func (o Outcome) Parked() bool { return o == ParkedNoChat || o == ParkedNoMessage }

// ChatWrite creates or deletes chat Number of application AppID.
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

// MessageWrite creates, updates or deletes one message.
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
	db       *gorm.DB
	rowLocks bool
}

// InTx runs fn in one transaction and commits if it returns nil.
func (s *Store) InTx(ctx context.Context, fn func(tx *Tx) error) error {
	err := s.db.WithContext(ctx).Transaction(func(db *gorm.DB) error {
		return fn(&Tx{db: db, rowLocks: s.rowLocks})
	}, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
	if err != nil {
		return wrap("writer transaction", err)
	}
	return nil
}

// CreateChats inserts chat rows idempotently and reports each event's outcome.
// Only a chat.create creates a chat row; events that need a chat wait for it.
// A chat number that already holds a row created by another event is a
// NumberConflict: the row is never touched, and the caller keeps the event.
func (tx *Tx) CreateChats(ctx context.Context, ws []ChatWrite) ([]Outcome, error) {
	if len(ws) == 0 {
		return nil, nil
	}
	keys := make([]ChatKey, len(ws))
	for i, w := range ws {
		keys[i] = ChatKey{AppID: w.AppID, Number: w.Number}
	}
	existing, err := tx.chatStates(ctx, keys)
	if err != nil {
		return nil, err
	}
	out := make([]Outcome, len(ws))
	todo := decideChatCreates(ws, out, keys, existing)
	if len(todo) == 0 {
		return out, nil
	}
	q, args := insertChatsSQL(ws, todo)
	// A concurrent writer may have inserted the same chat a moment ago; the
	// row stays as it is and settleChatRaces tells whose it is.
	res := tx.db.WithContext(ctx).Exec(q, args...)
	if res.Error != nil {
		return nil, wrap("insert chats", res.Error)
	}
	if res.RowsAffected == int64(len(todo)) {
		return out, nil
	}
	if err := tx.settleChatRaces(ctx, ws, out, todo, keys); err != nil {
		return nil, err
	}
	return out, nil
}

// decideChatCreates sets the outcome of each create whose row exists (or
// that an earlier create of the batch takes) and returns the indexes of
// those to insert, in key order.
func decideChatCreates(ws []ChatWrite, out []Outcome, keys []ChatKey, existing map[ChatKey]chatState) []int {
	creator := map[ChatKey]string{} // the event that creates each key in this batch
	var todo []int
	for i, w := range ws {
		if st, ok := existing[keys[i]]; ok {
			out[i] = createOutcome(st.CreateEventID, w.Prov.EventID)
			continue
		}
		if id, ok := creator[keys[i]]; ok {
			out[i] = createOutcome(id, w.Prov.EventID)
			continue
		}
		creator[keys[i]] = w.Prov.EventID
		todo = append(todo, i)
	}
	sort.Slice(todo, func(a, b int) bool {
		ka, kb := keys[todo[a]], keys[todo[b]]
		if ka.AppID != kb.AppID {
			return ka.AppID < kb.AppID
		}
		return ka.Number < kb.Number
	})
	return todo
}

// insertChatsSQL is the statement that inserts the chat rows todo names,
// leaving alone a row another transaction inserted first.
func insertChatsSQL(ws []ChatWrite, todo []int) (string, []any) {
	var sb strings.Builder
	sb.WriteString("INSERT INTO chats (application_id, number, create_event_id, last_event_id, event_time, source_part, source_gen, source_seq, read_at, written_at, created_at, updated_at) VALUES ")
	args := make([]any, 0, len(todo)*12)
	for k, i := range todo {
		if k > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString("(?,?,?,?,?,?,?,?,?,?,?,?)")
		w, p := ws[i], ws[i].Prov
		part, gen, seq := p.Stream.columns()
		args = append(args, w.AppID, w.Number, p.EventID, p.EventID, p.EventTime, part, gen, seq, p.ReadAt, p.WriteAt, p.EventTime, p.EventTime)
	}
	sb.WriteString(" ON DUPLICATE KEY UPDATE id = id")
	return sb.String(), args
}

// settleChatRaces re-reads the chats todo tried to insert when some were
// inserted by a concurrent writer first: each row is this event's (Applied)
// or another's (a conflict).
func (tx *Tx) settleChatRaces(ctx context.Context, ws []ChatWrite, out []Outcome, todo []int, keys []ChatKey) error {
	now, err := tx.chatStates(ctx, keys)
	if err != nil {
		return err
	}
	for _, i := range todo {
		out[i] = createOutcome(now[keys[i]].CreateEventID, ws[i].Prov.EventID)
		if out[i] == Duplicate {
			out[i] = Applied // this event's own insert
		}
	}
	return nil
}

// createOutcome decides a create event against the event that created the
// row: the same event is a redelivery; another one is a number conflict. A
// row created before creators were recorded (empty id) counts as this
// event's for chats, which carry nothing to lose.
func createOutcome(rowCreator, event string) Outcome {
	if rowCreator == event || rowCreator == "" {
		return Duplicate
	}
	return NumberConflict
}

type chatState struct {
	ID            int64
	ApplicationID int64
	Number        int64
	CreateEventID string
	LastEventID   string
	DeletedAt     *time.Time
	LockVersion   int64
}

// chatStates returns the existing chats among keys, in the transaction.
func (tx *Tx) chatStates(ctx context.Context, keys []ChatKey) (map[ChatKey]chatState, error) {
	return readChatStates(ctx, tx.db, keys)
}

// readChatStates returns the existing chats among keys, read through db (a
// transaction or the pool).
func readChatStates(ctx context.Context, db *gorm.DB, keys []ChatKey) (map[ChatKey]chatState, error) {
	var rows []chatState
	err := db.WithContext(ctx).Raw("SELECT id, application_id, number, create_event_id, last_event_id, deleted_at, lock_version FROM chats WHERE (application_id, number) IN ?", chatTuples(keys)).Scan(&rows).Error
	if err != nil {
		return nil, wrap("read chats", err)
	}
	out := make(map[ChatKey]chatState, len(rows))
	for _, r := range rows {
		out[ChatKey{AppID: r.ApplicationID, Number: r.Number}] = r
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

// selectChatIDs returns the row id of each existing chat among keys, in the
// transaction.
func (tx *Tx) selectChatIDs(ctx context.Context, keys []ChatKey) (map[ChatKey]int64, error) {
	return readChatIDs(ctx, tx.db, keys)
}

// readChatIDs returns the row id of each existing chat among keys, read
// through db.
func readChatIDs(ctx context.Context, db *gorm.DB, keys []ChatKey) (map[ChatKey]int64, error) {
	states, err := readChatStates(ctx, db, keys)
	if err != nil {
		return nil, err
	}
	out := make(map[ChatKey]int64, len(states))
	for k, st := range states {
		out[k] = st.ID
	}
	return out, nil
}

type messageState struct {
	ChatID        int64
	Number        int64
	Body          string
	CreateEventID string
	LastEventID   string
	EventTime     time.Time
	SourcePart    int // source_part/gen/seq, zero when NULL (findMessage reads them)
	SourceGen     uint64
	SourceSeq     uint64
	LockVersion   int64
	DeletedAt     *time.Time
	ID            int64
}

// source is the event that last wrote the row, as Source.Newer compares it.
func (st messageState) source() Source {
	return Source{EventID: st.LastEventID, EventTime: st.EventTime,
		Stream: StreamPosition{Part: st.SourcePart, Gen: st.SourceGen, Seq: st.SourceSeq}}
}

type msgID struct{ chatID, number int64 }

// CreateMessages inserts message rows idempotently and reports each event's
// outcome. A create never changes a row that exists: a redelivery of the
// event that created it is a Duplicate, and another event's create of the
// same number (a number handed out twice after Redis went back in time) is a
// NumberConflict, which the caller keeps whole elsewhere. A message whose
// chat row does not exist yet is parked (ParkedNoChat); one whose chat was
// deleted is written deleted.
func (tx *Tx) CreateMessages(ctx context.Context, ws []MessageWrite) ([]Outcome, error) {
	out, _, err := tx.CreateMessagesIndexed(ctx, ws)
	return out, err
}

// CreateMessagesIndexed is CreateMessages that also returns the search
// documents of the rows it inserted, as committed they will read (the body
// written, lock_version 0), so the caller need not read them back; a row
// born deleted has none.
//
// Rows are inserted optimistically: a create whose row exists is a rare
// redelivery or conflict, so the rows are not read first. When the INSERT
// finds a key taken, it is rolled back to a savepoint and the batch decided
// against the rows as they are, then inserted again.
func (tx *Tx) CreateMessagesIndexed(ctx context.Context, ws []MessageWrite) ([]Outcome, []IndexDoc, error) {
	if len(ws) == 0 {
		return nil, nil, nil
	}
	chats, err := tx.chatStates(ctx, chatKeysOf(ws))
	if err != nil {
		return nil, nil, err
	}
	out := make([]Outcome, len(ws))
	rowKeys := make([]msgID, len(ws))
	var present []msgID
	for i, w := range ws {
		c, ok := chats[ChatKey{AppID: w.AppID, Number: w.Chat}]
		if !ok {
			out[i] = ParkedNoChat
			continue
		}
		rowKeys[i] = msgID{chatID: c.ID, number: w.Number}
		present = append(present, rowKeys[i])
	}
	if len(present) == 0 {
		return out, nil, nil
	}
	todo := decideCreates(ws, out, rowKeys, nil)
	if err := tx.exec(ctx, "SAVEPOINT creates", "mark the message creates"); err != nil {
		return nil, nil, err
	}
	inserted, err := tx.insertNew(ctx, ws, todo, rowKeys, chats)
	if err != nil {
		return nil, nil, err
	}
	if inserted != int64(len(todo)) {
		// Some rows exist: undo, and decide as if they had been read first.
		if err := tx.exec(ctx, "ROLLBACK TO SAVEPOINT creates", "undo the optimistic message creates"); err != nil {
			return nil, nil, err
		}
		for i := range out {
			if out[i] != ParkedNoChat {
				out[i] = Applied
			}
		}
		states, err := tx.messageStates(ctx, present)
		if err != nil {
			return nil, nil, err
		}
		todo = decideCreates(ws, out, rowKeys, states)
		if inserted, err = tx.insertNew(ctx, ws, todo, rowKeys, chats); err != nil {
			return nil, nil, err
		}
		if inserted != int64(len(todo)) {
			if err := tx.settleRaces(ctx, ws, out, todo, rowKeys); err != nil {
				return nil, nil, err
			}
		}
	}
	var docs []IndexDoc
	for _, i := range todo {
		w := ws[i]
		if out[i] == Applied && chats[ChatKey{AppID: w.AppID, Number: w.Chat}].DeletedAt == nil {
			docs = append(docs, IndexDoc{AppID: w.AppID, Chat: w.Chat, Number: w.Number, Body: w.Body})
		}
	}
	return out, docs, nil
}

// chatKeysOf lists the distinct chats the writes name.
func chatKeysOf(ws []MessageWrite) []ChatKey {
	seen := map[ChatKey]bool{}
	var keys []ChatKey
	for _, w := range ws {
		k := ChatKey{AppID: w.AppID, Number: w.Chat}
		if !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	return keys
}

// decideCreates sets the outcome of each create whose row exists (or that
// an earlier create of the batch takes) and returns the indexes of those to
// insert, in key order.
func decideCreates(ws []MessageWrite, out []Outcome, rowKeys []msgID, states map[msgID]messageState) []int {
	creator := map[msgID]MessageWrite{} // the event that creates each key in this batch
	var todo []int
	for i, w := range ws {
		if out[i] == ParkedNoChat {
			continue
		}
		if st, ok := states[rowKeys[i]]; ok {
			out[i] = messageCreateOutcome(st.CreateEventID, st.Body, w)
			continue
		}
		if first, ok := creator[rowKeys[i]]; ok {
			out[i] = messageCreateOutcome(first.Prov.EventID, first.Body, w)
			continue
		}
		creator[rowKeys[i]] = w
		todo = append(todo, i)
	}
	sort.Slice(todo, func(a, b int) bool {
		ka, kb := rowKeys[todo[a]], rowKeys[todo[b]]
		if ka.chatID != kb.chatID {
			return ka.chatID < kb.chatID
		}
		return ka.number < kb.number
	})
	return todo
}

// insertNew inserts the rows todo names, one statement per chunk so each
// stays under max_allowed_packet (MySQL 5.7 and some managed servers default
// to 4 MiB; escaping can double a body), and returns how many it inserted.
func (tx *Tx) insertNew(ctx context.Context, ws []MessageWrite, todo []int, rowKeys []msgID, chats map[ChatKey]chatState) (int64, error) {
	var inserted int64
	for start := 0; start < len(todo); {
		end, size := start, 0
		for end < len(todo) && (end == start || size+len(ws[todo[end]].Body) <= maxStatementBodyBytes) {
			size += len(ws[todo[end]].Body)
			end++
		}
		rows := make([]newMessage, 0, end-start)
		for _, i := range todo[start:end] {
			w := ws[i]
			rows = append(rows, newMessage{key: rowKeys[i], w: w, deletedAt: chats[ChatKey{AppID: w.AppID, Number: w.Chat}].DeletedAt})
		}
		n, err := tx.insertMessages(ctx, rows)
		if err != nil {
			return inserted, err
		}
		inserted += n
		start = end
	}
	return inserted, nil
}

// settleRaces decides the creates a concurrent writer inserted first: the
// row is theirs (a conflict) unless it carries this event.
func (tx *Tx) settleRaces(ctx context.Context, ws []MessageWrite, out []Outcome, todo []int, rowKeys []msgID) error {
	raced := make([]msgID, 0, len(todo))
	for _, i := range todo {
		raced = append(raced, rowKeys[i])
	}
	now, err := tx.messageStates(ctx, raced)
	if err != nil {
		return err
	}
	for _, i := range todo {
		if st := now[rowKeys[i]]; st.CreateEventID != ws[i].Prov.EventID {
			out[i] = messageCreateOutcome(st.CreateEventID, st.Body, ws[i])
		}
	}
	return nil
}

// messageCreateOutcome decides a message create against the row's creator.
// A row created before creators were recorded (empty id) is this event's
// when it holds the same body; otherwise the event is kept as a conflict
// rather than risk dropping a message.
func messageCreateOutcome(rowCreator, rowBody string, w MessageWrite) Outcome {
	switch {
	case rowCreator == w.Prov.EventID:
		return Duplicate
	case rowCreator == "" && rowBody == w.Body:
		return Duplicate
	}
	return NumberConflict
}

// maxStatementBodyBytes bounds the message bodies in one INSERT statement.
const maxStatementBodyBytes = 1 << 20

// newMessage is one row CreateMessages inserts.
type newMessage struct {
	key       msgID
	w         MessageWrite
	deletedAt *time.Time // set when the chat was deleted: the message is born deleted
}

// insertMessages inserts rows in one statement and returns how many it
// inserted; a key another transaction inserted first is left alone.
// exec runs a statement without arguments or results in the transaction.
func (tx *Tx) exec(ctx context.Context, stmt, what string) error {
	if err := tx.db.WithContext(ctx).Exec(stmt).Error; err != nil {
		return wrap(what, err)
	}
	return nil
}

func (tx *Tx) insertMessages(ctx context.Context, rows []newMessage) (int64, error) {
	var sb strings.Builder
	sb.WriteString("INSERT INTO messages (chat_id, number, body, deleted_at, create_event_id, last_event_id, event_time, source_part, source_gen, source_seq, read_at, written_at, created_at, updated_at) VALUES ")
	args := make([]any, 0, len(rows)*14)
	for i, r := range rows {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString("(?,?,?,?,?,?,?,?,?,?,?,?,?,?)")
		p := r.w.Prov
		part, gen, seq := p.Stream.columns()
		args = append(args, r.key.chatID, r.key.number, r.w.Body, r.deletedAt, p.EventID, p.EventID, p.EventTime, part, gen, seq, p.ReadAt, p.WriteAt, p.EventTime, p.EventTime)
	}
	sb.WriteString(" ON DUPLICATE KEY UPDATE id = id")
	res := tx.db.WithContext(ctx).Exec(sb.String(), args...)
	if res.Error != nil {
		return 0, wrap("write messages", res.Error)
	}
	return res.RowsAffected, nil
}

func (tx *Tx) messageStates(ctx context.Context, keys []msgID) (map[msgID]messageState, error) {
	t := make([][]any, len(keys))
	for i, k := range keys {
		t[i] = []any{k.chatID, k.number}
	}
	var rows []messageState
	err := tx.db.WithContext(ctx).Raw("SELECT id, chat_id, number, body, create_event_id, last_event_id, event_time, lock_version, deleted_at FROM messages WHERE (chat_id, number) IN ?", t).Scan(&rows).Error
	if err != nil {
		return nil, wrap("read messages", err)
	}
	out := make(map[msgID]messageState, len(rows))
	for _, r := range rows {
		out[msgID{chatID: r.ChatID, number: r.Number}] = r
	}
	return out, nil
}

// The reads of one message that an update or delete decides on: its
// provenance with the stream position (NULL reads as none), its lock_version
// and whether it is deleted.
const (
	findMessageQuery = `SELECT m.id, m.chat_id, m.number, m.last_event_id, m.event_time, IFNULL(m.source_part, 0) AS source_part,
IFNULL(m.source_gen, 0) AS source_gen, IFNULL(m.source_seq, 0) AS source_seq, m.lock_version, m.deleted_at
FROM messages m JOIN chats c ON c.id = m.chat_id WHERE c.application_id = ? AND c.number = ? AND m.number = ?`
	lockMessageQuery = `SELECT id, chat_id, number, last_event_id, event_time, IFNULL(source_part, 0) AS source_part,
IFNULL(source_gen, 0) AS source_gen, IFNULL(source_seq, 0) AS source_seq, lock_version, deleted_at
FROM messages WHERE id = ? FOR UPDATE`
)

// findMessage reads one message's state; ok is false and the outcome says
// which parent is missing when there is no row.
func (tx *Tx) findMessage(ctx context.Context, w MessageWrite) (messageState, Outcome, bool, error) {
	var rows []messageState
	err := tx.db.WithContext(ctx).Raw(findMessageQuery, w.AppID, w.Chat, w.Number).Scan(&rows).Error
	if err != nil {
		return messageState{}, 0, false, wrap("read message", err)
	}
	if len(rows) == 1 && tx.rowLocks {
		// Lock this message's row only (not its chat) until the transaction ends.
		id := rows[0].ID
		rows = rows[:0]
		err := tx.db.WithContext(ctx).Raw(lockMessageQuery, id).Scan(&rows).Error
		if err != nil {
			return messageState{}, 0, false, wrap("lock message", err)
		}
	}
	if len(rows) == 1 {
		return rows[0], 0, true, nil
	}
	chats, err := tx.chatStates(ctx, []ChatKey{{AppID: w.AppID, Number: w.Chat}})
	if err != nil {
		return messageState{}, 0, false, err
	}
	if len(chats) == 0 {
		return messageState{}, ParkedNoChat, false, nil
	}
	return messageState{}, ParkedNoMessage, false, nil
}

// UpdateMessage changes one message's body with optimistic locking: read the
// row and its lock_version, decide (newest event wins, see Source.Newer),
// then update only if lock_version is unchanged, re-reading and retrying a
// bounded number of times.
// An update whose message row does not exist yet (it overtook its create) is
// parked until the create commits.
func (tx *Tx) UpdateMessage(ctx context.Context, w MessageWrite) (Outcome, error) {
	return tx.changeMessage(ctx, w, "update", true, "body = ?", w.Body)
}

// DeleteMessage marks one message deleted (soft delete: its number is never
// reused, lists and search forget it, counts drop at the next sync). A delete
// is terminal: later events on the message are stale. A delete that
// overtook its create is parked.
func (tx *Tx) DeleteMessage(ctx context.Context, w MessageWrite) (Outcome, error) {
	return tx.changeMessage(ctx, w, "delete", false, "deleted_at = ?", w.Prov.EventTime)
}

// changeMessage is the read-decide-write loop that updates and deletes share:
// it sets column (with value) and the provenance only while the row's
// lock_version is unchanged, re-reading and retrying a bounded number of
// times. onlyNewer makes an older event stale (updates); a delete always wins
// over a live row.
func (tx *Tx) changeMessage(ctx context.Context, w MessageWrite, op string, onlyNewer bool, column string, value any) (Outcome, error) {
	for range maxLockRetries {
		st, parked, ok, err := tx.findMessage(ctx, w)
		if err != nil || !ok {
			return parked, err
		}
		switch {
		case st.LastEventID == w.Prov.EventID:
			return Duplicate, nil
		case st.DeletedAt != nil:
			return StaleDeleted, nil
		case onlyNewer && !w.Prov.source().Newer(st.source()):
			return Stale, nil
		}
		p := w.Prov
		part, gen, seq := p.Stream.columns()
		res := tx.db.WithContext(ctx).Exec(`UPDATE messages SET `+column+`, lock_version = lock_version + 1,
last_event_id = ?, event_time = ?, source_part = ?, source_gen = ?, source_seq = ?, read_at = ?, written_at = ?, updated_at = ?
WHERE id = ? AND lock_version = ?`,
			value, p.EventID, p.EventTime, part, gen, seq, p.ReadAt, p.WriteAt, p.EventTime, st.ID, st.LockVersion)
		if res.Error != nil {
			return 0, wrap(op+" message", res.Error)
		}
		if res.RowsAffected == 1 {
			return Applied, nil
		}
	}
	return 0, fmt.Errorf("%s message %d/%d: lock_version kept changing: %w", op, w.Chat, w.Number, chat.ErrConflict)
}

// DeleteChat marks a chat and all its messages deleted, and queues every
// message it removed for the search index, in the caller's transaction. It
// returns the outcome and the numbers of the messages it deleted.
func (tx *Tx) DeleteChat(ctx context.Context, w ChatWrite) (Outcome, []int64, error) {
	for range maxLockRetries {
		chats, err := tx.chatStates(ctx, []ChatKey{{AppID: w.AppID, Number: w.Number}})
		if err != nil {
			return 0, nil, err
		}
		st, ok := chats[ChatKey{AppID: w.AppID, Number: w.Number}]
		switch {
		case !ok:
			return ParkedNoChat, nil, nil
		case st.LastEventID == w.Prov.EventID:
			return Duplicate, nil, nil
		case st.DeletedAt != nil:
			return StaleDeleted, nil, nil
		}
		p := w.Prov
		part, gen, seq := p.Stream.columns()
		res := tx.db.WithContext(ctx).Exec(`UPDATE chats SET deleted_at = ?, lock_version = lock_version + 1,
last_event_id = ?, event_time = ?, source_part = ?, source_gen = ?, source_seq = ?, read_at = ?, written_at = ?, updated_at = ?
WHERE id = ? AND lock_version = ?`,
			p.EventTime, p.EventID, p.EventTime, part, gen, seq, p.ReadAt, p.WriteAt, p.EventTime, st.ID, st.LockVersion)
		if res.Error != nil {
			return 0, nil, wrap("delete chat", res.Error)
		}
		if res.RowsAffected == 0 {
			continue
		}
		var numbers []int64
		if err := tx.db.WithContext(ctx).Raw("SELECT number FROM messages WHERE chat_id = ? AND deleted_at IS NULL", st.ID).Scan(&numbers).Error; err != nil {
			return 0, nil, wrap("delete chat messages", err)
		}
		if len(numbers) > 0 {
			err := tx.db.WithContext(ctx).Exec(`UPDATE messages SET deleted_at = ?, lock_version = lock_version + 1, updated_at = ?
WHERE chat_id = ? AND deleted_at IS NULL`, p.EventTime, p.EventTime, st.ID).Error
			if err != nil {
				return 0, nil, wrap("delete chat messages", err)
			}
		}
		return Applied, numbers, nil
	}
	return 0, nil, fmt.Errorf("delete chat %d: lock_version kept changing: %w", w.Number, chat.ErrConflict)
}

// SearchDocs reads the current body and version of each message, for the
// search index. Messages that do not exist are skipped.
func (s *Store) SearchDocs(ctx context.Context, keys []MessageKey) ([]IndexDoc, error) {
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
	ids, err := readChatIDs(ctx, s.db, chats)
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
	err = s.db.WithContext(ctx).Raw("SELECT chat_id, number, body, lock_version FROM messages WHERE (chat_id, number) IN ? AND deleted_at IS NULL", t).Scan(&rows).Error
	if err != nil {
		return nil, wrap("read messages for search", err)
	}
	out := make([]IndexDoc, len(rows))
	for i, r := range rows {
		ck := byID[r.ChatID]
		out[i] = IndexDoc{AppID: ck.AppID, Chat: ck.Number, Number: r.Number, Body: r.Body, Version: r.LockVersion}
	}
	return out, nil
}
