package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/instachat/instachat/client"
)

func TestSettingsInputJSON(t *testing.T) {
	v := int64(3)
	off := false
	cases := []struct {
		name string
		in   client.SettingsInput
		want string
	}{
		{"nothing", client.SettingsInput{}, `{}`},
		{"values", client.SettingsInput{Version: &v, MaxBodyBytes: client.Set(2000), WriteRateLimit: client.Set("50/1s"),
			Events: client.Set([]string{client.EventChatCreated})},
			`{"events":["chat.created"],"max_body_bytes":2000,"version":3,"write_rate_limit":"50/1s"}`},
		{"nulls", client.SettingsInput{MaxBodyBytes: client.Null[int](), WriteRateLimit: client.Null[string](),
			Events: client.Null[[]string](), Webhooks: client.Null[[]client.WebhookInput]()},
			`{"events":null,"max_body_bytes":null,"webhooks":null,"write_rate_limit":null}`},
		{"Set(nil) is null", client.SettingsInput{Events: client.Set[[]string](nil)}, `{"events":null}`},
		{"empty list is not null", client.SettingsInput{Webhooks: client.Set([]client.WebhookInput{})}, `{"webhooks":[]}`},
		{"zero is a value", client.SettingsInput{MaxBodyBytes: client.Set(0)}, `{"max_body_bytes":0}`},
		{"webhooks", client.SettingsInput{Webhooks: client.Set([]client.WebhookInput{{URL: "https://a.example/h"},
			{ID: "wh_1", URL: "https://b.example/h", Events: []string{client.EventMessageCreated}, Active: &off}})},
			`{"webhooks":[{"url":"https://a.example/h","events":null},{"id":"wh_1","url":"https://b.example/h","events":["message.created"],"active":false}]}`},
	}
	for _, tc := range cases {
		got, err := json.Marshal(tc.in)
		if err != nil || string(got) != tc.want {
			t.Errorf("%s: got %s, %v; want %s", tc.name, got, err, tc.want)
		}
	}
}

func TestSettingsInputDecodes(t *testing.T) {
	var in client.SettingsInput
	if err := json.Unmarshal([]byte(`{"max_body_bytes": null, "events": ["chat.created"], "version": 2}`), &in); err != nil {
		t.Fatal(err)
	}
	switch {
	case !in.MaxBodyBytes.IsSet() || !in.MaxBodyBytes.IsNull():
		t.Errorf("max_body_bytes: got %+v, want set to null", in.MaxBodyBytes)
	case !in.Events.IsSet() || in.Events.IsNull() || len(in.Events.Value()) != 1:
		t.Errorf("events: got %+v, want [chat.created]", in.Events)
	case in.WriteRateLimit.IsSet() || in.Webhooks.IsSet():
		t.Errorf("fields left out read as set: %+v", in)
	case in.Version == nil || *in.Version != 2:
		t.Errorf("version: got %v, want 2", in.Version)
	}
}

// settingsServer records each attempt's method, If-Match, Idempotency-Key
// and body.
type settingsServer struct {
	mu       sync.Mutex
	requests []string // "METHOD If-Match key body"
}

func (s *settingsServer) seen() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.requests...)
}

// serveSettings answers attempt n (from 1) with answer(n), recording it.
func serveSettings(t *testing.T, answer func(n int, w http.ResponseWriter)) (*client.App, *settingsServer) {
	t.Helper()
	rec := &settingsServer{}
	app, _ := serve(t, func(n int, w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rec.mu.Lock()
		rec.requests = append(rec.requests, strings.Join([]string{r.Method, r.Header.Get("If-Match"), r.Header.Get("Idempotency-Key"), string(body)}, " "))
		rec.mu.Unlock()
		answer(n, w)
	})
	return app, rec
}

