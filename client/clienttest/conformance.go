package clienttest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/instachat/instachat/client"
)

// settle bounds how long Run waits for the real api's background writes
// (rows, search index) to show; the fake shows them at once.
const settle = 30 * time.Second

// Run is the conformance suite of the public API as package client sees it:
// the fake passes it (clienttest's own tests) and so must the real system
// (its end-to-end tests call Run with the api's URL). Every subtest makes
// its own application, so Run can share an api with other tests. The api
// must keep webhooks on (a WEBHOOK_KEY) and allow 127.0.0.1 as their
// destination (WEBHOOK_ALLOW_HOSTS=127.0.0.1): the webhook cases save
// endpoints there, and post nothing that would be delivered.
func Run(t *testing.T, baseURL string, opts ...client.Option) {
	t.Helper()
	c, err := client.New(baseURL, opts...)
	if err != nil {
		t.Fatal(err)
	}
	s := &suite{c: c, base: strings.TrimRight(baseURL, "/"), opts: opts}
	t.Run("Applications", s.applications)
	t.Run("Numbers", s.numbers)
	t.Run("Errors", s.errors)
	t.Run("Idempotency", s.idempotency)
	t.Run("ConcurrentRetries", s.concurrentRetries)
	t.Run("Cursors", s.cursors)
	t.Run("ChatCursors", s.chatCursors)
	t.Run("LegacyPages", s.legacyPages)
	t.Run("Deletes", s.deletes)
	t.Run("Search", s.search)
	t.Run("Health", s.health)
	t.Run("Subscribe", s.subscribe)
	t.Run("Settings", s.settings)
	t.Run("SettingsBodyLimit", s.settingsBodyLimit)
	t.Run("Webhooks", s.webhooks)
}

type suite struct {
	c    *client.Client
	base string
	opts []client.Option
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*settle)
	t.Cleanup(cancel)
	return ctx
}

func (s *suite) newApp(t *testing.T, ctx context.Context) *client.App {
	t.Helper()
	a, err := s.c.CreateApplication(ctx, "conformance "+t.Name())
	if err != nil {
		t.Fatalf("create application: %v", err)
	}
	return s.c.App(a.Token)
}

