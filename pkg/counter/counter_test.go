package counter_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/instachat/instachat/pkg/chat"
	"github.com/instachat/instachat/pkg/counter"
	"github.com/instachat/instachat/pkg/queue"
	"github.com/instachat/instachat/pkg/testenv"
)

type env struct {
	c    *counter.Counter
	rdb  *redis.Client
	keys queue.Keys
	app  string
	src  *source
}

// source stands in for MySQL's persisted numbers and tombstones, which the
// counter seeds from; pkg/store's implementation is tested against MariaDB
// in the api's end-to-end tests. It records which seeds were asked for.
type source struct {
	mu    sync.Mutex
	chats map[string]counter.Seed // by app key
	msgs  map[string]counter.Seed // by app key and chat
	asked []string
}

func (s *source) ChatSeed(_ context.Context, app string) (int64, []int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.asked = append(s.asked, "app")
	seed, ok := s.chats[app]
	if !ok {
		return 0, nil, chat.NotFound("application")
	}
	return seed.Max, seed.Deleted, nil
}

func (s *source) MessageSeed(_ context.Context, app string, chatNumber int64) (int64, []int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.asked = append(s.asked, fmt.Sprintf("chat %d", chatNumber))
	seed := s.msgs[fmt.Sprintf("%s/%d", app, chatNumber)]
	return seed.Max, seed.Deleted, nil
}

func (s *source) setChat(app string, seed counter.Seed) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.chats[app] = seed
}

func (s *source) setMessages(app string, chatNumber int64, seed counter.Seed) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msgs[fmt.Sprintf("%s/%d", app, chatNumber)] = seed
}

// takeAsked returns the seeds asked for since the last call.
func (s *source) takeAsked() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.asked
	s.asked = nil
	return out
}

func newEnv(t *testing.T) env {
	t.Helper()
	rdb, prefix := testenv.Redis(t)
	keys := queue.NewKeys(prefix, 4)
	src := &source{chats: map[string]counter.Seed{}, msgs: map[string]counter.Seed{}}
	app := testenv.Name("app-")
	src.chats[app] = counter.Seed{}
	return env{c: counter.New(rdb, keys, src, counter.Config{}), rdb: rdb, keys: keys, app: app, src: src}
}

func (e env) chatJob(body string) queue.Envelope {
	return queue.Envelope{ID: queue.NewEventID(time.Now()), Type: queue.TypeChatCreate, App: e.app, Body: body, Time: time.Now().UnixMicro()}
}

func (e env) messageJob(chatNumber int64, body string) queue.Envelope {
	j := e.chatJob(body)
	j.Type, j.Chat = queue.TypeMessageCreate, chatNumber
	return j
}

func (e env) seedApp(t *testing.T, max int64) {
	t.Helper()
	if err := e.c.SeedApplication(t.Context(), e.app, counter.Seed{Max: max}); err != nil {
		t.Fatalf("SeedApplication(%d): %v", max, err)
	}
}

func (e env) seedChat(t *testing.T, chatNumber, max int64) {
	t.Helper()
	if err := e.c.SeedChat(t.Context(), e.app, chatNumber, counter.Seed{Max: max}); err != nil {
		t.Fatalf("SeedChat(%d, %d): %v", chatNumber, max, err)
	}
}

// pending returns the decoded jobs of the app's partition, oldest first.
func (e env) pending(t *testing.T) []queue.Envelope {
	t.Helper()
	raws, err := e.rdb.LRange(t.Context(), e.keys.Pending(e.keys.Partition(e.app)), 0, -1).Result()
	if err != nil {
		t.Fatalf("LRANGE pending: %v", err)
	}
	slices.Reverse(raws)
	out := make([]queue.Envelope, len(raws))
	for i, raw := range raws {
		if out[i], err = queue.Decode(raw); err != nil {
			t.Fatalf("Decode(%s): %v", raw, err)
		}
	}
	return out
}

