package queue_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/instachat/instachat/pkg/queue"
)

// TestTakeNeverReturnsJobsInFlight: a consumer that settles jobs one by one
// takes only new jobs while others are in its processing list, and AckJob
// removes exactly the job it names.
func TestTakeNeverReturnsJobsInFlight(t *testing.T) {
	q, rdb := newQueue(t, 1, queue.DefaultConfig())
	app := tokenFor(t, q.Keys(), 0)
	pushJobs(t, q, app, 3)
	c := newConsumer(t, q, 0)
	first, err := c.Take(t.Context(), 1, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	second, err := c.Take(t.Context(), 2, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	assertNumbers(t, "first Take", first, 1)
	assertNumbers(t, "second Take", second, 2, 3)
	if err := c.AckJob(t.Context(), second[0], false); err != nil {
		t.Fatal(err)
	}
	if err := c.AckJob(t.Context(), first[0], true); err != nil {
		t.Fatal(err)
	}
	left, err := rdb.LRange(t.Context(), q.Keys().Processing(0, c.Name()), 0, -1).Result()
	if err != nil {
		t.Fatal(err)
	}
	assertNumbers(t, "processing after two AckJobs", left, 3)
	if got, err := c.Take(t.Context(), 1, 0); err != nil || got != nil {
		t.Errorf("Take on an empty lane: got %v, %v; want nil, nil", numbers(t, got), err)
	}
	if p, f := stat(t, rdb, q, 0, "processed"), stat(t, rdb, q, 0, "failed"); p != 1 || f != 1 {
		t.Errorf("stats: got processed %d failed %d, want 1 and 1", p, f)
	}
	// The job still in flight goes back when the consumer leaves.
	if err := c.Leave(t.Context()); err != nil {
		t.Fatal(err)
	}
	assertNumbers(t, "pending after Leave", pendingInOrder(t, rdb, q, 0), 3)
}

// TestRetryAfterAndPostpone: RetryAfter follows the caller's schedule and
// dies after MaxAttempts like Retry; Postpone waits without an attempt.
func TestRetryAfterAndPostpone(t *testing.T) {
	q, rdb := newQueue(t, 1, queue.Config{MaxAttempts: 3})
	app := tokenFor(t, q.Keys(), 0)
	now := time.UnixMilli(1_700_000_000_000)
	var asked []int
	wait := func(n int) time.Duration { asked = append(asked, n); return time.Duration(n) * time.Minute }
	e := job(app, 1)
	e.Attempt = 1
	dead, err := q.RetryAfter(t.Context(), e, errors.New("boom"), now, wait)
	if err != nil || dead {
		t.Fatalf("RetryAfter: got dead %v, %v; want a retry", dead, err)
	}
	zs, err := rdb.ZRangeWithScores(t.Context(), q.Keys().Retry(0), 0, -1).Result()
	if err != nil || len(zs) != 1 {
		t.Fatalf("retry set: got %v, %v; want one job", zs, err)
	}
	got, _ := queue.Decode(zs[0].Member.(string))
	if due := int64(zs[0].Score); due != now.Add(2*time.Minute).UnixMilli() || got.Attempt != 2 || got.Error != "boom" || len(asked) != 1 || asked[0] != 2 {
		t.Errorf("retry: got due %d attempt %d error %q asked %v; want due now+2m, attempt 2, boom, wait(2)", due, got.Attempt, got.Error, asked)
	}
	e.Attempt = 2
	if dead, err := q.RetryAfter(t.Context(), e, errors.New("last"), now, wait); err != nil || !dead {
		t.Errorf("RetryAfter at the last attempt: got dead %v, %v; want dead", dead, err)
	}
	if n := llen(t, rdb, q.Keys().Dead(0)); n != 1 {
		t.Errorf("dead list: got %d jobs, want 1", n)
	}

	p := job(app, 2)
	p.Attempt = 2
	if err := q.Postpone(t.Context(), p, errors.New("mysql down"), now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	p.Error = "mysql down"
	score, err := rdb.ZScore(t.Context(), q.Keys().Retry(0), mustEncode(t, p)).Result()
	if err != nil || int64(score) != now.Add(time.Hour).UnixMilli() {
		t.Errorf("postponed job: got score %v, %v; want due in an hour with attempt 2 unchanged", score, err)
	}
}

// TestHookDeadJobsAreNamedByDelivery: on the hooks lane one event has a
// delivery per endpoint; each dead delivery is listed and replayed by its
// Ref, so replaying one endpoint's delivery leaves the other's alone.
func TestHookDeadJobsAreNamedByDelivery(t *testing.T) {
	jobs, rdb := newQueue(t, 1, queue.DefaultConfig())
	q := queue.New(rdb, jobs.Keys().Hooks(), queue.DefaultConfig())
	in := queue.NewInspector(rdb, q.Keys())
	app := tokenFor(t, q.Keys(), 0)
	for _, hook := range []string{"wh_a", "wh_b"} {
		e := job(app, 1)
		e.Hook = hook
		if err := q.Bury(t.Context(), e, errors.New("receiver answered 500")); err != nil {
			t.Fatal(err)
		}
	}
	ids, total := deadIDs(t, in, -1, 0, 10)
	if total != 2 || strings.Join(ids, " ") != "event-1.wh_b event-1.wh_a" {
		t.Fatalf("dead deliveries: got %v (total %d), want event-1.wh_b event-1.wh_a", ids, total)
	}
	if err := in.ReplayDead(t.Context(), "event-1.wh_a"); err != nil {
		t.Fatal(err)
	}
	pending := pendingInOrder(t, rdb, q, 0)
	if len(pending) != 1 || !strings.Contains(pending[0], `"hook":"wh_a"`) {
		t.Errorf("hooks pending after replaying wh_a's delivery: got %v", pending)
	}
	if n := llen(t, rdb, jobs.Keys().Pending(0)); n != 0 {
		t.Errorf("jobs lane: got %d pending, want 0 (a delivery replays onto the hooks lane)", n)
	}
	if ids, _ := deadIDs(t, in, -1, 0, 10); len(ids) != 1 || ids[0] != "event-1.wh_b" {
		t.Errorf("dead after replay: got %v, want event-1.wh_b", ids)
	}
}

// TestHookDeliveriesCappedNewestFirst: the recent deliveries of one
// application are its own, newest first, capped, with excerpts cut to
// HookExcerptMax bytes on a character boundary.
func TestHookDeliveriesCappedNewestFirst(t *testing.T) {
	q, rdb := newQueue(t, 4, queue.DefaultConfig())
	in := queue.NewInspector(rdb, q.Keys())
	now := time.Now()
	long := strings.Repeat("é", 200) // 400 bytes
	for i := range queue.HookDeliveriesCap + 5 {
		d := queue.HookDelivery{ID: fmt.Sprintf("ev-%d.wh_a", i), Endpoint: "wh_a", Attempt: 1, Outcome: "http_error", Status: 500, Excerpt: long}
		if err := q.RecordHookDelivery(t.Context(), "app-a", d, now); err != nil {
			t.Fatal(err)
		}
	}
	if err := q.RecordHookDelivery(t.Context(), "app-b", queue.HookDelivery{ID: "ev-b.wh_b", Outcome: "ok"}, now); err != nil {
		t.Fatal(err)
	}
	got, err := in.HookDeliveries(t.Context(), "app-a", 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != queue.HookDeliveriesCap || got[0].ID != fmt.Sprintf("ev-%d.wh_a", queue.HookDeliveriesCap+4) {
		t.Fatalf("app-a: got %d deliveries, first %+v; want %d, newest first", len(got), got[0], queue.HookDeliveriesCap)
	}
	if ex := got[0].Excerpt; len(ex) > queue.HookExcerptMax || len(ex) < queue.HookExcerptMax-1 || !utf8.ValidString(ex) {
		t.Errorf("excerpt: got %d bytes (valid %v), want at most %d valid UTF-8", len(ex), utf8.ValidString(ex), queue.HookExcerptMax)
	}
	if !got[0].Time().Equal(time.UnixMicro(now.UnixMicro()).UTC()) {
		t.Errorf("time: got %v, want %v", got[0].Time(), now)
	}
	if b, _ := in.HookDeliveries(t.Context(), "app-b", 10); len(b) != 1 || b[0].ID != "ev-b.wh_b" {
		t.Errorf("app-b: got %+v, want its one delivery", b)
	}
	if ttl := rdb.PTTL(t.Context(), q.Keys().HookDeliveries("app-a")).Val(); ttl <= 0 || ttl > queue.HookDeliveriesTTL {
		t.Errorf("TTL: got %v, want up to %v", ttl, queue.HookDeliveriesTTL)
	}
	if tag, want := hashTag(q.Keys().HookDeliveries("app-a")), hashTag(q.Keys().Hooks().Pending(q.Keys().Partition("app-a"))); tag != want {
		t.Errorf("slot: got %q, want the lane's %q", tag, want)
	}
}

// TestCollectorPerLane: a process registers the jobs and hooks lanes'
// collectors side by side; the jobs lane keeps its names.
func TestCollectorPerLane(t *testing.T) {
	q, rdb := newQueue(t, 1, queue.DefaultConfig())
	reg := prometheus.NewRegistry()
	reg.MustRegister(queue.NewCollector(queue.NewInspector(rdb, q.Keys())), queue.NewCollector(queue.NewInspector(rdb, q.Keys().Hooks())))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, mf := range mfs {
		names[mf.GetName()] = true
	}
	for _, want := range []string{"instachat_queue_jobs", "instachat_queue_scrape_ok", "instachat_hooks_queue_jobs", "instachat_hooks_queue_scrape_ok"} {
		if !names[want] {
			t.Errorf("metrics: %s missing from %v", want, names)
		}
	}
}

func mustEncode(t *testing.T, e queue.Envelope) string {
	t.Helper()
	raw, err := e.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}
