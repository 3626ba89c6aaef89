// Package chats is the api's use-case layer: it validates input, assigns
// numbers through Redis, enqueues jobs, reads from MySQL and searches, and
// knows nothing of HTTP.
package chats

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/instachat/instachat/pkg/chat"
	"github.com/instachat/instachat/pkg/counter"
	"github.com/instachat/instachat/pkg/events"
	"github.com/instachat/instachat/pkg/queue"
	"github.com/instachat/instachat/pkg/search"
	"github.com/instachat/instachat/pkg/store"
)

// Service implements InstaChat's operations for the api.
type Service struct {
	store   *store.Store
	counter *counter.Counter
	engine  search.Engine
	cache   *appCache
	log     *slog.Logger
	now     func() time.Time
	budget  time.Duration
	// idempotencyTTL is how long an application create or rename made with
	// an idempotency key answers its retries (the counter keeps the
	// Redis-backed writes' records for as long).
	idempotencyTTL time.Duration
	tenants        Tenants // applications' settings (WithTenants)
}

// DefaultBudget bounds every request's work on MySQL, Redis and search, so
// a dependency that hangs (not refusing) answers 503 within it.
const DefaultBudget = 1500 * time.Millisecond

// WithBudget sets how long one operation may wait on its dependencies
// (DefaultBudget unless set); it returns s.
func (s *Service) WithBudget(d time.Duration) *Service {
	if d > 0 {
		s.budget = d
	}
	return s
}

// within bounds ctx by the operation budget.
func (s *Service) within(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.budget)
}

// New returns a Service.
func New(st *store.Store, c *counter.Counter, engine search.Engine, log *slog.Logger) *Service {
	return &Service{store: st, counter: c, engine: engine, cache: newAppCache(), log: log, now: time.Now, budget: DefaultBudget,
		idempotencyTTL: c.IdempotencyTTL()}
}

// app resolves a token to its application, from the cache or MySQL.
func (s *Service) app(ctx context.Context, token string) (store.AppRef, error) {
	if err := s.known(token); err != nil {
		return store.AppRef{}, err
	}
	if ref, ok := s.cache.get(token); ok {
		return ref, nil
	}
	ref, err := s.store.Application(ctx, token)
	if errors.Is(err, chat.ErrNotFound) {
		s.cache.putUnknown(token)
		return store.AppRef{}, chat.NotFound("application")
	}
	if err != nil {
		return store.AppRef{}, err
	}
	s.cache.put(token, ref)
	return ref, nil
}

// known refuses a token that cannot name an application: malformed, or
// found to name none a moment ago (a flood of made-up tokens stays off MySQL).
func (s *Service) known(token string) error {
	if !chat.ValidToken(token) || s.cache.isUnknown(token) {
		return chat.NotFound("application")
	}
	return nil
}

// remember notes a token that turned out to name no application.
func (s *Service) remember(token string, err error) error {
	if errors.Is(err, chat.ErrNotFound) && chat.ClientMessage(err, "") == chat.NotFound("application").Error() {
		s.cache.putUnknown(token)
	}
	return err
}

// CreateApplication creates an application in MySQL and makes it known to
// Redis. With an idempotency key, MySQL keeps the record of the creation in
// the same transaction (with the token sealed by the key), and a retry gets
// the first application back (replayed is true) instead of a second one.
func (s *Service) CreateApplication(ctx context.Context, name string, w Write) (app chat.Application, replayed bool, err error) {
	ctx, cancel := s.within(ctx)
	defer cancel()
	name, err = chat.NormalizeName(name)
	if err != nil {
		return chat.Application{}, false, err
	}
	now := s.now().UTC().Truncate(time.Microsecond)
	var ref store.AppRef
	if w.IdempotencyKey == "" {
		ref, err = s.store.CreateApplication(ctx, name, now)
	} else {
		ref, replayed, err = s.createApplicationOnce(ctx, name, now, w)
	}
	if err != nil || replayed {
		return ref.App, replayed, err
	}
	s.cache.put(ref.App.Token, ref)
	// Seeding now keeps MySQL off the first chat create; if Redis is down the
	// counter is seeded lazily on first use.
	if err := s.counter.SeedApplication(ctx, chat.TokenDigest(ref.App.Token), counter.Seed{}); err != nil {
		s.log.WarnContext(ctx, "seed chat counter of new application", "err", err)
	}
	return ref.App, false, nil
}