// TestSeedsWhenCountersMissing checks that a missing counter is seeded from
// what MySQL persisted, tombstones included, before a number goes out.
func TestSeedsWhenCountersMissing(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	e.src.setChat(e.app, counter.Seed{Max: 3, Deleted: []int64{2}})
	e.src.setMessages(e.app, 3, counter.Seed{Max: 7, Deleted: []int64{5}})

	if n, err := e.c.CreateChat(ctx, e.chatJob("")); err != nil || n != 4 {
		t.Fatalf("CreateChat: got %d, %v; want 4 (after MySQL's 3)", n, err)
	}
	if got := e.src.takeAsked(); !slices.Equal(got, []string{"app"}) {
		t.Errorf("seeds asked: got %v, want [app]", got)
	}
	if _, err := e.c.CreateMessage(ctx, e.messageJob(2, "hi")); !errors.Is(err, chat.ErrNotFound) {
		t.Errorf("post to chat 2, deleted in MySQL: got %v, want not found (its tombstone was seeded)", err)
	}
	if n, err := e.c.CreateMessage(ctx, e.messageJob(3, "hi")); err != nil || n != 8 {
		t.Errorf("CreateMessage(chat 3): got %d, %v; want 8 (after MySQL's 7)", n, err)
	}
	upd := e.messageJob(3, "edit")
	upd.Type, upd.Message = queue.TypeMessageUpdate, 5
	if err := e.c.EnqueueMessageJob(ctx, upd); !errors.Is(err, chat.ErrNotFound) {
		t.Errorf("update message 5, deleted in MySQL: got %v, want not found", err)
	}
	if got := e.src.takeAsked(); !slices.Equal(got, []string{"chat 3"}) {
		t.Errorf("seeds asked: got %v, want [chat 3] once", got)
	}
	other := e.chatJob("")
	other.App = testenv.Name("unknown-")
	if _, err := e.c.CreateChat(ctx, other); !errors.Is(err, chat.ErrNotFound) {
		t.Errorf("CreateChat of an application MySQL does not have: got %v, want not found", err)
	}
	if jobs := e.pending(t); len(jobs) != 2 {
		t.Errorf("pending: got %d jobs, want 2 (refusals queue nothing)", len(jobs))
	}
}

func TestSeedThenContinue(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	e.seedApp(t, 41)
	// Seeding again with a stale, lower max must not reset the counter.
	e.seedApp(t, 0)

	for _, want := range []int64{42, 43} {
		got, err := e.c.CreateChat(ctx, e.chatJob(fmt.Sprintf("chat %d", want)))
		if err != nil {
			t.Fatalf("CreateChat: %v", err)
		}
		if got != want {
			t.Errorf("CreateChat: got %d, want %d", got, want)
		}
	}
	if n, ok, err := e.c.Chats(ctx, e.app); err != nil || !ok || n != 43 {
		t.Errorf("Chats: got %d, %v, %v, want 43, true, nil", n, ok, err)
	}

	e.seedChat(t, 42, 9)
	e.seedChat(t, 42, 1)
	for _, want := range []int64{10, 11, 12} {
		got, err := e.c.CreateMessage(ctx, e.messageJob(42, fmt.Sprintf("msg %d", want)))
		if err != nil {
			t.Fatalf("CreateMessage: %v", err)
		}
		if got != want {
			t.Errorf("CreateMessage: got %d, want %d", got, want)
		}
	}
	if n, ok, err := e.c.Messages(ctx, e.app, 42); err != nil || !ok || n != 12 {
		t.Errorf("Messages(42): got %d, %v, %v, want 12, true, nil", n, ok, err)
	}
	if n, ok, err := e.c.Messages(ctx, e.app, 43); err != nil || ok || n != 0 {
		t.Errorf("Messages(43): got %d, %v, %v, want 0, false, nil", n, ok, err)
	}

	type got struct {
		typ           string
		chat, message int64
		body          string
	}
	var jobs []got
	for _, j := range e.pending(t) {
		jobs = append(jobs, got{j.Type, j.Chat, j.Message, j.Body})
	}
	want := []got{
		{queue.TypeChatCreate, 42, 0, "chat 42"},
		{queue.TypeChatCreate, 43, 0, "chat 43"},
		{queue.TypeMessageCreate, 42, 10, "msg 10"},
		{queue.TypeMessageCreate, 42, 11, "msg 11"},
		{queue.TypeMessageCreate, 42, 12, "msg 12"},
	}
	if !slices.Equal(jobs, want) {
		t.Errorf("pending jobs:\ngot  %+v\nwant %+v", jobs, want)
	}
}

