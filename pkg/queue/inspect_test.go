package queue_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/instachat/instachat/pkg/chat"
	"github.com/instachat/instachat/pkg/queue"
	"github.com/redis/go-redis/v9"
)

func jobIDs(t *testing.T, in *queue.Inspector, state queue.State, partition, offset, limit int) ([]string, int64) {
	t.Helper()
	jobs, total, err := in.Jobs(t.Context(), state, partition, offset, limit)
	if err != nil {
		t.Fatalf("Jobs(%s, %d, %d, %d): %v", state, partition, offset, limit, err)
	}
	ids := make([]string, len(jobs))
	for i, j := range jobs {
		ids[i] = j.ID
	}
	return ids, total
}

func TestJobsPerState(t *testing.T) {
	q, rdb := newQueue(t, 2, queue.DefaultConfig())
	in := queue.NewInspector(rdb, q.Keys())
	ctx := t.Context()
	app0, app1 := tokenFor(t, q.Keys(), 0), tokenFor(t, q.Keys(), 1)
	now := time.Now()
	at := func(app string, n int64, age time.Duration) queue.Envelope {
		e := job(app, n)
		e.Time = now.Add(-age).UnixMicro()
		return e
	}
	// Pending: 1 and 3 in partition 0, 2 in partition 1; oldest first across partitions.
	for _, e := range []queue.Envelope{at(app0, 1, 5*time.Minute), at(app1, 2, 4*time.Minute), at(app0, 3, 3*time.Minute)} {
		if err := q.Push(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	// Processing: a live consumer takes job 10; a dead one (no heartbeat) holds job 11.
	for _, e := range []queue.Envelope{at(app1, 10, time.Hour), at(app1, 11, 2*time.Hour)} {
		if err := q.Push(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	// Partition 1's pending list now reads (consuming end first) 2, 10, 11.
	live := newConsumer(t, q, 1)
	if got := fetch(t, live, 2); len(got) != 2 {
		t.Fatalf("fetch: got %d jobs, want 2 (jobs 2 and 10)", len(got))
	}
	gone := newConsumer(t, q, 1)
	if got := fetch(t, gone, 1); len(got) != 1 {
		t.Fatalf("fetch: got %d jobs, want 1 (job 11)", len(got))
	}
	if err := rdb.Del(ctx, q.Keys().Heartbeat(1, gone.Name())).Err(); err != nil {
		t.Fatal(err)
	}
	// Retry: two jobs due at different times.
	if _, err := q.Retry(ctx, at(app0, 20, time.Minute), errors.New("later"), now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Retry(ctx, at(app1, 21, time.Minute), errors.New("sooner"), now); err != nil {
		t.Fatal(err)
	}
	// Parked: two events waiting for one chat.
	for _, n := range []int64{30, 31} {
		if _, err := q.Park(ctx, at(app0, n, time.Minute), queue.ParentChat(app0, 9), now); err != nil {
			t.Fatal(err)
		}
	}
	// Dead: one.
	bury(t, q, app1, 40, 25)

	tests := []struct {
		state                    queue.State
		partition, offset, limit int
		want                     []string
		total                    int64
	}{
		{queue.StatePending, -1, 0, 10, []string{"event-1", "event-3"}, 2},
		{queue.StatePending, 0, 1, 10, []string{"event-3"}, 2},
		{queue.StatePending, -1, 0, 0, []string{}, 2},
		{queue.StateProcessing, -1, 0, 10, []string{"event-11", "event-10", "event-2"}, 3},
		{queue.StateProcessing, -1, 1, 1, []string{"event-10"}, 3},
		{queue.StateProcessing, 0, 0, 10, []string{}, 0},
		{queue.StateRetry, -1, 0, 10, []string{"event-21", "event-20"}, 2},
		{queue.StateParked, -1, 0, 10, []string{"event-30", "event-31"}, 2},
		{queue.StateParked, 1, 0, 10, []string{}, 0},
		{queue.StateDead, -1, 0, 10, []string{"event-40"}, 1},
	}
	for _, tt := range tests {
		got, total := jobIDs(t, in, tt.state, tt.partition, tt.offset, tt.limit)
		if !slices.Equal(got, tt.want) || total != tt.total {
			t.Errorf("Jobs(%s, %d, %d, %d): got %v total %d, want %v total %d", tt.state, tt.partition, tt.offset, tt.limit, got, total, tt.want, tt.total)
		}
	}

	procs, _, err := in.Jobs(ctx, queue.StateProcessing, -1, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range procs {
		wantAlive := j.ID != "event-11"
		wantConsumer := live.Name()
		if !wantAlive {
			wantConsumer = gone.Name()
		}
		if j.Alive != wantAlive || j.Consumer != wantConsumer || j.Partition != 1 || !j.Decoded {
			t.Errorf("processing job %s: got consumer %s alive %v partition %d, want %s alive %v partition 1", j.ID, j.Consumer, j.Alive, j.Partition, wantConsumer, wantAlive)
		}
	}
	retries, _, err := in.Jobs(ctx, queue.StateRetry, -1, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(retries) != 2 || !retries[0].Due.Before(retries[1].Due) || retries[0].Envelope.Error != "sooner" {
		t.Errorf("retry jobs: got %+v, want the sooner one first with its due time and error", retries)
	}
	parked, _, err := in.Jobs(ctx, queue.StateParked, -1, 0, 1)
	if err != nil || len(parked) != 1 || parked[0].Parent != queue.ParentChat(app0, 9) || parked[0].Due.IsZero() {
		t.Errorf("parked jobs: got %+v, %v; want one waiting for chat 9 with a due time", parked, err)
	}

	if _, _, err := in.Jobs(ctx, "nope", -1, 0, 10); !errors.Is(err, queue.ErrState) {
		t.Errorf("Jobs(nope): got %v, want ErrState", err)
	}
	if _, _, err := in.Jobs(ctx, queue.StatePending, 2, 0, 10); !errors.Is(err, queue.ErrPartition) {
		t.Errorf("Jobs(partition 2 of 2): got %v, want ErrPartition", err)
	}
}

func TestJobsUndecodable(t *testing.T) {
	q, rdb := newQueue(t, 1, queue.DefaultConfig())
	in := queue.NewInspector(rdb, q.Keys())
	if err := rdb.LPush(t.Context(), q.Keys().Pending(0), "not json").Err(); err != nil {
		t.Fatal(err)
	}
	jobs, total, err := in.Jobs(t.Context(), queue.StatePending, -1, 0, 10)
	if err != nil || total != 1 || len(jobs) != 1 || jobs[0].Decoded || len(jobs[0].ID) < 5 || jobs[0].ID[:4] != "raw-" {
		t.Errorf("Jobs(pending) with a bad job: got %+v total %d, %v; want one undecoded raw-… job", jobs, total, err)
	}
}

func TestStats(t *testing.T) {
	q, rdb := newQueue(t, 2, queue.DefaultConfig())
	in := queue.NewInspector(rdb, q.Keys())
	app := tokenFor(t, q.Keys(), 1)
	bury(t, q, app, 1, 25)
	bury(t, q, app, 2, 25)
	got, err := in.Stats(t.Context(), 1)
	if err != nil || got["dead"] != 2 || got["processed"] != 0 {
		t.Errorf("Stats(1): got %v, %v; want dead 2 and no processed", got, err)
	}
	if got, err := in.Stats(t.Context(), 0); err != nil || len(got) != 0 {
		t.Errorf("Stats(0): got %v, %v; want empty", got, err)
	}
}

func TestParsePartition(t *testing.T) {
	q, rdb := newQueue(t, 4, queue.DefaultConfig())
	in := queue.NewInspector(rdb, q.Keys())
	for raw, want := range map[string]int{"": -1, "-1": -1, "0": 0, "3": 3} {
		if got, err := in.ParsePartition(raw); err != nil || got != want {
			t.Errorf("ParsePartition(%q): got %d, %v; want %d", raw, got, err, want)
		}
	}
	for _, raw := range []string{"4", "-2", "x", "1.5", " 1"} {
		_, err := in.ParsePartition(raw)
		if !errors.Is(err, queue.ErrPartition) || !errors.Is(err, chat.ErrInvalid) {
			t.Errorf("ParsePartition(%q): got %v, want ErrPartition (chat.ErrInvalid)", raw, err)
		}
		if msg := chat.ClientMessage(err, ""); !strings.Contains(msg, "from 0 to 3") {
			t.Errorf("ParsePartition(%q): client message %q does not name the range 0 to 3", raw, msg)
		}
	}
}

// TestRedisDownIsUnavailable checks that every inspector read and repair
// reports a Redis it cannot reach as chat.ErrUnavailable, which the api
// answers with 503 and Retry-After.
func TestRedisDownIsUnavailable(t *testing.T) {
	dead := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { dead.Close() })
	in := queue.NewInspector(dead, queue.NewKeys("down:", 2))
	ctx := t.Context()
	calls := map[string]func() error{
		"Dead":           func() error { _, _, err := in.Dead(ctx, -1, 0, 10); return err },
		"Jobs":           func() error { _, _, err := in.Jobs(ctx, queue.StateRetry, -1, 0, 10); return err },
		"ReplayDead":     func() error { return in.ReplayDead(ctx, "event-1") },
		"DiscardDead":    func() error { return in.DiscardDead(ctx, "event-1") },
		"ReplayAllDead":  func() error { _, err := in.ReplayAllDead(ctx, -1); return err },
		"DiscardAllDead": func() error { _, err := in.DiscardAllDead(ctx, -1); return err },
		"Depths":         func() error { _, err := in.Depths(ctx); return err },
		"Stats":          func() error { _, err := in.Stats(ctx, 0); return err },
		"Recent":         func() error { _, err := in.Recent(ctx, 5); return err },
		"Throughput":     func() error { _, err := in.Throughput(ctx, time.Now(), 5); return err },
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, chat.ErrUnavailable) {
			t.Errorf("%s with Redis down: got %v, want chat.ErrUnavailable", name, err)
		}
	}
}
