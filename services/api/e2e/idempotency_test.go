package e2e

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	ic "github.com/instachat/instachat/client"
	"github.com/instachat/instachat/pkg/chat"
	"github.com/instachat/instachat/pkg/queue"
	"github.com/instachat/instachat/pkg/testenv"
)

// TestRetriedPostsPersistOnceThroughCuts is issue 12's done-when: 2,000
// messages posted through the Go client while a chaos loop cuts the client's
// connections to the api, mutes the api's replies (it did the work, the client
// never heard), and cuts or mutes the api's Redis (a Lua step that ran but
// whose reply was lost). The client retries every post with its idempotency
// key until it gets an answer. Exactly 2,000 messages persist, numbered
// 1..2,000 with none burnt, each under the number its post was answered.
func TestRetriedPostsPersistOnceThroughCuts(t *testing.T) {
	const writers, perWriter = 8, 250
	s := newSystem(t)
	redisProxy := testenv.NewProxy(t, testenv.RedisAddr())
	s.stop("api") // again, behind a Redis proxy of the test's (the writer stays direct)
	s.start("api", "HTTP_ADDR="+strings.TrimPrefix(s.apiURL, "http://"), "REDIS_ADDR="+redisProxy.Addr(), "REDIS_TIMEOUT=300ms")
	s.waitReady(s.apiURL + "/readyz")
	httpProxy := testenv.NewProxy(t, strings.TrimPrefix(s.apiURL, "http://"))

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	c, err := ic.New("http://"+httpProxy.Addr(), ic.WithRetry(ic.RetryPolicy{
		MaxAttempts: 1000, Base: 10 * time.Millisecond, Max: 300 * time.Millisecond, AttemptTimeout: 2 * time.Second}))
	if err != nil {
		t.Fatal(err)
	}
	created, err := c.CreateApplication(ctx, "retries")
	if err != nil {
		t.Fatal(err)
	}
	app := c.App(created.Token)
	ch, err := app.CreateChat(ctx)
	if err != nil {
		t.Fatal(err)
	}

	stop := make(chan struct{})
	var faults atomic.Int64
	var chaos sync.WaitGroup
	chaos.Go(func() { injectCuts(stop, &faults, httpProxy, redisProxy) })

	var mu sync.Mutex
	numberOf := map[string]int64{} // body → the number its post was answered
	var replays, unknown atomic.Int64
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				body := fmt.Sprintf("writer %d message %d", w, i)
				key := ic.NewIdempotencyKey()
				for {
					var resp ic.Response
					m, err := app.PostMessage(ctx, ch.Number, body, ic.WithIdempotencyKey(key), ic.WithResponse(&resp))
					if err == nil {
						if resp.Replayed {
							replays.Add(1)
						}
						mu.Lock()
						numberOf[body] = m.Number
						mu.Unlock()
						break
					}
					if errors.Is(err, ic.ErrOutcomeUnknown) || errors.Is(err, ic.ErrUnavailable) {
						unknown.Add(1)
						continue // the retries ran out mid-chaos: again, same key
					}
					t.Errorf("post %q: %v", body, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	chaos.Wait()
	httpProxy.Restore()
	redisProxy.Restore()
	t.Logf("%d faults injected; %d posts answered from their idempotency record, %d gave up a round and went again",
		faults.Load(), replays.Load(), unknown.Load())
	if faults.Load() < 20 {
		t.Errorf("only %d faults injected: the run did not exercise the retries", faults.Load())
	}

	seen := map[int64]string{}
	for body, n := range numberOf {
		if other, dup := seen[n]; dup {
			t.Errorf("number %d answered to %q and %q", n, other, body)
		}
		seen[n] = body
	}
	db := s.sqlDB()
	eventually(t, 90*time.Second, "all 2,000 messages persisted", func() (bool, string) {
		var n int
		err := db.QueryRow(`SELECT COUNT(*) FROM messages m JOIN chats c ON c.id = m.chat_id JOIN applications a ON a.id = c.application_id
			WHERE a.token_digest = ? AND c.number = ?`, chat.TokenDigest(created.Token), ch.Number).Scan(&n)
		return err == nil && n >= writers*perWriter, fmt.Sprintf("%d rows, %v", n, err)
	})
	rows, err := db.Query(`SELECT m.number, m.body FROM messages m JOIN chats c ON c.id = m.chat_id JOIN applications a ON a.id = c.application_id
		WHERE a.token_digest = ? AND c.number = ? ORDER BY m.number`, chat.TokenDigest(created.Token), ch.Number)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	want := int64(1)
	for rows.Next() {
		var n int64
		var body string
		if err := rows.Scan(&n, &body); err != nil {
			t.Fatal(err)
		}
		if n != want {
			t.Fatalf("persisted numbers: got %d after %d, want 1..%d without gaps or repeats", n, want-1, writers*perWriter)
		}
		if numberOf[body] != n {
			t.Errorf("message %d holds %q, whose post was answered %d", n, body, numberOf[body])
		}
		want++
	}
	if want-1 != writers*perWriter {
		t.Errorf("persisted messages: got %d, want %d", want-1, writers*perWriter)
	}
	counter, err := s.rdb.HGet(ctx, queue.NewKeys(s.prefix, 8).MessageCounter(chat.TokenDigest(created.Token), ch.Number), "n").Int64()
	if err != nil || counter != writers*perWriter {
		t.Errorf("message counter: got %d, %v; want %d (no number burnt by a retry)", counter, err, writers*perWriter)
	}
}

// injectCuts breaks the connections every 20–80 ms until stop: the client's
// to the api (cut, or replies muted), or the api's to Redis (cut, or replies
// muted), each for a moment.
func injectCuts(stop <-chan struct{}, faults *atomic.Int64, httpProxy, redisProxy *testenv.Proxy) {
	for {
		select {
		case <-stop:
			return
		case <-time.After(time.Duration(20+rand.IntN(60)) * time.Millisecond):
		}
		switch rand.IntN(4) {
		case 0:
			httpProxy.Cut()
		case 1:
			httpProxy.MuteReplies()
		case 2:
			redisProxy.Cut()
		case 3:
			redisProxy.MuteReplies()
		}
		faults.Add(1)
		time.Sleep(time.Duration(5+rand.IntN(40)) * time.Millisecond)
		httpProxy.Restore()
		redisProxy.Restore()
	}
}
