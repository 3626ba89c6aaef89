package client

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"
)

// Settings are an application's settings at one version: the customizations
// that change how the api processes its writes, and its webhook endpoints.
// Zero values are the server's defaults.
type Settings struct {
	// Version is what a write names to change these settings (IfVersion):
	// 0 until the first write, one more after each.
	Version int64 `json:"version"`
	// MaxBodyBytes caps a message body (1–16384); 0: the server's limit.
	MaxBodyBytes int `json:"max_body_bytes"`
	// WriteRateLimit is the application's write limit, as
	// "<requests>/<period>[,burst=<requests>]" ("50/1s,burst=100"); "": the
	// server's.
	WriteRateLimit string `json:"write_rate_limit"`
	// Events are the event types the application's live streams and
	// webhooks carry (Event* constants); nil: all of them. A type left out
	// is not emitted at all; its writes are accepted as before.
	Events []string `json:"events"`
	// Webhooks are the endpoints that receive the events, at most 10.
	Webhooks  []Webhook `json:"webhooks"`
	UpdatedAt time.Time `json:"updated_at"` // zero until the first write
}

// Webhook is an endpoint the server POSTs the application's events to,
// signed (see VerifyWebhook).
type Webhook struct {
	ID  string `json:"id"` // "wh_…"
	URL string `json:"url"`
	// Events are the types it wants; nil: every type the application emits.
	Events []string `json:"events"`
	// Active is false while it is paused: by a write (Active false), or by
	// the server after it kept failing (PausedReason says why).
	Active       bool      `json:"active"`
	PausedReason string    `json:"paused_reason"`
	PausedAt     time.Time `json:"paused_at"` // zero unless the server paused it
	// Secret signs its deliveries. It is in the answer of the write that
	// created the endpoint, or of RotateWebhookSecret, and nowhere else:
	// keep it then. SecretHint (its first characters) tells which one it is.
	Secret     string `json:"secret"`
	SecretHint string `json:"secret_hint"`
	// PreviousSecretUntil is when the secret a rotation replaced stops
	// signing beside the new one; zero when there was no rotation.
	PreviousSecretUntil time.Time `json:"previous_secret_until"`
	CreatedAt           time.Time `json:"created_at"`
}

// Webhook returns the endpoint with id.
func (s Settings) Webhook(id string) (Webhook, bool) {
	i := slices.IndexFunc(s.Webhooks, func(w Webhook) bool { return w.ID == id })
	if i < 0 {
		return Webhook{}, false
	}
	return s.Webhooks[i], true
}

// WebhookInputs are s's endpoints as a write names them to keep them
// unchanged: a write replaces the whole list, so append to it to add an
// endpoint, and leave one out to delete it.
func (s Settings) WebhookInputs() []WebhookInput {
	out := make([]WebhookInput, len(s.Webhooks))
	for i, w := range s.Webhooks {
		out[i] = w.Input()
	}
	return out
}

// Input is w as a write names it to keep it: same id (so same secret), URL
// and events, active or paused as it is.
func (w Webhook) Input() WebhookInput {
	return WebhookInput{ID: w.ID, URL: w.URL, Events: slices.Clone(w.Events)}
}

// WebhookInput is an endpoint as a write gives it. Without an ID it is a
// new endpoint, whose secret is in the write's answer; with the ID of an
// existing one it keeps that endpoint's secret.
type WebhookInput struct {
	ID string `json:"id,omitempty"`
	// URL must be https, to a host that resolves to public addresses only
	// (the server's operator may allow others, plain http included).
	URL string `json:"url"`
	// Events are the types it wants; nil: every type the application emits.
	Events []string `json:"events"`
	// Active pauses (false) or resumes (true) the endpoint, and clears the
	// server's pause; nil leaves it as it is (active, for a new endpoint).
	Active *bool `json:"active,omitempty"`
}

// Field is one field of a settings write: left out (the zero Field), a
// value (Set), or null (Null), which puts the field back to the server's
// default.
type Field[T any] struct {
	value     T
	set, null bool
}

// Set is a Field with value v. Set(nil) of a slice is the same as Null.
func Set[T any](v T) Field[T] { return Field[T]{value: v, set: true} }

// Null is a Field sent as null: the server's default.
func Null[T any]() Field[T] { return Field[T]{set: true, null: true} }

// IsSet reports whether the field is written (with a value or null).
func (f Field[T]) IsSet() bool { return f.set }

// IsNull reports whether the field is written as null.
func (f Field[T]) IsNull() bool { return f.null }

// Value is the field's value; the zero value when left out or null.
func (f Field[T]) Value() T { return f.value }

// MarshalJSON writes the value, or null.
func (f Field[T]) MarshalJSON() ([]byte, error) {
	if !f.set || f.null {
		return []byte("null"), nil
	}
	return json.Marshal(f.value)
}

