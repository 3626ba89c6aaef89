// Package counter hands out chat and message numbers from Redis. One Lua step
// checks that the parent exists, INCRs its counter and pushes the job, so a
// number is handed out only together with the job that persists it, and never
// twice. A missing counter is seeded from MySQL's highest persisted number by
// the caller (Seed) before the step is tried again.
package counter

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/instachat/instachat/pkg/chat"
	"github.com/instachat/instachat/pkg/queue"
)

// ErrNeedsSeed is returned when a counter key is missing and must be seeded
// from MySQL; the *SeedError that carries it tells which.
var ErrNeedsSeed = errors.New("counter needs seeding")

// SeedError says which counter is missing.
type SeedError struct {
	// Chat is 0 when the application's chat counter is missing, otherwise the
	// chat whose message counter is missing.
	Chat int64
}

func (e *SeedError) Error() string {
	if e.Chat == 0 {
		return "application counter needs seeding"
	}
	return fmt.Sprintf("message counter of chat %d needs seeding", e.Chat)
}

// Is makes errors.Is(err, ErrNeedsSeed) hold.
func (e *SeedError) Is(target error) bool { return target == ErrNeedsSeed }

// Counter assigns numbers.
type Counter struct {
	rdb  redis.UniversalClient
	keys queue.Keys
}

// New returns a Counter.
func New(rdb redis.UniversalClient, keys queue.Keys) *Counter {
	return &Counter{rdb: rdb, keys: keys}
}

// Script results below zero are conditions, not numbers.
const (
	resNoApp     = -1
	resNoChat    = -2
	resNoCounter = -3
	resNoMessage = -4
)

// The scripts splice the number in with string.format('%d'): Lua's own
// number-to-string conversion switches to exponent notation beyond 14 digits,
// which would turn the job into one that no longer decodes.
var createChatScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local n = redis.call('INCR', KEYS[1])
redis.call('LPUSH', KEYS[2], ARGV[1] .. string.format('%d', n) .. ARGV[2])
return n`)

// CreateChat assigns the next chat number of e.App and enqueues e with it.
func (c *Counter) CreateChat(ctx context.Context, e queue.Envelope) (int64, error) {
	prefix, suffix, err := e.Template("chat")
	if err != nil {
		return 0, err
	}
	keys := []string{c.keys.ChatCounter(e.App), c.keys.Pending(c.keys.Partition(e.App))}
	n, err := createChatScript.Run(ctx, c.rdb, keys, prefix, suffix).Int64()
	if err != nil {
		return 0, fmt.Errorf("assign chat number: %w: %w", chat.ErrUnavailable, err)
	}
	return result(n, e)
}

// A missing message counter of a chat created since the application's
// counters were seeded starts at 0 in the same step; an older chat's counter
// must be seeded from MySQL (Redis lost it).
var createMessageScript = redis.NewScript(`
local chats = redis.call('GET', KEYS[1])
if not chats then return -1 end
local c = tonumber(ARGV[1])
if c < 1 or c > tonumber(chats) then return -2 end
if redis.call('SISMEMBER', KEYS[5], ARGV[1]) == 1 then return -2 end
if redis.call('EXISTS', KEYS[2]) == 0 then
  local seeded = redis.call('GET', KEYS[4])
  if not seeded or c <= tonumber(seeded) then return -3 end
