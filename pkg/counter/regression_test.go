package counter_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/instachat/instachat/pkg/chat"
	"github.com/instachat/instachat/pkg/counter"
	"github.com/instachat/instachat/pkg/queue"
	"github.com/instachat/instachat/pkg/testenv"
)

// TestCounterFromAnotherEpochIsReseeded checks the guard against Redis going
// back in time: a counter whose epoch is not this Redis's replication id
// (what a promoted replica or a restart that lost data holds) hands out
// nothing until it is re-seeded as max(Redis, MySQL), tombstones included.
// The real promotions and restarts are in the api's topology tests.
func TestCounterFromAnotherEpochIsReseeded(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	e.seedApp(t, 0)
	for range 3 {
		if _, err := e.c.CreateChat(ctx, e.chatJob("")); err != nil {
			t.Fatal(err)
		}
	}
	for range 5 {
		if _, err := e.c.CreateMessage(ctx, e.messageJob(3, "hi")); err != nil {
			t.Fatal(err)
		}
	}
	// Redis went back: the counters hold older values from an older epoch,
	// while MySQL has persisted more (chat 5, message 9, deleted chat 4 and
	// message 7).
	for _, key := range []string{e.keys.ChatCounter(e.app), e.keys.MessageCounter(e.app, 3)} {
		if err := e.rdb.HSet(ctx, key, "n", 2, "e", "0000000000000000000000000000000000000000").Err(); err != nil {
			t.Fatal(err)
		}
	}
	e.src.setChat(e.app, counter.Seed{Max: 5, Deleted: []int64{4}})
	e.src.setMessages(e.app, 3, counter.Seed{Max: 9, Deleted: []int64{7}})
	if n, err := e.c.CreateChat(ctx, e.chatJob("")); err != nil || n != 6 {
		t.Errorf("CreateChat after the regression: got %d, %v; want 6 (MySQL's 5 + 1)", n, err)
	}
	if n, err := e.c.CreateMessage(ctx, e.messageJob(3, "hi")); err != nil || n != 10 {
		t.Errorf("CreateMessage after the regression: got %d, %v; want 10 (MySQL's 9 + 1)", n, err)
	}
	if _, err := e.c.CreateMessage(ctx, e.messageJob(4, "hi")); !errors.Is(err, chat.ErrNotFound) {
		t.Errorf("post to chat 4, deleted in MySQL: got %v, want not found", err)
	}
	upd := e.messageJob(3, "x")
	upd.Type, upd.Message = queue.TypeMessageUpdate, 7
	if err := e.c.EnqueueMessageJob(ctx, upd); !errors.Is(err, chat.ErrNotFound) {
		t.Errorf("update message 7, deleted in MySQL: got %v, want not found", err)
	}
	if got := e.src.takeAsked(); !slices.Equal(got, []string{"app", "chat 3"}) {
		t.Errorf("seeds asked: got %v, want [app chat 3]", got)
	}
	// A counter ahead of MySQL keeps its value: Redis handed out numbers
	// the writer has not persisted yet.
	e.src.setMessages(e.app, 3, counter.Seed{Max: 1})
	if err := e.rdb.HSet(ctx, e.keys.MessageCounter(e.app, 3), "e", "old").Err(); err != nil {
		t.Fatal(err)
	}
	if n, err := e.c.CreateMessage(ctx, e.messageJob(3, "hi")); err != nil || n != 11 {
		t.Errorf("CreateMessage with MySQL behind Redis: got %d, %v; want 11", n, err)
	}
}