func TestUnknownChat(t *testing.T) {
	e := newEnv(t)
	e.seedApp(t, 5)
	e.seedChat(t, 5, 0)
	for _, chatNumber := range []int64{6, 1000, 0, -1} {
		_, err := e.c.CreateMessage(t.Context(), e.messageJob(chatNumber, "hi"))
		if !errors.Is(err, chat.ErrNotFound) {
			t.Errorf("CreateMessage(chat %d): got %v, want chat.ErrNotFound", chatNumber, err)
		}
		if errors.Is(err, counter.ErrNeedsSeed) {
			t.Errorf("CreateMessage(chat %d): got ErrNeedsSeed, want only ErrNotFound", chatNumber)
		}
	}
	if jobs := e.pending(t); len(jobs) != 0 {
		t.Errorf("pending: got %d jobs, want none", len(jobs))
	}
}

func TestEnqueueMessageJob(t *testing.T) {
	e := newEnv(t)
	e.seedApp(t, 2)
	e.seedChat(t, 2, 0)
	for range 3 {
		if _, err := e.c.CreateMessage(t.Context(), e.messageJob(2, "hi")); err != nil {
			t.Fatalf("CreateMessage: %v", err)
		}
	}
	tests := []struct {
		name          string
		chat, message int64
		wantErr       error
	}{
		{"first", 2, 1, nil},
		{"last handed out", 2, 3, nil},
		{"never handed out", 2, 4, chat.ErrNotFound},
		{"far above", 2, 1 << 40, chat.ErrNotFound},
		{"zero", 2, 0, chat.ErrNotFound},
		{"negative", 2, -3, chat.ErrNotFound},
		{"unknown chat", 3, 1, chat.ErrNotFound},
		{"chat zero", 0, 1, chat.ErrNotFound},
		{"known chat without counter, seeded empty", 1, 1, chat.ErrNotFound},
	}
	enqueued := 0
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(e.pending(t))
			j := e.messageJob(tt.chat, "edited")
			j.Type, j.Message = queue.TypeMessageUpdate, tt.message
			err := e.c.EnqueueMessageJob(t.Context(), j)
			if tt.wantErr == nil && err != nil || tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("EnqueueMessageJob(chat %d, message %d): got %v, want %v", tt.chat, tt.message, err, tt.wantErr)
			}
			jobs := e.pending(t)
			wantLen := before
			if tt.wantErr == nil {
				wantLen++
				enqueued++
			}
			if len(jobs) != wantLen {
				t.Fatalf("pending: got %d jobs, want %d", len(jobs), wantLen)
			}
			if tt.wantErr == nil {
				last := jobs[len(jobs)-1]
				if last.ID != j.ID || last.Type != queue.TypeMessageUpdate || last.Chat != tt.chat || last.Message != tt.message {
					t.Errorf("enqueued job: got %+v, want %+v", last, j)
				}
			}
		})
	}
	if enqueued != 2 {
		t.Errorf("got %d updates enqueued, want 2", enqueued)
	}
	if n, _, _ := e.c.Messages(t.Context(), e.app, 2); n != 3 {
		t.Errorf("Messages: got %d, want 3 (updates hand out no numbers)", n)
	}
}

// Numbers beyond 14 digits must still be spliced in as integers: Lua's
// default number formatting would write 1.2345678901235e+14 and the job would
// no longer decode.
func TestLargeNumbers(t *testing.T) {
	e := newEnv(t)
	const big = int64(123_456_789_012_345)
	e.seedApp(t, big)
	n, err := e.c.CreateChat(t.Context(), e.chatJob(""))
	if err != nil {
		t.Fatalf("CreateChat: %v", err)
	}
	if n != big+1 {
		t.Errorf("CreateChat: got %d, want %d", n, big+1)
	}
	e.seedChat(t, big+1, big*10)
	m, err := e.c.CreateMessage(t.Context(), e.messageJob(big+1, "x"))
	if err != nil {
		t.Fatalf("CreateMessage: %v", err)
	}
	if m != big*10+1 {
		t.Errorf("CreateMessage: got %d, want %d", m, big*10+1)
	}
	jobs := e.pending(t)
	if len(jobs) != 2 || jobs[0].Chat != big+1 || jobs[1].Chat != big+1 || jobs[1].Message != big*10+1 {
		t.Errorf("pending: got %+v, want chat %d and message %d", jobs, big+1, big*10+1)
	}
}

