package queue_test

import (
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/instachat/instachat/pkg/queue"
)

func TestFetchOldestFirstUpToMax(t *testing.T) {
	tests := []struct {
		name    string
		queued  int
		max     int
		batches [][]int64
	}{
		{"one at a time", 3, 1, [][]int64{{1}, {2}, {3}, nil}},
		{"batches of two", 5, 2, [][]int64{{1, 2}, {3, 4}, {5}, nil}},
		{"all at once", 4, 10, [][]int64{{1, 2, 3, 4}, nil}},
		{"max below one counts as one", 2, 0, [][]int64{{1}, {2}, nil}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, rdb := newQueue(t, 2, queue.DefaultConfig())
			app := tokenFor(t, q.Keys(), 1)
			pushJobs(t, q, app, tt.queued)
			c := newConsumer(t, q, 1)
			for i, want := range tt.batches {
				var got []string
				var err error
				if want == nil {
					got, err = c.Fetch(t.Context(), tt.max, 0) // nothing left: do not wait
				} else {
					got = fetch(t, c, tt.max)
				}
				if err != nil {
					t.Fatalf("Fetch %d: %v", i, err)
				}
				if want == nil && got != nil {
					t.Fatalf("Fetch %d: got %v, want nil", i, numbers(t, got))
				}
				assertNumbers(t, "Fetch", got, want...)
				if n := llen(t, rdb, q.Keys().Processing(1, c.Name())); n != int64(len(want)) {
					t.Errorf("Fetch %d: got %d jobs in processing, want %d", i, n, len(want))
				}
				if err := c.Ack(t.Context(), len(got), 0); err != nil {
					t.Fatalf("Ack: %v", err)
				}
			}
			if n := llen(t, rdb, q.Keys().Pending(0)); n != 0 {
				t.Errorf("partition 0: got %d pending, want 0 (jobs belong to partition 1)", n)
			}
		})
	}
}

func TestFetchEmptyWaitsForBlock(t *testing.T) {
	q, _ := newQueue(t, 1, queue.DefaultConfig())
	c := newConsumer(t, q, 0)
	for _, block := range []time.Duration{time.Second, 300 * time.Millisecond} {
		start := time.Now()
		got, err := c.Fetch(t.Context(), 10, block)
		elapsed := time.Since(start)
		if err != nil {
			t.Fatalf("Fetch: %v", err)
		}
		if got != nil {
			t.Errorf("block %v: got %v, want nil", block, got)
		}
		// Redis blocks in whole seconds; shorter blocks wait one second.
		if elapsed < 900*time.Millisecond || elapsed > 3*time.Second {
			t.Errorf("block %v: returned after %v, want about 1s", block, elapsed)
		}
	}
	start := time.Now()
	if got, err := c.Fetch(t.Context(), 10, 0); err != nil || got != nil {
		t.Errorf("block 0: got %v, %v, want nil, nil", got, err)
	}
	if elapsed := time.Since(start); elapsed > 500*time.Millisecond {
		t.Errorf("block 0: returned after %v, want at once", elapsed)
	}
}

func TestFetchWakesOnPush(t *testing.T) {
	q, _ := newQueue(t, 1, queue.DefaultConfig())
	c := newConsumer(t, q, 0)
	app := tokenFor(t, q.Keys(), 0)
	done := make(chan []string, 1)
	errs := make(chan error, 1)
	go func() {
		got, err := c.Fetch(t.Context(), 10, 5*time.Second)
		errs <- err
		done <- got
	}()
	time.Sleep(200 * time.Millisecond)
	start := time.Now()
	pushJobs(t, q, app, 1)
	if err := <-errs; err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	got := <-done
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Errorf("Fetch returned %v after the push, want at once", elapsed)
	}
	assertNumbers(t, "Fetch", got, 1)
}

func TestFetchRedeliversUnacked(t *testing.T) {
	q, rdb := newQueue(t, 1, queue.DefaultConfig())
	app := tokenFor(t, q.Keys(), 0)
	pushJobs(t, q, app, 5)
	c := newConsumer(t, q, 0)

	assertNumbers(t, "first Fetch", fetch(t, c, 3), 1, 2, 3)
	// Not acknowledged: the same jobs again, alone, whatever max says.
	assertNumbers(t, "second Fetch", fetch(t, c, 10), 1, 2, 3)
	assertNumbers(t, "third Fetch", fetch(t, c, 1), 1, 2, 3)

	if err := c.Ack(t.Context(), 3, 0); err != nil {
		t.Fatalf("Ack: %v", err)
	}
	if n := llen(t, rdb, q.Keys().Processing(0, c.Name())); n != 0 {
		t.Errorf("after Ack: got %d jobs in processing, want 0", n)
	}
	assertNumbers(t, "Fetch after Ack", fetch(t, c, 10), 4, 5)
	if err := c.Ack(t.Context(), 1, 1); err != nil {
		t.Fatalf("Ack: %v", err)
	}
	stats, err := rdb.HGetAll(t.Context(), q.Keys().Stats(0)).Result()
	if err != nil {
		t.Fatalf("HGETALL stats: %v", err)
	}
	if stats["processed"] != "4" || stats["failed"] != "1" {
		t.Errorf("stats: got processed=%s failed=%s, want 4 and 1", stats["processed"], stats["failed"])
	}
}

