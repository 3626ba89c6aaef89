// Package settings is each application's settings: the customizations that
// change how its writes are processed (a smaller body limit, its own write
// rate, which event types its streams and webhooks carry) and its webhook
// endpoints; their validation and merging (Apply), the sealing of signing
// secrets at rest (Sealer), and a cache every process keeps current through
// Redis (Cache). MySQL holds them (package store); nothing here knows SQL.
package settings

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/instachat/instachat/pkg/chat"
	"github.com/instachat/instachat/pkg/events"
)

// Settings are one application's settings at one version.
type Settings struct {
	Version int64 // 0: never written (the defaults)
	// MaxBodyBytes caps a message body (0: chat.MaxBodyBytes).
	MaxBodyBytes int
	// WriteRateLimit is the application's write limit in RATE_LIMIT_WRITES
	// syntax ("": the server's); the api parses it.
	WriteRateLimit string
	// Events are the event types its streams and webhooks carry (nil: all).
	Events    []string
	Webhooks  []Webhook
	UpdatedAt time.Time
}

// Webhook is one endpoint that receives the application's events.
type Webhook struct {
	ID     string // "wh_…", public
	URL    string
	Events []string // the types it wants (nil: every type the application emits)
	Active bool
	// PausedReason says why the server paused it ("" when it did not);
	// PausedAt when.
	PausedReason string
	PausedAt     *time.Time
	// Secrets sign deliveries: the current one first, then the previous
	// one until PreviousUntil (rotation overlap). Never serialized.
	Secrets       []string
	PreviousUntil *time.Time
	CreatedAt     time.Time
}

// AllEvents are the event types, in the order the API lists them.
var AllEvents = []string{events.ChatCreated, events.ChatDeleted, events.MessageCreated, events.MessageUpdated, events.MessageDeleted}

// Limits bound what a tenant may set.
const (
	MaxWebhooks     = 10
	MaxURLBytes     = 2048
	DefaultOverlap  = 24 * time.Hour
	MaxOverlap      = 7 * 24 * time.Hour
	webhookIDPrefix = "wh_"
)

// ErrStale is a write made against a version that is no longer current.
// It is a chat.ErrConflict (409); a write conditional on If-Match answers 412.
var ErrStale = chat.Newf(chat.ErrConflict, nil, "the settings changed since that version: read them again and reapply your change")

// BodyLimit is the largest message body the application accepts.
func (s Settings) BodyLimit() int {
	if s.MaxBodyBytes <= 0 {
		return chat.MaxBodyBytes
	}
	return s.MaxBodyBytes
}

// Emits reports whether the application's streams carry event type typ.
func (s Settings) Emits(typ string) bool { return s.Events == nil || slices.Contains(s.Events, typ) }

// Hooks returns the ids of the active endpoints that want event type typ,
// in the order they are listed: the deliveries the api queues with the event.
func (s Settings) Hooks(typ string) []string {
	if !s.Emits(typ) {
		return nil
	}
	var ids []string
	for _, w := range s.Webhooks {
		if w.Active && (w.Events == nil || slices.Contains(w.Events, typ)) {
			ids = append(ids, w.ID)
		}
	}
	return ids
}

// Webhook returns the endpoint with id.
func (s Settings) Webhook(id string) (Webhook, bool) {
	i := slices.IndexFunc(s.Webhooks, func(w Webhook) bool { return w.ID == id })
	if i < 0 {
		return Webhook{}, false
	}
	return s.Webhooks[i], true
}

// SigningSecrets are the secrets a delivery made at now is signed with.
func (w Webhook) SigningSecrets(now time.Time) []string {
	if len(w.Secrets) > 1 && (w.PreviousUntil == nil || !now.Before(*w.PreviousUntil)) {
		return w.Secrets[:1]
	}
	return w.Secrets
}

// checkEvents validates a list of event types: known, each once, not empty
// (nil means all and is fine).
func checkEvents(field string, list []string) error {
	if list == nil {
		return nil
	}
	if len(list) == 0 {
		return chat.Invalidf("%s must name at least one event type (or be null for all): %s", field, strings.Join(AllEvents, ", "))
	}
	for i, typ := range list {
		if !slices.Contains(AllEvents, typ) {
			return chat.Invalidf("%s: unknown event type %q; known: %s", field, typ, strings.Join(AllEvents, ", "))
		}
		if slices.Contains(list[:i], typ) {
			return chat.Invalidf("%s: %q is listed twice", field, typ)
		}
	}
	return nil
}

// checkCustomizations validates the fields other than the webhooks.
func (s Settings) checkCustomizations() error {
	if s.MaxBodyBytes < 0 || s.MaxBodyBytes > chat.MaxBodyBytes {
		return chat.Invalidf("max_body_bytes must be between 1 and %d (or null for %d)", chat.MaxBodyBytes, chat.MaxBodyBytes)
	}
	return checkEvents("events", s.Events)
}

// checkWebhook validates an endpoint's own fields (its URL's destination is
// the caller's to check: it needs DNS and the operator's policy).
func checkWebhook(i int, w Webhook) error {
	field := fmt.Sprintf("webhooks[%d]", i)
	switch {
	case w.URL == "":
		return chat.Invalidf("%s.url is required", field)
	case len(w.URL) > MaxURLBytes:
		return chat.Invalidf("%s.url must be at most %d bytes", field, MaxURLBytes)
	}
	return checkEvents(field+".events", w.Events)
}

// IsWebhookID reports whether id has the shape of a webhook id.
func IsWebhookID(id string) bool {
	return strings.HasPrefix(id, webhookIDPrefix) && len(id) == len(webhookIDPrefix)+26 &&
		!strings.ContainsFunc(id[len(webhookIDPrefix):], func(r rune) bool { return !strings.ContainsRune(idAlphabet, r) })
}
