package queue_test

import (
	"errors"
	"math"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/instachat/instachat/pkg/queue"
)

// backoffBounds is the documented range of Backoff(n): [n⁴+15 s, n⁴+15+10(n+1) s).
func backoffBounds(n int) (lo, hi time.Duration) {
	base := math.Pow(float64(n), 4) + 15
	return time.Duration(base * float64(time.Second)), time.Duration((base + 10*float64(n+1)) * float64(time.Second))
}

func TestBackoffBounds(t *testing.T) {
	for n := 0; n <= 25; n++ {
		lo, hi := backoffBounds(n)
		var minSeen, maxSeen time.Duration = math.MaxInt64, 0
		for range 2000 {
			d := queue.Backoff(n)
			if d < lo || d >= hi {
				t.Fatalf("Backoff(%d): got %v, want in [%v, %v)", n, d, lo, hi)
			}
			minSeen, maxSeen = min(minSeen, d), max(maxSeen, d)
		}
		// The jitter must actually spread: at least half its range in 2000 draws.
		if spread := maxSeen - minSeen; spread < (hi-lo)/2 {
			t.Errorf("Backoff(%d): got spread %v, want at least %v", n, spread, (hi-lo)/2)
		}
	}
	if d := queue.Backoff(-3); d < 15*time.Second || d >= 25*time.Second {
		t.Errorf("Backoff(-3): got %v, want in [15s, 25s) like Backoff(0)", d)
	}
	if lo, _ := backoffBounds(25); lo < 108*time.Hour {
		t.Errorf("Backoff(25) lower bound: got %v, want over 108h (the Sidekiq schedule)", lo)
	}
}

// retryEntries returns the retry zset of p as decoded envelopes and due times.
func retryEntries(t *testing.T, rdb *redis.Client, q *queue.Queue, p int) map[int64]time.Time {
	t.Helper()
	zs, err := rdb.ZRangeWithScores(t.Context(), q.Keys().Retry(p), 0, -1).Result()
	if err != nil {
		t.Fatalf("ZRANGE retry: %v", err)
	}
	out := map[int64]time.Time{}
	for _, z := range zs {
		e, err := queue.Decode(z.Member.(string))
		if err != nil {
			t.Fatalf("Decode retry member: %v", err)
		}
		out[e.Message] = time.UnixMilli(int64(z.Score))
	}
	return out
}

func TestRetrySchedulesWithBackoff(t *testing.T) {
	cfg := queue.DefaultConfig()
	q, rdb := newQueue(t, 2, cfg)
	app := tokenFor(t, q.Keys(), 1)
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

	tests := []struct {
		message      int64
		priorAttempt int
	}{{1, 0}, {2, 1}, {3, 3}, {4, 10}}
	for _, tt := range tests {
		e := job(app, tt.message)
		e.Attempt = tt.priorAttempt
		dead, err := q.Retry(t.Context(), e, errors.New("mysql down"), now)
		if err != nil {
			t.Fatalf("Retry(%d): %v", tt.message, err)
		}
		if dead {
			t.Errorf("Retry(%d) after %d attempts: got dead, want scheduled", tt.message, tt.priorAttempt)
		}
	}
	due := retryEntries(t, rdb, q, 1)
	if len(due) != len(tests) {
		t.Fatalf("retry zset: got %d jobs, want %d", len(due), len(tests))
	}
	zs, _ := rdb.ZRange(t.Context(), q.Keys().Retry(1), 0, -1).Result()
	for _, raw := range zs {
		e, _ := queue.Decode(raw)
		if e.Error != "mysql down" {
			t.Errorf("job %d: got error %q, want %q", e.Message, e.Error, "mysql down")
		}
	}
	for _, tt := range tests {
		lo, hi := backoffBounds(tt.priorAttempt + 1)
		got := due[tt.message].Sub(now)
		if got < lo-time.Millisecond || got > hi {
			t.Errorf("job %d (attempt %d): got due in %v, want in [%v, %v]", tt.message, tt.priorAttempt+1, got, lo, hi)
		}
	}
	if n := llen(t, rdb, q.Keys().Pending(1)); n != 0 {
		t.Errorf("pending: got %d, want 0 while retries wait", n)
	}
}

