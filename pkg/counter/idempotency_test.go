package counter_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/instachat/instachat/pkg/chat"
	"github.com/instachat/instachat/pkg/counter"
	"github.com/instachat/instachat/pkg/queue"
	"github.com/instachat/instachat/pkg/testenv"
)

func claim(key, request string) counter.Claim {
	return counter.Claim{Key: chat.KeyHash(key), Fingerprint: chat.Fingerprint(request)}
}

// TestClaimReplaysEveryStep checks that each kind of step, sent twice with
// one claim, takes effect once: the second answer is the first one's
// number and acceptance time, marked replayed, and queues nothing.
func TestClaimReplaysEveryStep(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	e.seedApp(t, 0)
	first := e.chatJob("")
	r1, err := e.c.Accept(ctx, first, claim("chat-1", "create chat"))
	if err != nil || r1.Number != 1 || r1.Replayed {
		t.Fatalf("first create chat: got %+v, %v; want chat 1, fresh", r1, err)
	}
	msg := e.messageJob(1, "hello")
	msg.Time = time.Now().Add(-time.Minute).UnixMicro()
	steps := []struct {
		name string
		job  func() queue.Envelope
		want int64
	}{
		{"create chat", func() queue.Envelope { return e.chatJob("") }, 2},
		{"create message", func() queue.Envelope { return msg }, 1},
		{"update message", func() queue.Envelope {
			j := e.messageJob(1, "edited")
			j.Type, j.Message = queue.TypeMessageUpdate, 1
			return j
		}, 1},
		{"delete message", func() queue.Envelope {
			j := e.messageJob(1, "")
			j.Type, j.Message = queue.TypeMessageDelete, 1
			return j
		}, 1},
		{"delete chat", func() queue.Envelope {
			j := e.chatJob("")
			j.Type, j.Chat = queue.TypeChatDelete, 2
			return j
		}, 2},
	}
	for _, s := range steps {
		cl := claim("key-"+s.name, s.name)
		job := s.job()
		before := len(e.pending(t))
		fresh, err := e.c.Accept(ctx, job, cl)
		if err != nil || fresh.Number != s.want || fresh.Replayed || !fresh.Accepted.Equal(job.AcceptedAt()) {
			t.Fatalf("%s: got %+v, %v; want number %d accepted at %v, fresh", s.name, fresh, err, s.want, job.AcceptedAt())
		}
		again := s.job() // a retry is a new request: new event id and time
		again.Time = time.Now().Add(time.Hour).UnixMicro()
		replay, err := e.c.Accept(ctx, again, cl)
		if err != nil || replay.Number != fresh.Number || !replay.Replayed || !replay.Accepted.Equal(fresh.Accepted) {
			t.Errorf("%s retried: got %+v, %v; want %+v replayed", s.name, replay, err, fresh)
		}
		if got := len(e.pending(t)); got != before+1 {
			t.Errorf("%s: %d jobs queued by the request and its retry, want 1", s.name, got-before)
		}
	}
	if n, _, _ := e.c.Chats(ctx, e.app); n != 2 {
		t.Errorf("chat counter: got %d, want 2 (no number burnt by a replay)", n)
	}
}

// TestKeyReusedForAnotherRequest checks that a key first used for one request
// refuses another one (chat.ErrKeyReused) without any effect, and that keys
// are scoped to the application.
func TestKeyReusedForAnotherRequest(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	e.seedApp(t, 1)
	e.seedChat(t, 1, 0)
	if _, err := e.c.Accept(ctx, e.messageJob(1, "first"), claim("k", "body first")); err != nil {
		t.Fatal(err)
	}
	_, err := e.c.Accept(ctx, e.messageJob(1, "second"), claim("k", "body second"))
	if !errors.Is(err, chat.ErrKeyReused) {
		t.Errorf("same key, another body: got %v, want ErrKeyReused", err)
	}
	if jobs := e.pending(t); len(jobs) != 1 {
		t.Errorf("pending: got %d jobs, want 1: a refused reuse queues nothing", len(jobs))
	}
	if n, _, _ := e.c.Messages(ctx, e.app, 1); n != 1 {
		t.Errorf("message counter: got %d, want 1", n)
	}

	other := e
	other.app = testenv.Name("app-")
	other.src.setChat(other.app, counter.Seed{})
	r, err := other.c.Accept(ctx, other.chatJob(""), claim("k", "body first"))
	if err != nil || r.Replayed || r.Number != 1 {
		t.Errorf("the same key in another application: got %+v, %v; want a fresh chat 1", r, err)
	}
}