func TestRequeueOrphans(t *testing.T) {
	tests := []struct {
		name   string
		expire func(t *testing.T, rdb *redis.Client, q *queue.Queue, c *queue.Consumer)
		ttl    time.Duration
	}{
		{
			name: "heartbeat expired",
			ttl:  200 * time.Millisecond,
			expire: func(t *testing.T, rdb *redis.Client, q *queue.Queue, c *queue.Consumer) {
				t.Helper()
				time.Sleep(500 * time.Millisecond)
			},
		},
		{
			name: "heartbeat deleted",
			ttl:  time.Minute,
			expire: func(t *testing.T, rdb *redis.Client, q *queue.Queue, c *queue.Consumer) {
				t.Helper()
				if err := rdb.Del(t.Context(), q.Keys().Heartbeat(c.Partition(), c.Name())).Err(); err != nil {
					t.Fatalf("DEL heartbeat: %v", err)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := queue.DefaultConfig()
			cfg.HeartbeatTTL = tt.ttl
			q, rdb := newQueue(t, 1, cfg)
			app := tokenFor(t, q.Keys(), 0)
			pushJobs(t, q, app, 6)

			dead := newConsumer(t, q, 0)
			assertNumbers(t, "dead consumer's Fetch", fetch(t, dead, 3), 1, 2, 3)
			live := newConsumer(t, q, 0)
			assertNumbers(t, "live consumer's Fetch", fetch(t, live, 2), 4, 5)

			tt.expire(t, rdb, q, dead)
			if err := live.Beat(t.Context()); err != nil {
				t.Fatalf("Beat: %v", err)
			}
			n, err := q.RequeueOrphans(t.Context())
			if err != nil {
				t.Fatalf("RequeueOrphans: %v", err)
			}
			if n != 3 {
				t.Errorf("RequeueOrphans: got %d moved, want 3", n)
			}
			assertNumbers(t, "pending after requeue", pendingInOrder(t, rdb, q, 0), 1, 2, 3, 6)
			if got := llen(t, rdb, q.Keys().Processing(0, dead.Name())); got != 0 {
				t.Errorf("dead consumer: got %d jobs in processing, want 0", got)
			}
			if isMember(t, rdb, q.Keys().Consumers(0), dead.Name()) {
				t.Errorf("dead consumer: still registered, want removed")
			}
			if !isMember(t, rdb, q.Keys().Consumers(0), live.Name()) {
				t.Errorf("live consumer: not registered, want kept")
			}
			assertNumbers(t, "live consumer's Fetch after requeue", fetch(t, live, 10), 4, 5)

			// A second pass finds nothing more to do.
			if n, err := q.RequeueOrphans(t.Context()); err != nil || n != 0 {
				t.Errorf("second RequeueOrphans: got %d, %v, want 0, nil", n, err)
			}
			other := newConsumer(t, q, 0)
			assertNumbers(t, "next consumer's Fetch", fetch(t, other, 10), 1, 2, 3, 6)
		})
	}
}

// A consumer that fetches without ever beating must still be found by
// RequeueOrphans; otherwise a crash would strand its jobs forever.
func TestRequeueOrphansFindsConsumerThatNeverBeat(t *testing.T) {
	q, rdb := newQueue(t, 1, queue.DefaultConfig())
	app := tokenFor(t, q.Keys(), 0)
	pushJobs(t, q, app, 2)
	c := q.NewConsumer(0, "never-beat")
	assertNumbers(t, "Fetch", fetch(t, c, 10), 1, 2)
	// Fetch refreshed the heartbeat; while it lives the jobs stay put.
	if n, err := q.RequeueOrphans(t.Context()); err != nil || n != 0 {
		t.Fatalf("RequeueOrphans with a live heartbeat: got %d, %v; want 0", n, err)
	}
	// The process died: its heartbeat expires.
	if err := rdb.Del(t.Context(), q.Keys().Heartbeat(0, c.Name())).Err(); err != nil {
		t.Fatal(err)
	}
	n, err := q.RequeueOrphans(t.Context())
	if err != nil {
		t.Fatalf("RequeueOrphans: %v", err)
	}
	if n != 2 {
		t.Errorf("RequeueOrphans: got %d moved, want 2", n)
	}
	assertNumbers(t, "pending", pendingInOrder(t, rdb, q, 0), 1, 2)
}

// A consumer reaped while it was alive (a long pause) registers again on its
// next Fetch, so the jobs it takes afterwards stay recoverable.
func TestFetchRegistersAfterReap(t *testing.T) {
	q, rdb := newQueue(t, 1, queue.DefaultConfig())
	app := tokenFor(t, q.Keys(), 0)
	c := newConsumer(t, q, 0)
	if err := rdb.Del(t.Context(), q.Keys().Heartbeat(0, c.Name())).Err(); err != nil {
		t.Fatalf("DEL heartbeat: %v", err)
	}
	if _, err := q.RequeueOrphans(t.Context()); err != nil {
		t.Fatalf("RequeueOrphans: %v", err)
	}
	if isMember(t, rdb, q.Keys().Consumers(0), c.Name()) {
		t.Fatalf("reaped consumer: still registered")
	}
	pushJobs(t, q, app, 1)
	assertNumbers(t, "Fetch", fetch(t, c, 10), 1)
	if !isMember(t, rdb, q.Keys().Consumers(0), c.Name()) {
		t.Errorf("after Fetch: consumer not registered, want registered")
	}
}

func TestLeave(t *testing.T) {
	q, rdb := newQueue(t, 1, queue.DefaultConfig())
	app := tokenFor(t, q.Keys(), 0)
	pushJobs(t, q, app, 4)
	c := newConsumer(t, q, 0)
	assertNumbers(t, "Fetch", fetch(t, c, 3), 1, 2, 3)

	// Leave works while the heartbeat is still alive.
	if err := c.Leave(t.Context()); err != nil {
		t.Fatalf("Leave: %v", err)
	}
	assertNumbers(t, "pending after Leave", pendingInOrder(t, rdb, q, 0), 1, 2, 3, 4)
	if n := llen(t, rdb, q.Keys().Processing(0, c.Name())); n != 0 {
		t.Errorf("after Leave: got %d jobs in processing, want 0", n)
	}
	if n, err := rdb.Exists(t.Context(), q.Keys().Heartbeat(0, c.Name())).Result(); err != nil || n != 0 {
		t.Errorf("after Leave: heartbeat exists=%d (%v), want 0", n, err)
	}
	if isMember(t, rdb, q.Keys().Consumers(0), c.Name()) {
		t.Errorf("after Leave: consumer still registered")
	}
	if err := c.Leave(t.Context()); err != nil {
		t.Errorf("second Leave: got %v, want nil", err)
	}
}

func TestBeatSetsHeartbeatTTL(t *testing.T) {
	cfg := queue.DefaultConfig()
	cfg.HeartbeatTTL = 7 * time.Second
	q, rdb := newQueue(t, 1, cfg)
	c := newConsumer(t, q, 0)
	ttl, err := rdb.PTTL(t.Context(), q.Keys().Heartbeat(0, c.Name())).Result()
	if err != nil {
		t.Fatalf("PTTL: %v", err)
	}
	if ttl <= 6*time.Second || ttl > 7*time.Second {
		t.Errorf("heartbeat TTL: got %v, want about 7s", ttl)
	}
	if !isMember(t, rdb, q.Keys().Consumers(0), c.Name()) {
		t.Errorf("after Beat: consumer not registered")
	}
}

func TestFetchMoreJoinsTheBatchInOrder(t *testing.T) {
	q, rdb := newQueue(t, 1, queue.DefaultConfig())
	app := tokenFor(t, q.Keys(), 0)
	pushJobs(t, q, app, 2)
	c := newConsumer(t, q, 0)

	first := fetch(t, c, 10)
	assertNumbers(t, "Fetch", first, 1, 2)
	for n := int64(3); n <= 5; n++ { // 3, 4, 5 arrive while the batch lingers
		if err := q.Push(t.Context(), job(app, n)); err != nil {
			t.Fatal(err)
		}
	}
	more, err := c.FetchMore(t.Context(), 2)
	if err != nil {
		t.Fatalf("FetchMore: %v", err)
	}
	assertNumbers(t, "FetchMore", more, 3, 4)
	// Not acknowledged (a crash): the next Fetch returns the whole batch.
	assertNumbers(t, "Fetch again", fetch(t, c, 10), 1, 2, 3, 4)
	if err := c.Ack(t.Context(), 4, 0); err != nil {
		t.Fatalf("Ack: %v", err)
	}
	if n := llen(t, rdb, q.Keys().Processing(0, c.Name())); n != 0 {
		t.Errorf("after Ack: %d jobs in processing, want 0", n)
	}
	assertNumbers(t, "the rest", fetch(t, c, 10), 5)
	if got, err := c.FetchMore(t.Context(), 0); err != nil || got != nil {
		t.Errorf("FetchMore(0): got %v, %v; want nothing", got, err)
	}
}