// createApplicationOnce creates the application with w's idempotency record,
// or gives the first answer back with its token unsealed.
func (s *Service) createApplicationOnce(ctx context.Context, name string, now time.Time, w Write) (store.AppRef, bool, error) {
	seal := func(token string) ([]byte, error) { return chat.SealToken(w.IdempotencyKey, token) }
	once, err := s.store.CreateApplicationOnce(ctx, name, now, s.record(w, now), seal)
	if err != nil || !once.Replayed {
		return once.Ref, false, err
	}
	token, err := chat.OpenToken(w.IdempotencyKey, once.Sealed)
	if err != nil {
		return store.AppRef{}, false, fmt.Errorf("open the token of replayed application creation: %w", err)
	}
	once.Ref.App.Token = token
	return once.Ref, true, nil
}

// record is the store's idempotency record of w, answering until the
// retention ends.
func (s *Service) record(w Write, now time.Time) store.Idempotency {
	return store.Idempotency{KeyHash: chat.KeyHash(w.IdempotencyKey), Fingerprint: w.Fingerprint, Expires: now.Add(s.idempotencyTTL)}
}

// Application returns an application as stored now.
func (s *Service) Application(ctx context.Context, token string) (chat.Application, error) {
	ctx, cancel := s.within(ctx)
	defer cancel()
	if err := s.known(token); err != nil {
		return chat.Application{}, err
	}
	ref, err := s.store.Application(ctx, token)
	if errors.Is(err, chat.ErrNotFound) {
		s.cache.putUnknown(token)
		return chat.Application{}, chat.NotFound("application")
	}
	if err != nil {
		return chat.Application{}, err
	}
	return ref.App, nil
}

// RenameApplication changes an application's name. With an idempotency key,
// MySQL keeps the record of the rename in the same transaction, and a retry
// gets the first answer back (replayed is true) without renaming again.
func (s *Service) RenameApplication(ctx context.Context, token, name string, w Write) (app chat.Application, replayed bool, err error) {
	ctx, cancel := s.within(ctx)
	defer cancel()
	name, err = chat.NormalizeName(name)
	if err != nil {
		return chat.Application{}, false, err
	}
	if !chat.ValidToken(token) {
		return chat.Application{}, false, chat.NotFound("application")
	}
	now := s.now().UTC().Truncate(time.Microsecond)
	var ref store.AppRef
	if w.IdempotencyKey == "" {
		ref, err = s.store.RenameApplication(ctx, token, name, now)
	} else {
		var once store.Once
		once, err = s.store.RenameApplicationOnce(ctx, token, name, now, s.record(w, now))
		ref, replayed = once.Ref, once.Replayed
	}
	if errors.Is(err, chat.ErrNotFound) {
		return chat.Application{}, false, chat.NotFound("application")
	}
	if err != nil {
		return chat.Application{}, false, err
	}
	return ref.App, replayed, nil
}

// Accepted describes a queued job.
type Accepted struct {
	Number     int64
	AcceptedAt time.Time
	// Replayed reports that the write had already been accepted under the
	// request's idempotency key: this is the first answer, given again.
	Replayed bool
}

// Write is what a write request carries besides its input.
type Write struct {
	// Trace is the request's trace id, carried by the job.
	Trace string
	// IdempotencyKey is the client's Idempotency-Key ("" for none) and
	// Fingerprint a digest of the request it was sent with
	// (chat.Fingerprint): a retry with the same key gets the first answer;
	// another request under it is chat.ErrKeyReused.
	IdempotencyKey, Fingerprint string
}

