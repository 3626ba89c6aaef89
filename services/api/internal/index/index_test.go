package index_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/instachat/instachat/pkg/chat"
	"github.com/instachat/instachat/pkg/counter"
	"github.com/instachat/instachat/pkg/queue"
	"github.com/instachat/instachat/pkg/search"
	"github.com/instachat/instachat/pkg/search/bleve"
	"github.com/instachat/instachat/pkg/store"
	"github.com/instachat/instachat/pkg/testenv"
	"github.com/instachat/instachat/services/api/internal/chats"
	"github.com/instachat/instachat/services/api/internal/index"
)

// outageEngine wraps a real engine: while down, every call fails with
// search.ErrUnavailable (a stand-in for a search outage, which a test cannot
// cause on an embedded index); it counts the documents the engine accepted.
type outageEngine struct {
	search.Engine
	mu         sync.Mutex
	down       bool
	failures   int                // calls refused while down
	sent       map[search.Key]int // documents accepted, per key
	calls      int                // Index calls accepted
	switches   int                // SwitchOver calls
	afterIndex func(calls int)    // runs after each accepted Index call
	// beforeIndex runs before each Index call reaches the engine, with the
	// number of that call (1 for the first).
	beforeIndex func(call int)
}

func (e *outageEngine) setDown(down bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.down = down
}

func (e *outageEngine) refuse(op string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.down {
		return nil
	}
	e.failures++
	return fmt.Errorf("%s: connection refused: %w", op, search.ErrUnavailable)
}

func (e *outageEngine) Index(ctx context.Context, docs []search.Doc) error {
	if err := e.refuse("index"); err != nil {
		return err
	}
	e.mu.Lock()
	before, call := e.beforeIndex, e.calls+1
	e.mu.Unlock()
	if before != nil {
		before(call)
	}
	if err := e.Engine.Index(ctx, docs); err != nil {
		return err
	}
	e.mu.Lock()
	for _, d := range docs {
		e.sent[d.Key()]++
	}
	e.calls++
	calls, hook := e.calls, e.afterIndex
	e.mu.Unlock()
	if hook != nil {
		hook(calls)
	}
	return nil
}

func (e *outageEngine) Delete(ctx context.Context, keys []search.Key) error {
	if err := e.refuse("delete"); err != nil {
		return err
	}
	return e.Engine.Delete(ctx, keys)
}

func (e *outageEngine) Search(ctx context.Context, q search.Query) (search.Result, error) {
	if err := e.refuse("search"); err != nil {
		return search.Result{}, err
	}
	return e.Engine.Search(ctx, q)
}

// SwitchOver counts the calls, to see that a finished rebuild switches
// searches over.
func (e *outageEngine) SwitchOver(context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.switches++
	return nil
}

func (e *outageEngine) stats() (failures int, sent map[search.Key]int, switches int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	cp := make(map[search.Key]int, len(e.sent))
	for k, n := range e.sent {
		cp[k] = n
	}
	return e.failures, cp, e.switches
}

// syncBuffer is a log sink safe for the catch-up goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) count(s string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Count(b.b.String(), s)
}

