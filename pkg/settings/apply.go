package settings

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"slices"
	"time"

	"github.com/instachat/instachat/pkg/chat"
)

// Field is one top-level field of a written document: Set when the body
// named it, Null when it named it as null (the default).
type Field[T any] struct {
	Set   bool
	Null  bool
	Value T
}

// UnmarshalJSON records that the field was present (encoding/json calls it
// for null too).
func (f *Field[T]) UnmarshalJSON(b []byte) error {
	f.Set = true
	if bytes.Equal(bytes.TrimSpace(b), []byte("null")) {
		f.Null = true
		var zero T
		f.Value = zero
		return nil
	}
	return json.Unmarshal(b, &f.Value)
}

// WebhookInput is an endpoint as a client writes it: with the id of an
// existing endpoint (which keeps its secret and its pause), or without one
// (a new endpoint, with a new secret).
type WebhookInput struct {
	ID     string   `json:"id,omitempty"`
	URL    string   `json:"url"`
	Events []string `json:"events"`
	Active *bool    `json:"active,omitempty"` // nil: true for a new endpoint, unchanged for an existing one
}

// Change is a client's write of the document: Replace for PUT (absent
// fields take their defaults), a merge for PATCH (absent fields stay).
type Change struct {
	Replace        bool                  `json:"-"`
	Version        *int64                `json:"version"`
	MaxBodyBytes   Field[int]            `json:"max_body_bytes"`
	WriteRateLimit Field[string]         `json:"write_rate_limit"`
	Events         Field[[]string]       `json:"events"`
	Webhooks       Field[[]WebhookInput] `json:"webhooks"`
}

// Created is a webhook endpoint a write created, or whose secret it rotated:
// the only time its secret is shown.
type Created struct {
	ID     string
	Secret string
}

// Apply returns cur changed by c at now, at the next version, and the
// endpoints it created with their secrets. newSecret makes signing secrets.
// The URLs' destinations are the caller's to check (Changed lists them).
func Apply(cur Settings, c Change, now time.Time, newSecret func() (string, error)) (Settings, []Created, error) {
	next := cur
	next.Webhooks = slices.Clone(cur.Webhooks)
	if c.Replace {
		next = Settings{Version: cur.Version}
	}
	if c.MaxBodyBytes.Set {
		next.MaxBodyBytes = c.MaxBodyBytes.Value
		if !c.MaxBodyBytes.Null && c.MaxBodyBytes.Value == 0 {
			return Settings{}, nil, chat.Invalidf("max_body_bytes must be between 1 and %d (or null for %d)", chat.MaxBodyBytes, chat.MaxBodyBytes)
		}
	}
	if c.WriteRateLimit.Set {
		next.WriteRateLimit = c.WriteRateLimit.Value
	}
	if c.Events.Set {
		next.Events = c.Events.Value
		if !c.Events.Null && next.Events == nil {
			next.Events = []string{} // [] is refused by the check, null is not
		}
	}
	var created []Created
	if c.Webhooks.Set || c.Replace {
		var err error
		if next.Webhooks, created, err = mergeWebhooks(cur.Webhooks, c.Webhooks.Value, now, newSecret); err != nil {
			return Settings{}, nil, err
		}
	}
	if err := next.checkCustomizations(); err != nil {
		return Settings{}, nil, err
	}
	next.Version, next.UpdatedAt = cur.Version+1, now
	return next, created, nil
}