// eventually retries check until it passes or settle runs out.
func eventually(t *testing.T, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(settle)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still not so after %v: %v", what, settle, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// post posts n messages ("message 1"…) to chat and checks their numbers
// continue from first.
func post(t *testing.T, ctx context.Context, a *client.App, chat int64, first int64, n int) {
	t.Helper()
	for i := range n {
		want := first + int64(i)
		m, err := a.PostMessage(ctx, chat, fmt.Sprintf("message %d", want))
		if err != nil {
			t.Fatalf("post message %d: %v", want, err)
		}
		if m.Number != want || m.Chat != chat {
			t.Fatalf("post message: got chat %d number %d, want chat %d number %d", m.Chat, m.Number, chat, want)
		}
	}
}

// persisted waits until chat's history holds exactly want (ascending).
func persisted(t *testing.T, ctx context.Context, a *client.App, chat int64, want []int64) {
	t.Helper()
	eventually(t, fmt.Sprintf("chat %d persisted", chat), func() error {
		got, err := collect(a.History(ctx, chat, client.Oldest().WithLimit(client.MaxLimit)))
		if err != nil {
			return err
		}
		if !slices.Equal(got, want) {
			return fmt.Errorf("history has %v, want %v", got, want)
		}
		return nil
	})
}

func collect(seq func(func(client.Message, error) bool)) ([]int64, error) {
	var out []int64
	for m, err := range seq {
		if err != nil {
			return out, err
		}
		out = append(out, m.Number)
	}
	return out, nil
}

func seq(from, to int64) []int64 {
	var out []int64
	if from <= to {
		for n := from; n <= to; n++ {
			out = append(out, n)
		}
		return out
	}
	for n := from; n >= to; n-- {
		out = append(out, n)
	}
	return out
}

func (s *suite) applications(t *testing.T) {
	ctx := ctxFor(t)
	created, err := s.c.CreateApplication(ctx, "  Support desk  ")
	if err != nil {
		t.Fatal(err)
	}
	if created.Token == "" || created.Name != "Support desk" {
		t.Fatalf("create: got token %q name %q, want a token and the trimmed name", created.Token, created.Name)
	}
	a := s.c.App(created.Token)
	renamed, err := a.Rename(ctx, "Help desk")
	if err != nil || renamed.Name != "Help desk" || renamed.Token != created.Token {
		t.Fatalf("rename: got %+v, %v", renamed, err)
	}
	got, err := a.Get(ctx)
	if err != nil || got.Name != "Help desk" || !got.CreatedAt.Equal(created.CreatedAt) {
		t.Fatalf("get: got %+v, %v; want name Help desk created at %v", got, err, created.CreatedAt)
	}
}

func (s *suite) numbers(t *testing.T) {
	ctx := ctxFor(t)
	a := s.newApp(t, ctx)
	for want := int64(1); want <= 3; want++ {
		ch, err := a.CreateChat(ctx)
		if err != nil || ch.Number != want || ch.Status != client.StatusPending {
			t.Fatalf("create chat: got %+v, %v; want number %d, pending", ch, err, want)
		}
		got, err := a.Chat(ctx, want)
		if err != nil || got.Number != want {
			t.Fatalf("read chat %d just created: got %+v, %v (a handed-out number is never 404)", want, got, err)
		}
	}
	post(t, ctx, a, 2, 1, 5)
	m, err := a.Message(ctx, 2, 5)
	if err != nil || m.Number != 5 || (m.Status == client.StatusPersisted && m.Body != "message 5") {
		t.Fatalf("read message 2/5: got %+v, %v", m, err)
	}
	up, err := a.UpdateMessage(ctx, 2, 5, "message 5, edited")
	if err != nil || up.Number != 5 || up.Body != "message 5, edited" {
		t.Fatalf("update message 2/5: got %+v, %v", up, err)
	}
	eventually(t, "update applied", func() error {
		m, err := a.Message(ctx, 2, 5)
		if err != nil || m.Body != "message 5, edited" {
			return fmt.Errorf("got %+v, %v", m, err)
		}
		return nil
	})
}

func (s *suite) errors(t *testing.T) {
	ctx := ctxFor(t)
	_, err := s.c.App("no-such-token-conformance").Get(ctx)
	var e *client.Error
	if !errors.Is(err, client.ErrNotFound) || !errors.As(err, &e) {
		t.Fatalf("unknown token: got %v, want an *Error matching ErrNotFound", err)
	}
	if e.StatusCode != http.StatusNotFound || e.Message == "" || e.RequestID == "" {
		t.Errorf("unknown token: got status %d message %q request id %q, want 404 with both", e.StatusCode, e.Message, e.RequestID)
	}
	if strings.Contains(err.Error(), "no-such-token-conformance") {
		t.Errorf("error %q shows the token", err)
	}
	a := s.newApp(t, ctx)
	if _, err := a.CreateChat(ctx); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		call func() error
		want error
	}{
		{"blank body", func() error { _, err := a.PostMessage(ctx, 1, "  \n"); return err }, client.ErrInvalid},
		{"chat 0", func() error { _, err := a.Chat(ctx, 0); return err }, client.ErrInvalid},
		{"unknown chat", func() error { _, err := a.PostMessage(ctx, 99, "hi"); return err }, client.ErrNotFound},
		{"blank name", func() error { _, err := s.c.CreateApplication(ctx, " "); return err }, client.ErrInvalid},
		{"limit 101", func() error { _, err := a.Messages(ctx, 1, client.Newest().WithLimit(101)); return err }, client.ErrInvalid},
		{"history of an unknown chat", func() error { _, err := a.Messages(ctx, 99, client.Newest()); return err }, client.ErrNotFound},
	}
	for _, tc := range cases {
		if err := tc.call(); !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
		}
	}
}

