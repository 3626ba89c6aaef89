package queue_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/instachat/instachat/pkg/queue"
	"github.com/instachat/instachat/pkg/testenv"
)

// newQueue returns a queue over a fresh key prefix of the real Redis.
func newQueue(t *testing.T, partitions int, cfg queue.Config) (*queue.Queue, *redis.Client) {
	t.Helper()
	rdb, prefix := testenv.Redis(t)
	return queue.New(rdb, queue.NewKeys(prefix, partitions), cfg), rdb
}

// tokenFor returns an application token that lands in partition p.
func tokenFor(t *testing.T, keys queue.Keys, p int) string {
	t.Helper()
	for i := range 10000 {
		tok := fmt.Sprintf("app-%d", i)
		if keys.Partition(tok) == p {
			return tok
		}
	}
	t.Fatalf("no token found for partition %d of %d", p, keys.Partitions())
	return ""
}

// job returns a message job of app numbered n, so tests can tell jobs apart.
func job(app string, n int64) queue.Envelope {
	return queue.Envelope{
		ID:      fmt.Sprintf("event-%d", n),
		Type:    queue.TypeMessageCreate,
		App:     app,
		Body:    fmt.Sprintf("body %d", n),
		Time:    time.Now().UnixMicro(),
		Chat:    1,
		Message: n,
	}
}

// pushJobs enqueues jobs numbered 1..n in that order.
func pushJobs(t *testing.T, q *queue.Queue, app string, n int) {
	t.Helper()
	for i := 1; i <= n; i++ {
		if err := q.Push(t.Context(), job(app, int64(i))); err != nil {
			t.Fatalf("Push(%d): %v", i, err)
		}
	}
}

// numbers decodes jobs and returns their message numbers.
func numbers(t *testing.T, raws []string) []int64 {
	t.Helper()
	out := make([]int64, 0, len(raws))
	for _, raw := range raws {
		e, err := queue.Decode(raw)
		if err != nil {
			t.Fatalf("Decode(%s): %v", raw, err)
		}
		out = append(out, e.Message)
	}
	return out
}

func assertNumbers(t *testing.T, what string, raws []string, want ...int64) {
	t.Helper()
	if want == nil {
		want = []int64{}
	}
	if got := numbers(t, raws); !slices.Equal(got, want) {
		t.Errorf("%s: got jobs %v, want %v", what, got, want)
	}
}

// pendingInOrder returns the pending jobs of p in the order consumers take them.
func pendingInOrder(t *testing.T, rdb *redis.Client, q *queue.Queue, p int) []string {
	t.Helper()
	raws, err := rdb.LRange(t.Context(), q.Keys().Pending(p), 0, -1).Result()
	if err != nil {
		t.Fatalf("LRANGE pending: %v", err)
	}
	slices.Reverse(raws)
	return raws
}

func llen(t *testing.T, rdb *redis.Client, key string) int64 {
	t.Helper()
	n, err := rdb.LLen(t.Context(), key).Result()
	if err != nil {
		t.Fatalf("LLEN %s: %v", key, err)
	}
	return n
}

func isMember(t *testing.T, rdb *redis.Client, set, name string) bool {
	t.Helper()
	ok, err := rdb.SIsMember(t.Context(), set, name).Result()
	if err != nil {
		t.Fatalf("SISMEMBER %s: %v", set, err)
	}
	return ok
}

// newConsumer returns a consumer of p that has registered and beat once.
func newConsumer(t *testing.T, q *queue.Queue, p int) *queue.Consumer {
	t.Helper()
	c := q.NewConsumer(p, testenv.Name("consumer-"))
	if err := c.Beat(t.Context()); err != nil {
		t.Fatalf("Beat: %v", err)
	}
	return c
}

func fetch(t *testing.T, c *queue.Consumer, max int) []string {
	t.Helper()
	raws, err := c.Fetch(t.Context(), max, time.Second)
	if err != nil {
		t.Fatalf("Fetch(%d): %v", max, err)
	}
	return raws
}
