package chat_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/instachat/instachat/pkg/chat"
)

func TestUnavailable(t *testing.T) {
	cause := errors.New("dial tcp 127.0.0.1:9200: connection refused")
	err := fmt.Errorf("search: %w: %w", chat.Unavailable("search"), cause)
	if !errors.Is(err, chat.ErrUnavailable) {
		t.Errorf("errors.Is(%v, ErrUnavailable): got false, want true", err)
	}
	if !errors.Is(err, cause) {
		t.Errorf("errors.Is(%v, cause): got false, want the cause kept", err)
	}
	if errors.Is(err, chat.ErrNotFound) {
		t.Errorf("errors.Is(%v, ErrNotFound): got true, want false", err)
	}
	want := "search is unavailable; try again shortly"
	if got := chat.ClientMessage(err, "fallback"); got != want {
		t.Errorf("ClientMessage: got %q, want %q", got, want)
	}
}