end
local n = redis.call('INCR', KEYS[2])
redis.call('LPUSH', KEYS[3], ARGV[2] .. string.format('%d', n) .. ARGV[3])
return n`)

// CreateMessage assigns the next message number of chat e.Chat and enqueues e with it.
func (c *Counter) CreateMessage(ctx context.Context, e queue.Envelope) (int64, error) {
	prefix, suffix, err := e.Template("message")
	if err != nil {
		return 0, err
	}
	keys := []string{c.keys.ChatCounter(e.App), c.keys.MessageCounter(e.App, e.Chat), c.keys.Pending(c.keys.Partition(e.App)),
		c.keys.ChatsSeeded(e.App), c.keys.ChatsDeleted(e.App)}
	n, err := createMessageScript.Run(ctx, c.rdb, keys, e.Chat, prefix, suffix).Int64()
	if err != nil {
		return 0, fmt.Errorf("assign message number: %w: %w", chat.ErrUnavailable, err)
	}
	return result(n, e)
}

// enqueueMessageJobScript checks that the chat and message were handed out
// and not deleted, pushes the job, and for a delete (ARGV[4] = "1") records
// the tombstone in the same step.
var enqueueMessageJobScript = redis.NewScript(`
local chats = redis.call('GET', KEYS[1])
if not chats then return -1 end
local c = tonumber(ARGV[1])
if c < 1 or c > tonumber(chats) then return -2 end
if redis.call('SISMEMBER', KEYS[4], ARGV[1]) == 1 then return -2 end
local msgs = redis.call('GET', KEYS[2])
if not msgs then return -3 end
local m = tonumber(ARGV[2])
if m < 1 or m > tonumber(msgs) then return -4 end
if redis.call('SISMEMBER', KEYS[5], ARGV[2]) == 1 then return -4 end
if ARGV[4] == '1' then redis.call('SADD', KEYS[5], ARGV[2]) end
redis.call('LPUSH', KEYS[3], ARGV[3])
return 0`)

// EnqueueMessageJob checks that message e.Message of chat e.Chat was handed
// out and is not deleted, and enqueues e (an update or a delete) in the same
// step. A delete also records the message's tombstone, so later changes are
// refused at once.
func (c *Counter) EnqueueMessageJob(ctx context.Context, e queue.Envelope) error {
	raw, err := e.Encode()
	if err != nil {
		return err
	}
	keys := []string{c.keys.ChatCounter(e.App), c.keys.MessageCounter(e.App, e.Chat), c.keys.Pending(c.keys.Partition(e.App)),
		c.keys.ChatsDeleted(e.App), c.keys.MessagesDeleted(e.App, e.Chat)}
	del := "0"
	if e.Type == queue.TypeMessageDelete {
		del = "1"
	}
	n, err := enqueueMessageJobScript.Run(ctx, c.rdb, keys, e.Chat, e.Message, raw, del).Int64()
	if err != nil {
		return fmt.Errorf("enqueue %s: %w: %w", e.Type, chat.ErrUnavailable, err)
	}
	_, err = result(n, e)
	return err
}

var deleteChatScript = redis.NewScript(`
local chats = redis.call('GET', KEYS[1])
if not chats then return -1 end
local c = tonumber(ARGV[1])
if c < 1 or c > tonumber(chats) then return -2 end
if redis.call('SADD', KEYS[2], ARGV[1]) == 0 then return -2 end
redis.call('LPUSH', KEYS[3], ARGV[2])
return 0`)

// DeleteChat checks that chat e.Chat was handed out and is not deleted yet,
// records its tombstone (new messages and changes are refused from now on)
// and enqueues e, in one step.
func (c *Counter) DeleteChat(ctx context.Context, e queue.Envelope) error {
	raw, err := e.Encode()
	if err != nil {
		return err
	}
	keys := []string{c.keys.ChatCounter(e.App), c.keys.ChatsDeleted(e.App), c.keys.Pending(c.keys.Partition(e.App))}
	n, err := deleteChatScript.Run(ctx, c.rdb, keys, e.Chat, raw).Int64()
	if err != nil {
		return fmt.Errorf("enqueue %s: %w: %w", e.Type, chat.ErrUnavailable, err)
	}
	_, err = result(n, e)
	return err
}

// Deleted reports whether a chat, or a message of it when message > 0, has a
// tombstone.
func (c *Counter) Deleted(ctx context.Context, app string, chatNumber, message int64) (bool, error) {
	key, member := c.keys.ChatsDeleted(app), chatNumber
	if message > 0 {
		key, member = c.keys.MessagesDeleted(app, chatNumber), message
	}
	ok, err := c.rdb.SIsMember(ctx, key, member).Result()
	if err != nil {
		return false, fmt.Errorf("read tombstone: %w: %w", chat.ErrUnavailable, err)
	}
	return ok, nil
}

// result turns a script's reply into a number or the error it stands for.
func result(n int64, e queue.Envelope) (int64, error) {
	switch n {
	case resNoApp:
		return 0, &SeedError{}
	case resNoChat:
		return 0, fmt.Errorf("chat %d: %w", e.Chat, chat.ErrNotFound)
	case resNoCounter:
		return 0, &SeedError{Chat: e.Chat}
	case resNoMessage:
		return 0, fmt.Errorf("message %d of chat %d: %w", e.Message, e.Chat, chat.ErrNotFound)
	}
	return n, nil
}

var seedApplicationScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('SET', KEYS[2], ARGV[1])
return 1`)

// SeedApplication creates an application's chat counter at max (MySQL's
// highest persisted chat number, 0 for a new application) unless it already
// exists, and records max as the seed point (see queue.Keys.ChatsSeeded).
func (c *Counter) SeedApplication(ctx context.Context, app string, max int64) error {
	keys := []string{c.keys.ChatCounter(app), c.keys.ChatsSeeded(app)}
	if err := seedApplicationScript.Run(ctx, c.rdb, keys, max).Err(); err != nil {
		return fmt.Errorf("seed chat counter: %w: %w", chat.ErrUnavailable, err)
	}
	return nil
}

// Ping checks that Redis answers.
func (c *Counter) Ping(ctx context.Context) error {
	if err := c.rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("ping redis: %w: %w", chat.ErrUnavailable, err)
	}
	return nil
}

// SeedChat creates a chat's message counter at max unless it already exists.
func (c *Counter) SeedChat(ctx context.Context, app string, chatNumber, max int64) error {
	if err := c.rdb.SetNX(ctx, c.keys.MessageCounter(app, chatNumber), max, 0).Err(); err != nil {
		return fmt.Errorf("seed message counter: %w: %w", chat.ErrUnavailable, err)
	}
	return nil
}

// Chats returns the highest chat number handed out for an application, and
// whether the counter exists.
func (c *Counter) Chats(ctx context.Context, app string) (int64, bool, error) {
	return c.get(ctx, c.keys.ChatCounter(app))
}

// Messages returns the highest message number handed out for a chat, and
// whether the counter exists.
func (c *Counter) Messages(ctx context.Context, app string, chatNumber int64) (int64, bool, error) {
	return c.get(ctx, c.keys.MessageCounter(app, chatNumber))
}

func (c *Counter) get(ctx context.Context, key string) (int64, bool, error) {
	n, err := c.rdb.Get(ctx, key).Int64()
	if errors.Is(err, redis.Nil) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("read counter: %w: %w", chat.ErrUnavailable, err)
	}
	return n, true, nil
}
