// Package counter hands out chat and message numbers from Redis. One Lua step
// checks that the parent exists, increments its counter and pushes the job,
// so a number is handed out only together with the job that persists it, and
// never twice.
//
// Redis can go back in time: a replica promoted before it caught up, a
// restart that lost the AOF tail or every key, a FLUSHALL. So every counter
// carries the epoch it is valid in: the replication id of the Redis that
// checked it (INFO replication's master_replid, read inside the same script).
// A promoted replica, and a restart that did not shut down cleanly with its
// data, start a new replication id; a flushed or lost counter has no epoch at
// all. Either way the step refuses to hand out a number, and the counter is
// re-seeded as max(Redis, MySQL's highest persisted number) together with the
// tombstones MySQL holds, before it is tried again. What this cannot see (a
// counter set back by hand) the writer catches as a number conflict and heals
// (Heal).
//
// The same step appends the accepted write to its partition's event stream
// (package events) and queues the job with its position ("ev"), so events
// leave at acceptance, a chat's creates are in number order, and an
// idempotent replay, which does nothing again, emits nothing.
package counter

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/instachat/instachat/pkg/chat"
	"github.com/instachat/instachat/pkg/queue"
)

// ErrNeedsSeed is returned when a counter is missing or from another epoch
// and must be seeded from MySQL; the *SeedError that carries it tells which.
var ErrNeedsSeed = errors.New("counter needs seeding")

