package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

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
	_, chatPath := s.seedHistory(historySeeded)

	ctx, stopPosting := context.WithCancel(t.Context())
	defer stopPosting()
	var posted postedNumbers
	var posters sync.WaitGroup
	for range 2 {
		posters.Go(func() { s.keepPosting(ctx, chatPath, &posted) })
	}
	// Let arrivals begin before the walks start, so both meet them.
	eventually(t, 10*time.Second, "first arrivals", func() (bool, string) {
		return posted.max() > historySeeded+20, fmt.Sprint("highest posted ", posted.max())
	})

	var walks sync.WaitGroup
	var forward, backward []int64
	var forwardErr, backwardErr error
	walks.Go(func() { backward, backwardErr = s.walk(chatPath, "limit="+fmt.Sprint(historyLimit), 0) })
	walks.Go(func() {
		// Walk forward until past the seeded history and a few more pages of
		// arrivals, then stop posting and poll until every posted number is read.
		forward, forwardErr = s.walk(chatPath, "after=0&limit="+fmt.Sprint(historyLimit), historySeeded+300)
		if forwardErr != nil {
			return
		}
		stopPosting()
		posters.Wait()
		var more []int64
		more, forwardErr = s.pollUntil(chatPath, forward[len(forward)-1], posted.max(), 30*time.Second)
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
func (s *system) seedHistory(n int) (token, chatPath string) {
	s.t.Helper()
	r := s.postJSON("/api/v1/applications", map[string]string{"name": "history"})
	if r.status != http.StatusCreated {
		s.t.Fatalf("create application: %d %s", r.status, r.raw)
	}
	token = r.body["token"].(string)
	base := "/api/v1/applications/" + token
	if r := s.do("POST", base+"/chats", "", ""); r.status != http.StatusCreated {
		s.t.Fatalf("create chat: %d %s", r.status, r.raw)
	}
	eventually(s.t, 10*time.Second, "chat 1 persisted", func() (bool, string) {
		r := s.get(base + "/chats/1")
		return r.body["status"] == "persisted", r.raw
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
	if err := cnt.SeedChat(s.t.Context(), chat.TokenDigest(token), 1, counter.Seed{Max: int64(n)}); err != nil {
		s.t.Fatal(err)
	}
	return token, base + "/chats/1/messages"
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

// keepPosting posts messages to chatPath until ctx ends. It runs beside the
// test's goroutine, so it records failures instead of failing the test.
func (s *system) keepPosting(ctx context.Context, chatPath string, posted *postedNumbers) {
	for ctx.Err() == nil {
		req, _ := http.NewRequestWithContext(ctx, "POST", s.apiURL+chatPath, strings.NewReader(`{"body":"arrival"}`))
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			posted.add(0, err)
			continue
		}
		var body struct{ Number int64 }
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated || err != nil {
			posted.add(0, fmt.Errorf("post: status %d, %v", resp.StatusCode, err))
			continue
		}
		posted.add(body.Number, nil)
		time.Sleep(2 * time.Millisecond) // a busy chat, not a flood
	}
}

// listPage is a cursor page as the walk reads it.
type listPage struct {
	Messages []struct{ Number int64 }
	HasMore  bool `json:"has_more"`
	Next     *struct {
		Before *int64
		After  *int64
	}
}

func getPage(url string) (listPage, error) {
	resp, err := client.Get(url)
	if err != nil {
		return listPage{}, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return listPage{}, fmt.Errorf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	var p listPage
	if err := json.Unmarshal(b, &p); err != nil {
		return listPage{}, fmt.Errorf("GET %s: %v", url, err)
	}
	return p, nil
}

// walk follows the next cursors from query until has_more is false, or,
// when until > 0, until it has read past until; it returns the numbers in
// the order read.
func (s *system) walk(chatPath, query string, until int64) ([]int64, error) {
	var got []int64
	for pages := 0; pages < 1000; pages++ {
		p, err := getPage(s.apiURL + chatPath + "?" + query)
		if err != nil {
			return got, err
		}
		for _, m := range p.Messages {
			got = append(got, m.Number)
		}
		if until > 0 && len(got) > 0 && got[len(got)-1] > until {
			return got, nil
		}
		switch {
		case p.Next != nil && p.Next.Before != nil:
			query = fmt.Sprintf("before=%d&limit=%d", *p.Next.Before, historyLimit)
		case p.Next != nil && p.Next.After != nil:
			query = fmt.Sprintf("after=%d&limit=%d", *p.Next.After, historyLimit)
		case until > 0 && len(got) > 0: // at the live edge: poll from the last item
			time.Sleep(20 * time.Millisecond)
			query = fmt.Sprintf("after=%d&limit=%d", got[len(got)-1], historyLimit)
		case until > 0:
			time.Sleep(20 * time.Millisecond)
		default:
			return got, nil
		}
	}
	return got, fmt.Errorf("walk from %s did not end after 1000 pages", query)
}

// pollUntil polls after= from last, as a live client does, until it has read
// top, and returns what it read.
func (s *system) pollUntil(chatPath string, last, top int64, timeout time.Duration) ([]int64, error) {
	var got []int64
	deadline := time.Now().Add(timeout)
	for last < top {
		if time.Now().After(deadline) {
			return got, fmt.Errorf("polling after=%d: %d not read within %s", last, top, timeout)
		}
		p, err := getPage(fmt.Sprintf("%s%s?after=%d&limit=%d", s.apiURL, chatPath, last, historyLimit))
		if err != nil {
			return got, err
		}
		for _, m := range p.Messages {
			got = append(got, m.Number)
			last = m.Number
		}
		if !p.HasMore {
			time.Sleep(20 * time.Millisecond)
		}
	}
	return got, nil
}