func answerSettings(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

func TestSettingsWritesSendTheirPrecondition(t *testing.T) {
	app, rec := serveSettings(t, func(_ int, w http.ResponseWriter) {
		answerSettings(w, http.StatusOK, `{"version": 4, "max_body_bytes": null, "write_rate_limit": "10/1s", "events": null,
			"webhooks": [{"id": "wh_1", "url": "https://a.example/h", "events": null, "active": true, "secret": "whsec_new",
			"secret_hint": "whsec_new…", "created_at": "2026-11-28T12:00:00.000000Z"}], "updated_at": "2026-11-28T12:00:00.000000Z"}`)
	})
	ctx := context.Background()
	s, err := app.PatchSettings(ctx, client.SettingsInput{MaxBodyBytes: client.Null[int]()}, client.IfVersion(3))
	if err != nil {
		t.Fatal(err)
	}
	w, ok := s.Webhook("wh_1")
	if s.Version != 4 || s.MaxBodyBytes != 0 || s.WriteRateLimit != "10/1s" || s.Events != nil || !ok || w.Secret != "whsec_new" ||
		!s.UpdatedAt.Equal(time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)) {
		t.Errorf("decoded: got %+v", s)
	}
	if _, err := app.PutSettings(ctx, client.SettingsInput{}, client.AnyVersion); err != nil {
		t.Fatal(err)
	}
	if _, err := app.RotateWebhookSecret(ctx, "wh_1", 0); err != nil {
		t.Fatal(err)
	}
	if _, err := app.RotateWebhookSecret(ctx, "wh_1", 90*time.Minute); err != nil {
		t.Fatal(err)
	}
	want := []string{
		`PATCH "3"  {"max_body_bytes":null}`,
		`PUT *  {}`,
		`POST   `,
		`POST   {"overlap":"1h30m0s"}`,
	}
	if got := rec.seen(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("requests:\n%s\nwant (no idempotency keys):\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestSettingsErrors(t *testing.T) {
	cases := []struct {
		name    string
		status  int
		in      client.SettingsInput
		ifMatch client.IfMatch
		is      []error
		isNot   []error
	}{
		{"stale If-Match", http.StatusPreconditionFailed, client.SettingsInput{}, client.IfVersion(1),
			[]error{client.ErrStale}, []error{client.ErrConflict, client.ErrPreconditionRequired}},
		{"stale version field", http.StatusConflict, client.SettingsInput{Version: new(int64)}, "",
			[]error{client.ErrStale, client.ErrConflict}, nil},
		{"no precondition", http.StatusPreconditionRequired, client.SettingsInput{}, "",
			[]error{client.ErrPreconditionRequired}, []error{client.ErrStale, client.ErrInvalid}},
		{"invalid", http.StatusBadRequest, client.SettingsInput{}, client.IfVersion(1),
			[]error{client.ErrInvalid}, []error{client.ErrStale}},
	}
	for _, tc := range cases {
		app, rec := serveSettings(t, func(_ int, w http.ResponseWriter) {
			answerSettings(w, tc.status, `{"error": "refused"}`)
		})
		_, err := app.PatchSettings(context.Background(), tc.in, tc.ifMatch)
		for _, want := range tc.is {
			if !errors.Is(err, want) {
				t.Errorf("%s: got %v, want it to match %v", tc.name, err, want)
			}
		}
		for _, not := range tc.isNot {
			if errors.Is(err, not) {
				t.Errorf("%s: got %v, matching %v", tc.name, err, not)
			}
		}
		if errors.Is(err, client.ErrOutcomeUnknown) || len(rec.seen()) != 1 {
			t.Errorf("%s: got %v after %d attempts, want one definite refusal", tc.name, err, len(rec.seen()))
		}
	}
	// A 409 elsewhere is a conflict, not a stale version.
	app, _ := serveSettings(t, func(_ int, w http.ResponseWriter) { answerSettings(w, http.StatusConflict, `{"error": "busy"}`) })
	if _, err := app.CreateChat(context.Background()); !errors.Is(err, client.ErrConflict) || errors.Is(err, client.ErrStale) {
		t.Errorf("a 409 of another route: got %v, want ErrConflict alone", err)
	}
}

func TestSettingsWriteRetries(t *testing.T) {
	unavailable := func(n int, w http.ResponseWriter) {
		if n == 1 {
			answerSettings(w, http.StatusServiceUnavailable, `{"error": "MySQL unavailable"}`)
			return
		}
		answerSettings(w, http.StatusOK, `{"version": 2, "webhooks": []}`)
	}
	ctx := context.Background()

	// Named a version: retried, as a repeat cannot apply twice.
	app, rec := serveSettings(t, unavailable)
	if s, err := app.PatchSettings(ctx, client.SettingsInput{}, client.IfVersion(1)); err != nil || s.Version != 2 || len(rec.seen()) != 2 {
		t.Errorf("If-Match 1 after a 503: got %+v, %v after %d attempts; want version 2 after 2", s, err, len(rec.seen()))
	}
	app, rec = serveSettings(t, unavailable)
	if _, err := app.PatchSettings(ctx, client.SettingsInput{Version: new(int64)}, ""); err != nil || len(rec.seen()) != 2 {
		t.Errorf("version field after a 503: got %v after %d attempts; want success after 2", err, len(rec.seen()))
	}
	// Any version, or a rotation: once.
	app, rec = serveSettings(t, unavailable)
	if _, err := app.PatchSettings(ctx, client.SettingsInput{}, client.AnyVersion); !errors.Is(err, client.ErrUnavailable) || len(rec.seen()) != 1 {
		t.Errorf("If-Match * after a 503: got %v after %d attempts; want ErrUnavailable after 1", err, len(rec.seen()))
	}
	app, rec = serveSettings(t, unavailable)
	if _, err := app.RotateWebhookSecret(ctx, "wh_1", 0); !errors.Is(err, client.ErrUnavailable) || len(rec.seen()) != 1 {
		t.Errorf("rotation after a 503: got %v after %d attempts; want ErrUnavailable after 1", err, len(rec.seen()))
	}
}

// TestSettingsStaleAfterALostAnswer: the first attempt may have been
// applied, so the stale answer to its repeat leaves the outcome unknown.
func TestSettingsStaleAfterALostAnswer(t *testing.T) {
	app, rec := serve(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			hangUp(t, w)
			return
		}
		answerSettings(w, http.StatusPreconditionFailed, `{"error": "stale"}`)
	})
	_, err := app.PatchSettings(context.Background(), client.SettingsInput{MaxBodyBytes: client.Set(10)}, client.IfVersion(1))
	if !errors.Is(err, client.ErrOutcomeUnknown) || !errors.Is(err, client.ErrStale) || len(rec.seen()) != 2 {
		t.Fatalf("got %v after %d attempts, want ErrOutcomeUnknown and ErrStale after 2", err, len(rec.seen()))
	}
	if !strings.Contains(err.Error(), "read back") || strings.Contains(err.Error(), "same idempotency key") {
		t.Errorf("got %q, want advice to read the settings back, not to retry with a key", err)
	}
}