// TestFlushRestoresTombstones checks that a FLUSHALL (every key of ours
// gone) loses no tombstone: a deleted chat or message stays refused.
func TestFlushRestoresTombstones(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	e.seedApp(t, 0)
	for range 2 {
		if _, err := e.c.CreateChat(ctx, e.chatJob("")); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.c.DeleteChat(ctx, func() queue.Envelope { j := e.chatJob(""); j.Type, j.Chat = queue.TypeChatDelete, 1; return j }()); err != nil {
		t.Fatal(err)
	}
	var keys []string
	iter := e.rdb.Scan(ctx, 0, e.keys.ChatCounter(e.app)[:len(e.keys.ChatCounter(e.app))-len("counter")]+"*", 1000).Iterator()
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if len(keys) < 2 {
		t.Fatalf("keys of the app before the flush: got %v", keys)
	}
	if err := e.rdb.Del(ctx, keys...).Err(); err != nil {
		t.Fatal(err)
	}
	// MySQL persisted both chats and the delete of chat 1.
	e.src.setChat(e.app, counter.Seed{Max: 2, Deleted: []int64{1}})
	if _, err := e.c.CreateMessage(ctx, e.messageJob(1, "after the flush")); !errors.Is(err, chat.ErrNotFound) {
		t.Errorf("post to deleted chat 1 after the flush: got %v, want not found", err)
	}
	if gone, err := e.c.Deleted(ctx, e.app, 1, 0); err != nil || !gone {
		t.Errorf("tombstone of chat 1 after the flush: got %v, %v; want true", gone, err)
	}
	if n, err := e.c.CreateChat(ctx, e.chatJob("")); err != nil || n != 3 {
		t.Errorf("CreateChat after the flush: got %d, %v; want 3", n, err)
	}
}

func TestHealRaisesOnlyACounterThatIsBehind(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	e.seedApp(t, 10)
	e.seedChat(t, 10, 20)
	if behind, err := e.c.Heal(ctx, e.app, 10, 15); err != nil || behind {
		t.Errorf("Heal to 15 of a counter at 20: got %v, %v; want false", behind, err)
	}
	if err := e.rdb.HSet(ctx, e.keys.MessageCounter(e.app, 10), "n", 10).Err(); err != nil {
		t.Fatal(err)
	}
	if behind, err := e.c.Heal(ctx, e.app, 10, 20); err != nil || !behind {
		t.Errorf("Heal to 20 of a counter set back to 10: got %v, %v; want true", behind, err)
	}
	if n, err := e.c.CreateMessage(ctx, e.messageJob(10, "x")); err != nil || n != 21 {
		t.Errorf("CreateMessage after healing: got %d, %v; want 21", n, err)
	}
	if behind, err := e.c.Heal(ctx, e.app, 0, 30); err != nil || !behind {
		t.Errorf("Heal of the chat counter: got %v, %v; want true", behind, err)
	}
	if n, err := e.c.CreateChat(ctx, e.chatJob("")); err != nil || n != 31 {
		t.Errorf("CreateChat after healing: got %d, %v; want 31", n, err)
	}
	if behind, err := e.c.Heal(ctx, e.app, 99, 5); err != nil || behind {
		t.Errorf("Heal of a missing counter: got %v, %v; want false (seeding's job)", behind, err)
	}
}

// TestReplayRenumbersAConflict checks that replaying a number conflict gives
// the kept create a new number in the step that takes it off the dead list,
// once, however many operators replay it at once.
func TestReplayRenumbersAConflict(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	e.seedApp(t, 1)
	e.seedChat(t, 1, 20)
	q := queue.New(e.rdb, e.keys, queue.DefaultConfig())
	in := queue.NewInspector(e.rdb, e.keys)
	lost := e.messageJob(1, "the second message numbered 11")
	lost.Message = 11
	if err := q.BuryConflict(ctx, lost, errors.New("number taken")); err != nil {
		t.Fatal(err)
	}
	if err := q.BuryConflict(ctx, lost, errors.New("number taken")); err != nil {
		t.Fatal(err)
	}
	dead, total, err := in.Dead(ctx, -1, 0, 10)
	if err != nil || total != 1 || dead[0].Envelope.Dead != queue.DeadNumberConflict {
		t.Fatalf("dead list after burying the conflict twice: got %d jobs %+v, %v; want it once, marked", total, dead, err)
	}
	if err := in.ReplayDead(ctx, lost.ID); !errors.Is(err, queue.ErrRenumber) {
		t.Errorf("replay without a renumberer: got %v, want ErrRenumber", err)
	}
	in.WithRenumberer(e.c)
	results := make(chan bool, 4)
	for range 4 {
		go func() {
			err := in.ReplayDead(ctx, lost.ID)
			if err != nil && !errors.Is(err, queue.ErrNoDeadJob) {
				t.Error(err)
			}
			results <- err == nil
		}()
	}
	replayed := 0
	for range 4 {
		if <-results {
			replayed++
		}
	}
	if replayed != 1 {
		t.Errorf("concurrent replays that renumbered: got %d, want 1", replayed)
	}
	jobs := e.pending(t)
	if len(jobs) != 1 {
		t.Fatalf("pending after the replay: got %d jobs, want 1", len(jobs))
	}
	got := jobs[0]
	if got.Message != 21 || got.Body != lost.Body || got.Origin != lost.ID || got.ID == lost.ID || got.Dead != "" || got.Time != lost.Time {
		t.Errorf("renumbered job: got %+v; want message 21, the same body and time, origin %s, a new id", got, lost.ID)
	}
	if _, total, _ := in.Dead(ctx, -1, 0, 0); total != 0 {
		t.Errorf("dead jobs after the replay: got %d, want 0", total)
	}
}

// TestLostReplyIsOutcomeUnknown checks that a step whose reply is lost (it
// ran: the job is queued) says so distinctly, while a refused connection
// (nothing ran) is plain unavailability.
func TestLostReplyIsOutcomeUnknown(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	e.seedApp(t, 1)
	e.seedChat(t, 1, 0)
	proxy := testenv.NewProxy(t, testenv.RedisAddr())
	rdb := redis.NewClient(&redis.Options{Addr: proxy.Addr(), MaxRetries: -1, ReadTimeout: 300 * time.Millisecond, DialTimeout: 300 * time.Millisecond})
	t.Cleanup(func() { rdb.Close() })
	c := counter.New(rdb, e.keys, e.src, counter.Config{})
	if n, err := c.CreateMessage(ctx, e.messageJob(1, "through the proxy")); err != nil || n != 1 {
		t.Fatalf("CreateMessage through the proxy: got %d, %v", n, err)
	}
	proxy.MuteReplies()
	_, err := c.CreateMessage(ctx, e.messageJob(1, "reply lost"))
	if !errors.Is(err, chat.ErrOutcomeUnknown) || !errors.Is(err, chat.ErrUnavailable) {
		t.Errorf("CreateMessage with its reply lost: got %v, want ErrOutcomeUnknown (and ErrUnavailable)", err)
	}
	if jobs := e.pending(t); len(jobs) != 2 || jobs[1].Body != "reply lost" {
		t.Errorf("pending: got %d jobs, want 2: the step ran although its reply was lost", len(jobs))
	}
	// Nothing listens on port 1: nothing can have been sent.
	fresh := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 300 * time.Millisecond})
	t.Cleanup(func() { fresh.Close() })
	_, err = counter.New(fresh, e.keys, e.src, counter.Config{}).CreateMessage(ctx, e.messageJob(1, "refused"))
	if errors.Is(err, chat.ErrOutcomeUnknown) || !errors.Is(err, chat.ErrUnavailable) {
		t.Errorf("CreateMessage with the connection refused: got %v, want ErrUnavailable only", err)
	}
}
