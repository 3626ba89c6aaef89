package queue_test

import (
	"testing"
	"time"

	"github.com/instachat/instachat/pkg/queue"
)

func TestParkUnparkAndPromote(t *testing.T) {
	q, rdb := newQueue(t, 1, queue.DefaultConfig())
	in := queue.NewInspector(rdb, q.Keys())
	ctx := t.Context()
	app := tokenFor(t, q.Keys(), 0)
	now := time.Now()
	chatParent := queue.ParentChat(app, 7)
	for i := int64(1); i <= 3; i++ {
		e := queue.Envelope{ID: "m" + string(rune('0'+i)), Type: queue.TypeMessageCreate, App: app, Chat: 7, Message: i, Time: now.UnixMicro()}
		if dead, err := q.Park(ctx, e, chatParent, now); err != nil || dead {
			t.Fatalf("park %d: got dead=%v, %v", i, dead, err)
		}
	}
	other := queue.Envelope{ID: "u1", Type: queue.TypeMessageUpdate, App: app, Chat: 8, Message: 1, Time: now.UnixMicro()}
	if _, err := q.Park(ctx, other, queue.ParentMessage(app, 8, 1), now); err != nil {
		t.Fatal(err)
	}
	d, err := in.Depths(ctx)
	if err != nil || d[0].Parked != 4 || d[0].Pending != 0 {
		t.Fatalf("depths after parking: got %+v, %v; want 4 parked, 0 pending", d, err)
	}
	// A parent with nothing waiting costs nothing; chat 7's events come back oldest first.
	n, err := q.Unpark(ctx, 0, []string{queue.ParentChat(app, 99), chatParent})
	if err != nil || n != 3 {
		t.Fatalf("unpark chat 7: got %d, %v; want 3", n, err)
	}
	c := q.NewConsumer(0, "c")
	raws, err := c.Fetch(ctx, 10, 0)
	if err != nil || len(raws) != 3 {
		t.Fatalf("fetch unparked: got %d jobs, %v; want 3", len(raws), err)
	}
	for i, raw := range raws {
		e, err := queue.Decode(raw)
		if err != nil || e.Message != int64(i+1) || e.Parked != 1 {
			t.Errorf("job %d: got %+v, %v; want message %d parked once", i, e, err, i+1)
		}
	}
	// The update waits until its backoff passes, then comes back without its parent.
	if n, _ := q.PromoteParked(ctx, now); n != 0 {
		t.Errorf("promote before the backoff: got %d moved, want 0", n)
	}
	if n, err := q.PromoteParked(ctx, now.Add(queue.ParkBackoff(1)+time.Millisecond)); err != nil || n != 1 {
		t.Errorf("promote after the backoff: got %d, %v; want 1", n, err)
	}
	if left, _ := rdb.ZCard(ctx, q.Keys().ParkedDue(0)).Result(); left != 0 {
		t.Errorf("parked parents left: got %d, want 0", left)
	}
}

func TestParkTooOftenGoesDead(t *testing.T) {
	q, rdb := newQueue(t, 1, queue.DefaultConfig())
	app := tokenFor(t, q.Keys(), 0)
	e := queue.Envelope{ID: "x", Type: queue.TypeMessageCreate, App: app, Chat: 1, Message: 1, Parked: queue.MaxParks}
	dead, err := q.Park(t.Context(), e, queue.ParentChat(app, 1), time.Now())
	if err != nil || !dead {
		t.Fatalf("park after MaxParks: got dead=%v, %v; want dead", dead, err)
	}
	if n, _ := rdb.LLen(t.Context(), q.Keys().Dead(0)).Result(); n != 1 {
		t.Errorf("dead list: got %d jobs, want 1", n)
	}
}

func TestParkBackoffBounds(t *testing.T) {
	for n, want := range map[int]time.Duration{1: 2 * time.Second, 0: time.Second, 8: 256 * time.Second, 9: 5 * time.Minute, 30: 5 * time.Minute} {
		if got := queue.ParkBackoff(n); got != want {
			t.Errorf("ParkBackoff(%d): got %v, want %v", n, got, want)
		}
	}
}
