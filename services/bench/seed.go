package main

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/instachat/instachat/pkg/chat"
	"github.com/instachat/instachat/pkg/counter"
	"github.com/instachat/instachat/pkg/queue"
)

// Seeding writes messages straight into MySQL: through the api a million
// creates would take the better part of an hour on a small machine and
// measure the write path, not search.
const (
	seedRowsPerStatement = 2000 // ~300 KB of SQL, far below max_allowed_packet
	seedConns            = 4    // concurrent INSERTs
)

// seedChat is one chat the seeder fills.
type seedChat struct {
	id     int64  // chats.id
	token  string // its application's token
	number int64
	count  int64 // messages seeded into it
}

// seedMessage is one messages row as the writer writes a message.create: the
// body, the event that wrote it, and when the event was accepted (event_time,
// also created_at and updated_at), read and written.
type seedMessage struct {
	chatID, number int64
	body           string
	eventID        string
	eventTime      time.Time
	readAt         time.Time
	writtenAt      time.Time
}

// seedColumns are the columns the writer's insert names (pkg/store, insertMessages);
// lock_version keeps its default 0 there too, and deleted_at is NULL for a live chat.
const seedColumns = "chat_id, number, body, deleted_at, create_event_id, last_event_id, event_time, read_at, written_at, created_at, updated_at"

// insertMessagesSQL builds one multi-row INSERT of rows. Unlike the writer's
// it has no ON DUPLICATE KEY clause: the seed writes each number once, and a
// duplicate must fail loudly rather than turn into an update.
func insertMessagesSQL(rows []seedMessage) (string, []any) {
	var sb strings.Builder
	sb.Grow(80 + len(seedColumns) + len(rows)*24)
	sb.WriteString("INSERT INTO messages (" + seedColumns + ") VALUES ")
	args := make([]any, 0, len(rows)*11)
	for i, r := range rows {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString("(?,?,?,?,?,?,?,?,?,?,?)")
		args = append(args, r.chatID, r.number, r.body, nil, r.eventID, r.eventID, r.eventTime, r.readAt, r.writtenAt, r.eventTime, r.eventTime)
	}
	return sb.String(), args
}

// messagePlan decides which chat each message goes to: the large chat (when
// there is one) takes share of the messages, spread evenly through time, and
// the typical chats take the rest in turn, as a busy system interleaves chats.
type messagePlan struct {
	typical []*seedChat
	large   *seedChat // nil: no large chat
	share   float64
	total   int
	next    int // messages planned so far
	nextTyp int // of which went to typical chats
	text    *textGen
	start   time.Time // event time of the first message
}

func newMessagePlan(typical []*seedChat, large *seedChat, share float64, total int, text *textGen, start time.Time) *messagePlan {
	if large == nil {
		share = 0
	}
	return &messagePlan{typical: typical, large: large, share: share, total: total, text: text, start: start}
}

// chatFor returns the chat of message i (0-based): the large chat when
// floor((i+1)·share) steps past floor(i·share), so it holds exactly
// floor(total·share) messages spread evenly.
func (p *messagePlan) chatFor(i int) *seedChat {
	if p.large != nil && int(float64(i+1)*p.share) > int(float64(i)*p.share) {
		return p.large
	}
	c := p.typical[p.nextTyp%len(p.typical)]
	p.nextTyp++
	return c
}

// batch returns the next up to n messages, nil when all are planned. Events
// are 1 µs apart; the writer read each 2 ms after it was accepted and wrote
// it 3 ms later.
func (p *messagePlan) batch(n int) []seedMessage {
	n = min(n, p.total-p.next)
	if n <= 0 {
		return nil
	}
	rows := make([]seedMessage, n)
	for k := range rows {
		c := p.chatFor(p.next)
		c.count++
		at := p.start.Add(time.Duration(p.next) * time.Microsecond)
		rows[k] = seedMessage{chatID: c.id, number: c.count, body: p.text.message(), eventID: queue.NewEventID(at),
			eventTime: at, readAt: at.Add(2 * time.Millisecond), writtenAt: at.Add(5 * time.Millisecond)}
		p.next++
	}
	return rows
}

