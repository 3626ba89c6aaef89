package chat_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/instachat/instachat/pkg/chat"
)

func TestNormalizeName(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"  Support desk ", "Support desk", true},
		{"Ünïcode 🚀", "Ünïcode 🚀", true},
		{strings.Repeat("é", 255), strings.Repeat("é", 255), true},
		{strings.Repeat("é", 256), "", false},
		{"   ", "", false},
		{"", "", false},
		{"a\x00b", "", false},
		{"\xff", "", false},
	}
	for _, tt := range tests {
		got, err := chat.NormalizeName(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("NormalizeName(%q): got %q, %v; want %q, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
		if err != nil && !errors.Is(err, chat.ErrInvalid) {
			t.Errorf("NormalizeName(%q): error %v does not wrap ErrInvalid", tt.in, err)
		}
	}
}

func TestCheckBody(t *testing.T) {
	tests := []struct {
		in string
		ok bool
	}{
		{"hello", true},
		{"  padded  ", true},
		{strings.Repeat("x", chat.MaxBodyBytes), true},
		{strings.Repeat("x", chat.MaxBodyBytes+1), false},
		{" \n\t ", false},
		{"bad \xff utf8", false},
	}
	for _, tt := range tests {
		if err := chat.CheckBody(tt.in); (err == nil) != tt.ok {
			t.Errorf("CheckBody(%.20q…): got %v, want ok=%v", tt.in, err, tt.ok)
		}
	}
}

func TestNewPage(t *testing.T) {
	tests := []struct {
		page, per  int
		want       chat.Page
		ok         bool
		wantOffset int
	}{
		{0, 0, chat.Page{Page: 1, PerPage: chat.DefaultPerPage}, true, 0},
		{3, 10, chat.Page{Page: 3, PerPage: 10}, true, 20},
		{1, chat.MaxPerPage + 1, chat.Page{}, false, 0},
		{chat.MaxPage + 1, 10, chat.Page{}, false, 0},
		{-1, 10, chat.Page{}, false, 0},
	}
	for _, tt := range tests {
		got, err := chat.NewPage(tt.page, tt.per)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("NewPage(%d, %d): got %+v, %v; want %+v ok=%v", tt.page, tt.per, got, err, tt.want, tt.ok)
		}
		if tt.ok && got.Offset() != tt.wantOffset {
			t.Errorf("NewPage(%d, %d).Offset(): got %d, want %d", tt.page, tt.per, got.Offset(), tt.wantOffset)
		}
	}
}

func TestTokens(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		tok, err := chat.NewToken()
		if err != nil {
			t.Fatal(err)
		}
		if !chat.ValidToken(tok) {
			t.Fatalf("NewToken() = %q is not ValidToken", tok)
		}
		if seen[tok] {
			t.Fatalf("NewToken() repeated %q", tok)
		}
		seen[tok] = true
	}
	for _, bad := range []string{"", "short", strings.Repeat("a", 31), strings.Repeat("a", 31) + "/", strings.Repeat("a", 33)} {
		if chat.ValidToken(bad) {
			t.Errorf("ValidToken(%q): got true, want false", bad)
		}
	}
}

func TestClientMessage(t *testing.T) {
	err := chat.NotFound("chat")
	if !errors.Is(err, chat.ErrNotFound) || chat.ClientMessage(err, "x") != "chat not found" {
		t.Errorf("NotFound: got %v, want ErrNotFound with message %q", err, "chat not found")
	}
	wrapped := errors.Join(errors.New("context"), chat.Invalidf("page must be %d", 1))
	if got := chat.ClientMessage(wrapped, "fallback"); got != "page must be 1" {
		t.Errorf("ClientMessage: got %q, want %q", got, "page must be 1")
	}
	if got := chat.ClientMessage(errors.New("db down"), "fallback"); got != "fallback" {
		t.Errorf("ClientMessage of a plain error: got %q, want fallback", got)
	}
}
