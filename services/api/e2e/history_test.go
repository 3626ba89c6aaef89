package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	ic "github.com/instachat/instachat/client"
	"github.com/instachat/instachat/pkg/chat"
	"github.com/instachat/instachat/pkg/counter"
	"github.com/instachat/instachat/pkg/queue"
)

// This file checks issue 12's done-when line: cursor pages walk a
// 10,000-message chat in both directions with no gap or repeat while new
// messages arrive.

const (
	historySeeded = 10000
	historyLimit  = 100
)

func TestCursorWalkWhileWriting(t *testing.T) {
	s := newSystem(t)
	app := s.seedHistory(historySeeded)

	ctx, stopPosting := context.WithCancel(t.Context())
	defer stopPosting()
	var posted postedNumbers
	var posters sync.WaitGroup
	for range 2 {
		posters.Go(func() { keepPosting(ctx, app, &posted) })
	}
	// Let arrivals begin before the walks start, so both meet them.
	eventually(t, 10*time.Second, "first arrivals", func() (bool, string) {
		return posted.max() > historySeeded+20, fmt.Sprint("highest posted ", posted.max())
	})

	var walks sync.WaitGroup
	var forward, backward []int64
	var forwardErr, backwardErr error
	walks.Go(func() { backward, backwardErr = walk(t.Context(), app, ic.Newest().WithLimit(historyLimit), 0) })
	walks.Go(func() {
		// Walk forward until past the seeded history and a few more pages of
		// arrivals, then stop posting and poll until every posted number is read.
		forward, forwardErr = walk(t.Context(), app, ic.Oldest().WithLimit(historyLimit), historySeeded+300)
		if forwardErr != nil {
			return
		}
		stopPosting()
		posters.Wait()
		var more []int64
		more, forwardErr = pollUntil(t.Context(), app, forward[len(forward)-1], posted.max(), 30*time.Second)
		forward = append(forward, more...)
	})
	walks.Wait()
	stopPosting()
	posters.Wait()
	if forwardErr != nil || backwardErr != nil {
		t.Fatalf("walks: forward %v, backward %v", forwardErr, backwardErr)
	}
	if posted.errors() > 0 {
		t.Fatalf("posting: %d requests failed (first: %v)", posted.errors(), posted.firstErr)
	}
	t.Logf("forward walk read %d messages (1..%d), backward walk %d (%d..1), %d posted during the walks",
		len(forward), forward[len(forward)-1], len(backward), backward[0], posted.max()-historySeeded)

	// Forward: exactly 1..highest posted, each once, in order: the seeded
	// history and every arrival, none skipped by the live edge.
	if err := contiguous(forward, 1, posted.max()); err != nil {
		t.Errorf("forward walk: %v", err)
	}
	// Backward: from its first page's top down to 1, each once, in order.
	rev := make([]int64, len(backward))
	for i, n := range backward {
		rev[len(backward)-1-i] = n
	}
	if err := contiguous(rev, 1, backward[0]); err != nil {
		t.Errorf("backward walk (reversed): %v", err)
	}
	if backward[0] < historySeeded {
		t.Errorf("backward walk started at %d, below the seeded %d", backward[0], historySeeded)
	}
}

// contiguous checks that got is exactly from..to in ascending order.
func contiguous(got []int64, from, to int64) error {
	if int64(len(got)) != to-from+1 {
		return fmt.Errorf("read %d numbers, want %d (%d..%d)", len(got), to-from+1, from, to)
	}
	for i, n := range got {
		if want := from + int64(i); n != want {
			return fmt.Errorf("item %d is %d, want %d (a gap, repeat or disorder; around it: %v)", i, n, want, got[max(0, i-3):min(len(got), i+3)])
		}
	}
	return nil
}

