package chat_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/instachat/instachat/pkg/chat"
)

func TestListCheck(t *testing.T) {
	tests := []struct {
		in   chat.List
		want chat.List
		ok   bool
	}{
		{chat.Newest(0), chat.Newest(chat.DefaultLimit), true},
		{chat.After(0, 1), chat.After(0, 1), true},
		{chat.Before(7, chat.MaxLimit), chat.Before(7, chat.MaxLimit), true},
		{chat.Before(7, chat.MaxLimit+1), chat.List{}, false},
		{chat.After(7, -1), chat.List{}, false},
		{chat.After(-1, 5), chat.List{}, false},
	}
	for _, tt := range tests {
		got, err := tt.in.Check()
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("%+v.Check(): got %+v, %v; want %+v ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
		if err != nil && !errors.Is(err, chat.ErrInvalid) {
			t.Errorf("%+v.Check(): got %v, want ErrInvalid", tt.in, err)
		}
	}
}

func TestCheckListOffset(t *testing.T) {
	tests := []struct {
		page chat.Page
		ok   bool
	}{
		{chat.Page{Page: 1, PerPage: 100}, true},
		{chat.Page{Page: 101, PerPage: 100}, true}, // offset 10,000 exactly
		{chat.Page{Page: 102, PerPage: 100}, false},
		{chat.Page{Page: 10001, PerPage: 1}, true},
		{chat.Page{Page: 10002, PerPage: 1}, false},
	}
	for _, tt := range tests {
		err := tt.page.CheckListOffset()
		if (err == nil) != tt.ok {
			t.Errorf("%+v: got %v, want ok=%v", tt.page, err, tt.ok)
		}
		if err != nil {
			msg := chat.ClientMessage(err, "")
			for _, word := range []string{"before=", "after=", "limit="} {
				if !strings.Contains(msg, word) {
					t.Errorf("%+v: message %q does not name %s", tt.page, msg, word)
				}
			}
		}
	}
}

func TestCursorsOf(t *testing.T) {
	ptr := func(l chat.List) *chat.List { return &l }
	tests := []struct {
		name    string
		list    chat.List
		numbers []int64
		more    bool
		want    chat.Cursors
	}{
		{"newest with more", chat.Newest(3), []int64{9, 8, 7}, true,
			chat.Cursors{HasMore: true, Next: ptr(chat.Before(7, 3)), Previous: ptr(chat.After(9, 3))}},
		{"oldest at the end", chat.After(0, 3), []int64{1, 2}, false,
			chat.Cursors{Previous: ptr(chat.Before(1, 3))}},
		{"after with more", chat.After(4, 2), []int64{5, 6}, true,
			chat.Cursors{HasMore: true, Next: ptr(chat.After(6, 2)), Previous: ptr(chat.Before(5, 2))}},
		{"empty", chat.Before(1, 2), nil, false, chat.Cursors{}},
	}
	for _, tt := range tests {
		got := chat.CursorsOf(tt.list, tt.numbers, tt.more)
		if got.HasMore != tt.want.HasMore || !sameList(got.Next, tt.want.Next) || !sameList(got.Previous, tt.want.Previous) {
			t.Errorf("%s: got %+v next %v previous %v, want %+v next %v previous %v", tt.name, got, got.Next, got.Previous, tt.want, tt.want.Next, tt.want.Previous)
		}
	}
}

func sameList(a, b *chat.List) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}
