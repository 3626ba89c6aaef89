package chats

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/instachat/instachat/pkg/chat"
	"github.com/instachat/instachat/pkg/counter"
	"github.com/instachat/instachat/pkg/settings"
	"github.com/instachat/instachat/pkg/store"
)

// Tenants is what the service needs of applications' settings: the store
// that changes them, the cache every process reads them from, where webhook
// secrets come from, and which webhook URLs may be saved.
type Tenants struct {
	Store     *store.SettingsStore // nil: settings are not served (tests of other features)
	Cache     *settings.Cache
	NewSecret func() (string, error)
	// CheckURL refuses a webhook URL whose destination the operator's
	// policy does not allow (webhook.Policy.CheckURL).
	CheckURL func(ctx context.Context, raw string) (*url.URL, error)
	// Webhooks is false without a WEBHOOK_KEY: endpoints cannot be saved.
	Webhooks bool
}

// WithTenants gives the service applications' settings; it returns s.
func (s *Service) WithTenants(t Tenants) *Service {
	s.tenants = t
	return s
}

// Precondition is what a settings write is conditional on: the version in
// If-Match (IfMatch) or in the body (the Change's Version). A write with
// neither is refused (ErrPreconditionRequired).
type Precondition struct {
	IfMatch *int64
	Any     bool // If-Match: * (whatever the version)
}

// Errors of a settings write's precondition, besides settings.ErrStale.
var (
	ErrPreconditionRequired = errors.New(`a settings write must say which version it changes: send If-Match: "<version>" or a "version" field (GET the settings for it)`)
	ErrPreconditionFailed   = errors.New("the settings changed since the version in If-Match: read them again and reapply your change")
)

// Settings returns an application's settings as stored now.
func (s *Service) Settings(ctx context.Context, token string) (settings.Settings, error) {
	ctx, cancel := s.within(ctx)
	defer cancel()
	app, err := s.tenantOf(ctx, token)
	if err != nil {
		return settings.Settings{}, err
	}
	st, err := s.tenants.Store.LoadSettings(ctx, app)
	if errors.Is(err, chat.ErrNotFound) {
		return settings.Settings{}, chat.NotFound("application")
	}
	return st, err
}

// ChangeSettings applies c to an application's settings if they are still at
// the version the write names, and makes every process use the result. It
// returns the saved settings and the endpoints created, with their secrets.
func (s *Service) ChangeSettings(ctx context.Context, token string, c settings.Change, pre Precondition) (settings.Settings, []settings.Created, error) {
	if pre.IfMatch == nil && !pre.Any && c.Version == nil {
		return settings.Settings{}, nil, ErrPreconditionRequired
	}
	if err := s.checkWebhooks(ctx, c); err != nil {
		return settings.Settings{}, nil, err
	}
	var created []settings.Created
	saved, err := s.changeSettings(ctx, token, func(cur settings.Settings) (settings.Settings, error) {
		if err := checkVersion(cur, c.Version, pre); err != nil {
			return settings.Settings{}, err
		}
		next, made, err := settings.Apply(cur, c, s.now().UTC().Truncate(time.Microsecond), s.tenants.NewSecret)
		created = made
		return next, err
	})
	return saved, created, err
}

// RotateSecret gives a webhook endpoint a new secret, the old one signing
// beside it for overlap.
func (s *Service) RotateSecret(ctx context.Context, token, id string, overlap time.Duration, pre Precondition) (settings.Settings, settings.Created, error) {
	var made settings.Created
	saved, err := s.changeSettings(ctx, token, func(cur settings.Settings) (settings.Settings, error) {
		if err := checkVersion(cur, nil, pre); err != nil {
			return settings.Settings{}, err
		}
		next, c, err := settings.Rotate(cur, id, overlap, s.now().UTC().Truncate(time.Microsecond), s.tenants.NewSecret)
		made = c
		return next, err
	})
	return saved, made, err
}