func TestPromoteDue(t *testing.T) {
	q, rdb := newQueue(t, 4, queue.DefaultConfig())
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	appA, appB := tokenFor(t, q.Keys(), 0), tokenFor(t, q.Keys(), 3)
	retry := func(e queue.Envelope, at time.Time) {
		t.Helper()
		if _, err := q.Retry(t.Context(), e, errors.New("boom"), at); err != nil {
			t.Fatalf("Retry: %v", err)
		}
	}
	// Attempt 1 waits at most 1+15+20 = 36 s.
	retry(job(appA, 1), now)
	retry(job(appB, 2), now)
	retry(job(appA, 3), now.Add(time.Hour))

	if n, err := q.PromoteDue(t.Context(), now); err != nil || n != 0 {
		t.Errorf("PromoteDue(now): got %d, %v, want 0, nil", n, err)
	}
	n, err := q.PromoteDue(t.Context(), now.Add(40*time.Second))
	if err != nil {
		t.Fatalf("PromoteDue: %v", err)
	}
	if n != 2 {
		t.Errorf("PromoteDue(now+40s): got %d moved, want 2", n)
	}
	assertNumbers(t, "pending of partition 0", pendingInOrder(t, rdb, q, 0), 1)
	assertNumbers(t, "pending of partition 3", pendingInOrder(t, rdb, q, 3), 2)
	if due := retryEntries(t, rdb, q, 0); len(due) != 1 || due[3].IsZero() {
		t.Errorf("retry of partition 0: got %v, want only job 3", due)
	}

	// A promoted retry goes to the consuming end, ahead of newer work.
	if err := q.Push(t.Context(), job(appA, 10)); err != nil {
		t.Fatalf("Push: %v", err)
	}
	retry(job(appA, 4), now)
	if _, err := q.PromoteDue(t.Context(), now.Add(time.Minute)); err != nil {
		t.Fatalf("PromoteDue: %v", err)
	}
	assertNumbers(t, "pending of partition 0", pendingInOrder(t, rdb, q, 0), 4, 1, 10)
}

func TestPromoteDueManyBatches(t *testing.T) {
	q, rdb := newQueue(t, 1, queue.DefaultConfig())
	app := tokenFor(t, q.Keys(), 0)
	now := time.Now()
	const n = 1234
	pipe := rdb.Pipeline()
	for i := range n {
		raw, _ := job(app, int64(i+1)).Encode()
		pipe.ZAdd(t.Context(), q.Keys().Retry(0), redis.Z{Score: float64(now.UnixMilli() - 1), Member: raw})
	}
	if _, err := pipe.Exec(t.Context()); err != nil {
		t.Fatalf("ZADD: %v", err)
	}
	got, err := q.PromoteDue(t.Context(), now)
	if err != nil {
		t.Fatalf("PromoteDue: %v", err)
	}
	if got != n {
		t.Errorf("PromoteDue: got %d moved, want %d", got, n)
	}
	if l := llen(t, rdb, q.Keys().Pending(0)); l != n {
		t.Errorf("pending: got %d, want %d", l, n)
	}
}

func TestRetryDiesAfterMaxAttempts(t *testing.T) {
	cfg := queue.DefaultConfig()
	cfg.MaxAttempts = 3
	q, rdb := newQueue(t, 1, cfg)
	app := tokenFor(t, q.Keys(), 0)
	now := time.Now()

	// Deliver, fail, promote, until the job dies: MaxAttempts deliveries in all.
	e := job(app, 1)
	deliveries := 0
	for {
		deliveries++
		dead, err := q.Retry(t.Context(), e, errors.New("constraint violated"), now)
		if err != nil {
			t.Fatalf("Retry: %v", err)
		}
		if dead {
			break
		}
		if deliveries > 10 {
			t.Fatalf("job never died after %d deliveries", deliveries)
		}
		if _, err := q.PromoteDue(t.Context(), now.Add(time.Hour)); err != nil {
			t.Fatalf("PromoteDue: %v", err)
		}
		c := newConsumer(t, q, 0)
		raws := fetch(t, c, 1)
		if len(raws) != 1 {
			t.Fatalf("Fetch after promote: got %d jobs, want 1", len(raws))
		}
		if e, err = queue.Decode(raws[0]); err != nil {
			t.Fatalf("Decode: %v", err)
		}
		if err := c.Ack(t.Context(), 0, 1); err != nil {
			t.Fatalf("Ack: %v", err)
		}
	}
	if deliveries != cfg.MaxAttempts {
		t.Errorf("got %d deliveries, want %d", deliveries, cfg.MaxAttempts)
	}
	raws, err := rdb.LRange(t.Context(), q.Keys().Dead(0), 0, -1).Result()
	if err != nil {
		t.Fatalf("LRANGE dead: %v", err)
	}
	if len(raws) != 1 {
		t.Fatalf("dead list: got %d jobs, want 1", len(raws))
	}
	got, err := queue.Decode(raws[0])
	if err != nil {
		t.Fatalf("Decode dead job: %v", err)
	}
	if got.Attempt != 3 || got.Error != "constraint violated" || got.Message != 1 {
		t.Errorf("dead job: got attempt %d error %q message %d, want 3, %q, 1", got.Attempt, got.Error, got.Message, "constraint violated")
	}
	if n, _ := rdb.ZCard(t.Context(), q.Keys().Retry(0)).Result(); n != 0 {
		t.Errorf("retry zset: got %d, want 0", n)
	}
	if s, _ := rdb.HGet(t.Context(), q.Keys().Stats(0), "dead").Result(); s != "1" {
		t.Errorf("stats dead: got %q, want 1", s)
	}
}

