package store_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/instachat/instachat/pkg/chat"
	"github.com/instachat/instachat/pkg/store"
)

// historyFixture is one application with chat 1 holding messages 1..30, of
// which 10, 11, 12 and 20 are deleted, and chats 1..8 of which 4 is deleted;
// chat 2 holds messages 1..3 (they must never leak into chat 1's pages).
func historyFixture(t *testing.T, s *store.Store) int64 {
	t.Helper()
	ctx := context.Background()
	app, err := s.CreateApplication(ctx, "history", t0)
	if err != nil {
		t.Fatal(err)
	}
	var ws []store.MessageWrite
	for n := int64(1); n <= 30; n++ {
		ws = append(ws, store.MessageWrite{AppID: app.ID, Chat: 1, Number: n, Body: fmt.Sprint("m", n), Prov: prov(fmt.Sprint("h1-", n), time.Duration(n))})
	}
	for n := int64(1); n <= 3; n++ {
		ws = append(ws, store.MessageWrite{AppID: app.ID, Chat: 2, Number: n, Body: "other", Prov: prov(fmt.Sprint("h2-", n), time.Duration(n))})
	}
	var cws []store.ChatWrite
	for n := int64(1); n <= 8; n++ {
		cws = append(cws, store.ChatWrite{AppID: app.ID, Number: n, Prov: prov(fmt.Sprint("c", n), 0)})
	}
	if err := s.InTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.CreateChats(ctx, cws); err != nil {
			return err
		}
		_, err := tx.CreateMessages(ctx, ws)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.InTx(ctx, func(tx *store.Tx) error {
		for _, n := range []int64{10, 11, 12, 20} {
			if _, err := tx.DeleteMessage(ctx, store.MessageWrite{AppID: app.ID, Chat: 1, Number: n, Prov: prov(fmt.Sprint("d", n), 100)}); err != nil {
				return err
			}
		}
		_, _, err := tx.DeleteChat(ctx, store.ChatWrite{AppID: app.ID, Number: 4, Prov: prov("dc4", 100)})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SyncCounts(ctx); err != nil {
		t.Fatal(err)
	}
	return app.ID
}

// span returns from..to stepping by ±1, leaving out skip.
func span(from, to int64, skip ...int64) []int64 {
	var out []int64
	step := int64(1)
	if to < from {
		step = -1
	}
	for n := from; n != to+step; n += step {
		if !slices.Contains(skip, n) {
			out = append(out, n)
		}
	}
	return out
}

func TestMessagesKeyset(t *testing.T) {
	s := open(t)
	appID := historyFixture(t, s)
	deleted := []int64{10, 11, 12, 20}
	tests := []struct {
		name     string
		list     chat.List
		want     []int64
		wantMore bool
	}{
		{"newest", chat.Newest(5), span(30, 26), true},
		{"newest whole chat", chat.Newest(100), span(30, 1, deleted...), false},
		{"before skips deleted", chat.Before(22, 5), []int64{21, 19, 18, 17, 16}, true},
		{"before a deleted run", chat.Before(13, 3), []int64{9, 8, 7}, true},
		{"before reaches the bottom", chat.Before(4, 5), span(3, 1), false},
		{"before exactly a page to the bottom", chat.Before(4, 3), span(3, 1), false},
		{"before 1 is empty", chat.Before(1, 5), nil, false},
		{"after 0 from the oldest", chat.After(0, 5), span(1, 5), true},
		{"after skips deleted", chat.After(8, 5), []int64{9, 13, 14, 15, 16}, true},
		{"after reaches the top", chat.After(25, 10), span(26, 30), false},
		{"after exactly a page to the top", chat.After(25, 5), span(26, 30), false},
		{"after the newest is empty", chat.After(30, 5), nil, false},
		{"after far beyond", chat.After(1<<60, 5), nil, false},
		{"before far beyond", chat.Before(1<<62, 2), []int64{30, 29}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := s.MessagesKeyset(context.Background(), appID, 1, tt.list)
			if err != nil {
				t.Fatal(err)
			}
			var got []int64
			for _, m := range p.Messages {
				got = append(got, m.Number)
				if m.ChatNumber != 1 || m.Body != fmt.Sprint("m", m.Number) || m.CreatedAt.IsZero() {
					t.Errorf("message %d: got %+v, want chat 1, its body and times", m.Number, m)
				}
			}
			if !slices.Equal(got, tt.want) || p.HasMore != tt.wantMore {
				t.Errorf("got %v has_more=%v, want %v has_more=%v", got, p.HasMore, tt.want, tt.wantMore)
			}
			if len(got) > 0 && p.MessagesCount != 26 {
				t.Errorf("messages count: got %d, want 26 (30 written, 4 deleted, synced)", p.MessagesCount)
			}
		})
	}
	t.Run("unknown chat", func(t *testing.T) {
		p, err := s.MessagesKeyset(context.Background(), appID, 99, chat.Newest(5))
		if err != nil || len(p.Messages) != 0 || p.HasMore {
			t.Errorf("got %+v, %v; want an empty page", p, err)
		}
	})
}

// TestMessagesKeysetWalks walks the chat both ways page by page, following
// the cursors as a client does: every live message once, in order.
func TestMessagesKeysetWalks(t *testing.T) {
	s := open(t)
	appID := historyFixture(t, s)
	want := span(1, 30, 10, 11, 12, 20)
	for _, start := range []chat.List{chat.After(0, 4), chat.Newest(4)} {
		var got []int64
		l := start
		for pages := 0; ; pages++ {
			if pages > 20 {
				t.Fatalf("walk from %+v does not end: %v", start, got)
			}
			p, err := s.MessagesKeyset(context.Background(), appID, 1, l)
			if err != nil {
				t.Fatal(err)
			}
			numbers := make([]int64, len(p.Messages))
			for i, m := range p.Messages {
				numbers[i] = m.Number
			}
			got = append(got, numbers...)
			c := chat.CursorsOf(l, numbers, p.HasMore)
			if c.Next == nil {
				break
			}
			l = *c.Next
		}
		if start.Order == chat.NewestFirst {
			slices.Reverse(got)
		}
		if !slices.Equal(got, want) {
			t.Errorf("walk from %+v: got %v, want %v", start, got, want)
		}
	}
}

func TestChatsKeyset(t *testing.T) {
	s := open(t)
	appID := historyFixture(t, s)
	tests := []struct {
		name     string
		list     chat.List
		want     []int64
		wantMore bool
	}{
		{"newest", chat.Newest(3), []int64{8, 7, 6}, true},
		{"before skips deleted", chat.Before(6, 2), []int64{5, 3}, true},
		{"before to the bottom", chat.Before(3, 5), []int64{2, 1}, false},
		{"after 0", chat.After(0, 4), []int64{1, 2, 3, 5}, true},
		{"after to the top", chat.After(5, 3), []int64{6, 7, 8}, false},
		{"after the newest", chat.After(8, 3), nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			chats, more, err := s.ChatsKeyset(context.Background(), appID, tt.list)
			if err != nil {
				t.Fatal(err)
			}
			var got []int64
			for _, c := range chats {
				got = append(got, c.Number)
			}
			if !slices.Equal(got, tt.want) || more != tt.wantMore {
				t.Errorf("got %v has_more=%v, want %v has_more=%v", got, more, tt.want, tt.wantMore)
			}
		})
	}
	if chats, _, err := s.ChatsKeyset(context.Background(), appID, chat.Before(3, 1)); err != nil || len(chats) != 1 || chats[0].MessagesCount != 3 {
		t.Errorf("chat 2 as listed: got %+v, %v; want its synced count 3", chats, err)
	}
}

func TestNumbersBetween(t *testing.T) {
	s := open(t)
	appID := historyFixture(t, s)
	ctx := context.Background()
	got, err := s.MessageNumbersBetween(ctx, appID, 1, 8, 22, 100)
	if want := span(9, 21); err != nil || !slices.Equal(got, want) {
		t.Errorf("message numbers in (8, 22): got %v, %v; want %v (deleted rows count: they are written)", got, err, want)
	}
	if got, err := s.MessageNumbersBetween(ctx, appID, 1, 8, 22, 3); err != nil || !slices.Equal(got, []int64{9, 10, 11}) {
		t.Errorf("capped at 3: got %v, %v", got, err)
	}
	if got, err := s.MessageNumbersBetween(ctx, appID, 2, 0, 100, 100); err != nil || !slices.Equal(got, []int64{1, 2, 3}) {
		t.Errorf("chat 2: got %v, %v", got, err)
	}
	if got, err := s.ChatNumbersBetween(ctx, appID, 2, 7, 100); err != nil || !slices.Equal(got, []int64{3, 4, 5, 6}) {
		t.Errorf("chat numbers in (2, 7): got %v, %v", got, err)
	}
}