// changeSettings runs one settings transaction and announces its result.
func (s *Service) changeSettings(ctx context.Context, token string, change func(settings.Settings) (settings.Settings, error)) (settings.Settings, error) {
	ctx, cancel := s.within(ctx)
	defer cancel()
	app, err := s.tenantOf(ctx, token)
	if err != nil {
		return settings.Settings{}, err
	}
	saved, err := s.tenants.Store.Update(ctx, app, change)
	if err != nil {
		return settings.Settings{}, err
	}
	// Committed: every process must hear of it. If Redis cannot be told,
	// the others catch up within a minute (their entries go stale) and jobs
	// carry the version they need.
	if err := s.tenants.Cache.Changed(context.WithoutCancel(ctx), app, saved); err != nil {
		s.log.WarnContext(ctx, "settings changed but not announced; other processes catch up within a minute", "err", err)
	}
	return saved, nil
}

// checkVersion refuses a write against another version than cur's.
func checkVersion(cur settings.Settings, bodyVersion *int64, pre Precondition) error {
	switch {
	case pre.IfMatch != nil && *pre.IfMatch != cur.Version:
		return ErrPreconditionFailed
	case bodyVersion != nil && *bodyVersion != cur.Version:
		return settings.ErrStale
	}
	return nil
}

// checkWebhooks refuses a write that saves webhooks when the server cannot
// keep their secrets, or a URL the destination policy does not allow.
func (s *Service) checkWebhooks(ctx context.Context, c settings.Change) error {
	if len(c.Webhooks.Value) == 0 {
		return nil
	}
	if !s.tenants.Webhooks {
		return chat.Invalidf("webhooks are turned off on this server (it has no WEBHOOK_KEY to keep their secrets with)")
	}
	for i, w := range c.Webhooks.Value {
		if w.URL == "" {
			continue // Apply says it is required
		}
		if _, err := s.tenants.CheckURL(ctx, w.URL); err != nil {
			return chat.Invalidf("webhooks[%d].url: %v", i, err)
		}
	}
	return nil
}

// tenantOf resolves a token to the application's digest, refusing it when
// settings are not served.
func (s *Service) tenantOf(ctx context.Context, token string) (string, error) {
	if s.tenants.Store == nil {
		return "", fmt.Errorf("settings are not configured on this api: %w", chat.ErrUnavailable)
	}
	if _, err := s.app(ctx, token); err != nil {
		return "", err
	}
	return chat.TokenDigest(token), nil
}

// observe returns what the application's settings ask of a write of type
// typ: the observers of its step, its settings version and its body limit.
// Settings that cannot be read (MySQL down, never loaded here) are the
// defaults: the write is accepted as without settings, and logged.
func (s *Service) observe(ctx context.Context, token, eventType string) (counter.Observers, int64, int) {
	if s.tenants.Cache == nil {
		return counter.Observers{Emit: true}, 0, chat.MaxBodyBytes
	}
	st, err := s.tenants.Cache.Get(ctx, chat.TokenDigest(token))
	if err != nil {
		if !errors.Is(err, chat.ErrNotFound) {
			s.log.WarnContext(ctx, "settings unavailable: accepting with the defaults (no webhook deliveries)", "err", err)
		}
		return counter.Observers{Emit: true}, 0, chat.MaxBodyBytes
	}
	return counter.Observers{Emit: st.Emits(eventType), Hooks: st.Hooks(eventType)}, st.Version, st.BodyLimit()
}

// WriteRateLimit is the application's own write limit ("" for the
// server's), from the settings cache: no MySQL query per request, and none
// for a token known to name no application.
func (s *Service) WriteRateLimit(ctx context.Context, token string) string {
	if s.tenants.Cache == nil || s.known(token) != nil {
		return ""
	}
	st, err := s.tenants.Cache.Get(ctx, chat.TokenDigest(token))
	if err != nil {
		if errors.Is(err, chat.ErrNotFound) {
			s.cache.putUnknown(token)
		}
		return ""
	}
	return st.WriteRateLimit
}