func TestRetryNilCause(t *testing.T) {
	cfg := queue.DefaultConfig()
	cfg.MaxAttempts = 1
	q, rdb := newQueue(t, 1, cfg)
	app := tokenFor(t, q.Keys(), 0)
	dead, err := q.Retry(t.Context(), job(app, 1), nil, time.Now())
	if err != nil || !dead {
		t.Fatalf("Retry with nil cause: got %v, %v, want true, nil", dead, err)
	}
	if err := q.Bury(t.Context(), job(app, 2), nil); err != nil {
		t.Fatalf("Bury with nil cause: %v", err)
	}
	if n := llen(t, rdb, q.Keys().Dead(0)); n != 2 {
		t.Errorf("dead list: got %d, want 2", n)
	}
}

func TestDeadCapTrimsVisibly(t *testing.T) {
	cfg := queue.DefaultConfig()
	cfg.DeadCap = 3
	q, rdb := newQueue(t, 1, cfg)
	app := tokenFor(t, q.Keys(), 0)
	for i := int64(1); i <= 5; i++ {
		if err := q.Bury(t.Context(), job(app, i), errors.New("bad")); err != nil {
			t.Fatalf("Bury(%d): %v", i, err)
		}
	}
	raws, err := rdb.LRange(t.Context(), q.Keys().Dead(0), 0, -1).Result()
	if err != nil {
		t.Fatalf("LRANGE dead: %v", err)
	}
	// Newest first; the two oldest were trimmed.
	assertNumbers(t, "dead list", raws, 5, 4, 3)
	stats, err := rdb.HGetAll(t.Context(), q.Keys().Stats(0)).Result()
	if err != nil {
		t.Fatalf("HGETALL stats: %v", err)
	}
	if stats["dead_trimmed"] != "2" || stats["dead"] != "5" {
		t.Errorf("stats: got dead_trimmed=%q dead=%q, want 2 and 5", stats["dead_trimmed"], stats["dead"])
	}
	e, _ := queue.Decode(raws[0])
	if e.Attempt != 1 || e.Error != "bad" {
		t.Errorf("buried job: got attempt %d error %q, want 1, %q", e.Attempt, e.Error, "bad")
	}
}

func TestDepths(t *testing.T) {
	q, rdb := newQueue(t, 3, queue.DefaultConfig())
	in := queue.NewInspector(rdb, q.Keys())
	ctx := t.Context()
	app1, app2 := tokenFor(t, q.Keys(), 1), tokenFor(t, q.Keys(), 2)
	now := time.Now()

	pushJobs(t, q, app1, 6) // partition 1: 6 pending
	c1, c2 := newConsumer(t, q, 1), newConsumer(t, q, 1)
	fetch(t, c1, 2) // 2 processing
	fetch(t, c2, 1) // 1 processing, 3 left pending
	for i := int64(1); i <= 2; i++ {
		if _, err := q.Retry(ctx, job(app1, 100+i), errors.New("x"), now); err != nil {
			t.Fatalf("Retry: %v", err)
		}
	}
	if err := q.Bury(ctx, job(app2, 1), errors.New("x")); err != nil {
		t.Fatalf("Bury: %v", err)
	}
	pushJobs(t, q, app2, 1)

	got, err := in.Depths(ctx)
	if err != nil {
		t.Fatalf("Depths: %v", err)
	}
	want := []queue.Depth{
		{Partition: 0},
		{Partition: 1, Pending: 3, Processing: 3, Retry: 2},
		{Partition: 2, Pending: 1, Dead: 1},
	}
	if len(got) != len(want) {
		t.Fatalf("Depths: got %d partitions, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("Depths[%d]: got %+v, want %+v", i, got[i], want[i])
		}
	}

	if err := c1.Ack(ctx, 2, 0); err != nil {
		t.Fatalf("Ack: %v", err)
	}
	got, err = in.Depths(ctx)
	if err != nil {
		t.Fatalf("Depths: %v", err)
	}
	if got[1].Processing != 1 {
		t.Errorf("after Ack: got processing %d, want 1", got[1].Processing)
	}
}

func TestNewDefaults(t *testing.T) {
	q, _ := newQueue(t, 1, queue.Config{})
	got, want := q.Config(), queue.DefaultConfig()
	want.MaxAttempts = 1
	if got != want {
		t.Errorf("Config: got %+v, want %+v", got, want)
	}
}
