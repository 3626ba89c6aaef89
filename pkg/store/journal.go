package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
)

// Journal outcomes.
const (
	OutcomeApplied   = "applied"
	OutcomeDuplicate = "duplicate"
	OutcomeStale     = "stale"
	OutcomeParked    = "parked"
	OutcomeDead      = "dead"
	// OutcomeNumberConflict: a create found its number held by a row another
	// event created; the row was left alone and the event dead-lettered.
	OutcomeNumberConflict = "number_conflict"
)

// JournalEntry records what happened to one delivery of an event: its keys,
// when the api accepted it, when the writer read and wrote it, when it
// committed, which attempt it was and the outcome. Message bodies are kept
// for creates and updates so the journal can be replayed (see Reconcile).
type JournalEntry struct {
	EventID   string
	Type      string
	AppID     int64
	Chat      int64
	Message   int64
	Body      *string
	EventTime time.Time
	ReadAt    time.Time
	WrittenAt time.Time // zero when the event wrote nothing (parked, dead)
	Attempt   int
	Outcome   string // one of the Outcome constants
	Detail    string // out-of-order kind or error, at most 255 characters
	TraceID   string
	// Stream is the event's position in its partition's live-event stream,
	// the same for every delivery of it (zero for events from before the
	// streams).
	Stream StreamPosition
}

// Journal appends entries inside the writer's transaction, so an outcome is
// recorded if and only if it committed. committed_at is the time of this
// statement, the last of the transaction.
func (tx *Tx) Journal(ctx context.Context, entries []JournalEntry) error {
	return writeJournal(ctx, tx.db, entries)
}

// JournalOutside appends entries decided outside a writer transaction (a job
// moved to the dead list before it could apply).
func (s *Store) JournalOutside(ctx context.Context, entries []JournalEntry) error {
	return writeJournal(ctx, s.db, entries)
}

const journalChunk = 500

func writeJournal(ctx context.Context, db *gorm.DB, entries []JournalEntry) error {
	for start := 0; start < len(entries); {
		end, size := start, 0
		for end < len(entries) && end-start < journalChunk && (end == start || size <= maxStatementBodyBytes) {
			if b := entries[end].Body; b != nil {
				size += len(*b)
			}
			end++
		}
		var sb strings.Builder
		sb.WriteString("INSERT INTO event_journal (event_id, type, application_id, chat_number, message_number, body, " +
			"event_time, read_at, written_at, committed_at, attempt, outcome, detail, trace_id, stream_part, stream_gen, stream_seq) VALUES ")
		args := make([]any, 0, (end-start)*16)
		for i, e := range entries[start:end] {
			if i > 0 {
				sb.WriteByte(',')
			}
			sb.WriteString("(?,?,?,?,?,?,?,?,?,UTC_TIMESTAMP(6),?,?,?,?,?,?,?)")
			var written any
			if !e.WrittenAt.IsZero() {
				written = e.WrittenAt
			}
			detail := e.Detail
			if len(detail) > 255 {
				detail = detail[:255]
			}
			part, gen, seq := e.Stream.columns()
			args = append(args, e.EventID, e.Type, e.AppID, e.Chat, e.Message, e.Body,
				e.EventTime, e.ReadAt, written, e.Attempt, e.Outcome, nullable(detail), nullable(e.TraceID), part, gen, seq)
		}
		if err := db.WithContext(ctx).Exec(sb.String(), args...).Error; err != nil {
			return wrap("write journal", err)
		}
		start = end
	}
	return nil
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// PurgeJournal deletes journal entries committed before cutoff, in chunks so
// no statement holds locks for long, and returns how many it deleted.
func (s *Store) PurgeJournal(ctx context.Context, cutoff time.Time) (int64, error) {
	var total int64
	for {
		res := s.db.WithContext(ctx).Exec("DELETE FROM event_journal WHERE committed_at < ? ORDER BY committed_at LIMIT 5000", cutoff)
		if res.Error != nil {
			return total, wrap("purge journal", res.Error)
		}
		total += res.RowsAffected
		if res.RowsAffected < 5000 {
			return total, nil
		}
		if err := ctx.Err(); err != nil {
			return total, fmt.Errorf("purge journal: %w", err)
		}
	}
}
