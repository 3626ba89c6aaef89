package settings_test

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/instachat/instachat/pkg/chat"
	"github.com/instachat/instachat/pkg/events"
	"github.com/instachat/instachat/pkg/settings"
)

var t0 = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

// secrets makes numbered secrets so a test can tell them apart.
func secrets() func() (string, error) {
	n := 0
	return func() (string, error) {
		n++
		return "whsec_test" + strconv.Itoa(n), nil
	}
}

// change decodes a written body as the api does.
func change(t *testing.T, replace bool, body string) settings.Change {
	t.Helper()
	var c settings.Change
	if err := json.Unmarshal([]byte(body), &c); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	c.Replace = replace
	return c
}

func TestApplyMergesAndReplaces(t *testing.T) {
	newSecret := secrets()
	s, created, err := settings.Apply(settings.Settings{}, change(t, true, `{"max_body_bytes": 100, "events": ["message.created"],
		"webhooks": [{"url": "https://a.example/h"}, {"url": "https://b.example/h", "events": ["message.created"], "active": false}]}`), t0, newSecret)
	if err != nil {
		t.Fatal(err)
	}
	if s.Version != 1 || s.MaxBodyBytes != 100 || s.BodyLimit() != 100 || !s.Emits(events.MessageCreated) || s.Emits(events.MessageDeleted) {
		t.Fatalf("after PUT: %+v", s)
	}
	if len(created) != 2 || created[0].Secret != "whsec_test1" || !settings.IsWebhookID(created[0].ID) || created[0].ID == created[1].ID {
		t.Fatalf("created: %+v", created)
	}
	if got := s.Hooks(events.MessageCreated); len(got) != 1 || got[0] != created[0].ID {
		t.Errorf("hooks of message.created: got %v, want only the active endpoint %s", got, created[0].ID)
	}
	if got := s.Hooks(events.MessageDeleted); got != nil {
		t.Errorf("hooks of an event the application does not emit: got %v", got)
	}

	// PATCH: only the named fields change; an endpoint named by id keeps its
	// secret; one left out is removed.
	patched, created2, err := settings.Apply(s, change(t, false, `{"max_body_bytes": null,
		"webhooks": [{"id": "`+created[1].ID+`", "url": "https://b.example/moved", "events": null}]}`), t0.Add(time.Minute), newSecret)
	if err != nil {
		t.Fatal(err)
	}
	if patched.Version != 2 || patched.BodyLimit() != chat.MaxBodyBytes || len(patched.Events) != 1 || len(created2) != 0 {
		t.Fatalf("after PATCH: %+v, created %v", patched, created2)
	}
	if w := patched.Webhooks; len(w) != 1 || w[0].URL != "https://b.example/moved" || w[0].Secrets[0] != "whsec_test2" || w[0].Active || w[0].Events != nil {
		t.Errorf("patched endpoint: %+v", w)
	}
	// PUT with nothing: the defaults, and no endpoints.
	empty, _, err := settings.Apply(patched, change(t, true, `{}`), t0, newSecret)
	if err != nil || empty.Version != 3 || empty.Events != nil || len(empty.Webhooks) != 0 || empty.BodyLimit() != chat.MaxBodyBytes {
		t.Errorf("PUT {}: %+v, %v", empty, err)
	}
}

func TestApplyRefusesBadDocuments(t *testing.T) {
	many := strings.Repeat(`{"url": "https://a.example/h"},`, settings.MaxWebhooks)
	for name, body := range map[string]string{
		"body limit too large":  `{"max_body_bytes": 999999}`,
		"body limit zero":       `{"max_body_bytes": 0}`,
		"body limit negative":   `{"max_body_bytes": -1}`,
		"unknown event":         `{"events": ["message.read"]}`,
		"no events":             `{"events": []}`,
		"event twice":           `{"events": ["chat.created", "chat.created"]}`,
		"webhook without url":   `{"webhooks": [{"events": ["chat.created"]}]}`,
		"webhook unknown event": `{"webhooks": [{"url": "https://a.example", "events": ["x"]}]}`,
		"unknown webhook id":    `{"webhooks": [{"id": "wh_00000000000000000000000000", "url": "https://a.example"}]}`,
		"too many webhooks":     `{"webhooks": [` + many + `{"url": "https://a.example/h"}]}`,
		"url too long":          `{"webhooks": [{"url": "https://a.example/` + strings.Repeat("x", settings.MaxURLBytes) + `"}]}`,
	} {
		_, _, err := settings.Apply(settings.Settings{}, change(t, false, body), t0, secrets())
		if !errors.Is(err, chat.ErrInvalid) {
			t.Errorf("%s: got %v, want an invalid-input error", name, err)
		}
	}
}