func (s *suite) idempotency(t *testing.T) {
	ctx := ctxFor(t)
	key := client.NewIdempotencyKey()
	var first, again client.Response
	a1, err := s.c.CreateApplication(ctx, "idempotent app", client.WithIdempotencyKey(key), client.WithResponse(&first))
	if err != nil {
		t.Fatal(err)
	}
	a2, err := s.c.CreateApplication(ctx, "idempotent app", client.WithIdempotencyKey(key), client.WithResponse(&again))
	if err != nil || a2.Token != a1.Token || first.Replayed || !again.Replayed {
		t.Fatalf("application create replay: got token %q (replayed %v), %v; first %q (replayed %v)", a2.Token, again.Replayed, err, a1.Token, first.Replayed)
	}
	a := s.c.App(a1.Token)

	replays := []struct {
		name string
		call func(opts ...client.WriteOption) (int64, error)
	}{
		{"create chat", func(o ...client.WriteOption) (int64, error) { c, err := a.CreateChat(ctx, o...); return c.Number, err }},
		{"post message", func(o ...client.WriteOption) (int64, error) {
			m, err := a.PostMessage(ctx, 1, "once", o...)
			return m.Number, err
		}},
		{"update message", func(o ...client.WriteOption) (int64, error) {
			m, err := a.UpdateMessage(ctx, 1, 1, "once more", o...)
			return m.Number, err
		}},
		{"rename", func(o ...client.WriteOption) (int64, error) {
			_, err := a.Rename(ctx, "renamed once", o...)
			return 0, err
		}},
		{"delete message", func(o ...client.WriteOption) (int64, error) {
			d, err := a.DeleteMessage(ctx, 1, 1, o...)
			return d.Number, err
		}},
	}
	for _, tc := range replays {
		key := client.NewIdempotencyKey()
		var r1, r2 client.Response
		n1, err1 := tc.call(client.WithIdempotencyKey(key), client.WithResponse(&r1))
		n2, err2 := tc.call(client.WithIdempotencyKey(key), client.WithResponse(&r2))
		if err1 != nil || err2 != nil || n1 != n2 || r1.StatusCode != r2.StatusCode || r1.Replayed || !r2.Replayed {
			t.Errorf("%s twice with one key: got %d (%v, %+v) then %d (%v, %+v); want the same answer, the second replayed",
				tc.name, n1, err1, r1, n2, err2, r2)
		}
	}
	if n, err := a.PostMessage(ctx, 1, "the next"); err != nil || n.Number != 2 {
		t.Errorf("post after the replays: got %d, %v; want 2 (a replay burns no number)", n.Number, err)
	}

	key = client.NewIdempotencyKey()
	if _, err := a.PostMessage(ctx, 1, "first use", client.WithIdempotencyKey(key)); err != nil {
		t.Fatal(err)
	}
	_, err = a.PostMessage(ctx, 1, "a different body", client.WithIdempotencyKey(key))
	if !errors.Is(err, client.ErrKeyReused) || client.StatusOf(err) != http.StatusUnprocessableEntity {
		t.Errorf("same key, different body: got %v, want 422 ErrKeyReused", err)
	}
	_, err = a.CreateChat(ctx, client.WithIdempotencyKey(key))
	if !errors.Is(err, client.ErrKeyReused) {
		t.Errorf("same key, different route: got %v, want ErrKeyReused", err)
	}
	s.badKey(t, ctx, a)
}

// badKey sends a key the client would refuse, by hand.
func (s *suite) badKey(t *testing.T, ctx context.Context, a *client.App) {
	t.Helper()
	c, err := client.New(s.base, client.WithKeyFunc(func() string { return strings.Repeat("k", 256) }))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.App(a.Token()).CreateChat(ctx); !errors.Is(err, client.ErrInvalid) {
		t.Errorf("256-character key: got %v, want ErrInvalid (the client checks it first)", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.base+"/api/v1/applications/"+a.Token()+"/chats", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Idempotency-Key", strings.Repeat("k", 256))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("256-character Idempotency-Key: got %d, want 400", resp.StatusCode)
	}
}

func (s *suite) concurrentRetries(t *testing.T) {
	ctx := ctxFor(t)
	a := s.newApp(t, ctx)
	if _, err := a.CreateChat(ctx); err != nil {
		t.Fatal(err)
	}
	const racers = 20
	key := client.NewIdempotencyKey()
	numbers := make([]int64, racers)
	errs := make([]error, racers)
	var wg sync.WaitGroup
	for i := range racers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m, err := a.PostMessage(ctx, 1, "raced", client.WithIdempotencyKey(key))
			numbers[i], errs[i] = m.Number, err
		}()
	}
	wg.Wait()
	for i := range racers {
		if errs[i] != nil || numbers[i] != 1 {
			t.Errorf("racer %d: got number %d, %v; want 1 for every identical request", i, numbers[i], errs[i])
		}
	}
	post(t, ctx, a, 1, 2, 1)
	persisted(t, ctx, a, 1, []int64{1, 2})
}