// seedHistory creates an application with chat 1 through the api, writes n
// messages into it straight into MySQL (as the benchmark's seeder does),
// and seeds the chat's Redis counter to n, so the api hands out n+1 next.
func (s *system) seedHistory(n int) *ic.App {
	s.t.Helper()
	app := s.newApp("history")
	s.newChats(app, 1)
	eventually(s.t, 10*time.Second, "chat 1 persisted", func() (bool, string) {
		c, err := app.Chat(s.t.Context(), 1)
		return err == nil && c.Status == ic.StatusPersisted, fmt.Sprintf("%+v, %v", c, err)
	})
	db := s.sqlDB()
	var chatID int64
	if err := db.QueryRow("SELECT id FROM chats WHERE number = 1").Scan(&chatID); err != nil {
		s.t.Fatal(err)
	}
	at := time.Now().UTC().Add(-time.Hour).Format("2006-01-02 15:04:05.000000")
	for lo := 1; lo <= n; lo += 2000 {
		var rows []string
		for k := lo; k < lo+2000 && k <= n; k++ {
			ev := fmt.Sprintf("%032x", k)
			rows = append(rows, fmt.Sprintf("(%d,%d,'seeded %d','%s','%s','%s','%s','%s','%s','%s')", chatID, k, k, ev, ev, at, at, at, at, at))
		}
		if _, err := db.Exec("INSERT INTO messages (chat_id, number, body, create_event_id, last_event_id, event_time, read_at, written_at, created_at, updated_at) VALUES " +
			strings.Join(rows, ",")); err != nil {
			s.t.Fatal(err)
		}
	}
	cnt := counter.New(s.rdb, queue.NewKeys(s.prefix, 8), nil, counter.Config{}) // QUEUE_PARTITIONS defaults to 8
	if err := cnt.SeedChat(s.t.Context(), chat.TokenDigest(app.Token()), 1, counter.Seed{Max: int64(n)}); err != nil {
		s.t.Fatal(err)
	}
	return app
}

// postedNumbers records the numbers the api handed out to the posters.
type postedNumbers struct {
	mu       sync.Mutex
	top      int64
	failed   int
	firstErr error
}

func (p *postedNumbers) add(n int64, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil {
		if p.failed == 0 {
			p.firstErr = err
		}
		p.failed++
		return
	}
	p.top = max(p.top, n)
}

func (p *postedNumbers) max() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.top
}

func (p *postedNumbers) errors() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.failed
}

// keepPosting posts messages to chat 1 of app, each tried once, until ctx
// ends. It runs beside the test's goroutine, so it records failures instead
// of failing the test. A post under way when ctx ends is finished and
// recorded: cancelling it could hand out a number the test never hears of.
func keepPosting(ctx context.Context, app *ic.App, posted *postedNumbers) {
	for ctx.Err() == nil {
		m, err := app.PostMessage(context.WithoutCancel(ctx), 1, "arrival")
		posted.add(m.Number, err)
		if err != nil {
			continue
		}
		time.Sleep(2 * time.Millisecond) // a busy chat, not a flood
	}
}

// walk reads chat 1 of app with the client's History from the cursor until
// it ends, or, when until > 0, on past the live edge (walking again from
// After(the last number read)) until it has read past until; it returns the
// numbers in the order read.
func walk(ctx context.Context, app *ic.App, from ic.Cursor, until int64) ([]int64, error) {
	var got []int64
	for rounds := 0; rounds < 1000; rounds++ {
		for m, err := range app.History(ctx, 1, from) {
			if err != nil {
				return got, err
			}
			got = append(got, m.Number)
			if until > 0 && m.Number > until {
				return got, nil
			}
		}
		if until == 0 {
			return got, nil
		}
		time.Sleep(20 * time.Millisecond) // at the live edge
		if len(got) > 0 {
			from = ic.After(got[len(got)-1]).WithLimit(historyLimit)
		}
	}
	return got, fmt.Errorf("walk did not read past %d in 1000 rounds", until)
}

// pollUntil walks forward from After(last), as a live client does, again
// and again until it has read top, and returns what it read.
func pollUntil(ctx context.Context, app *ic.App, last, top int64, timeout time.Duration) ([]int64, error) {
	var got []int64
	deadline := time.Now().Add(timeout)
	for last < top {
		if time.Now().After(deadline) {
			return got, fmt.Errorf("polling after=%d: %d not read within %s", last, top, timeout)
		}
		for m, err := range app.History(ctx, 1, ic.After(last).WithLimit(historyLimit)) {
			if err != nil {
				return got, err
			}
			got = append(got, m.Number)
			last = m.Number
		}
		if last < top {
			time.Sleep(20 * time.Millisecond)
		}
	}
	return got, nil
}