// mergeWebhooks builds the new endpoint list from the written one.
func mergeWebhooks(cur []Webhook, in []WebhookInput, now time.Time, newSecret func() (string, error)) ([]Webhook, []Created, error) {
	if len(in) > MaxWebhooks {
		return nil, nil, chat.Invalidf("at most %d webhooks", MaxWebhooks)
	}
	out := make([]Webhook, 0, len(in))
	var created []Created
	for i, wi := range in {
		w, err := mergeWebhook(cur, wi, now)
		if err != nil {
			return nil, nil, err
		}
		if wi.ID == "" {
			secret, err := newSecret()
			if err != nil {
				return nil, nil, err
			}
			w.ID, w.Secrets, w.CreatedAt = newWebhookID(), []string{secret}, now
			created = append(created, Created{ID: w.ID, Secret: secret})
		}
		if slices.ContainsFunc(out, func(o Webhook) bool { return o.ID == w.ID }) {
			return nil, nil, chat.Invalidf("webhooks[%d]: %s is listed twice", i, w.ID)
		}
		if err := checkWebhook(i, w); err != nil {
			return nil, nil, err
		}
		out = append(out, w)
	}
	return out, created, nil
}

// mergeWebhook applies one written endpoint to the existing one it names (or
// to none). Activating a paused endpoint clears the server's reason.
func mergeWebhook(cur []Webhook, wi WebhookInput, now time.Time) (Webhook, error) {
	var w Webhook
	if wi.ID != "" {
		i := slices.IndexFunc(cur, func(c Webhook) bool { return c.ID == wi.ID })
		if i < 0 {
			return Webhook{}, chat.Invalidf("no webhook %q: leave id out to create one", wi.ID)
		}
		w = cur[i]
	}
	w.URL, w.Events = wi.URL, wi.Events
	switch {
	case wi.Active == nil && wi.ID == "": // a new endpoint is active
		w.Active = true
	case wi.Active == nil: // unchanged: a paused endpoint stays paused
	case *wi.Active != w.Active: // the tenant pauses or resumes it
		w.Active, w.PausedReason, w.PausedAt = *wi.Active, "", nil
	}
	return w, nil
}

// Rotate gives endpoint id a new secret; the old one keeps signing beside it
// for overlap (0: DefaultOverlap; at most MaxOverlap).
func Rotate(cur Settings, id string, overlap time.Duration, now time.Time, newSecret func() (string, error)) (Settings, Created, error) {
	switch {
	case overlap == 0:
		overlap = DefaultOverlap
	case overlap < 0 || overlap > MaxOverlap:
		return Settings{}, Created{}, chat.Invalidf("overlap must be between 0s and %s", MaxOverlap)
	}
	i := slices.IndexFunc(cur.Webhooks, func(w Webhook) bool { return w.ID == id })
	if i < 0 {
		return Settings{}, Created{}, chat.Newf(chat.ErrNotFound, nil, "no webhook %q", id)
	}
	secret, err := newSecret()
	if err != nil {
		return Settings{}, Created{}, err
	}
	next := cur
	next.Webhooks = slices.Clone(cur.Webhooks)
	w := next.Webhooks[i]
	until := now.Add(overlap)
	w.Secrets, w.PreviousUntil = []string{secret, w.Secrets[0]}, &until
	next.Webhooks[i] = w
	next.Version, next.UpdatedAt = cur.Version+1, now
	return next, Created{ID: id, Secret: secret}, nil
}

// Pause is the server pausing endpoint id for reason (it kept failing).
// It reports false when the endpoint is gone or already paused.
func Pause(cur Settings, id, reason string, now time.Time) (Settings, bool) {
	i := slices.IndexFunc(cur.Webhooks, func(w Webhook) bool { return w.ID == id })
	if i < 0 || !cur.Webhooks[i].Active {
		return cur, false
	}
	next := cur
	next.Webhooks = slices.Clone(cur.Webhooks)
	w := next.Webhooks[i]
	w.Active, w.PausedReason, w.PausedAt = false, reason, &now
	next.Webhooks[i] = w
	next.Version, next.UpdatedAt = cur.Version+1, now
	return next, true
}

// idAlphabet is Crockford's base32, lower case.
const idAlphabet = "0123456789abcdefghjkmnpqrstvwxyz"

// newWebhookID returns "wh_" and 26 random base32 characters (130 bits).
func newWebhookID() string {
	var b [26]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	for i := range b {
		b[i] = idAlphabet[b[i]%32]
	}
	return webhookIDPrefix + string(b[:])
}