func TestConcurrentCreateMessage(t *testing.T) {
	const workers, each = 50, 100
	e := newEnv(t)
	e.seedApp(t, 1)
	e.seedChat(t, 1, 0)

	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		got  = make([]int64, 0, workers*each)
		errs = make(chan error, workers)
	)
	for w := range workers {
		wg.Go(func() {
			mine := make([]int64, 0, each)
			for i := range each {
				n, err := e.c.CreateMessage(t.Context(), e.messageJob(1, fmt.Sprintf("w%d-%d", w, i)))
				if err != nil {
					errs <- err
					return
				}
				mine = append(mine, n)
			}
			mu.Lock()
			got = append(got, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("CreateMessage: %v", err)
	}

	assertOneToN := func(what string, nums []int64) {
		t.Helper()
		slices.Sort(nums)
		if len(nums) != workers*each {
			t.Fatalf("%s: got %d numbers, want %d", what, len(nums), workers*each)
		}
		for i, n := range nums {
			if n != int64(i+1) {
				t.Fatalf("%s: got %d at sorted position %d, want %d (duplicate or gap)", what, n, i, i+1)
			}
		}
	}
	assertOneToN("returned numbers", got)

	jobs := e.pending(t)
	nums := make([]int64, len(jobs))
	ids := map[string]bool{}
	for i, j := range jobs {
		nums[i] = j.Message
		if j.Chat != 1 || j.Type != queue.TypeMessageCreate {
			t.Fatalf("job %d: got chat %d type %s, want chat 1 %s", i, j.Chat, j.Type, queue.TypeMessageCreate)
		}
		ids[j.ID] = true
	}
	// The script pushes in the same step that numbers, so the pending list
	// holds the jobs in number order.
	if !slices.IsSorted(nums) {
		t.Errorf("pending jobs are not in number order")
	}
	assertOneToN("pending jobs", nums)
	if len(ids) != workers*each {
		t.Errorf("pending jobs: got %d distinct event ids, want %d", len(ids), workers*each)
	}
	if n, _, _ := e.c.Messages(t.Context(), e.app, 1); n != workers*each {
		t.Errorf("Messages: got %d, want %d", n, workers*each)
	}
}

func TestRedisDownIsUnavailable(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { rdb.Close() })
	c := counter.New(rdb, queue.NewKeys("x:", 1), &source{}, counter.Config{})
	j := queue.Envelope{ID: "e", Type: queue.TypeChatCreate, App: "a", Chat: 1, Message: 1}
	if _, err := c.CreateChat(t.Context(), j); !errors.Is(err, chat.ErrUnavailable) {
		t.Errorf("CreateChat: got %v, want chat.ErrUnavailable", err)
	}
	if _, err := c.CreateMessage(t.Context(), j); !errors.Is(err, chat.ErrUnavailable) {
		t.Errorf("CreateMessage: got %v, want chat.ErrUnavailable", err)
	}
	if err := c.EnqueueMessageJob(t.Context(), j); !errors.Is(err, chat.ErrUnavailable) {
		t.Errorf("EnqueueMessageJob: got %v, want chat.ErrUnavailable", err)
	}
	if err := c.SeedApplication(t.Context(), "a", counter.Seed{Max: 1}); !errors.Is(err, chat.ErrUnavailable) {
		t.Errorf("SeedApplication: got %v, want chat.ErrUnavailable", err)
	}
	if _, _, err := c.Chats(t.Context(), "a"); !errors.Is(err, chat.ErrUnavailable) {
		t.Errorf("Chats: got %v, want chat.ErrUnavailable", err)
	}
}

// TestNewChatsNeedNoSeeding checks that chats created since the application's
// counters were seeded start their message numbering in Redis alone, while
// chats older than the seed point (Redis lost their counters) must be seeded.
func TestNewChatsNeedNoSeeding(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	e.seedApp(t, 3) // re-seeded after a loss: chats 1..3 existed before
	for want := int64(4); want <= 5; want++ {
		if n, err := e.c.CreateChat(ctx, e.chatJob("")); err != nil || n != want {
			t.Fatalf("CreateChat: got %d, %v; want %d", n, err, want)
		}
	}
	for _, chatN := range []int64{4, 5} {
		if n, err := e.c.CreateMessage(ctx, e.messageJob(chatN, "hi")); err != nil || n != 1 {
			t.Errorf("first message of new chat %d: got %d, %v; want 1 without seeding", chatN, n, err)
		}
	}
	if got := e.src.takeAsked(); len(got) != 0 {
		t.Errorf("seeds asked for new chats: got %v, want none", got)
	}
	e.src.setMessages(e.app, 2, counter.Seed{Max: 4})
	if n, err := e.c.CreateMessage(ctx, e.messageJob(2, "hi")); err != nil || n != 5 {
		t.Errorf("first message of old chat 2: got %d, %v; want 5 (seeded from MySQL's 4)", n, err)
	}
	if got := e.src.takeAsked(); !slices.Equal(got, []string{"chat 2"}) {
		t.Errorf("seeds asked for old chat 2: got %v, want [chat 2]", got)
	}
}

func TestDeletesLeaveTombstones(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	e.seedApp(t, 0)
	for range 2 {
		if _, err := e.c.CreateChat(ctx, e.chatJob("")); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		if _, err := e.c.CreateMessage(ctx, e.messageJob(1, "hi")); err != nil {
			t.Fatal(err)
		}
	}
	job := func(typ string, chatN, msg int64) queue.Envelope {
		j := e.messageJob(chatN, "x")
		j.Type, j.Message = typ, msg
		return j
	}
	if err := e.c.EnqueueMessageJob(ctx, job(queue.TypeMessageDelete, 1, 2)); err != nil {
		t.Fatalf("delete message 2: %v", err)
	}
	tests := []struct {
		name string
		err  error
	}{
		{"update a deleted message", e.c.EnqueueMessageJob(ctx, job(queue.TypeMessageUpdate, 1, 2))},
		{"delete it again", e.c.EnqueueMessageJob(ctx, job(queue.TypeMessageDelete, 1, 2))},
	}
	if err := e.c.DeleteChat(ctx, job(queue.TypeChatDelete, 1, 0)); err != nil {
		t.Fatalf("delete chat 1: %v", err)
	}
	_, createErr := e.c.CreateMessage(ctx, e.messageJob(1, "after"))
	tests = append(tests,
		struct {
			name string
			err  error
		}{"post to a deleted chat", createErr},
		struct {
			name string
			err  error
		}{"update in a deleted chat", e.c.EnqueueMessageJob(ctx, job(queue.TypeMessageUpdate, 1, 1))},
		struct {
			name string
			err  error
		}{"delete the chat again", e.c.DeleteChat(ctx, job(queue.TypeChatDelete, 1, 0))},
	)
	for _, tt := range tests {
		if !errors.Is(tt.err, chat.ErrNotFound) {
			t.Errorf("%s: got %v, want not found", tt.name, tt.err)
		}
	}
	if gone, err := e.c.Deleted(ctx, e.app, 1, 0); err != nil || !gone {
		t.Errorf("chat 1 tombstone: got %v, %v; want true", gone, err)
	}
	if gone, _ := e.c.Deleted(ctx, e.app, 2, 0); gone {
		t.Errorf("chat 2 tombstone: got true, want false")
	}
	if n, err := e.c.CreateMessage(ctx, e.messageJob(2, "still open")); err != nil || n != 1 {
		t.Errorf("post to chat 2: got %d, %v; want 1", n, err)
	}
	// Numbers are never reused: the next chat is 3.
	if n, err := e.c.CreateChat(ctx, e.chatJob("")); err != nil || n != 3 {
		t.Errorf("next chat after a delete: got %d, %v; want 3", n, err)
	}
	jobs := e.pending(t)
	deletes := 0
	for _, j := range jobs {
		if j.Type == queue.TypeMessageDelete || j.Type == queue.TypeChatDelete {
			deletes++
		}
	}
	if deletes != 2 {
		t.Errorf("queued deletes: got %d, want 2 (refused ones are not queued)", deletes)
	}
}

// TestConcurrentCreateChat guards invariant 1 for chat numbers: 50 clients
// creating 20 chats each get exactly 1..1000 between them, and the jobs
// carry the same numbers.
func TestConcurrentCreateChat(t *testing.T) {
	const workers, each = 50, 20
	e := newEnv(t)
	e.seedApp(t, 0)
	var mu sync.Mutex
	var got []int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range each {
				n, err := e.c.CreateChat(t.Context(), e.chatJob(""))
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				got = append(got, n)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	slices.Sort(got)
	want := make([]int64, workers*each)
	for i := range want {
		want[i] = int64(i + 1)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("chat numbers: got %d numbers, want exactly 1..%d (duplicates or gaps)", len(got), workers*each)
	}
	var queued []int64
	for _, j := range e.pending(t) {
		queued = append(queued, j.Chat)
	}
	slices.Sort(queued)
	if !slices.Equal(queued, want) {
		t.Errorf("queued chat jobs: got %d, want one per number 1..%d", len(queued), workers*each)
	}
}