// TestConcurrentIdenticalRequestsTakeOneNumber: 50 identical requests racing
// with one key get one number between them.
func TestConcurrentIdenticalRequestsTakeOneNumber(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	e.seedApp(t, 1)
	e.seedChat(t, 1, 0)
	cl := claim("race", "post hello")
	var wg sync.WaitGroup
	results := make(chan counter.Result, 50)
	for range 50 {
		wg.Go(func() {
			r, err := e.c.Accept(ctx, e.messageJob(1, "hello"), cl)
			if err != nil {
				t.Error(err)
			}
			results <- r
		})
	}
	wg.Wait()
	close(results)
	fresh := 0
	for r := range results {
		if r.Number != 1 {
			t.Errorf("racing request got number %d, want 1", r.Number)
		}
		if !r.Replayed {
			fresh++
		}
	}
	if fresh != 1 {
		t.Errorf("fresh answers: got %d, want exactly 1 (49 replays)", fresh)
	}
	if jobs := e.pending(t); len(jobs) != 1 {
		t.Errorf("pending: got %d jobs, want 1", len(jobs))
	}
}

// TestLostReplyRetriedWithKeyYieldsOnce cuts the reply of a step that ran
// (the proxy mutes Redis's answers): the api cannot know whether the message
// was queued. Retried with the same claim once Redis answers again, it gets
// the number the lost step took, and the message is queued exactly once.
func TestLostReplyRetriedWithKeyYieldsOnce(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	e.seedApp(t, 1)
	e.seedChat(t, 1, 0)
	proxy := testenv.NewProxy(t, testenv.RedisAddr())
	rdb := redis.NewClient(&redis.Options{Addr: proxy.Addr(), MaxRetries: -1, ReadTimeout: 300 * time.Millisecond, DialTimeout: 300 * time.Millisecond})
	t.Cleanup(func() { rdb.Close() })
	c := counter.New(rdb, e.keys, e.src, counter.Config{})
	// The script must be loaded: with replies muted, a NOSCRIPT answer to
	// EVALSHA would be lost too, and nothing would run.
	if n, err := c.CreateMessage(ctx, e.messageJob(1, "loads the script")); err != nil || n != 1 {
		t.Fatalf("CreateMessage through the proxy: got %d, %v", n, err)
	}
	cl := claim("lost", "post lost")
	proxy.MuteReplies()
	_, err := c.Accept(ctx, e.messageJob(1, "lost"), cl)
	if !errors.Is(err, chat.ErrOutcomeUnknown) {
		t.Fatalf("step with its reply lost: got %v, want ErrOutcomeUnknown", err)
	}
	proxy.Restore()
	r, err := c.Accept(ctx, e.messageJob(1, "lost"), cl)
	if err != nil || r.Number != 2 || !r.Replayed {
		t.Fatalf("retry with the key: got %+v, %v; want message 2, replayed", r, err)
	}
	if jobs := e.pending(t); len(jobs) != 2 || jobs[1].Message != 2 || jobs[1].Body != "lost" {
		t.Errorf("pending: got %+v, want message 2 queued once", jobs)
	}
	if n, _, _ := e.c.Messages(ctx, e.app, 1); n != 2 {
		t.Errorf("message counter: got %d, want 2", n)
	}
}

// TestIdempotencyRecordIsSmallAndExpires checks what a key costs: a record of
// about 200 bytes (a fingerprint, a number and a time, never the request),
// living for the configured retention.
func TestIdempotencyRecordIsSmallAndExpires(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	c := counter.New(e.rdb, e.keys, e.src, counter.Config{IdempotencyTTL: 90 * time.Minute})
	e.seedApp(t, 1)
	e.seedChat(t, 1, 0)
	job := e.messageJob(1, string(make([]byte, 4000)))
	if _, err := c.Accept(ctx, job, claim("size", "a big body")); err != nil {
		t.Fatal(err)
	}
	key := e.keys.Idempotency(e.app, chat.KeyHash("size"))
	size, err := e.rdb.MemoryUsage(ctx, key).Result()
	if err != nil || size > 256 {
		t.Errorf("MEMORY USAGE of the record: got %d, %v; want at most 256 bytes whatever the body", size, err)
	}
	ttl, err := e.rdb.PTTL(ctx, key).Result()
	if err != nil || ttl <= 89*time.Minute || ttl > 90*time.Minute {
		t.Errorf("record TTL: got %v, %v; want about 90m", ttl, err)
	}
}
