package queue_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/instachat/instachat/pkg/queue"
)

// completed returns n history entries of app named prefix-1..prefix-n.
func completed(app, prefix string, n int) []queue.Completed {
	out := make([]queue.Completed, n)
	for i := range out {
		e := job(app, int64(i+1))
		e.ID = fmt.Sprintf("%s-%d", prefix, i+1)
		out[i] = queue.CompletedFrom(e, "applied")
	}
	return out
}

func recentIDs(t *testing.T, in *queue.Inspector, limit int) []string {
	t.Helper()
	jobs, err := in.Recent(t.Context(), limit)
	if err != nil {
		t.Fatalf("Recent(%d): %v", limit, err)
	}
	ids := make([]string, len(jobs))
	for i, j := range jobs {
		ids[i] = j.ID
	}
	return ids
}

func TestRecordCompletedRecentNewestFirstAcrossPartitions(t *testing.T) {
	q, rdb := newQueue(t, 2, queue.DefaultConfig())
	in := queue.NewInspector(rdb, q.Keys())
	ctx := t.Context()
	app0, app1 := tokenFor(t, q.Keys(), 0), tokenFor(t, q.Keys(), 1)
	t0 := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

	if err := q.RecordCompleted(ctx, 0, completed(app0, "a", 2), 0, t0); err != nil {
		t.Fatal(err)
	}
	if err := q.RecordCompleted(ctx, 1, completed(app1, "b", 1), 1, t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := q.RecordCompleted(ctx, 0, completed(app0, "c", 1), 0, t0.Add(2*time.Second)); err != nil {
		t.Fatal(err)
	}
	// A batch is pushed in order, so its last job is the newest.
	want := []string{"c-1", "b-1", "a-2", "a-1"}
	if got := recentIDs(t, in, 10); !slices.Equal(got, want) {
		t.Errorf("Recent(10): got %v, want %v", got, want)
	}
	if got := recentIDs(t, in, 2); !slices.Equal(got, want[:2]) {
		t.Errorf("Recent(2): got %v, want %v", got, want[:2])
	}
	if got := recentIDs(t, in, 0); len(got) != 0 {
		t.Errorf("Recent(0): got %v, want none", got)
	}

	jobs, err := in.Recent(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	j := jobs[0]
	if j.Type != queue.TypeMessageCreate || j.App != app0 || j.Chat != 1 || j.Message != 1 || j.Outcome != "applied" {
		t.Errorf("Recent entry: got %+v, want message.create of chat 1, message 1, applied", j)
	}
	if !j.CompletedAt().Equal(t0.Add(2*time.Second)) || j.AcceptedAt().IsZero() {
		t.Errorf("Recent entry times: got completed %v accepted %v, want completed %v and an acceptance time", j.CompletedAt(), j.AcceptedAt(), t0.Add(2*time.Second))
	}

	// The minute counters expire; the recent list is capped instead.
	ttl, err := rdb.TTL(ctx, q.Keys().Throughput(0, t0.Truncate(time.Minute))).Result()
	if err != nil || ttl <= 0 || ttl > queue.ThroughputTTL {
		t.Errorf("TTL of the minute counters: got %v, %v; want at most %v", ttl, err, queue.ThroughputTTL)
	}
	if ttl, _ := rdb.TTL(ctx, q.Keys().Recent(0)).Result(); ttl != -1 {
		t.Errorf("TTL of the recent list: got %v, want none (-1)", ttl)
	}
}

func TestRecordCompletedCapsRecent(t *testing.T) {
	q, rdb := newQueue(t, 1, queue.DefaultConfig())
	in := queue.NewInspector(rdb, q.Keys())
	app := tokenFor(t, q.Keys(), 0)
	now := time.Now()
	for i := range 3 {
		if err := q.RecordCompleted(t.Context(), 0, completed(app, fmt.Sprint("batch", i), 60), 0, now); err != nil {
			t.Fatal(err)
		}
	}
	if n := llen(t, rdb, q.Keys().Recent(0)); n != queue.RecentCap {
		t.Errorf("recent list length: got %d, want %d", n, queue.RecentCap)
	}
	got := recentIDs(t, in, 1000)
	if len(got) != queue.RecentCap || got[0] != "batch2-60" {
		t.Errorf("Recent(1000): got %d jobs starting %v, want %d starting batch2-60", len(got), got[:1], queue.RecentCap)
	}
}

func TestRecordCompletedNothingAndBadPartition(t *testing.T) {
	q, rdb := newQueue(t, 2, queue.DefaultConfig())
	now := time.Now()
	if err := q.RecordCompleted(t.Context(), 0, nil, 0, now); err != nil {
		t.Fatalf("RecordCompleted(nothing): %v", err)
	}
	if n, _ := rdb.Exists(t.Context(), q.Keys().Recent(0), q.Keys().Throughput(0, now.Truncate(time.Minute))).Result(); n != 0 {
		t.Errorf("keys written for nothing: got %d, want 0", n)
	}
	if err := q.RecordCompleted(t.Context(), 2, nil, 1, now); err == nil {
		t.Error("RecordCompleted(partition 2 of 2): got no error, want one")
	}
}

func TestThroughputPerMinuteOverPartitions(t *testing.T) {
	q, rdb := newQueue(t, 2, queue.DefaultConfig())
	in := queue.NewInspector(rdb, q.Keys())
	ctx := t.Context()
	app0, app1 := tokenFor(t, q.Keys(), 0), tokenFor(t, q.Keys(), 1)
	now := time.Date(2030, 1, 2, 3, 4, 30, 0, time.UTC)
	record := func(p int, app string, n, failed int, at time.Time) {
		t.Helper()
		if err := q.RecordCompleted(ctx, p, completed(app, "x", n), failed, at); err != nil {
			t.Fatal(err)
		}
	}
	record(0, app0, 3, 0, now)                      // this minute
	record(1, app1, 2, 1, now.Add(-20*time.Second)) // this minute too (03:04:10)
	record(0, app0, 0, 4, now.Add(-2*time.Minute))  // failures only
	record(1, app1, 5, 0, now.Add(-10*time.Minute)) // outside a 5-minute window

	got, err := in.Throughput(ctx, now, 5)
	if err != nil {
		t.Fatal(err)
	}
	want := []queue.MinuteStat{
		{Minute: time.Date(2030, 1, 2, 3, 0, 0, 0, time.UTC)},
		{Minute: time.Date(2030, 1, 2, 3, 1, 0, 0, time.UTC)},
		{Minute: time.Date(2030, 1, 2, 3, 2, 0, 0, time.UTC), Failed: 4},
		{Minute: time.Date(2030, 1, 2, 3, 3, 0, 0, time.UTC)},
		{Minute: time.Date(2030, 1, 2, 3, 4, 0, 0, time.UTC), Processed: 5, Failed: 1},
	}
	if !slices.Equal(got, want) {
		t.Errorf("Throughput(5):\n got %+v\nwant %+v", got, want)
	}
	long, err := in.Throughput(ctx, now, 60)
	if err != nil || len(long) != 60 || long[49].Processed != 5 {
		t.Errorf("Throughput(60): got %d minutes (minute -10: %+v), %v; want 60 with 5 processed 10 minutes ago", len(long), long[min(49, len(long)-1)], err)
	}
	if none, err := in.Throughput(ctx, now, 0); err != nil || len(none) != 0 {
		t.Errorf("Throughput(0): got %v, %v; want empty", none, err)
	}
}
