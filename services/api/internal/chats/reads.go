package chats

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/instachat/instachat/pkg/chat"
	"github.com/instachat/instachat/pkg/search"
)

// ChatView is a chat as read: persisted, or pending when its number was
// handed out but the writer has not written its row yet.
type ChatView struct {
	Chat    chat.Chat
	Pending bool
}

// MessageView is a message as read, persisted or pending.
type MessageView struct {
	Message chat.Message
	Pending bool
}

// Chats lists an application's persisted chats.
func (s *Service) Chats(ctx context.Context, token string, p chat.Page) ([]chat.Chat, int64, error) {
	ctx, cancel := s.within(ctx)
	defer cancel()
	ref, err := s.app(ctx, token)
	if err != nil {
		return nil, 0, err
	}
	return s.store.Chats(ctx, ref.ID, p)
}

// Chat returns one chat. A number that was handed out but not yet written
// comes back pending, never as not found.
func (s *Service) Chat(ctx context.Context, token string, number int64) (ChatView, error) {
	ctx, cancel := s.within(ctx)
	defer cancel()
	ref, err := s.app(ctx, token)
	if err != nil {
		return ChatView{}, err
	}
	c, err := s.store.Chat(ctx, ref.ID, number)
	if err == nil {
		return ChatView{Chat: c}, nil
	}
	if !errors.Is(err, chat.ErrNotFound) {
		return ChatView{}, err
	}
	ok, err := s.chatHandedOut(ctx, token, number)
	if err != nil {
		return ChatView{}, err
	}
	if !ok {
		return ChatView{}, chat.NotFound("chat")
	}
	if gone, err := s.counter.Deleted(ctx, chat.TokenDigest(token), number, 0); err != nil {
		return ChatView{}, err
	} else if gone {
		return ChatView{}, chat.NotFound("chat")
	}
	return ChatView{Chat: chat.Chat{Number: number}, Pending: true}, nil
}

func (s *Service) chatHandedOut(ctx context.Context, token string, number int64) (bool, error) {
	max, _, err := s.counter.Chats(ctx, chat.TokenDigest(token))
	if err != nil {
		return false, err
	}
	return number <= max, nil
}

// Messages lists a chat's persisted messages.
func (s *Service) Messages(ctx context.Context, token string, chatNumber int64, p chat.Page) ([]chat.Message, int64, error) {
	ctx, cancel := s.within(ctx)
	defer cancel()
	ref, err := s.app(ctx, token)
	if err != nil {
		return nil, 0, err
	}
	msgs, total, err := s.store.Messages(ctx, ref.ID, chatNumber, p)
	if err != nil {
		return nil, 0, err
	}
	if total == 0 {
		// An empty list of a chat that neither exists in MySQL nor was handed
		// out (Redis) is a 404; a chat still queued lists as empty.
		if _, err := s.store.Chat(ctx, ref.ID, chatNumber); errors.Is(err, chat.ErrNotFound) {
			if ok, err := s.chatHandedOut(ctx, token, chatNumber); err == nil && !ok {
				return nil, 0, chat.NotFound("chat")
			}
		}
	}
	return msgs, total, nil
}

// Message returns one message, pending if it was handed out but not yet written.
func (s *Service) Message(ctx context.Context, token string, chatNumber, number int64) (MessageView, error) {
	ctx, cancel := s.within(ctx)
	defer cancel()
	ref, err := s.app(ctx, token)
	if err != nil {
		return MessageView{}, err
	}
	m, err := s.store.Message(ctx, ref.ID, chatNumber, number)
	if err == nil {
		return MessageView{Message: m}, nil
	}
	if !errors.Is(err, chat.ErrNotFound) {
		return MessageView{}, err
	}
	// Handed out means: the chat's number was and the message's number was.
	chats, _, err := s.counter.Chats(ctx, chat.TokenDigest(token))
	if err != nil {
		return MessageView{}, err
	}
	msgs, _, err := s.counter.Messages(ctx, chat.TokenDigest(token), chatNumber)
	if err != nil {
		return MessageView{}, err
	}
	if chatNumber > chats || number > msgs {
		return MessageView{}, chat.NotFound("message")
	}
	// Deleted before the writer wrote it: gone, not pending.
	for _, m := range []int64{0, number} {
		if gone, err := s.counter.Deleted(ctx, chat.TokenDigest(token), chatNumber, m); err != nil {
			return MessageView{}, err
		} else if gone {
			return MessageView{}, chat.NotFound("message")
		}
	}
	return MessageView{Message: chat.Message{ChatNumber: chatNumber, Number: number}, Pending: true}, nil
}

// Search finds a chat's messages by partial keywords, best match first.
func (s *Service) Search(ctx context.Context, token string, chatNumber int64, q string, p chat.Page) ([]chat.Message, int64, error) {
	ctx, cancel := s.within(ctx)
	defer cancel()
	q, err := chat.CheckQuery(q)
	if err != nil {
		return nil, 0, err
	}
	ref, err := s.app(ctx, token)
	if err != nil {
		return nil, 0, err
	}
	res, err := s.engine.Search(ctx, search.Query{AppID: ref.ID, Chat: chatNumber, Text: q, Offset: p.Offset(), Limit: p.PerPage})
	if err != nil {
		return nil, 0, fmt.Errorf("search: %w: %w", chat.Unavailable("search"), err)
	}
	msgs, err := s.store.MessagesByNumber(ctx, ref.ID, chatNumber, res.Numbers)
	if err != nil {
		return nil, 0, err
	}
	return msgs, res.Total, nil
}

// Readiness reports which dependencies answer. The api serves reads with
// MySQL alone and creates with Redis alone, so it is ready while either does.
// Search serves searches only (and they need MySQL too), so search down makes
// the api degraded, never unready.
type Readiness struct {
	MySQL  error
	Redis  error
	Search error
}

// readyTimeout bounds each readiness check. The checks run side by side,
// each with its own deadline, so a hung MySQL is reported as MySQL only.
const readyTimeout = time.Second

// Ready checks MySQL, Redis and the search engine at the same time.
func (s *Service) Ready(ctx context.Context) Readiness {
	var r Readiness
	var wg sync.WaitGroup
	check := func(into *error, ping func(context.Context) error) {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(ctx, readyTimeout)
			defer cancel()
			*into = ping(ctx)
		})
	}
	check(&r.MySQL, s.store.Ping)
	check(&r.Redis, s.counter.Ping)
	check(&r.Search, s.engine.Ping)
	wg.Wait()
	return r
}