type fixture struct {
	idx    *index.Index
	svc    *chats.Service
	st     *store.Store
	engine *outageEngine
	app    store.AppRef
	logs   *syncBuffer
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, store.Config{DSN: testenv.MySQLDSN(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	rdb, prefix := testenv.Redis(t)
	be, err := bleve.Open(bleve.Config{Path: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { be.Close() })
	eng := &outageEngine{Engine: be, sent: map[search.Key]int{}}
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	svc := chats.New(st, counter.New(rdb, queue.NewKeys(prefix, 1), st, counter.Config{}), eng, log)
	app, err := st.CreateApplication(ctx, "index test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{idx: index.New(st, eng, log), svc: svc, st: st, engine: eng, app: app, logs: logs}
}

// write persists messages the way the writer does: the rows and their outbox
// entries in one transaction.
func (f *fixture) write(t *testing.T, chatN int64, from, to int64, body string) {
	t.Helper()
	ctx := context.Background()
	var ws []store.MessageWrite
	var keys []store.MessageKey
	now := time.Now().UTC()
	for n := from; n <= to; n++ {
		w := store.MessageWrite{AppID: f.app.ID, Chat: chatN, Number: n, Body: fmt.Sprintf("%s %d", body, n),
			Prov: store.Provenance{EventID: fmt.Sprintf("ev-%d-%d", chatN, n), EventTime: now, ReadAt: now, WriteAt: now}}
		ws = append(ws, w)
		keys = append(keys, w.Key())
	}
	err := f.st.InTx(ctx, func(tx *store.Tx) error {
		chat := store.ChatWrite{AppID: f.app.ID, Number: chatN, Prov: store.Provenance{EventID: fmt.Sprintf("chat-%d", chatN), EventTime: now, ReadAt: now, WriteAt: now}}
		if _, err := tx.CreateChats(ctx, []store.ChatWrite{chat}); err != nil {
			return err
		}
		if _, err := tx.CreateMessages(ctx, ws); err != nil {
			return err
		}
		return tx.QueueForIndex(ctx, keys)
	})
	if err != nil {
		t.Fatalf("write messages %d..%d: %v", from, to, err)
	}
}

func (f *fixture) backlog(t *testing.T) int64 {
	t.Helper()
	n, err := f.st.OutboxBacklog(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func (f *fixture) searchTotal(t *testing.T, chatN int64, q string) (int64, error) {
	t.Helper()
	_, total, err := f.svc.Search(context.Background(), f.app.App.Token, chatN, q, chat.Page{Page: 1, PerPage: 100})
	return total, err
}

func TestCatchUpIndexesWhatWasWrittenDuringAnOutage(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	// A document whose message no longer exists: the catch-up removes it.
	ghost := search.Doc{AppID: f.app.ID, Chat: 1, Number: 999, Body: "needle ghost", Version: 1}
	if err := f.engine.Engine.Index(ctx, []search.Doc{ghost}); err != nil {
		t.Fatal(err)
	}
	f.engine.setDown(true)
	f.write(t, 1, 1, 250, "needle in the haystack")
	if err := f.st.InTx(ctx, func(tx *store.Tx) error {
		return tx.QueueForIndex(ctx, []store.MessageKey{{AppID: f.app.ID, Chat: 1, Number: 999}})
	}); err != nil {
		t.Fatal(err)
	}

	indexed, deleted, err := f.idx.CatchUp(ctx, 100, 0)
	if !errors.Is(err, search.ErrUnavailable) || indexed != 0 || deleted != 0 {
		t.Fatalf("catch-up while search is down: got %d, %d, %v; want 0, 0 and ErrUnavailable", indexed, deleted, err)
	}
	if got := f.backlog(t); got != 251 {
		t.Fatalf("outbox after a failed catch-up: got %d rows, want 251 kept", got)
	}
	_, err = f.searchTotal(t, 1, "needle")
	if !errors.Is(err, chat.ErrUnavailable) {
		t.Fatalf("search while down: got %v, want chat.ErrUnavailable (503)", err)
	}
	if got, want := chat.ClientMessage(err, ""), "search is unavailable; try again shortly"; got != want {
		t.Errorf("client message of a search outage: got %q, want %q", got, want)
	}

	f.engine.setDown(false)
	var totalIndexed, totalDeleted, rounds int
	for {
		indexed, deleted, err := f.idx.CatchUp(ctx, 100, 0)
		if err != nil {
			t.Fatalf("catch-up round %d: %v", rounds, err)
		}
		if indexed+deleted == 0 {
			break
		}
		totalIndexed += indexed
		totalDeleted += deleted
		rounds++
	}
	if totalIndexed != 250 || totalDeleted != 1 || rounds != 3 {
		t.Errorf("catch-up after the outage: got %d indexed, %d deleted in %d rounds; want 250, 1 in 3", totalIndexed, totalDeleted, rounds)
	}
	if got := f.backlog(t); got != 0 {
		t.Errorf("outbox after the catch-up: got %d rows, want 0", got)
	}
	if total, err := f.searchTotal(t, 1, "needle"); err != nil || total != 250 {
		t.Errorf("search after the catch-up: got %d, %v; want all 250 and not the deleted one", total, err)
	}
}

// TestCatchUpDoesNotBringBackAMessageDeletedMeanwhile: a message deleted
// between the catch-up's read and its Index call, whose delete the live path
// already took out of the index (and whose outbox rows it already dropped),
// is removed again: it is not found by a search afterwards.
func TestCatchUpDoesNotBringBackAMessageDeletedMeanwhile(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.write(t, 1, 1, 3, "needle")
	victim := search.Key{AppID: f.app.ID, Chat: 1, Number: 2}
	f.engine.beforeIndex = func(call int) {
		if call != 1 {
			return
		}
		// The live path: the writer commits the delete, the api removes the
		// document, the writer forgets the batch's outbox rows (none here).
		now := time.Now().UTC()
		err := f.st.InTx(ctx, func(tx *store.Tx) error {
			_, err := tx.DeleteMessage(ctx, store.MessageWrite{AppID: f.app.ID, Chat: 1, Number: 2,
				Prov: store.Provenance{EventID: "delete-2", EventTime: now, ReadAt: now, WriteAt: now}})
			return err
		})
		if err != nil {
			t.Errorf("delete message 2: %v", err)
		}
		if err := f.engine.Engine.Delete(ctx, []search.Key{victim}); err != nil {
			t.Errorf("live delete of message 2: %v", err)
		}
	}
	indexed, deleted, err := f.idx.CatchUp(ctx, 100, 0)
	if err != nil || indexed != 3 || deleted != 1 {
		t.Fatalf("catch-up: got %d indexed, %d deleted, %v; want 3 read and indexed, the deleted one removed again", indexed, deleted, err)
	}
	if total, err := f.searchTotal(t, 1, "needle"); err != nil || total != 2 {
		t.Errorf("search after the catch-up: got %d, %v; want 2 (message 2 was deleted)", total, err)
	}
	if got := f.backlog(t); got != 0 {
		t.Errorf("outbox after the catch-up: got %d rows, want 0", got)
	}
}

func TestRunCatchUpWarnsOncePerOutageAndRecovers(t *testing.T) {
	f := newFixture(t)
	f.engine.setDown(true)
	f.write(t, 1, 1, 30, "lost reindex")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); f.idx.RunCatchUp(ctx, 5*time.Millisecond, 0) }()
	defer func() { cancel(); <-done }()

	waitFor(t, "five refused attempts", func() bool { failures, _, _ := f.engine.stats(); return failures >= 5 })
	if got := f.logs.count("search catch-up failing"); got != 1 {
		t.Errorf("warnings during one outage: got %d, want 1", got)
	}
	if got := f.backlog(t); got != 30 {
		t.Errorf("outbox during the outage: got %d rows, want 30", got)
	}
	f.engine.setDown(false)
	waitFor(t, "the outbox drained", func() bool { return f.backlog(t) == 0 })
	if total, err := f.searchTotal(t, 1, "lost"); err != nil || total != 30 {
		t.Errorf("search after recovery: got %d, %v; want 30", total, err)
	}
	waitFor(t, "the recovery logged", func() bool { return f.logs.count("search catch-up recovered") == 1 })

	// A second outage warns again, once.
	f.engine.setDown(true)
	f.write(t, 1, 31, 31, "lost reindex")
	waitFor(t, "the second outage warned", func() bool { return f.logs.count("search catch-up failing") == 2 })
	f.engine.setDown(false)
	waitFor(t, "the outbox drained again", func() bool { return f.backlog(t) == 0 })
}

func TestRebuildResumesWhereItStopped(t *testing.T) {
	f := newFixture(t)
	for chatN := int64(1); chatN <= 4; chatN++ {
		f.write(t, chatN, 1, 250, "rebuild")
	}
	ctx, cancel := context.WithCancel(context.Background())
	f.engine.afterIndex = func(calls int) {
		if calls == 3 {
			cancel() // interrupted right after the third page was indexed
		}
	}
	var reported [][2]int64
	progress := func(done, total int64) { reported = append(reported, [2]int64{done, total}) }
	n, err := f.idx.RebuildIndex(ctx, 100, false, progress)
	if !errors.Is(err, context.Canceled) || n != 300 {
		t.Fatalf("interrupted rebuild: got %d sent, %v; want 300 and context.Canceled", n, err)
	}
	if pending, err := f.idx.RebuildPending(context.Background()); err != nil || !pending {
		t.Fatalf("after the interruption: got pending %v, %v; want a pending rebuild", pending, err)
	}
	_, _, switches := f.engine.stats()
	if switches != 0 {
		t.Errorf("an interrupted rebuild switched searches over %d times, want 0", switches)
	}

	f.engine.afterIndex = nil
	reported = nil
	n, err = f.idx.RebuildIndex(context.Background(), 100, false, progress)
	if err != nil || n != 700 {
		t.Fatalf("resumed rebuild: got %d sent, %v; want the remaining 700", n, err)
	}
	if len(reported) == 0 || reported[0] != [2]int64{300, 1000} || reported[len(reported)-1] != [2]int64{1000, 1000} {
		t.Errorf("progress of the resumed rebuild: got %v, want it to start at 300/1000 and end at 1000/1000", reported)
	}
	_, sent, switches := f.engine.stats()
	if len(sent) != 1000 {
		t.Errorf("messages indexed: got %d, want 1000", len(sent))
	}
	for k, times := range sent {
		if times != 1 {
			t.Errorf("message %+v indexed %d times in total, want once", k, times)
		}
	}
	if switches != 1 {
		t.Errorf("a finished rebuild switched searches over %d times, want 1", switches)
	}
	if pending, err := f.idx.RebuildPending(context.Background()); err != nil || pending {
		t.Errorf("after the rebuild: got pending %v, %v; want finished", pending, err)
	}
	if total, err := f.searchTotal(t, 3, "rebuild"); err != nil || total != 250 {
		t.Errorf("search after the rebuild: got %d, %v; want 250", total, err)
	}

	// -restart ignores an interrupted rebuild's position.
	ctx, cancel = context.WithCancel(context.Background())
	f.engine.afterIndex = func(calls int) {
		if calls == 12 {
			cancel()
		}
	}
	if n, err := f.idx.RebuildIndex(ctx, 100, false, nil); !errors.Is(err, context.Canceled) || n != 200 {
		t.Fatalf("second interrupted rebuild: got %d sent, %v; want 200 and context.Canceled", n, err)
	}
	f.engine.afterIndex = nil
	if n, err := f.idx.RebuildIndex(context.Background(), 100, true, nil); err != nil || n != 1000 {
		t.Errorf("restarted rebuild: got %d sent, %v; want all 1000", n, err)
	}
}

// waitFor polls cond for up to 20 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// existingEngine presents an index that is not new, as a restarted api finds
// the index an earlier start created.
type existingEngine struct{ search.Engine }

func (e existingEngine) Info() search.Info {
	info := e.Engine.Info()
	info.Fresh = false
	return info
}

// TestRunRebuildsAnIndexWithNothingSaved: an index that already exists but
// has no saved rebuild state (the start that created it stopped before its
// rebuild was recorded) is rebuilt from zero at the next start, not left
// empty.
func TestRunRebuildsAnIndexWithNothingSaved(t *testing.T) {
	f := newFixture(t)
	f.write(t, 1, 1, 40, "unsaved")
	idx := index.New(f.st, existingEngine{f.engine}, slog.New(slog.NewTextHandler(f.logs, nil)))
	ready := make(chan struct{})
	close(ready)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		idx.Run(ctx, ready, index.CatchUpConfig{Interval: time.Hour, Delay: time.Hour}) // no catch-up in this test
	}()
	waitFor(t, "the rebuild to index all 40 messages", func() bool {
		_, sent, _ := f.engine.stats()
		return len(sent) == 40
	})
	waitFor(t, "the rebuild to finish", func() bool {
		pending, err := idx.RebuildPending(context.Background())
		return err == nil && !pending
	})
	cancel()
	<-done
	if total, err := f.searchTotal(t, 1, "unsaved"); err != nil || total != 40 {
		t.Errorf("search after the start: got %d, %v; want 40", total, err)
	}
}