// seedMessages inserts every message of plan with seedConns connections and
// reports progress on log.
func seedMessages(ctx context.Context, dsn string, plan *messagePlan, log io.Writer) error {
	db, err := openSeedDB(dsn)
	if err != nil {
		return err
	}
	defer db.Close()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stmts := make(chan []seedMessage, seedConns)
	var (
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
		done     atomic.Int64
	)
	fail := func(err error) {
		errOnce.Do(func() { firstErr = err; cancel() })
	}
	for range seedConns {
		wg.Go(func() {
			for rows := range stmts {
				q, args := insertMessagesSQL(rows)
				if _, err := db.ExecContext(ctx, q, args...); err != nil {
					fail(fmt.Errorf("insert %d messages: %w", len(rows), err))
					continue // drain the channel so the producer never blocks
				}
				done.Add(int64(len(rows)))
			}
		})
	}
	stopProgress := showSeedProgress(log, &done, plan.total)
	for ctx.Err() == nil {
		rows := plan.batch(seedRowsPerStatement)
		if rows == nil {
			break
		}
		select {
		case stmts <- rows:
		case <-ctx.Done():
		}
	}
	close(stmts)
	wg.Wait()
	stopProgress()
	if firstErr != nil {
		return firstErr
	}
	return ctx.Err()
}

// openSeedDB opens a pool of seedConns connections that send each statement
// with its arguments in one round trip, instead of prepare, execute and close.
func openSeedDB(dsn string) (*sql.DB, error) {
	mc, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("parse MySQL DSN: %w", err)
	}
	mc.InterpolateParams = true
	db, err := sql.Open("mysql", mc.FormatDSN())
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(seedConns)
	return db, nil
}

// showSeedProgress shows done of total rows and the rate on log twice a
// second until stop is called; stop returns once the line is finished.
func showSeedProgress(log io.Writer, done *atomic.Int64, total int) (stop func()) {
	start := time.Now()
	stopped := make(chan struct{})
	progressDone := make(chan struct{})
	go func() {
		defer close(progressDone)
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		line := newStatusLine(log)
		for {
			select {
			case <-stopped:
				line.End()
				return
			case <-t.C:
				n := done.Load()
				line.Show("seeding messages %10d/%-10d %8.0f rows/s ", n, total, float64(n)/time.Since(start).Seconds())
			}
		}
	}()
	return func() {
		close(stopped)
		<-progressDone
	}
}

// syncSeededCounts brings what counts messages in line with the seeded rows,
// as for messages created through the api: each chat's Redis message counter
// (the api hands out the next number from it and answers 404, not pending,
// beyond it) and chats.messages_count (the cron's count sync, with its
// lock_version bump).
func syncSeededCounts(ctx context.Context, db *sql.DB, cnt *counter.Counter, chats []*seedChat) error {
	for _, c := range chats {
		if err := cnt.SeedChat(ctx, chat.TokenDigest(c.token), c.number, counter.Seed{Max: c.count}); err != nil {
			return fmt.Errorf("chat %d: %w", c.number, err)
		}
		if _, err := db.ExecContext(ctx, "UPDATE chats SET messages_count = ?, lock_version = lock_version + 1 WHERE id = ?", c.count, c.id); err != nil {
			return fmt.Errorf("count messages of chat row %d: %w", c.id, err)
		}
	}
	return nil
}

// analyzeSeeded refreshes the optimizer statistics of the seeded tables. A
// bulk load leaves InnoDB's sampled index statistics behind the data: on
// MariaDB 10.11 with 1,000,000 messages in 101 chats the rebuild's page query
// (pkg/store IndexPage) then joined chats first and sorted every message
// through a temporary table for each page of 1,000, about a minute a page.
func analyzeSeeded(ctx context.Context, db *sql.DB) error {
	rows, err := db.QueryContext(ctx, "ANALYZE TABLE messages, chats")
	if err != nil {
		return fmt.Errorf("analyze tables: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
	}
	return rows.Err()
}
