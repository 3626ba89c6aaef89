package chats

import (
	"context"
	"errors"
	"sort"
	"time"

	"github.com/instachat/instachat/pkg/chat"
)

// DefaultSettle is how long a missing number may hold back the items after
// it at the live edge (HISTORY_SETTLE); see horizon.
const DefaultSettle = time.Minute

// settleScan bounds the written numbers one gap check reads. A gap wider
// than that next to a recent item (a mass delete just before a new message)
// holds the page back until it is HISTORY_SETTLE old.
const settleScan = 5000

// ChatPage is one cursor page of an application's chats.
type ChatPage struct {
	Chats []chat.Chat
	chat.Cursors
	// Size is the application's kept chats_count: as of the last counter
	// sync, and up to a minute older from the application cache.
	Size int64
}

// MessagePage is one cursor page of a chat's messages.
type MessagePage struct {
	Messages []chat.Message
	chat.Cursors
	// Size is the chat's kept messages_count, as of the last counter sync.
	Size int64
}

// ChatHistory returns one cursor page of an application's persisted chats,
// held at the settled horizon (see horizon) for settle.
func (s *Service) ChatHistory(ctx context.Context, token string, l chat.List, settle time.Duration) (ChatPage, error) {
	ctx, cancel := s.within(ctx)
	defer cancel()
	ref, err := s.app(ctx, token)
	if err != nil {
		return ChatPage{}, err
	}
	list, more, err := s.store.ChatsKeyset(ctx, ref.ID, l)
	if err != nil {
		return ChatPage{}, err
	}
	items := make([]pageItem, len(list))
	for i, c := range list {
		items[i] = pageItem{number: c.Number, accepted: c.CreatedAt}
	}
	written := func(ctx context.Context, lo, hi int64) ([]int64, error) {
		return s.store.ChatNumbersBetween(ctx, ref.ID, lo, hi, settleScan)
	}
	from, to, edge, err := s.horizon(ctx, l, items, settle, written)
	if err != nil {
		return ChatPage{}, err
	}
	list, items = list[from:to], items[from:to]
	return ChatPage{Chats: list, Cursors: cursors(l, items, more, edge), Size: ref.App.ChatsCount}, nil
}

// MessageHistory returns one cursor page of a chat's persisted messages,
// held at the settled horizon (see horizon) for settle. An empty page of a
// chat that was never handed out is a 404, as in page mode.
func (s *Service) MessageHistory(ctx context.Context, token string, chatNumber int64, l chat.List, settle time.Duration) (MessagePage, error) {
	ctx, cancel := s.within(ctx)
	defer cancel()
	ref, err := s.app(ctx, token)
	if err != nil {
		return MessagePage{}, err
	}
	p, err := s.store.MessagesKeyset(ctx, ref.ID, chatNumber, l)
	if err != nil {
		return MessagePage{}, err
	}
	size := p.MessagesCount
	if len(p.Messages) == 0 {
		if size, err = s.chatSize(ctx, token, ref.ID, chatNumber); err != nil {
			return MessagePage{}, err
		}
	}
	items := make([]pageItem, len(p.Messages))
	for i, m := range p.Messages {
		items[i] = pageItem{number: m.Number, accepted: m.CreatedAt}
	}
	written := func(ctx context.Context, lo, hi int64) ([]int64, error) {
		return s.store.MessageNumbersBetween(ctx, ref.ID, chatNumber, lo, hi, settleScan)
	}
	from, to, edge, err := s.horizon(ctx, l, items, settle, written)
	if err != nil {
		return MessagePage{}, err
	}
	msgs := p.Messages[from:to]
	return MessagePage{Messages: msgs, Cursors: cursors(l, items[from:to], p.HasMore, edge), Size: size}, nil
}