// UnmarshalJSON records that the field was written, as null or a value
// (encoding/json calls it for null too).
func (f *Field[T]) UnmarshalJSON(b []byte) error {
	var zero T
	*f = Field[T]{value: zero, set: true}
	if bytes.Equal(bytes.TrimSpace(b), []byte("null")) {
		f.null = true
		return nil
	}
	return json.Unmarshal(b, &f.value)
}

// SettingsInput is a settings write. PutSettings replaces the document:
// fields left out take their defaults. PatchSettings changes the fields
// written and leaves the rest. Webhooks is replaced whole either way.
type SettingsInput struct {
	// Version, when not nil, makes the write conditional in its body, for
	// callers that cannot send If-Match: a stale one answers 409 (ErrStale).
	Version        *int64                `json:"version,omitempty"`
	MaxBodyBytes   Field[int]            `json:"max_body_bytes"`
	WriteRateLimit Field[string]         `json:"write_rate_limit"`
	Events         Field[[]string]       `json:"events"`
	Webhooks       Field[[]WebhookInput] `json:"webhooks"`
}

// MarshalJSON writes the fields that are set, and only those.
func (in SettingsInput) MarshalJSON() ([]byte, error) {
	m := map[string]any{}
	if in.Version != nil {
		m["version"] = *in.Version
	}
	if in.MaxBodyBytes.set {
		m["max_body_bytes"] = in.MaxBodyBytes
	}
	if in.WriteRateLimit.set {
		m["write_rate_limit"] = in.WriteRateLimit
	}
	if in.Events.set {
		m["events"] = in.Events
	}
	if in.Webhooks.set {
		m["webhooks"] = in.Webhooks
	}
	return json.Marshal(m)
}

// IfMatch is the If-Match precondition of a settings write: IfVersion(v)
// writes only if the settings are still at version v (else ErrStale, 412),
// AnyVersion whatever their version. "" sends no If-Match: then
// SettingsInput.Version must name the version, or the write is refused with
// ErrPreconditionRequired (428).
type IfMatch string

// AnyVersion writes whatever the settings' version (If-Match: *). Such a
// write is tried once: repeated, it would apply twice.
const AnyVersion IfMatch = "*"

// IfVersion is If-Match: "<v>", the ETag of version v.
func IfVersion(v int64) IfMatch { return IfMatch(`"` + strconv.FormatInt(v, 10) + `"`) }

// Settings routes, for errors: paths themselves hold the token.
const (
	routeSettings = routeApp + "/settings"
	routeRotate   = routeSettings + "/webhooks/{id}/rotate-secret"
)

// Settings reads the application's settings; webhook secrets are not in it.
func (a *App) Settings(ctx context.Context) (Settings, error) {
	var out Settings
	err := a.c.do(ctx, &call{op: "GET " + routeSettings, method: http.MethodGet, path: a.path("settings"), out: &out})
	return out, err
}

// PutSettings replaces the application's settings with in (fields left out
// take their defaults) if they are at the version ifMatch or in.Version
// names, and returns them as saved, with the secrets of the endpoints the
// write created.
//
// Settings writes take no idempotency key. One that names a version is
// retried like any write (a repeat of an applied attempt is refused as
// stale, never applied twice); one made with AnyVersion is tried once.
func (a *App) PutSettings(ctx context.Context, in SettingsInput, ifMatch IfMatch) (Settings, error) {
	return a.writeSettings(ctx, http.MethodPut, in, ifMatch)
}

// PatchSettings changes the fields that in sets (to a value, or with Null
// back to the default) and leaves the others, under the same conditions as
// PutSettings.
func (a *App) PatchSettings(ctx context.Context, in SettingsInput, ifMatch IfMatch) (Settings, error) {
	return a.writeSettings(ctx, http.MethodPatch, in, ifMatch)
}

func (a *App) writeSettings(ctx context.Context, method string, in SettingsInput, ifMatch IfMatch) (Settings, error) {
	var out Settings
	var h http.Header
	if ifMatch != "" {
		h = http.Header{"If-Match": {string(ifMatch)}}
	}
	versioned := (ifMatch != "" && ifMatch != AnyVersion) || in.Version != nil
	err := a.c.do(ctx, &call{op: method + " " + routeSettings, method: method, path: a.path("settings"), body: in,
		reqHeader: h, versioned: versioned, out: &out})
	return out, err
}

// RotateWebhookSecret gives endpoint id a new secret, in the answer only.
// For overlap (0: the server's default, 24 h; at most 168 h) deliveries are
// signed with the old secret too, so receivers can switch over without
// refusing any: verify with both meanwhile. It is tried once, since a
// repeat would retire the secret the first rotation made before anyone saw
// it.
func (a *App) RotateWebhookSecret(ctx context.Context, id string, overlap time.Duration) (Settings, error) {
	var body any
	if overlap != 0 {
		body = map[string]string{"overlap": overlap.String()}
	}
	var out Settings
	err := a.c.do(ctx, &call{op: "POST " + routeRotate, method: http.MethodPost, once: true,
		path: a.path("settings", "webhooks", url.PathEscape(id), "rotate-secret"), body: body, out: &out})
	return out, err
}
