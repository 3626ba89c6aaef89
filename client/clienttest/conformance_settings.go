package clienttest

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/instachat/instachat/client"
)

// hookURL is a webhook endpoint both the fake and the api (with
// WEBHOOK_ALLOW_HOSTS=127.0.0.1) accept. Nothing listens there, and the
// applications that have it post nothing, so nothing is delivered.
const hookURL = "http://127.0.0.1:9/instachat"

// settingsChange is one write of a settings case and what it must answer.
type settingsChange struct {
	name    string
	patch   bool
	in      client.SettingsInput
	ifMatch client.IfMatch
	want    []error         // nil: success
	status  int             // the refusal's status, when it matters
	saved   client.Settings // on success: the fields it must answer (not webhooks)
}

func version(v int64) *int64 { return &v }

// settings covers the document's versions and preconditions: defaults at
// version 0, PATCH and PUT, stale writes by If-Match (412) and by version
// field (409), a write without either (428), and validation.
func (s *suite) settings(t *testing.T) {
	ctx := ctxFor(t)
	a := s.newApp(t, ctx)
	got, err := a.Settings(ctx)
	if err != nil || got.Version != 0 || got.MaxBodyBytes != 0 || got.WriteRateLimit != "" || got.Events != nil ||
		len(got.Webhooks) != 0 || !got.UpdatedAt.IsZero() {
		t.Fatalf("defaults: got %+v, %v; want version 0 and every field null", got, err)
	}
	if etag := s.settingsETag(t, ctx, a); etag != `"0"` {
		t.Errorf("ETag of the defaults: got %s, want \"0\"", etag)
	}

	twoEvents := []string{client.EventMessageCreated, client.EventMessageUpdated}
	const limit = "50/1s,burst=100"
	steps := []settingsChange{
		{name: "no precondition", patch: true, in: client.SettingsInput{MaxBodyBytes: client.Set(100)},
			want: []error{client.ErrPreconditionRequired}, status: http.StatusPreconditionRequired},
		{name: "PATCH If-Match 0", patch: true, ifMatch: client.IfVersion(0),
			in:    client.SettingsInput{MaxBodyBytes: client.Set(2000), Events: client.Set(twoEvents)},
			saved: client.Settings{Version: 1, MaxBodyBytes: 2000, Events: twoEvents}},
		{name: "stale If-Match", patch: true, ifMatch: client.IfVersion(0), in: client.SettingsInput{MaxBodyBytes: client.Set(10)},
			want: []error{client.ErrStale}, status: http.StatusPreconditionFailed},
		{name: "stale version field", patch: true, in: client.SettingsInput{Version: version(0), MaxBodyBytes: client.Set(10)},
			want: []error{client.ErrStale, client.ErrConflict}, status: http.StatusConflict},
		{name: "stale If-Match with a current version field", patch: true, ifMatch: client.IfVersion(0),
			in: client.SettingsInput{Version: version(1), MaxBodyBytes: client.Set(10)}, want: []error{client.ErrStale},
			status: http.StatusPreconditionFailed},
		{name: "PATCH version field 1", patch: true, in: client.SettingsInput{Version: version(1), WriteRateLimit: client.Set(limit)},
			saved: client.Settings{Version: 2, MaxBodyBytes: 2000, WriteRateLimit: limit, Events: twoEvents}},
		{name: "PATCH null", patch: true, ifMatch: client.IfVersion(2), in: client.SettingsInput{MaxBodyBytes: client.Null[int]()},
			saved: client.Settings{Version: 3, WriteRateLimit: limit, Events: twoEvents}},
		{name: "PATCH If-Match *", patch: true, ifMatch: client.AnyVersion, in: client.SettingsInput{MaxBodyBytes: client.Set(16384)},
			saved: client.Settings{Version: 4, MaxBodyBytes: 16384, WriteRateLimit: limit, Events: twoEvents}},
		{name: "PUT: the fields left out back to the defaults", ifMatch: client.IfVersion(4),
			in:    client.SettingsInput{Events: client.Set([]string{client.EventChatCreated})},
			saved: client.Settings{Version: 5, Events: []string{client.EventChatCreated}}},
	}
	for _, step := range steps {
		got, ok := s.change(t, ctx, a, step)
		if !ok || step.want != nil {
			continue
		}
		w := step.saved
		if got.Version != w.Version || got.MaxBodyBytes != w.MaxBodyBytes || got.WriteRateLimit != w.WriteRateLimit ||
			!slices.Equal(got.Events, w.Events) || got.UpdatedAt.IsZero() {
			t.Errorf("%s: got %+v, want %+v", step.name, got, w)
		}
	}
	if etag := s.settingsETag(t, ctx, a); etag != `"5"` {
		t.Errorf("ETag after five writes: got %s, want \"5\"", etag)
	}

	// Refused documents change nothing.
	invalid := map[string]client.SettingsInput{
		"max_body_bytes 0":         {MaxBodyBytes: client.Set(0)},
		"max_body_bytes 16385":     {MaxBodyBytes: client.Set(16385)},
		"no events":                {Events: client.Set([]string{})},
		"unknown event":            {Events: client.Set([]string{"message.read"})},
		"event twice":              {Events: client.Set([]string{client.EventChatCreated, client.EventChatCreated})},
		"malformed rate limit":     {WriteRateLimit: client.Set("lots")},
		"webhook without a URL":    {Webhooks: client.Set([]client.WebhookInput{{}})},
		"webhook over ftp":         {Webhooks: client.Set([]client.WebhookInput{{URL: "ftp://hooks.example.com/x"}})},
		"webhook over plain http":  {Webhooks: client.Set([]client.WebhookInput{{URL: "http://8.8.8.8/x"}})},
		"webhook to a private IP":  {Webhooks: client.Set([]client.WebhookInput{{URL: "https://10.0.0.1/x"}})},
		"webhook to link-local":    {Webhooks: client.Set([]client.WebhookInput{{URL: "https://169.254.169.254/x"}})},
		"webhook unknown event":    {Webhooks: client.Set([]client.WebhookInput{{URL: hookURL, Events: []string{"x"}}})},
		"webhook unknown id":       {Webhooks: client.Set([]client.WebhookInput{{ID: "wh_00000000000000000000000000", URL: hookURL}})},
		"eleven webhooks":          {Webhooks: client.Set(slices.Repeat([]client.WebhookInput{{URL: hookURL}}, 11))},
		"webhook URL with a user":  {Webhooks: client.Set([]client.WebhookInput{{URL: "https://me:pw@hooks.example.com/x"}})},
		"webhook URL with a #frag": {Webhooks: client.Set([]client.WebhookInput{{URL: "https://hooks.example.com/x#y"}})},
	}
	for name, in := range invalid {
		s.change(t, ctx, a, settingsChange{name: name, patch: true, ifMatch: client.IfVersion(5), in: in, want: []error{client.ErrInvalid}})
	}
	if got, err := a.Settings(ctx); err != nil || got.Version != 5 {
		t.Errorf("after refused writes: got version %d, %v; want 5", got.Version, err)
	}

	if _, err := s.c.App("no-such-token-conformance").Settings(ctx); !errors.Is(err, client.ErrNotFound) {
		t.Errorf("settings of an unknown application: got %v, want ErrNotFound", err)
	}
	_, err = s.c.App("no-such-token-conformance").PatchSettings(ctx, client.SettingsInput{MaxBodyBytes: client.Set(10)}, client.IfVersion(0))
	if !errors.Is(err, client.ErrNotFound) {
		t.Errorf("settings write to an unknown application: got %v, want ErrNotFound", err)
	}
}