func (s *suite) cursors(t *testing.T) {
	ctx := ctxFor(t)
	a := s.newApp(t, ctx)
	if _, err := a.CreateChat(ctx); err != nil {
		t.Fatal(err)
	}
	post(t, ctx, a, 1, 1, 23)
	persisted(t, ctx, a, 1, seq(1, 23))

	walks := []struct {
		name string
		from client.Cursor
		want []int64
	}{
		{"oldest first", client.Oldest().WithLimit(5), seq(1, 23)},
		{"newest first", client.Newest().WithLimit(5), seq(23, 1)},
		{"before 10", client.Before(10).WithLimit(4), seq(9, 1)},
		{"after 20", client.After(20).WithLimit(2), seq(21, 23)},
		{"default limit", client.Newest(), seq(23, 1)},
	}
	for _, w := range walks {
		got, err := collect(a.History(ctx, 1, w.from))
		if err != nil || !slices.Equal(got, w.want) {
			t.Errorf("walk %s: got %v, %v; want %v", w.name, got, err, w.want)
		}
	}

	pages := []struct {
		name           string
		from           client.Cursor
		want           []int64
		more           bool
		next, previous *client.Cursor
	}{
		{"first forward", client.Oldest().WithLimit(5), seq(1, 5), true, ptr(client.After(5).WithLimit(5)), ptr(client.Before(1).WithLimit(5))},
		{"middle backward", client.Before(10).WithLimit(3), seq(9, 7), true, ptr(client.Before(7).WithLimit(3)), ptr(client.After(9).WithLimit(3))},
		{"last forward", client.After(20).WithLimit(5), seq(21, 23), false, nil, ptr(client.Before(21).WithLimit(5))},
		{"exactly the rest", client.Before(4).WithLimit(3), seq(3, 1), false, nil, ptr(client.After(3).WithLimit(3))},
		{"beyond the oldest", client.Before(1), nil, false, nil, nil},
		{"beyond the newest", client.After(23), nil, false, nil, nil},
	}
	for _, p := range pages {
		got, err := a.Messages(ctx, 1, p.from)
		if err != nil {
			t.Errorf("page %s: %v", p.name, err)
			continue
		}
		var nums []int64
		for _, m := range got.Messages {
			nums = append(nums, m.Number)
		}
		if !slices.Equal(nums, p.want) || got.HasMore != p.more || !sameCursor(got.Next, p.next) || !sameCursor(got.Previous, p.previous) {
			t.Errorf("page %s: got %v more=%v next=%v previous=%v; want %v more=%v next=%v previous=%v",
				p.name, nums, got.HasMore, got.Next, got.Previous, p.want, p.more, p.next, p.previous)
		}
		if got.Size != nil && (*got.Size < 0 || *got.Size > 23) {
			t.Errorf("page %s: size %d, want at most the 23 messages posted", p.name, *got.Size)
		}
	}
}

func sameCursor(a, b *client.Cursor) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

func (s *suite) chatCursors(t *testing.T) {
	ctx := ctxFor(t)
	a := s.newApp(t, ctx)
	for range 7 {
		if _, err := a.CreateChat(ctx); err != nil {
			t.Fatal(err)
		}
	}
	walk := func(from client.Cursor) ([]int64, error) {
		var out []int64
		for c, err := range a.AllChats(ctx, from) {
			if err != nil {
				return out, err
			}
			out = append(out, c.Number)
		}
		return out, nil
	}
	eventually(t, "7 chats persisted", func() error {
		got, err := walk(client.Oldest().WithLimit(3))
		if err != nil || !slices.Equal(got, seq(1, 7)) {
			return fmt.Errorf("got %v, %v", got, err)
		}
		return nil
	})
	if got, err := walk(client.Before(6).WithLimit(2)); err != nil || !slices.Equal(got, seq(5, 1)) {
		t.Errorf("chats before 6: got %v, %v; want 5..1", got, err)
	}
	page, err := a.Chats(ctx, client.Newest().WithLimit(2))
	if err != nil || len(page.Chats) != 2 || page.Chats[0].Number != 7 || !page.HasMore || !sameCursor(page.Next, ptr(client.Before(6).WithLimit(2))) {
		t.Errorf("newest chats: got %+v, %v", page, err)
	}
}