// SeedError says which counter needs seeding.
type SeedError struct {
	// Chat is 0 when the application's chat counter needs seeding, otherwise
	// the chat whose message counter does.
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

// Seed is what MySQL has persisted for one counter: the highest number and the
// deleted numbers (tombstones), which must survive Redis losing its keys.
type Seed struct {
	Max     int64
	Deleted []int64
}

// Source reads seeds from what is persisted. Applications are named by their
// app key (chat.TokenDigest). An application that does not exist is an error
// wrapping chat.ErrNotFound.
type Source interface {
	// ChatSeed returns an application's highest persisted chat number and
	// its deleted chats.
	ChatSeed(ctx context.Context, app string) (max int64, deleted []int64, err error)
	// MessageSeed returns a chat's highest persisted message number and its
	// deleted messages.
	MessageSeed(ctx context.Context, app string, chatNumber int64) (max int64, deleted []int64, err error)
}

// Config tunes a Counter.
type Config struct {
	// WaitReplicas makes every step that hands out a number or queues a job
	// wait until that many replicas have it (Redis WAIT), so a failover loses
	// no accepted write. 0 answers as soon as the primary has it.
	WaitReplicas int
	// WaitTimeout bounds that wait (default 500 ms); a write not confirmed in
	// time is reported as chat.ErrOutcomeUnknown.
	WaitTimeout time.Duration
	// IdempotencyTTL is how long the record of a write made with an
	// idempotency key is kept (default 24 h): a retry within it gets the
	// first answer back.
	IdempotencyTTL time.Duration
	// EventsRetain is about how many events each partition's stream keeps
	// (XADD MAXLEN ~, default DefaultEventsRetain); older ones are served
	// from the journal, or announced as a reset.
	EventsRetain int64
}

// DefaultIdempotencyTTL is how long idempotency records live unless configured.
const DefaultIdempotencyTTL = 24 * time.Hour

// DefaultEventsRetain is how many events a partition's stream keeps unless
// configured.
const DefaultEventsRetain = 20000

// Counter assigns numbers.
type Counter struct {
	rdb  redis.UniversalClient
	keys queue.Keys
	src  Source
	cfg  Config
}

// New returns a Counter that seeds from src.
func New(rdb redis.UniversalClient, keys queue.Keys, src Source, cfg Config) *Counter {
	if cfg.WaitTimeout <= 0 {
		cfg.WaitTimeout = 500 * time.Millisecond
	}
	if cfg.IdempotencyTTL <= 0 {
		cfg.IdempotencyTTL = DefaultIdempotencyTTL
	}
	if cfg.EventsRetain <= 0 {
		cfg.EventsRetain = DefaultEventsRetain
	}
	return &Counter{rdb: rdb, keys: keys, src: src, cfg: cfg}
}

// Script results below zero are conditions, not numbers.
const (
	resNoApp     = -1 // the chat counter is missing or from another epoch
	resNoChat    = -2
	resNoCounter = -3 // the chat's message counter is missing or from another epoch
	resNoMessage = -4
	resKeyReused = -5 // the idempotency key's record holds another request
)

// epochLua defines epoch(): the replication id of the Redis running the
// script, read once per step. It costs about one more INCR per step.
const epochLua = `local EP
local function epoch()
  if not EP then EP = string.match(redis.call('INFO', 'replication'), 'master_replid:(%w+)') end
  return EP
end
`

// emitLua defines emit(job, k, retain): it appends job to partition's event
// stream KEYS[k] (bookkeeping in the hash KEYS[k+1], see queue.Keys.EventsMeta)
// at the next position "<gen>-<seq>", keeping about retain entries, and
// returns the job with that position spliced in as "ev" (the job must not
// carry one: it ends with '}'), to be queued. The stream entry holds the job
// without "ev": the entry id is it.
//
// A generation belongs to one epoch: when Redis went back in time (the meta
// is from another epoch, or gone) a new one starts at the current time in ms,
// above every generation the stream still holds, and sequences restart at 1.
// So the XADD never meets an id at or below the stream's last (which Redis
// would refuse after the step's earlier writes, which it does not roll back),
// and within a generation sequences have no holes. Call it after the step's
// last check: a step that emits has accepted the write.
//
// EMIT and HOOKS are the application's settings for the step (set by
// idemLua from the step's arguments; a renumbering emits and queues no
// delivery): with EMIT other than '1' the event type is one the application
// does not emit, and the job is queued without a position; otherwise one
// delivery per webhook endpoint id in HOOKS (space-separated) is queued on
// the partition's hooks lane KEYS[k + 2]: the job with its position and
// "hook" spliced in, in the same step as the event, so an event is on the
// stream exactly when its deliveries are queued.
const emitLua = `
local EMIT, HOOKS = '1', ''
local function emit(job, k, retain)
  if EMIT ~= '1' then return job end
  local m = redis.call('HMGET', KEYS[k + 1], 'e', 'g', 's')
  local g, s = m[2], tonumber(m[3]) or 0
  if m[1] ~= epoch() or not g then
    local t = redis.call('TIME')
    local gen = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
    local last = redis.call('XREVRANGE', KEYS[k], '+', '-', 'COUNT', 1)
    if last[1] then gen = math.max(gen, tonumber(string.match(last[1][1], '^(%d+)-')) + 1) end
    g, s = string.format('%d', gen), 0
    redis.call('HSET', KEYS[k + 1], 'e', epoch(), 'g', g)
  end
  s = s + 1
  local id = g .. '-' .. string.format('%d', s)
  redis.call('HSET', KEYS[k + 1], 's', string.format('%d', s))
  redis.call('XADD', KEYS[k], 'MAXLEN', '~', retain, id, 'j', job)
  local out = string.sub(job, 1, -2) .. ',"ev":"' .. id .. '"}'
  for hook in string.gmatch(HOOKS, '%S+') do
    redis.call('LPUSH', KEYS[k + 2], string.sub(out, 1, -2) .. ',"hook":"' .. hook .. '"}')
  end
  return out
end
`

// idemLua defines replay() and done(n), which make a step idempotent, and
// RETAIN, the events a partition's stream keeps (ARGV[#ARGV - 3]), after
// EMIT and HOOKS (ARGV[#ARGV - 5] and ARGV[#ARGV - 4], see emitLua). The last
// three arguments of every step are the request's fingerprint (” for a
// step without an idempotency key), the record's lifetime in milliseconds
// and the acceptance time (Unix µs); with a key, the record is the last KEYS
// entry. replay() runs first: a record with the same fingerprint answers
// {number, accepted, 1} without doing anything again (rewriting the record,
// so a WAIT after it covers it), another fingerprint answers resKeyReused.
// done(n) writes the record "<fingerprint> <n> <accepted>" in the same step
// as the effect, so a record exists exactly when the effect happened and two
// racing requests with one key get one number between them.
const idemLua = `local IFP, ITTL, IAT = ARGV[#ARGV - 2], ARGV[#ARGV - 1], ARGV[#ARGV]
local RETAIN = ARGV[#ARGV - 3]
EMIT, HOOKS = ARGV[#ARGV - 5], ARGV[#ARGV - 4]
local function replay()
  if IFP == '' then return nil end
  local r = redis.call('GET', KEYS[#KEYS])
  if not r then return nil end
  local fp, n, t = string.match(r, '^(%x+) (%d+) (%d+)$')
  if fp ~= IFP then return -5 end
  redis.call('SET', KEYS[#KEYS], r, 'KEEPTTL')
  return {n, t, 1}
end
local function done(n)
  if IFP ~= '' then
    redis.call('SET', KEYS[#KEYS], IFP .. ' ' .. string.format('%d', n) .. ' ' .. IAT, 'PX', ITTL)
  end
  return n
end
local replayed = replay()
if replayed then return replayed end
`

// The scripts splice numbers in with string.format('%d'): Lua's own
// number-to-string conversion switches to exponent notation beyond 14 digits,
// which would turn the job into one that no longer decodes. Each step's keys
// are its own, then the pending list, the event stream, its meta and the
// hooks lane (see emitLua), then the idempotency record if any; its
// arguments are its own, then EMIT, HOOKS, RETAIN and the three of idemLua.
var createChatScript = redis.NewScript(epochLua + emitLua + idemLua + `
if redis.call('HGET', KEYS[1], 'e') ~= epoch() then return -1 end
local n = redis.call('HINCRBY', KEYS[1], 'n', 1)
redis.call('LPUSH', KEYS[2], emit(ARGV[1] .. string.format('%d', n) .. ARGV[2], 3, RETAIN))
return done(n)`)

// Claim makes a step idempotent: the record of its outcome is kept under
// Key, for the request Fingerprint describes (see chat.KeyHash and
// chat.Fingerprint). The zero Claim records nothing.
type Claim struct {
	Key         string
	Fingerprint string
}

// Result is the outcome of an accepted step.
type Result struct {
	// Number is the chat or message number handed out (for a create) or
	// acted on (for an update or a delete).
	Number int64
	// Accepted is when the api accepted the write: the envelope's time, or
	// for a replay the first request's.
	Accepted time.Time
	// Replayed reports that the claim's record answered: the write had
	// already been accepted under that idempotency key and nothing was done
	// again.
	Replayed bool
}

// Accept runs the step for job e, by its type: a chat or message create
// takes the next number and queues e with it; a message update or delete,
// or a chat delete, checks what it acts on and queues e (a delete records
// its tombstone in the same step). With a claim the same step writes the
// claim's record, or answers from it (Result.Replayed) without doing
// anything again; a record of another request is chat.ErrKeyReused.
func (c *Counter) Accept(ctx context.Context, e queue.Envelope, cl Claim) (Result, error) {
	return c.AcceptObserved(ctx, e, cl, Observers{Emit: true})
}

// Observers are what an application's settings ask of a step besides the
// write: whether its event goes on the partition's stream (Emit), and the
// webhook endpoints that get a delivery of it (Hooks, ids; only with Emit).
type Observers struct {
	Emit  bool
	Hooks []string
}

// AcceptObserved is Accept with the application's observers.
func (c *Counter) AcceptObserved(ctx context.Context, e queue.Envelope, cl Claim, o Observers) (Result, error) {
	switch e.Type {
	case queue.TypeChatCreate, queue.TypeMessageCreate, queue.TypeMessageUpdate, queue.TypeMessageDelete, queue.TypeChatDelete:
		return c.accept(ctx, e, cl, o, e.Type)
	}
	return Result{}, fmt.Errorf("accept %s job %s: not a job the api queues: %w", e.Type, e.ID, chat.ErrInvalid)
}

// accept runs the step of kind (a job type; an update stands for both
// message updates and deletes) for e.
func (c *Counter) accept(ctx context.Context, e queue.Envelope, cl Claim, o Observers, kind string) (Result, error) {
	e.Ev = "" // the step gives the job its position
	var what string
	var script *redis.Script
	var keys []string
	var args []any
	switch kind {
	case queue.TypeChatCreate, queue.TypeMessageCreate:
		field := "chat"
		what, script = "chat create", createChatScript
		keys = []string{c.keys.ChatCounter(e.App)}
		if kind == queue.TypeMessageCreate {
			field, what, script = "message", "message create", createMessageScript
			keys = append(keys, c.keys.ChatsDeleted(e.App), c.keys.MessageCounter(e.App, e.Chat))
			args = append(args, e.Chat)
		}
		prefix, suffix, err := e.Template(field)
		if err != nil {
			return Result{}, err
		}
		args = append(args, prefix, suffix)
	case queue.TypeMessageUpdate, queue.TypeMessageDelete: // the job says which
		raw, err := e.Encode()
		if err != nil {
			return Result{}, err
		}
		what, script = e.Type, enqueueMessageJobScript
		keys = []string{c.keys.ChatCounter(e.App), c.keys.ChatsDeleted(e.App), c.keys.MessageCounter(e.App, e.Chat),
			c.keys.MessagesDeleted(e.App, e.Chat)}
		args = []any{e.Chat, e.Message, raw, map[bool]string{true: "1", false: "0"}[e.Type == queue.TypeMessageDelete]}
	default: // queue.TypeChatDelete
		raw, err := e.Encode()
		if err != nil {
			return Result{}, err
		}
		what, script = "chat delete", deleteChatScript
		keys = []string{c.keys.ChatCounter(e.App), c.keys.ChatsDeleted(e.App)}
		args = []any{e.Chat, raw}
	}
	p := c.keys.Partition(e.App)
	keys = append(keys, c.keys.Pending(p), c.keys.Events(p), c.keys.EventsMeta(p), c.keys.Hooks().Pending(p))
	args = append(args, map[bool]string{true: "1", false: "0"}[o.Emit], strings.Join(o.Hooks, " "),
		c.cfg.EventsRetain, cl.Fingerprint, c.cfg.IdempotencyTTL.Milliseconds(), e.Time)
	if cl.Fingerprint != "" {
		keys = append(keys, c.keys.Idempotency(e.App, cl.Key))
	}
	r, err := c.step(ctx, e, what, func() (reply, error) { return c.run(ctx, script, keys, args...) })
	if err != nil {
		return Result{}, err
	}
	if r.replayed {
		return Result{Number: r.n, Accepted: time.UnixMicro(r.at).UTC(), Replayed: true}, nil
	}
	return Result{Number: r.n, Accepted: e.AcceptedAt()}, nil
}

// CreateChat assigns the next chat number of e.App and enqueues e with it.
func (c *Counter) CreateChat(ctx context.Context, e queue.Envelope) (int64, error) {
	r, err := c.accept(ctx, e, Claim{}, Observers{Emit: true}, queue.TypeChatCreate)
	return r.Number, err
}

// checkChatLua checks the chat counter's epoch (KEYS[1]) and that chat
// ARGV[1] was handed out and not deleted (KEYS[2]); it leaves app = {n, e, s}.
const checkChatLua = `
local app = redis.call('HMGET', KEYS[1], 'n', 'e', 's')
if app[2] ~= epoch() then return -1 end
local c = tonumber(ARGV[1])
if c < 1 or c > tonumber(app[1]) then return -2 end
if redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 1 then return -2 end
`

// A missing message counter of a chat created in this epoch (above the seed
// point) starts at 0 in the same step; an older chat's counter must be
// seeded from MySQL, as must one from another epoch.
var createMessageScript = redis.NewScript(epochLua + emitLua + idemLua + checkChatLua + `
local me = redis.call('HGET', KEYS[3], 'e')
if me ~= app[2] then
  if me or c <= tonumber(app[3]) then return -3 end
  redis.call('HSET', KEYS[3], 'e', app[2])
end
local n = redis.call('HINCRBY', KEYS[3], 'n', 1)
redis.call('LPUSH', KEYS[4], emit(ARGV[2] .. string.format('%d', n) .. ARGV[3], 5, RETAIN))
return done(n)`)

// CreateMessage assigns the next message number of chat e.Chat and enqueues e with it.
func (c *Counter) CreateMessage(ctx context.Context, e queue.Envelope) (int64, error) {
	r, err := c.accept(ctx, e, Claim{}, Observers{Emit: true}, queue.TypeMessageCreate)
	return r.Number, err
}

// enqueueMessageJobScript checks that the chat and message were handed out
// and not deleted, pushes the job, and for a delete (ARGV[4] = "1") records
// the tombstone in the same step.
var enqueueMessageJobScript = redis.NewScript(epochLua + emitLua + idemLua + checkChatLua + `
local msgs = redis.call('HMGET', KEYS[3], 'n', 'e')
if msgs[2] ~= app[2] then
  if msgs[2] or c <= tonumber(app[3]) then return -3 end
  return -4
end
local m = tonumber(ARGV[2])
if m < 1 or m > tonumber(msgs[1]) then return -4 end
if redis.call('SISMEMBER', KEYS[4], ARGV[2]) == 1 then return -4 end
if ARGV[4] == '1' then redis.call('SADD', KEYS[4], ARGV[2]) end
redis.call('LPUSH', KEYS[5], emit(ARGV[3], 6, RETAIN))
return done(m)`)

// EnqueueMessageJob checks that message e.Message of chat e.Chat was handed
// out and is not deleted, and enqueues e (an update or a delete) in the same
// step. A delete also records the message's tombstone, so later changes are
// refused at once.
func (c *Counter) EnqueueMessageJob(ctx context.Context, e queue.Envelope) error {
	_, err := c.accept(ctx, e, Claim{}, Observers{Emit: true}, queue.TypeMessageUpdate)
	return err
}

var deleteChatScript = redis.NewScript(epochLua + emitLua + idemLua + `
local app = redis.call('HMGET', KEYS[1], 'n', 'e')
if app[2] ~= epoch() then return -1 end
local c = tonumber(ARGV[1])
if c < 1 or c > tonumber(app[1]) then return -2 end
if redis.call('SADD', KEYS[2], ARGV[1]) == 0 then return -2 end
redis.call('LPUSH', KEYS[3], emit(ARGV[2], 4, RETAIN))
return done(c)`)

// DeleteChat checks that chat e.Chat was handed out and is not deleted yet,
// records its tombstone (new messages and changes are refused from now on)
// and enqueues e, in one step.
func (c *Counter) DeleteChat(ctx context.Context, e queue.Envelope) error {
	_, err := c.accept(ctx, e, Claim{}, Observers{Emit: true}, queue.TypeChatDelete)
	return err
}

// step runs one counter step, seeding a counter that is missing or from
// another epoch from MySQL and trying again.
func (c *Counter) step(ctx context.Context, e queue.Envelope, what string, run func() (reply, error)) (reply, error) {
	for range 3 {
		r, err := run()
		if err != nil {
			return reply{}, redisErr(what, err)
		}
		err = result(r.n, e)
		var se *SeedError
		if !errors.As(err, &se) {
			return r, err
		}
		if c.src == nil {
			return reply{}, fmt.Errorf("%s: %w and this counter has no source to seed from", what, err)
		}
		if se.Chat == 0 {
			err = c.seedApp(ctx, e.App)
		} else {
			err = c.seedChat(ctx, e.App, se.Chat)
		}
		if err != nil {
			return reply{}, err
		}
	}
	return reply{}, fmt.Errorf("%s: counters kept needing seeding (is Redis failing over?): %w", what, chat.ErrUnavailable)
}

// run runs a script and, when configured, waits for replicas on the same
// connection. A step that wrote (a result of 0 or more) but was not confirmed
// by enough replicas is errNotReplicated.
func (c *Counter) run(ctx context.Context, s *redis.Script, keys []string, args ...any) (reply, error) {
	if c.cfg.WaitReplicas <= 0 {
		return parseReply(s.Run(ctx, c.rdb, keys, args...))
	}
	var node redis.Cmdable = c.rdb
	if cc, ok := c.rdb.(*redis.ClusterClient); ok {
		primary, err := cc.MasterForKey(ctx, keys[0])
		if err != nil {
			return reply{}, err
		}
		node = primary
	}
	for range 2 {
		var res *redis.Cmd
		var acks *redis.Cmd
		_, err := node.Pipelined(ctx, func(p redis.Pipeliner) error {
			res = s.EvalSha(ctx, p, keys, args...)
			acks = p.Do(ctx, "WAIT", c.cfg.WaitReplicas, c.cfg.WaitTimeout.Milliseconds())
			return nil
		})
		if err != nil && redis.HasErrorPrefix(res.Err(), "NOSCRIPT") {
			if err := s.Load(ctx, node).Err(); err != nil {
				return reply{}, err
			}
			continue // the script did not run
		}
		if err != nil {
			return reply{}, err
		}
		r, err := parseReply(res)
		if err != nil {
			return reply{}, err
		}
		if got, _ := acks.Int64(); r.n >= 0 && got < int64(c.cfg.WaitReplicas) {
			return reply{}, fmt.Errorf("%d of %d replicas confirmed the write within %s: %w", got, c.cfg.WaitReplicas, c.cfg.WaitTimeout, errNotReplicated)
		}
		return r, nil
	}
	return reply{}, errors.New("script not loaded")
}

// reply is what a step's script answered: a number (or, below zero, a
// condition), or for a replay the recorded number and acceptance time.
type reply struct {
	n, at    int64
	replayed bool
}

// parseReply reads a script's answer: an integer, or a replay's
// {number, accepted, 1} (as strings, which keep every digit).
func parseReply(cmd *redis.Cmd) (reply, error) {
	v, err := cmd.Result()
	if err != nil {
		return reply{}, err
	}
	switch v := v.(type) {
	case int64:
		return reply{n: v}, nil
	case []any:
		if len(v) == 3 {
			n, err1 := strconv.ParseInt(fmt.Sprint(v[0]), 10, 64)
			at, err2 := strconv.ParseInt(fmt.Sprint(v[1]), 10, 64)
			if err1 == nil && err2 == nil {
				return reply{n: n, at: at, replayed: true}, nil
			}
		}
	}
	return reply{}, fmt.Errorf("unexpected script reply %v", v)
}

var errNotReplicated = errors.New("not replicated")

// redisErr classifies a failed step. Nothing was sent when the connection
// could not be made, and a server error reply means the script did not run
// (READONLY after a failover, LOADING): both are plain unavailability. Any
// other failure (a timeout, a connection cut after the request went out,
// replicas that did not confirm) leaves the outcome unknown: the job may be
// queued.
func redisErr(what string, err error) error {
	var op *net.OpError
	var reply redis.Error
	switch {
	case errors.Is(err, redis.ErrPoolTimeout), errors.As(err, &op) && op.Op == "dial",
		errors.As(err, &reply) && !errors.Is(err, errNotReplicated):
		return fmt.Errorf("%s: %w: %w", what, chat.Unavailable("redis"), err)
	}
	return fmt.Errorf("%s: %w: %w", what, chat.OutcomeUnknown("the "+what), err)
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

// result turns a script's condition into the error it stands for (nil for
// a number).
func result(n int64, e queue.Envelope) error {
	switch n {
	case resNoApp:
		return &SeedError{}
	case resNoChat:
		return fmt.Errorf("chat %d: %w", e.Chat, chat.ErrNotFound)
	case resNoCounter:
		return &SeedError{Chat: e.Chat}
	case resNoMessage:
		return fmt.Errorf("message %d of chat %d: %w", e.Message, e.Chat, chat.ErrNotFound)
	case resKeyReused:
		return chat.KeyReused()
	}
	return nil
}

// seedLua sets the counter hash KEYS[1] to max(its number, the legacy
// counter KEYS[2], ARGV[1]) in this epoch, with the seed point (ARGV[2] = "1")
// at the same value, and adds ARGV[3..] to the tombstone set KEYS[3]. A
// counter already valid in this epoch is left alone (another process seeded
// it first); it returns 1 when it seeded.
var seedScript = redis.NewScript(epochLua + `
local cur = redis.call('HMGET', KEYS[1], 'n', 'e')
local live = epoch()
if cur[2] == live then return 0 end
local n = math.max(tonumber(cur[1]) or 0, tonumber(redis.call('GET', KEYS[2])) or 0, tonumber(ARGV[1]))
redis.call('HSET', KEYS[1], 'n', string.format('%d', n), 'e', live)
if ARGV[2] == '1' then redis.call('HSET', KEYS[1], 's', string.format('%d', n)) end
for i = 3, #ARGV do redis.call('SADD', KEYS[3], ARGV[i]) end
return 1`)

func (c *Counter) seed(ctx context.Context, keys []string, point bool, s Seed) error {
	args := make([]any, 0, len(s.Deleted)+2)
	args = append(args, s.Max, map[bool]string{true: "1", false: "0"}[point])
	for _, d := range s.Deleted {
		args = append(args, d)
	}
	if err := seedScript.Run(ctx, c.rdb, keys, args...).Err(); err != nil {
		return fmt.Errorf("seed counter: %w: %w", chat.ErrUnavailable, err)
	}
	return nil
}

// seedApp seeds an application's chat counter and chat tombstones from MySQL.
func (c *Counter) seedApp(ctx context.Context, app string) error {
	max, deleted, err := c.src.ChatSeed(ctx, app)
	if err != nil {
		return err
	}
	return c.SeedApplication(ctx, app, Seed{Max: max, Deleted: deleted})
}

// SeedApplication makes an application's chat counter valid in the current
// epoch at max(its value, s.Max) and adds s.Deleted to its chat tombstones.
// A new application seeds with the zero Seed.
func (c *Counter) SeedApplication(ctx context.Context, app string, s Seed) error {
	return c.seed(ctx, []string{c.keys.ChatCounter(app), c.keys.LegacyChatCounter(app), c.keys.ChatsDeleted(app)}, true, s)
}

// seedChat seeds a chat's message counter and message tombstones from MySQL.
func (c *Counter) seedChat(ctx context.Context, app string, chatNumber int64) error {
	max, deleted, err := c.src.MessageSeed(ctx, app, chatNumber)
	if err != nil {
		return err
	}
	return c.SeedChat(ctx, app, chatNumber, Seed{Max: max, Deleted: deleted})
}

// SeedChat makes a chat's message counter valid in the current epoch at
// max(its value, s.Max) and adds s.Deleted to its message tombstones.
func (c *Counter) SeedChat(ctx context.Context, app string, chatNumber int64, s Seed) error {
	return c.seed(ctx, []string{c.keys.MessageCounter(app, chatNumber), c.keys.LegacyMessageCounter(app, chatNumber),
		c.keys.MessagesDeleted(app, chatNumber)}, false, s)
}

var healScript = redis.NewScript(`
local n = tonumber(redis.call('HGET', KEYS[1], 'n'))
if n and n < tonumber(ARGV[1]) then
  redis.call('HSET', KEYS[1], 'n', ARGV[1])
  return 1
end
return 0`)

// Heal raises a counter that went back below a persisted number to at least
// max: the chat counter of app when chatNumber is 0, else that chat's message
// counter. The writer calls it when a create finds its number taken, so the
// numbers handed out next are fresh. A missing counter is left to seeding.
// It reports whether the counter was behind.
func (c *Counter) Heal(ctx context.Context, app string, chatNumber, max int64) (bool, error) {
	key := c.keys.ChatCounter(app)
	if chatNumber > 0 {
		key = c.keys.MessageCounter(app, chatNumber)
	}
	n, err := healScript.Run(ctx, c.rdb, []string{key}, strconv.FormatInt(max, 10)).Int()
	if err != nil {
		return false, fmt.Errorf("heal counter: %w: %w", chat.ErrUnavailable, err)
	}
	return n == 1, nil
}

// IdempotencyTTL is how long this counter keeps idempotency records.
func (c *Counter) IdempotencyTTL() time.Duration { return c.cfg.IdempotencyTTL }

// Ping checks that Redis answers.
func (c *Counter) Ping(ctx context.Context) error {
	if err := c.rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("ping redis: %w: %w", chat.ErrUnavailable, err)
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
	n, err := c.rdb.HGet(ctx, key, "n").Int64()
	if errors.Is(err, redis.Nil) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("read counter: %w: %w", chat.ErrUnavailable, err)
	}
	return n, true, nil
}

// renumberLua takes the dead job ARGV[3] off the dead list KEYS[4] and, only
// if it was still there, pushes it with a new number (the counter KEYS[1])
// to the consuming end of the pending list KEYS[5], counting it as replayed
// in KEYS[6]: one step, so two operators replaying it at once queue it once.
// The new job is a new event: it goes to the stream KEYS[7] (meta KEYS[8],
// keeping about ARGV[5] entries). 0: the job was no longer dead.
const renumberLua = `
if redis.call('LREM', KEYS[4], 1, ARGV[3]) == 0 then return 0 end
local n = redis.call('HINCRBY', KEYS[1], 'n', 1)
redis.call('RPUSH', KEYS[5], emit(ARGV[1] .. string.format('%d', n) .. ARGV[2], 7, ARGV[5]))
redis.call('HINCRBY', KEYS[6], 'replayed', 1)
return n`

var renumberChatScript = redis.NewScript(epochLua + emitLua + `
if redis.call('HGET', KEYS[1], 'e') ~= epoch() then return -1 end` + renumberLua)

// renumberMessageScript checks the chat as a message create does; KEYS[1] is
// then the chat's message counter.
var renumberMessageScript = redis.NewScript(epochLua + emitLua + `
local app = redis.call('HMGET', KEYS[2], 'n', 'e', 's')
if app[2] ~= epoch() then return -1 end
local c = tonumber(ARGV[4])
if c < 1 or c > tonumber(app[1]) then return -2 end
if redis.call('SISMEMBER', KEYS[3], ARGV[4]) == 1 then return -2 end
local me = redis.call('HGET', KEYS[1], 'e')
if me ~= app[2] then
  if me or c <= tonumber(app[3]) then return -3 end
  redis.call('HSET', KEYS[1], 'e', app[2])
end` + renumberLua)

// Renumber gives a dead create whose number was taken (queue.DeadNumberConflict)
// a new number and queues it, in the step that takes it off partition p's dead
// list (stored is the job as the list holds it). The new job is a new event
// whose Origin names the refused one; it keeps its content and acceptance
// time. It reports false when the job was no longer on the dead list. A chat
// deleted since cannot take the message: that is chat.ErrNotFound, and the
// job stays dead for an operator to discard.
func (c *Counter) Renumber(ctx context.Context, p int, stored string, old queue.Envelope) (bool, error) {
	e := old
	e.ID, e.Origin, e.Attempt, e.Error, e.Dead, e.Parked, e.Ev = queue.NewEventID(time.Now()), old.ID, 0, "", "", 0, ""
	field, script := "chat", renumberChatScript
	keys := []string{c.keys.ChatCounter(e.App), c.keys.ChatCounter(e.App), c.keys.ChatsDeleted(e.App)}
	if e.Type == queue.TypeMessageCreate {
		field, script = "message", renumberMessageScript
		keys[0] = c.keys.MessageCounter(e.App, e.Chat)
	} else if e.Type != queue.TypeChatCreate {
		return false, fmt.Errorf("renumber %s job %s: only creates take numbers: %w", e.Type, old.ID, chat.ErrInvalid)
	}
	prefix, suffix, err := e.Template(field)
	if err != nil {
		return false, err
	}
	keys = append(keys, c.keys.Dead(p), c.keys.Pending(p), c.keys.Stats(p), c.keys.Events(p), c.keys.EventsMeta(p))
	r, err := c.step(ctx, e, "renumber", func() (reply, error) {
		return c.run(ctx, script, keys, prefix, suffix, stored, e.Chat, c.cfg.EventsRetain)
	})
	if err != nil {
		return false, err
	}
	return r.n > 0, nil
}