// change makes one write and checks its error; ok is false when it failed.
func (s *suite) change(t *testing.T, ctx context.Context, a *client.App, c settingsChange) (client.Settings, bool) {
	t.Helper()
	write := a.PutSettings
	if c.patch {
		write = a.PatchSettings
	}
	saved, err := write(ctx, c.in, c.ifMatch)
	for _, w := range c.want {
		if !errors.Is(err, w) {
			t.Errorf("%s: got %v, want %v", c.name, err, w)
		}
	}
	if c.want == nil && err != nil {
		t.Errorf("%s: %v", c.name, err)
	}
	if c.status != 0 && client.StatusOf(err) != c.status {
		t.Errorf("%s: got status %d (%v), want %d", c.name, client.StatusOf(err), err, c.status)
	}
	return saved, err == nil
}

// settingsETag reads the settings' ETag by hand: the client reads the
// version from the body.
func (s *suite) settingsETag(t *testing.T, ctx context.Context, a *client.App) string {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.base+"/api/v1/applications/"+url.PathEscape(a.Token())+"/settings", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.Header.Get("ETag")
}

// settingsBodyLimit: the application's max_body_bytes applies to its
// writes from the answer on.
func (s *suite) settingsBodyLimit(t *testing.T) {
	ctx := ctxFor(t)
	a := s.newApp(t, ctx)
	if _, err := a.CreateChat(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := a.PatchSettings(ctx, client.SettingsInput{MaxBodyBytes: client.Set(10)}, client.IfVersion(0)); err != nil {
		t.Fatal(err)
	}
	if _, err := a.PostMessage(ctx, 1, "eleven byte"); !errors.Is(err, client.ErrInvalid) {
		t.Errorf("an 11-byte body under a 10-byte limit: got %v, want ErrInvalid", err)
	}
	if _, err := a.PostMessage(ctx, 1, "ten bytes!"); err != nil {
		t.Errorf("a 10-byte body under a 10-byte limit: %v", err)
	}
}

// webhooks covers endpoints: a secret shown once, in the answer of the
// write that created it, never by GET nor by a write that keeps it;
// rotation, which shows the new secret and how long the old one signs;
// and unknown endpoints.
func (s *suite) webhooks(t *testing.T) {
	ctx := ctxFor(t)
	a := s.newApp(t, ctx)
	in := []client.WebhookInput{{URL: hookURL, Events: []string{client.EventMessageCreated}}}
	created, err := a.PatchSettings(ctx, client.SettingsInput{Webhooks: client.Set(in)}, client.IfVersion(0))
	if err != nil || len(created.Webhooks) != 1 {
		t.Fatalf("create a webhook: got %+v, %v", created, err)
	}
	w := created.Webhooks[0]
	if !strings.HasPrefix(w.ID, "wh_") || w.URL != hookURL || !slices.Equal(w.Events, in[0].Events) || !w.Active ||
		!strings.HasPrefix(w.Secret, "whsec_") || !w.PreviousSecretUntil.IsZero() || w.CreatedAt.IsZero() {
		t.Fatalf("created webhook: got %+v", w)
	}
	if h := strings.TrimSuffix(w.SecretHint, "…"); h == w.SecretHint || !strings.HasPrefix(w.Secret, h) || len(h) >= len(w.Secret) {
		t.Errorf("secret hint %q: want the secret's first characters and …", w.SecretHint)
	}
	got, err := a.Settings(ctx)
	if err != nil || len(got.Webhooks) != 1 || got.Webhooks[0].Secret != "" || got.Webhooks[0].SecretHint != w.SecretHint || got.Webhooks[0].ID != w.ID {
		t.Fatalf("GET after the create: got %+v, %v; want the webhook without its secret", got, err)
	}

	// A write that keeps the endpoint (by id) shows no secret; one added
	// beside it shows its own.
	kept, err := a.PatchSettings(ctx, client.SettingsInput{Webhooks: client.Set(append(got.WebhookInputs(), client.WebhookInput{URL: hookURL + "/2"}))},
		client.IfVersion(got.Version))
	if err != nil || len(kept.Webhooks) != 2 {
		t.Fatalf("add a second webhook: got %+v, %v", kept, err)
	}
	first, second := kept.Webhooks[0], kept.Webhooks[1]
	if first.ID != w.ID || first.Secret != "" || first.SecretHint != w.SecretHint {
		t.Errorf("kept webhook: got %+v, want %s without its secret", first, w.ID)
	}
	if second.ID == w.ID || second.Secret == "" || second.Secret == w.Secret || second.Events != nil || !second.Active {
		t.Errorf("added webhook: got %+v, want a new id and secret, every event", second)
	}

	// Pause by a write; a write that leaves active out keeps the pause.
	paused := second.Input()
	paused.Active = new(bool)
	p, err := a.PatchSettings(ctx, client.SettingsInput{Webhooks: client.Set([]client.WebhookInput{first.Input(), paused})}, client.IfVersion(kept.Version))
	if err != nil || p.Webhooks[1].Active || !p.Webhooks[0].Active {
		t.Errorf("pause the second webhook: got %+v, %v", p, err)
	}
	p, err = a.PatchSettings(ctx, client.SettingsInput{Webhooks: client.Set(p.WebhookInputs())}, client.IfVersion(p.Version))
	if err != nil || p.Webhooks[1].Active {
		t.Errorf("rewrite without active: got %+v, %v; want still paused", p, err)
	}

	// Rotation: a new secret in the answer only; the old one signs for the
	// overlap.
	before := time.Now()
	rotated, err := a.RotateWebhookSecret(ctx, w.ID, time.Hour)
	if err != nil {
		t.Fatalf("rotate: %v", err)
	}
	r, _ := rotated.Webhook(w.ID)
	if r.Secret == "" || r.Secret == w.Secret || r.SecretHint == w.SecretHint || rotated.Version != p.Version+1 {
		t.Errorf("rotated: got %+v at version %d; want a new secret at version %d", r, rotated.Version, p.Version+1)
	}
	if until := r.PreviousSecretUntil; until.Before(before.Add(time.Hour-time.Minute)) || until.After(time.Now().Add(time.Hour+time.Minute)) {
		t.Errorf("previous_secret_until: got %v, want an hour from %v", until, before)
	}
	if o, _ := rotated.Webhook(second.ID); o.Secret != "" {
		t.Errorf("rotating one webhook showed another's secret: %+v", o)
	}
	got, err = a.Settings(ctx)
	if g, _ := got.Webhook(w.ID); err != nil || g.Secret != "" || g.SecretHint != r.SecretHint || g.PreviousSecretUntil.IsZero() {
		t.Errorf("GET after the rotation: got %+v, %v; want no secret, the new hint, previous_secret_until", g, err)
	}
	again, err := a.RotateWebhookSecret(ctx, w.ID, 0)
	if r2, _ := again.Webhook(w.ID); err != nil || r2.Secret == "" || r2.Secret == r.Secret ||
		r2.PreviousSecretUntil.Before(before.Add(24*time.Hour-time.Minute)) {
		t.Errorf("rotate with the default overlap: got %+v, %v; want a new secret, the old one for 24h", r2, err)
	}

	if _, err := a.RotateWebhookSecret(ctx, "wh_00000000000000000000000000", 0); !errors.Is(err, client.ErrNotFound) {
		t.Errorf("rotate an unknown webhook: got %v, want ErrNotFound", err)
	}
	if _, err := a.RotateWebhookSecret(ctx, w.ID, 8*24*time.Hour); !errors.Is(err, client.ErrInvalid) {
		t.Errorf("rotate with 8 days of overlap: got %v, want ErrInvalid", err)
	}
	none, err := a.PatchSettings(ctx, client.SettingsInput{Webhooks: client.Null[[]client.WebhookInput]()}, client.AnyVersion)
	if err != nil || len(none.Webhooks) != 0 {
		t.Errorf("webhooks null: got %+v, %v; want none", none, err)
	}
	if _, err := a.RotateWebhookSecret(ctx, w.ID, 0); !errors.Is(err, client.ErrNotFound) {
		t.Errorf("rotate a deleted webhook: got %v, want ErrNotFound", err)
	}
}