func (s *suite) legacyPages(t *testing.T) {
	ctx := ctxFor(t)
	a := s.newApp(t, ctx)
	if _, err := a.CreateChat(ctx); err != nil {
		t.Fatal(err)
	}
	post(t, ctx, a, 1, 1, 23)
	persisted(t, ctx, a, 1, seq(1, 23))
	l, err := a.MessagesByPage(ctx, 1, 2, 10)
	var nums []int64
	for _, m := range l.Messages {
		nums = append(nums, m.Number)
	}
	if err != nil || !slices.Equal(nums, seq(11, 20)) || l.Page != 2 || l.PerPage != 10 || l.Total != 23 {
		t.Errorf("page 2 of 10: got %v page %d per %d total %d, %v; want 11..20 of 23", nums, l.Page, l.PerPage, l.Total, err)
	}
	if l, err := a.MessagesByPage(ctx, 1, 0, 0); err != nil || l.Page != 1 || len(l.Messages) == 0 {
		t.Errorf("default page: got %+v, %v", l, err)
	}
	_, err = a.MessagesByPage(ctx, 1, 1002, 10)
	var e *client.Error
	if !errors.As(err, &e) || !errors.Is(err, client.ErrInvalid) || !strings.Contains(e.Message, "before=") {
		t.Errorf("page past item 10000: got %v, want 400 naming before=", err)
	}
	cl, err := a.ChatsByPage(ctx, 1, 5)
	if err != nil || len(cl.Chats) != 1 || cl.Total != 1 {
		t.Errorf("chats page: got %+v, %v", cl, err)
	}
}

func (s *suite) deletes(t *testing.T) {
	ctx := ctxFor(t)
	a := s.newApp(t, ctx)
	for range 2 {
		if _, err := a.CreateChat(ctx); err != nil {
			t.Fatal(err)
		}
	}
	post(t, ctx, a, 1, 1, 2)
	d, err := a.DeleteMessage(ctx, 1, 1)
	if err != nil || d.Number != 1 || d.Status != "deleting" {
		t.Fatalf("delete message: got %+v, %v", d, err)
	}
	if _, err := a.UpdateMessage(ctx, 1, 1, "too late"); !errors.Is(err, client.ErrNotFound) {
		t.Errorf("update a deleted message: got %v, want ErrNotFound", err)
	}
	persisted(t, ctx, a, 1, []int64{2})
	if _, err := a.DeleteChat(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if _, err := a.PostMessage(ctx, 2, "too late"); !errors.Is(err, client.ErrNotFound) {
		t.Errorf("post to a deleted chat: got %v, want ErrNotFound", err)
	}
	if m, err := a.PostMessage(ctx, 1, "numbers are not reused"); err != nil || m.Number != 3 {
		t.Errorf("post after a delete: got %d, %v; want 3", m.Number, err)
	}
}

func (s *suite) search(t *testing.T) {
	ctx := ctxFor(t)
	a := s.newApp(t, ctx)
	if _, err := a.CreateChat(ctx); err != nil {
		t.Fatal(err)
	}
	for _, body := range []string{"Zebra crossing ahead", "two zebras", "a lion"} {
		if _, err := a.PostMessage(ctx, 1, body); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "search finds the zebras", func() error {
		l, err := a.Search(ctx, 1, "zeb", 1, 10)
		if err != nil {
			return err
		}
		var nums []int64
		for _, m := range l.Messages {
			nums = append(nums, m.Number)
		}
		slices.Sort(nums)
		if l.Total != 2 || !slices.Equal(nums, []int64{1, 2}) {
			return fmt.Errorf("got %v of total %d", nums, l.Total)
		}
		return nil
	})
	got, err := collect(a.SearchAll(ctx, 1, "ZEBRA cross"))
	if err != nil || !slices.Equal(got, []int64{1}) {
		t.Errorf("search all: got %v, %v; want [1]", got, err)
	}
	if _, err := a.Search(ctx, 1, "x", 101, 100); !errors.Is(err, client.ErrInvalid) {
		t.Errorf("search past result 10000: got %v, want ErrInvalid", err)
	}
}

func (s *suite) health(t *testing.T) {
	ctx := ctxFor(t)
	if h, err := s.c.Health(ctx); err != nil || h.Status != "ok" {
		t.Errorf("health: got %+v, %v", h, err)
	}
	if r, err := s.c.Ready(ctx); err != nil || r.Status != "ok" {
		t.Errorf("ready: got %+v, %v", r, err)
	}
}
