package counter_test

import (
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/instachat/instachat/pkg/counter"
	"github.com/instachat/instachat/pkg/events"
	"github.com/instachat/instachat/pkg/queue"
)

// entry is one stream entry: its position and its job as stored.
type entry struct {
	pos events.Position
	raw string
	job queue.Envelope
}

// stream returns the app's partition's event stream, oldest first.
func (e env) stream(t *testing.T) []entry {
	t.Helper()
	msgs, err := e.rdb.XRange(t.Context(), e.keys.Events(e.keys.Partition(e.app)), "-", "+").Result()
	if err != nil {
		t.Fatalf("XRANGE events: %v", err)
	}
	out := make([]entry, len(msgs))
	for i, m := range msgs {
		raw, _ := m.Values["j"].(string)
		pos, err := events.Parse(m.ID)
		if err != nil {
			t.Fatalf("entry id %q: %v", m.ID, err)
		}
		job, err := queue.Decode(raw)
		if err != nil {
			t.Fatalf("entry %s: %v", m.ID, err)
		}
		out[i] = entry{pos: pos, raw: raw, job: job}
	}
	return out
}

// TestEveryStepEmitsOnce checks that each step that accepts a write appends
// exactly one entry, at the next sequence of one generation, holding the job
// without its position, and that the queued job carries that position.
func TestEveryStepEmitsOnce(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	e.seedApp(t, 0)
	upd := e.messageJob(1, "edited")
	upd.Type, upd.Message = queue.TypeMessageUpdate, 1
	del := e.messageJob(1, "")
	del.Type, del.Message = queue.TypeMessageDelete, 1
	delChat := e.chatJob("")
	delChat.Type, delChat.Chat = queue.TypeChatDelete, 1
	steps := []struct {
		job  queue.Envelope
		want string // type, chat, message of the job as emitted
	}{
		{e.chatJob(""), "chat.create 1 0"},
		{e.messageJob(1, "hi"), "message.create 1 1"},
		{upd, "message.update 1 1"},
		{del, "message.delete 1 1"},
		{delChat, "chat.delete 1 0"},
	}
	var gen uint64
	for i, s := range steps {
		s.job.Ev = "1-1" // whatever the caller set, the step decides
		if _, err := e.c.Accept(ctx, s.job, counter.Claim{}); err != nil {
			t.Fatalf("step %d (%s): %v", i, s.want, err)
		}
		got := e.stream(t)
		if len(got) != i+1 {
			t.Fatalf("after step %d (%s): got %d entries, want %d", i, s.want, len(got), i+1)
		}
		last := got[i]
		if i == 0 {
			gen = last.pos.Gen
			if now := uint64(time.Now().UnixMilli()); gen > now || now-gen > 60_000 {
				t.Errorf("generation: got %d, want about now (%d)", gen, now)
			}
		}
		if want := (events.Position{Gen: gen, Seq: uint64(i + 1)}); last.pos != want {
			t.Errorf("step %d (%s): got position %v, want %v", i, s.want, last.pos, want)
		}
		if g := fmt.Sprintf("%s %d %d", last.job.Type, last.job.Chat, last.job.Message); g != s.want || last.job.ID != s.job.ID || last.job.Ev != "" {
			t.Errorf("step %d: got entry job %s, want %s (id %s) without ev", i, last.raw, s.want, s.job.ID)
		}
		jobs := e.pending(t)
		queued := jobs[len(jobs)-1]
		if queued.Ev != last.pos.String() {
			t.Errorf("step %d: queued job has ev %q, want the entry id %q", i, queued.Ev, last.pos)
		}
		if queued.Ev = ""; queued != last.job {
			t.Errorf("step %d: queued job %+v differs from the entry's %+v beyond ev", i, queued, last.job)
		}
		if _, err := events.FromEntry(last.pos.String(), last.raw); err != nil {
			t.Errorf("step %d: FromEntry: %v", i, err)
		}
	}
	meta, err := e.rdb.HGetAll(ctx, e.keys.EventsMeta(e.keys.Partition(e.app))).Result()
	if err != nil || meta["g"] != strconv.FormatUint(gen, 10) || meta["s"] != "5" || meta["e"] == "" {
		t.Errorf("meta: got %v, %v; want g %d, s 5 and an epoch", meta, err, gen)
	}
}