func TestPauseResumeAndRotate(t *testing.T) {
	newSecret := secrets()
	s, created, err := settings.Apply(settings.Settings{}, change(t, true, `{"webhooks": [{"url": "https://a.example/h"}]}`), t0, newSecret)
	if err != nil {
		t.Fatal(err)
	}
	id := created[0].ID
	paused, ok := settings.Pause(s, id, "failing for 1h0m0s: HTTP 500", t0)
	if w, _ := paused.Webhook(id); !ok || w.Active || w.PausedReason == "" || paused.Version != s.Version+1 || paused.Hooks(events.ChatCreated) != nil {
		t.Fatalf("paused: %+v", paused)
	}
	if _, again := settings.Pause(paused, id, "again", t0); again {
		t.Error("pausing a paused endpoint changed it")
	}
	// A PATCH that does not name "active" leaves it paused; one that does resumes it.
	kept, _, _ := settings.Apply(paused, change(t, false, `{"webhooks": [{"id": "`+id+`", "url": "https://a.example/h2"}]}`), t0, newSecret)
	if w, _ := kept.Webhook(id); w.Active || w.PausedReason == "" {
		t.Errorf("rewritten without active: %+v, want still paused with its reason", w)
	}
	resumed, _, _ := settings.Apply(kept, change(t, false, `{"webhooks": [{"id": "`+id+`", "url": "https://a.example/h2", "active": true}]}`), t0, newSecret)
	if w, _ := resumed.Webhook(id); !w.Active || w.PausedReason != "" || w.PausedAt != nil {
		t.Errorf("resumed: %+v", w)
	}

	rotated, fresh, err := settings.Rotate(resumed, id, time.Hour, t0, newSecret)
	if err != nil {
		t.Fatal(err)
	}
	w, _ := rotated.Webhook(id)
	if fresh.Secret != "whsec_test2" || len(w.SigningSecrets(t0.Add(59*time.Minute))) != 2 || w.SigningSecrets(t0.Add(59 * time.Minute))[0] != fresh.Secret {
		t.Errorf("during the overlap: %v, want the new secret then the old", w.SigningSecrets(t0.Add(59*time.Minute)))
	}
	if got := w.SigningSecrets(t0.Add(time.Hour)); len(got) != 1 || got[0] != fresh.Secret {
		t.Errorf("after the overlap: %v, want the new secret only", got)
	}
	if _, _, err := settings.Rotate(resumed, "wh_none", 0, t0, newSecret); !errors.Is(err, chat.ErrNotFound) {
		t.Errorf("rotate an unknown endpoint: %v", err)
	}
	if _, _, err := settings.Rotate(resumed, id, 30*24*time.Hour, t0, newSecret); !errors.Is(err, chat.ErrInvalid) {
		t.Errorf("rotate with a month of overlap: %v", err)
	}
}

func TestSealer(t *testing.T) {
	a, err := settings.NewSealer("0123456789abcdef0123456789abcdef")
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := a.Seal("wh_a", "whsec_secret")
	if err != nil || strings.Contains(string(sealed), "whsec_secret") {
		t.Fatalf("seal: %q, %v", sealed, err)
	}
	if got, err := a.Open("wh_a", sealed); err != nil || got != "whsec_secret" {
		t.Errorf("open: %q, %v", got, err)
	}
	if _, err := a.Open("wh_b", sealed); err == nil {
		t.Error("a secret opened for another endpoint")
	}
	b, _ := settings.NewSealer("another key, also thirty-two chars")
	if _, err := b.Open("wh_a", sealed); err == nil {
		t.Error("a secret opened with another key")
	}
	if _, err := settings.NewSealer(""); err == nil {
		t.Error("a sealer without a key")
	}
}