// chatSize returns a chat's kept messages_count for an empty page: 0 for a
// chat still queued, chat.NotFound for one never handed out.
func (s *Service) chatSize(ctx context.Context, token string, appID, chatNumber int64) (int64, error) {
	c, err := s.store.Chat(ctx, appID, chatNumber)
	if err == nil {
		return c.MessagesCount, nil
	}
	if !errors.Is(err, chat.ErrNotFound) {
		return 0, err
	}
	if ok, err := s.chatHandedOut(ctx, token, chatNumber); err == nil && !ok {
		return 0, chat.NotFound("chat")
	}
	return 0, nil
}

// pageItem is what the settled horizon needs of a listed item.
type pageItem struct {
	number   int64
	accepted time.Time // created_at: when the api accepted it
}

// cursors returns the cursors of the kept items; a page cut at the live edge
// (edge) has no more to read yet, whatever lies beyond its gap.
func cursors(l chat.List, items []pageItem, more, edge bool) chat.Cursors {
	numbers := make([]int64, len(items))
	for i, it := range items {
		numbers[i] = it.number
	}
	return chat.CursorsOf(l, numbers, more && !edge)
}

// horizon holds a page at the settled horizon, so that a client that walks
// toward newer items (after=, or polls from the newest page's previous
// cursor) never steps past a number that is still being written.
//
// Jobs of one chat can commit out of order (several writers, a create in
// retry backoff), so a page can hold N+1 while N is still queued. A number
// missing between two listed items (or between an after= cursor and the
// first item) is settled when its row is written (it was deleted), or when
// the item after it was accepted at least settle ago (the number is taken as
// lost; its job is on the dead-letter dashboard). The first number that is
// not settled is the horizon:
//   - an OldestFirst page keeps the items below it, and says has_more=false
//     (the rest cannot be read yet; poll again from the last item);
//   - the newest page keeps the items below it, so its previous cursor
//     (after= its first item) never skips the number;
//   - a before= page deeper than the newest is left whole: a walk toward
//     older items has passed the number either way.
//
// It returns the page's items to keep as items[from:to], and edge when it
// cut an OldestFirst page (which then ends at the live edge).
// A page without a recent gap costs nothing; one with a recent gap costs one
// read of the unique key between the gap and the page's top.
func (s *Service) horizon(ctx context.Context, l chat.List, items []pageItem, settle time.Duration,
	written func(ctx context.Context, lo, hi int64) ([]int64, error)) (from, to int, edge bool, err error) {
	from, to = 0, len(items)
	if settle <= 0 || len(items) == 0 || (l.Order == chat.NewestFirst && !l.IsNewest()) {
		return from, to, false, nil
	}
	// asc is the page in ascending number order; below is the number under
	// the first item that bounds its gap (none for the newest page).
	asc := items
	below := l.Bound
	if l.Order == chat.NewestFirst {
		asc = make([]pageItem, len(items))
		for i, it := range items {
			asc[len(items)-1-i] = it
		}
		below = asc[0].number
	}
	now := s.now()
	recentGap := func(k int) (lo, hi int64, ok bool) {
		lo, hi = below, asc[k].number
		if k > 0 {
			lo = asc[k-1].number
		}
		return lo, hi, hi-lo > 1 && now.Sub(asc[k].accepted) < settle
	}
	var nums []int64
	fetched := false
	for k := range asc {
		lo, hi, ok := recentGap(k)
		if !ok {
			continue
		}
		if !fetched {
			if nums, err = written(ctx, lo, asc[len(asc)-1].number); err != nil {
				return 0, 0, false, err
			}
			fetched = true
		}
		if countBetween(nums, lo, hi) == hi-lo-1 {
			continue // every missing number has a row: deleted, settled
		}
		// asc[k] and everything above it wait for the gap below asc[k].
		if l.Order == chat.OldestFirst {
			return 0, k, true, nil
		}
		return len(items) - k, len(items), false, nil
	}
	return from, to, false, nil
}

// countBetween counts the numbers of sorted nums above lo and below hi.
func countBetween(nums []int64, lo, hi int64) int64 {
	i := sort.Search(len(nums), func(i int) bool { return nums[i] > lo })
	j := sort.Search(len(nums), func(i int) bool { return nums[i] >= hi })
	return int64(j - i)
}
