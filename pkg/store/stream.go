package store

import (
	"context"
	"database/sql"
	"math"
	"strconv"
	"time"
)

// The journal as a record of the live-event streams (issue 13): every
// delivery the writer journals carries its event's position, so the api can
// replay a range of positions that Redis no longer retains, and can tell how
// far the journal holds every event of a generation without a hole.

// StreamPosition is where an event sits in its partition's live-event stream
// (package events): partition, generation, sequence. The zero value is none:
// an event accepted before the streams existed.
type StreamPosition struct {
	Part     int
	Gen, Seq uint64
}

// IsZero reports whether p is no position.
func (p StreamPosition) IsZero() bool { return p.Gen == 0 }

// String is "<gen>-<seq> of partition <part>", or "none".
func (p StreamPosition) String() string {
	if p.IsZero() {
		return "none"
	}
	return strconv.FormatUint(p.Gen, 10) + "-" + strconv.FormatUint(p.Seq, 10) + " of partition " + strconv.Itoa(p.Part)
}

// columns returns p as the values of a row's three position columns
// (stream_part/gen/seq, source_part/gen/seq): NULLs when p is none.
func (p StreamPosition) columns() (part, gen, seq any) {
	if p.IsZero() {
		return nil, nil, nil
	}
	return p.Part, p.Gen, p.Seq
}

// JournalEvent is one event of a partition's stream as the journal holds it,
// whichever delivery recorded it.
type JournalEvent struct {
	Seq     uint64
	Type    string // the job type (queue.Type*)
	Chat    int64
	Message int64  // 0 for chat events
	Body    string // for message creates and updates
	// EventTime is when the api accepted the write.
	EventTime time.Time
}

// maxStreamPage bounds what one journal read of positions returns.
const maxStreamPage = 5000

// eventsBetweenQuery reads each position once (GROUP BY: redeliveries of an
// event carry the same content) in order, along idx_journal_stream.
const eventsBetweenQuery = `SELECT stream_seq, MIN(type) AS type, MIN(chat_number) AS chat, MIN(message_number) AS message,
MIN(body) AS body, MIN(event_time) AS event_time FROM event_journal FORCE INDEX (idx_journal_stream)
WHERE stream_part = ? AND stream_gen = ? AND stream_seq > ? AND stream_seq < ? AND application_id = ?`

// EventsBetween returns the journaled events of application appID (of its
// chat number chat; 0: of every chat) in generation gen of partition part,
// after afterSeq and before beforeSeq (0: no bound), in order, at most limit
// of them (at most 5000). The caller decides whether the journal is complete
// over the range (see JournalSeqs): positions it does not hold are simply
// missing here.
func (s *Store) EventsBetween(ctx context.Context, part int, gen, afterSeq, beforeSeq uint64, appID, chat int64, limit int) ([]JournalEvent, error) {
	if limit <= 0 || limit > maxStreamPage {
		limit = maxStreamPage
	}
	if beforeSeq == 0 {
		beforeSeq = math.MaxInt64
	}
	q, args := eventsBetweenQuery, []any{part, gen, afterSeq, beforeSeq, appID}
	if chat != 0 {
		q += " AND chat_number = ?"
		args = append(args, chat)
	}
	q += " GROUP BY stream_seq ORDER BY stream_seq LIMIT ?"
	args = append(args, limit)
	var rows []struct {
		StreamSeq uint64
		Type      string
		Chat      int64
		Message   int64
		Body      sql.NullString
		EventTime time.Time
	}
	if err := s.db.WithContext(ctx).Raw(q, args...).Scan(&rows).Error; err != nil {
		return nil, wrap("read journaled events", err)
	}
	out := make([]JournalEvent, len(rows))
	for i, r := range rows {
		out[i] = JournalEvent{Seq: r.StreamSeq, Type: r.Type, Chat: r.Chat, Message: r.Message, Body: r.Body.String,
			EventTime: r.EventTime.UTC()}
	}
	return out, nil
}

// journalSeqsQuery walks idx_journal_stream from a position.
const journalSeqsQuery = `SELECT DISTINCT stream_seq FROM event_journal
WHERE stream_part = ? AND stream_gen = ? AND stream_seq > ? AND outcome <> ? ORDER BY stream_seq LIMIT ?`

// JournalSeqs returns the distinct sequences of generation gen of partition
// part that the journal holds with a final outcome after afterSeq, in order,
// at most limit (at most 5000): what a watermark of "journaled without a
// hole" advances over. A position journaled only as parked is left out: its
// effect is not in MySQL yet (it applies once its parent commits), and a
// list read at a watermark past it would never show it.
// JournalSeqs(ctx, part, gen, 0, 1) is the oldest position still kept (the
// journal is purged by age).
func (s *Store) JournalSeqs(ctx context.Context, part int, gen, afterSeq uint64, limit int) ([]uint64, error) {
	if limit <= 0 || limit > maxStreamPage {
		limit = maxStreamPage
	}
	var seqs []uint64
	err := s.db.WithContext(ctx).Raw(journalSeqsQuery, part, gen, afterSeq, OutcomeParked, limit).Scan(&seqs).Error
	if err != nil {
		return nil, wrap("read journaled positions", err)
	}
	return seqs, nil
}