// TestRefusedAndReplayedStepsEmitNothing checks that a step that accepts
// nothing (an unknown chat) and a replay under an idempotency key append no
// entry.
func TestRefusedAndReplayedStepsEmitNothing(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	e.seedApp(t, 0)
	job := e.chatJob("")
	for range 3 {
		if _, err := e.c.Accept(ctx, job, claim("k", "create chat")); err != nil {
			t.Fatal(err)
		}
	}
	msg := e.messageJob(1, "hi")
	for range 2 {
		if _, err := e.c.Accept(ctx, msg, claim("m", "post hi")); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.c.CreateMessage(ctx, e.messageJob(9, "nowhere")); err == nil {
		t.Error("post to chat 9: accepted, want not found")
	}
	if got := e.stream(t); len(got) != 2 || got[0].job.ID != job.ID || got[1].job.ID != msg.ID || got[1].pos.Seq != 2 {
		t.Errorf("entries: got %+v, want the chat create then the message create, once each", got)
	}
	if got := e.pending(t); len(got) != 2 {
		t.Errorf("pending: got %d jobs, want 2", len(got))
	}
}

// TestConcurrentCreatesEmitInNumberOrder checks that concurrent creates of
// one chat's messages appear in the stream in number order.
func TestConcurrentCreatesEmitInNumberOrder(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	e.seedApp(t, 1)
	e.seedChat(t, 1, 0)
	const n = 100
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			if _, err := e.c.CreateMessage(ctx, e.messageJob(1, "race")); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	got := e.stream(t)
	if len(got) != n {
		t.Fatalf("entries: got %d, want %d", len(got), n)
	}
	for i, en := range got {
		if en.job.Message != int64(i+1) || en.pos.Seq != uint64(i+1) || en.pos.Gen != got[0].pos.Gen {
			t.Fatalf("entry %d: got message %d at %v, want message %d at seq %d", i, en.job.Message, en.pos, i+1, i+1)
		}
	}
}

// TestNewEpochStartsANewGeneration checks that a stream whose bookkeeping
// belongs to another Redis history (a failover, a restart that lost data) or
// is gone (FLUSHALL) continues in a new, greater generation from sequence 1,
// also when the old generation lies ahead of this Redis's clock.
func TestNewEpochStartsANewGeneration(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	e.seedApp(t, 0)
	p := e.keys.Partition(e.app)
	create := func(what string) events.Position {
		t.Helper()
		if _, err := e.c.CreateChat(ctx, e.chatJob("")); err != nil {
			t.Fatalf("create chat %s: %v", what, err)
		}
		got := e.stream(t)
		return got[len(got)-1].pos
	}
	first := create("first")
	if second := create("second"); second != (events.Position{Gen: first.Gen, Seq: 2}) {
		t.Errorf("second event: got %v, want %d-2", second, first.Gen)
	}

	// Another epoch: the meta is a promoted replica's.
	if err := e.rdb.HSet(ctx, e.keys.EventsMeta(p), "e", "0000000000000000000000000000000000000000").Err(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Millisecond)
	other := create("in another epoch")
	if other.Gen <= first.Gen || other.Seq != 1 {
		t.Errorf("after an epoch change: got %v, want a generation above %d, seq 1", other, first.Gen)
	}

	// A generation ahead of the clock (the old primary's clock ran fast):
	// the new one is just above it.
	ahead := uint64(time.Now().Add(time.Hour).UnixMilli())
	raw, err := e.chatJob("").Encode()
	if err != nil {
		t.Fatal(err)
	}
	if err := e.rdb.XAdd(ctx, &redis.XAddArgs{Stream: e.keys.Events(p), ID: fmt.Sprintf("%d-1", ahead), Values: []string{"j", raw}}).Err(); err != nil {
		t.Fatal(err)
	}
	if err := e.rdb.HDel(ctx, e.keys.EventsMeta(p), "e").Err(); err != nil {
		t.Fatal(err)
	}
	if got := create("after a fast clock"); got != (events.Position{Gen: ahead + 1, Seq: 1}) {
		t.Errorf("after a generation ahead of the clock: got %v, want %d-1", got, ahead+1)
	}

	// FLUSHALL: everything gone, counters reseeded from MySQL.
	if err := e.rdb.Del(ctx, e.keys.Events(p), e.keys.EventsMeta(p), e.keys.ChatCounter(e.app)).Err(); err != nil {
		t.Fatal(err)
	}
	e.src.setChat(e.app, counter.Seed{Max: 4})
	time.Sleep(2 * time.Millisecond)
	if got := create("after a flush"); got.Gen <= other.Gen || got.Seq != 1 {
		t.Errorf("after a flush: got %v, want a generation above %d, seq 1", got, other.Gen)
	}
}

// TestRenumberEmits checks that a renumbered create is a new event: one
// entry for the new number, the queued job carrying its position.
func TestRenumberEmits(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	e.seedApp(t, 1)
	e.seedChat(t, 1, 20)
	q := queue.New(e.rdb, e.keys, queue.DefaultConfig())
	in := queue.NewInspector(e.rdb, e.keys).WithRenumberer(e.c)
	lost := e.messageJob(1, "numbered 11 twice")
	lost.Message, lost.Ev = 11, "5-3" // its first acceptance's position
	if err := q.BuryConflict(ctx, lost, errors.New("number taken")); err != nil {
		t.Fatal(err)
	}
	if err := in.ReplayDead(ctx, lost.ID); err != nil {
		t.Fatal(err)
	}
	got := e.stream(t)
	if len(got) != 1 || got[0].job.Message != 21 || got[0].job.Origin != lost.ID || got[0].job.Ev != "" {
		t.Fatalf("entries after the renumber: got %+v, want message 21 originating from %s, without ev", got, lost.ID)
	}
	if jobs := e.pending(t); len(jobs) != 1 || jobs[0].Ev != got[0].pos.String() {
		t.Errorf("renumbered job: got %+v, want ev %s", jobs, got[0].pos)
	}
}

// TestStreamIsTrimmedApproximately checks that a partition's stream keeps
// about EventsRetain entries, never fewer, and its sequences go on.
func TestStreamIsTrimmedApproximately(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	c := counter.New(e.rdb, e.keys, e.src, counter.Config{EventsRetain: 100})
	e.seedApp(t, 1)
	e.seedChat(t, 1, 0)
	const n = 1000
	for range n {
		if _, err := c.CreateMessage(ctx, e.messageJob(1, "x")); err != nil {
			t.Fatal(err)
		}
	}
	got := e.stream(t)
	if len(got) < 100 || len(got) > 300 {
		t.Errorf("entries kept: got %d, want about 100 (at least 100)", len(got))
	}
	if last := got[len(got)-1]; last.pos.Seq != n || last.job.Message != n {
		t.Errorf("last entry: got %v (message %d), want seq and message %d", last.pos, last.job.Message, n)
	}
}

// TestObserversChooseTheEventAndItsDeliveries: a step whose event type the
// application does not emit queues its job without a position and appends
// nothing; one with webhook endpoints queues one delivery per endpoint on
// the hooks lane, in the same step (the job with its position and "hook"),
// and an idempotent replay queues none again.
func TestObserversChooseTheEventAndItsDeliveries(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	e.seedApp(t, 0)
	if _, err := e.c.AcceptObserved(ctx, e.chatJob(""), counter.Claim{}, counter.Observers{Emit: false, Hooks: []string{"wh_a"}}); err != nil {
		t.Fatal(err)
	}
	if got := e.stream(t); len(got) != 0 {
		t.Fatalf("an event the application does not emit is on the stream: %v", got)
	}
	if q := e.pending(t); len(q) != 1 || q[0].Ev != "" || q[0].Hook != "" {
		t.Fatalf("queued: %+v, want the job without a position", q)
	}
	if n := e.hooks(t); len(n) != 0 {
		t.Fatalf("deliveries of an event not emitted: %v", n)
	}

	job := e.messageJob(1, "hello")
	job.SV = 7
	cl := counter.Claim{Key: "k1", Fingerprint: "abcd"}
	obs := counter.Observers{Emit: true, Hooks: []string{"wh_a", "wh_b"}}
	for range 2 { // the second is an idempotent replay
		if _, err := e.c.AcceptObserved(ctx, job, cl, obs); err != nil {
			t.Fatal(err)
		}
	}
	s := e.stream(t)
	if len(s) != 1 {
		t.Fatalf("stream: %d entries, want 1", len(s))
	}
	got := e.hooks(t)
	if len(got) != 2 {
		t.Fatalf("deliveries: %+v, want one per endpoint", got)
	}
	for i, hook := range []string{"wh_b", "wh_a"} { // LPUSH: the last endpoint is at the head
		d := got[i]
		if d.Hook != hook || d.Ev != s[0].pos.String() || d.ID != job.ID || d.Body != "hello" || d.Message != 1 || d.SV != 7 || d.Ref() != job.ID+"."+hook {
			t.Errorf("delivery %d: %+v, want the job at %s for %s", i, d, s[0].pos, hook)
		}
	}
}

// hooks returns the app's partition's queued webhook deliveries, newest first.
func (e env) hooks(t *testing.T) []queue.Envelope {
	t.Helper()
	raws, err := e.rdb.LRange(t.Context(), e.keys.Hooks().Pending(e.keys.Partition(e.app)), 0, -1).Result()
	if err != nil {
		t.Fatal(err)
	}
	out := make([]queue.Envelope, len(raws))
	for i, raw := range raws {
		if out[i], err = queue.Decode(raw); err != nil {
			t.Fatalf("delivery %q: %v", raw, err)
		}
	}
	return out
}