// claim is the counter's record of w's idempotency key (zero without one).
func (w Write) claim() counter.Claim {
	if w.IdempotencyKey == "" {
		return counter.Claim{}
	}
	return counter.Claim{Key: chat.KeyHash(w.IdempotencyKey), Fingerprint: w.Fingerprint}
}

func (s *Service) envelope(typ, token string, w Write) queue.Envelope {
	now := s.now()
	return queue.Envelope{ID: queue.NewEventID(now), Type: typ, App: chat.TokenDigest(token), Time: now.UnixMicro(), Trace: w.Trace}
}

// accept runs e's counter step with w's claim.
func (s *Service) accept(ctx context.Context, token string, e queue.Envelope, w Write) (Accepted, error) {
	typ, _ := events.TypeOfJob(e.Type)
	obs, version, limit := s.observe(ctx, token, typ)
	if len(e.Body) > limit && (e.Type == queue.TypeMessageCreate || e.Type == queue.TypeMessageUpdate) {
		return Accepted{}, chat.Invalidf("body must be at most %d bytes in this application (its settings' max_body_bytes)", limit)
	}
	e.SV = version
	r, err := s.counter.AcceptObserved(ctx, e, w.claim(), obs)
	if err != nil {
		return Accepted{}, s.remember(token, err)
	}
	return Accepted{Number: r.Number, AcceptedAt: r.Accepted, Replayed: r.Replayed}, nil
}

// CreateChat assigns the next chat number and queues the chat's creation.
func (s *Service) CreateChat(ctx context.Context, token string, w Write) (Accepted, error) {
	ctx, cancel := s.within(ctx)
	defer cancel()
	if err := s.known(token); err != nil {
		return Accepted{}, err
	}
	return s.accept(ctx, token, s.envelope(queue.TypeChatCreate, token, w), w)
}

// CreateMessage assigns the next message number of a chat and queues the message.
func (s *Service) CreateMessage(ctx context.Context, token string, chatNumber int64, body string, w Write) (Accepted, error) {
	ctx, cancel := s.within(ctx)
	defer cancel()
	if err := chat.CheckBody(body); err != nil {
		return Accepted{}, err
	}
	if err := s.known(token); err != nil {
		return Accepted{}, err
	}
	e := s.envelope(queue.TypeMessageCreate, token, w)
	e.Chat, e.Body = chatNumber, body
	return s.accept(ctx, token, e, w)
}

// UpdateMessage queues a new body for a message that was handed out.
func (s *Service) UpdateMessage(ctx context.Context, token string, chatNumber, number int64, body string, w Write) (Accepted, error) {
	ctx, cancel := s.within(ctx)
	defer cancel()
	if err := chat.CheckBody(body); err != nil {
		return Accepted{}, err
	}
	if err := s.known(token); err != nil {
		return Accepted{}, err
	}
	e := s.envelope(queue.TypeMessageUpdate, token, w)
	e.Chat, e.Message, e.Body = chatNumber, number, body
	return s.accept(ctx, token, e, w)
}

// DeleteMessage queues the deletion of a message. From now on the api refuses
// changes to it; the writer removes it from reads, counts and search.
func (s *Service) DeleteMessage(ctx context.Context, token string, chatNumber, number int64, w Write) (Accepted, error) {
	ctx, cancel := s.within(ctx)
	defer cancel()
	if err := s.known(token); err != nil {
		return Accepted{}, err
	}
	e := s.envelope(queue.TypeMessageDelete, token, w)
	e.Chat, e.Message = chatNumber, number
	return s.accept(ctx, token, e, w)
}

// DeleteChat queues the deletion of a chat and its messages. New messages
// and changes to it are refused from now on; its number is never reused.
func (s *Service) DeleteChat(ctx context.Context, token string, chatNumber int64, w Write) (Accepted, error) {
	ctx, cancel := s.within(ctx)
	defer cancel()
	if err := s.known(token); err != nil {
		return Accepted{}, err
	}
	e := s.envelope(queue.TypeChatDelete, token, w)
	e.Chat = chatNumber
	return s.accept(ctx, token, e, w)
}
