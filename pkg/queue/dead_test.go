package queue_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/instachat/instachat/pkg/chat"
	"github.com/instachat/instachat/pkg/queue"
)

// bury puts job n of app in its dead list after attempts failed deliveries.
func bury(t *testing.T, q *queue.Queue, app string, n int64, attempts int) queue.Envelope {
	t.Helper()
	e := job(app, n)
	e.Attempt = attempts - 1
	if err := q.Bury(t.Context(), e, errors.New("boom")); err != nil {
		t.Fatalf("Bury(%d): %v", n, err)
	}
	e.Attempt, e.Error = attempts, "boom"
	return e
}

// deadIDs lists dead jobs and returns their ids.
func deadIDs(t *testing.T, in *queue.Inspector, partition, offset, limit int) ([]string, int64) {
	t.Helper()
	jobs, total, err := in.Dead(t.Context(), partition, offset, limit)
	if err != nil {
		t.Fatalf("Dead(%d, %d, %d): %v", partition, offset, limit, err)
	}
	ids := make([]string, len(jobs))
	for i, j := range jobs {
		ids[i] = j.ID
	}
	return ids, total
}

func stat(t *testing.T, rdb *redis.Client, q *queue.Queue, p int, field string) int64 {
	t.Helper()
	n, err := rdb.HGet(t.Context(), q.Keys().Stats(p), field).Int64()
	if err != nil && !errors.Is(err, redis.Nil) {
		t.Fatalf("HGET stats %s: %v", field, err)
	}
	return n
}

func TestDeadListsNewestFirstAcrossPartitions(t *testing.T) {
	q, rdb := newQueue(t, 3, queue.DefaultConfig())
	in := queue.NewInspector(rdb, q.Keys())
	apps := []string{tokenFor(t, q.Keys(), 0), tokenFor(t, q.Keys(), 1), tokenFor(t, q.Keys(), 2)}
	// Partition 0 buries 1, 2, 3; partition 1 buries 4; partition 2 buries 5, 6.
	for _, b := range []struct {
		p int
		n int64
	}{{0, 1}, {2, 5}, {0, 2}, {1, 4}, {0, 3}, {2, 6}} {
		bury(t, q, apps[b.p], b.n, 25)
	}
	// Newest of each partition first, then the second newest of each, …
	all := []string{"event-3", "event-4", "event-6", "event-2", "event-5", "event-1"}
	for offset := 0; offset <= len(all)+1; offset++ {
		for limit := 1; limit <= len(all)+1; limit++ {
			got, total := deadIDs(t, in, -1, offset, limit)
			want := all[min(offset, len(all)):min(offset+limit, len(all))]
			if !slices.Equal(got, want) || total != int64(len(all)) {
				t.Errorf("Dead(-1, %d, %d): got %v total %d, want %v total %d", offset, limit, got, total, want, len(all))
			}
		}
	}

	tests := []struct {
		partition, offset, limit int
		want                     []string
		total                    int64
	}{
		{0, 0, 10, []string{"event-3", "event-2", "event-1"}, 3},
		{0, 1, 1, []string{"event-2"}, 3},
		{1, 0, 10, []string{"event-4"}, 1},
		{2, 0, 10, []string{"event-6", "event-5"}, 2},
		{2, 5, 10, []string{}, 2},
		{-1, 0, 0, []string{}, 6},
	}
	for _, tt := range tests {
		got, total := deadIDs(t, in, tt.partition, tt.offset, tt.limit)
		if !slices.Equal(got, tt.want) || total != tt.total {
			t.Errorf("Dead(%d, %d, %d): got %v total %d, want %v total %d", tt.partition, tt.offset, tt.limit, got, total, tt.want, tt.total)
		}
	}

	jobs, _, err := in.Dead(t.Context(), 1, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	j := jobs[0]
	if !j.Decoded || j.Partition != 1 || j.Envelope.Attempt != 25 || j.Envelope.Error != "boom" || j.Envelope.Message != 4 || j.Envelope.App != apps[1] {
		t.Errorf("dead job: got %+v, want decoded job 4 of partition 1 with 25 attempts and error boom", j)
	}

	for _, p := range []int{3, -2} {
		if _, _, err := in.Dead(t.Context(), p, 0, 10); !errors.Is(err, queue.ErrPartition) || !errors.Is(err, chat.ErrInvalid) {
			t.Errorf("Dead(%d): got error %v, want ErrPartition (chat.ErrInvalid)", p, err)
		}
	}
}

func TestReplayDeadQueuesOneFreshCopy(t *testing.T) {
	q, rdb := newQueue(t, 2, queue.DefaultConfig())
	in := queue.NewInspector(rdb, q.Keys())
	app := tokenFor(t, q.Keys(), 1)
	pushJobs(t, q, app, 2) // jobs already waiting: the replayed one goes ahead of them
	want := bury(t, q, app, 7, 25)
	bury(t, q, app, 8, 3)

	const racers = 10
	var wg sync.WaitGroup
	results := make(chan bool, racers)
	for range racers {
		wg.Go(func() {
			err := in.ReplayDead(t.Context(), "event-7")
			if err != nil && !errors.Is(err, queue.ErrNoDeadJob) {
				t.Errorf("ReplayDead: %v", err)
			}
			results <- err == nil
		})
	}
	wg.Wait()
	close(results)
	wins := 0
	for ok := range results {
		if ok {
			wins++
		}
	}
	if wins != 1 {
		t.Errorf("concurrent ReplayDead: got %d true answers, want exactly 1", wins)
	}

	pending := pendingInOrder(t, rdb, q, 1)
	assertNumbers(t, "pending after replay", pending, 7, 1, 2)
	got, err := queue.Decode(pending[0])
	if err != nil {
		t.Fatal(err)
	}
	want.Attempt, want.Error = 0, ""
	if got != want {
		t.Errorf("replayed job: got %+v, want %+v", got, want)
	}
	if ids, total := deadIDs(t, in, -1, 0, 10); !slices.Equal(ids, []string{"event-8"}) || total != 1 {
		t.Errorf("dead after replay: got %v total %d, want [event-8] total 1", ids, total)
	}
	if n := stat(t, rdb, q, 1, "replayed"); n != 1 {
		t.Errorf("stats replayed: got %d, want 1", n)
	}
	if err := in.ReplayDead(t.Context(), "event-7"); !errors.Is(err, queue.ErrNoDeadJob) || !errors.Is(err, chat.ErrNotFound) {
		t.Errorf("second ReplayDead: got %v, want ErrNoDeadJob (chat.ErrNotFound)", err)
	}
}

func TestDiscardDead(t *testing.T) {
	q, rdb := newQueue(t, 2, queue.DefaultConfig())
	in := queue.NewInspector(rdb, q.Keys())
	app := tokenFor(t, q.Keys(), 0)
	bury(t, q, app, 1, 25)
	bury(t, q, app, 2, 25)

	if err := in.DiscardDead(t.Context(), "event-1"); err != nil {
		t.Fatalf("DiscardDead: %v", err)
	}
	if ids, _ := deadIDs(t, in, -1, 0, 10); !slices.Equal(ids, []string{"event-2"}) {
		t.Errorf("dead after discard: got %v, want [event-2]", ids)
	}
	if n := llen(t, rdb, q.Keys().Pending(0)); n != 0 {
		t.Errorf("pending after discard: got %d jobs, want 0", n)
	}
	if n := stat(t, rdb, q, 0, "discarded"); n != 1 {
		t.Errorf("stats discarded: got %d, want 1", n)
	}
	if err := in.DiscardDead(t.Context(), "event-1"); !errors.Is(err, queue.ErrNoDeadJob) {
		t.Errorf("second DiscardDead: got %v, want ErrNoDeadJob", err)
	}
}

func TestUnknownDeadID(t *testing.T) {
	q, rdb := newQueue(t, 2, queue.DefaultConfig())
	in := queue.NewInspector(rdb, q.Keys())
	bury(t, q, tokenFor(t, q.Keys(), 0), 1, 25)
	for _, id := range []string{"event-404", "", "raw-0000000000000000"} {
		if err := in.ReplayDead(t.Context(), id); !errors.Is(err, queue.ErrNoDeadJob) || !errors.Is(err, chat.ErrNotFound) {
			t.Errorf("ReplayDead(%q): got %v, want ErrNoDeadJob (chat.ErrNotFound)", id, err)
		}
		if err := in.DiscardDead(t.Context(), id); !errors.Is(err, queue.ErrNoDeadJob) || !errors.Is(err, chat.ErrNotFound) {
			t.Errorf("DiscardDead(%q): got %v, want ErrNoDeadJob (chat.ErrNotFound)", id, err)
		}
	}
}

func TestUndecodableDeadJobs(t *testing.T) {
	q, rdb := newQueue(t, 2, queue.DefaultConfig())
	in := queue.NewInspector(rdb, q.Keys())
	const raw = `{"not": "a job"`
	if err := q.BuryRaw(t.Context(), 1, raw); err != nil {
		t.Fatal(err)
	}
	jobs, total, err := in.Dead(t.Context(), -1, 0, 10)
	if err != nil || total != 1 || len(jobs) != 1 {
		t.Fatalf("Dead: got %d jobs, total %d, %v; want 1", len(jobs), total, err)
	}
	j := jobs[0]
	if j.Decoded || j.Raw != raw || j.Partition != 1 || !strings.HasPrefix(j.ID, "raw-") || len(j.ID) != len("raw-")+16 {
		t.Errorf("undecodable dead job: got %+v, want raw %q in partition 1 with a raw- id", j, raw)
	}
	again, _, _ := in.Dead(t.Context(), 1, 0, 1)
	if again[0].ID != j.ID {
		t.Errorf("id of an undecodable job changed: %s then %s", j.ID, again[0].ID)
	}

	if err := in.ReplayDead(t.Context(), j.ID); !errors.Is(err, queue.ErrNotReplayable) || !errors.Is(err, chat.ErrConflict) {
		t.Errorf("ReplayDead(undecodable): got %v, want ErrNotReplayable (chat.ErrConflict)", err)
	}
	if n := llen(t, rdb, q.Keys().Dead(1)); n != 1 {
		t.Errorf("dead after refused replay: got %d jobs, want 1", n)
	}
	if err := in.DiscardDead(t.Context(), j.ID); err != nil {
		t.Errorf("DiscardDead(undecodable): %v", err)
	}
	if n := llen(t, rdb, q.Keys().Dead(1)); n != 0 {
		t.Errorf("dead after discard: got %d jobs, want 0", n)
	}
}

func TestReplayAllDead(t *testing.T) {
	q, rdb := newQueue(t, 2, queue.DefaultConfig())
	in := queue.NewInspector(rdb, q.Keys())
	app0, app1 := tokenFor(t, q.Keys(), 0), tokenFor(t, q.Keys(), 1)
	// More than one scan chunk, with undecodable jobs among them, so the scan
	// must step over the jobs it keeps.
	const n = 1200
	want := make([]int64, 0, n)
	for i := int64(1); i <= n; i++ {
		bury(t, q, app0, i, 25)
		want = append(want, i)
		if i%97 == 0 {
			if err := q.BuryRaw(t.Context(), 0, fmt.Sprintf("garbage %d", i)); err != nil {
				t.Fatal(err)
			}
		}
	}
	bury(t, q, app1, 5000, 25)

	got, err := in.ReplayAllDead(t.Context(), 0)
	if err != nil || got != n {
		t.Fatalf("ReplayAllDead(0): got %d, %v; want %d", got, err, n)
	}
	// The oldest dead job is taken first, attempts reset.
	pending := pendingInOrder(t, rdb, q, 0)
	assertNumbers(t, "pending of partition 0", pending, want...)
	if e, _ := queue.Decode(pending[0]); e.Attempt != 0 || e.Error != "" {
		t.Errorf("replayed job: got attempt %d error %q, want 0 and none", e.Attempt, e.Error)
	}
	if ids, total := deadIDs(t, in, 0, 0, 100); total != n/97 || strings.Count(strings.Join(ids, ","), "raw-") != n/97 {
		t.Errorf("dead of partition 0: got %v total %d, want only the %d undecodable jobs", ids, total, n/97)
	}
	if got := stat(t, rdb, q, 0, "replayed"); got != n {
		t.Errorf("stats replayed: got %d, want %d", got, n)
	}
	if got := llen(t, rdb, q.Keys().Dead(1)); got != 1 {
		t.Errorf("dead of partition 1: got %d jobs, want it untouched (1)", got)
	}

	if got, err := in.ReplayAllDead(t.Context(), -1); err != nil || got != 1 {
		t.Errorf("ReplayAllDead(-1): got %d, %v; want 1", got, err)
	}
	if _, err := in.ReplayAllDead(t.Context(), 2); !errors.Is(err, queue.ErrPartition) {
		t.Errorf("ReplayAllDead(2): got %v, want ErrPartition", err)
	}
}

func TestDiscardAllDead(t *testing.T) {
	q, rdb := newQueue(t, 3, queue.DefaultConfig())
	in := queue.NewInspector(rdb, q.Keys())
	for p := range 3 {
		for i := range p + 1 {
			bury(t, q, tokenFor(t, q.Keys(), p), int64(10*p+i), 25)
		}
	}
	if err := q.BuryRaw(t.Context(), 2, "garbage"); err != nil {
		t.Fatal(err)
	}
	if got, err := in.DiscardAllDead(t.Context(), 1); err != nil || got != 2 {
		t.Errorf("DiscardAllDead(1): got %d, %v; want 2", got, err)
	}
	if got, err := in.DiscardAllDead(t.Context(), -1); err != nil || got != 5 {
		t.Errorf("DiscardAllDead(-1): got %d, %v; want 5", got, err)
	}
	if _, total := deadIDs(t, in, -1, 0, 10); total != 0 {
		t.Errorf("dead after discarding all: got %d jobs, want 0", total)
	}
	for p, want := range []int64{1, 2, 4} {
		if got := stat(t, rdb, q, p, "discarded"); got != want {
			t.Errorf("stats discarded of partition %d: got %d, want %d", p, got, want)
		}
	}
}
