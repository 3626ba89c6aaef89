package e2e

import (
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	ic "github.com/instachat/instachat/client"
)

// TestSettingsReachEveryProcess is issue 14's second done-when: a change made
// through one api reaches the other api within a second (measured: the first
// write that the other api judges by the new settings), the api that made it
// at once, and the writer for every job accepted under the new settings:
// deliveries of messages posted right after a webhook moved go to its new
// URL only, even through the api that heard of the change last.
func TestSettingsReachEveryProcess(t *testing.T) {
	s := newSystem(t)
	api2URL := s.startSecondAPI()
	ctx := t.Context()
	app := s.newApp("Tenant")
	s.newChats(app, 1)
	app2 := s.clientFor(api2URL).App(app.Token())
	oldRcv, newRcv := newReceiver(t), newReceiver(t)
	set, err := app.PutSettings(ctx, ic.SettingsInput{Webhooks: ic.Set([]ic.WebhookInput{{URL: oldRcv.url(), Events: []string{ic.EventMessageCreated}}})}, ic.AnyVersion)
	if err != nil {
		t.Fatal(err)
	}
	secret := set.Webhooks[0].Secret
	oldRcv.setSecrets(secret)
	newRcv.setSecrets(secret)
	// Both apis have read the settings (their caches hold this version).
	for _, a := range []*ic.App{app, app2} {
		if _, err := a.PostMessage(ctx, 1, "warm"); err != nil {
			t.Fatal(err)
		}
	}

	// A body limit set through api1 applies there at once and on api2
	// within a second.
	if _, err := app.PatchSettings(ctx, ic.SettingsInput{MaxBodyBytes: ic.Set(5)}, ic.AnyVersion); err != nil {
		t.Fatal(err)
	}
	changed := time.Now()
	if _, err := app.PostMessage(ctx, 1, "sixsix"); !errors.Is(err, ic.ErrInvalid) {
		t.Fatalf("api1 right after its own change: %v, want the body refused", err)
	}
	var took time.Duration
	for {
		_, err := app2.PostMessage(ctx, 1, "sixsix")
		if errors.Is(err, ic.ErrInvalid) {
			took = time.Since(changed)
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if time.Since(changed) > 5*time.Second {
			t.Fatal("api2 still used the old body limit after 5 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if took > time.Second {
		t.Errorf("api2 applied the change after %v, want within a second", took)
	}
	t.Logf("api2 applied the body limit %v after api1 answered the change", took)

	// The webhook moves: every message posted after the change is delivered
	// to the new URL only, through either api, with no wait.
	cur, err := app.Settings(ctx)
	if err != nil {
		t.Fatal(err)
	}
	hooks := cur.WebhookInputs()
	hooks[0].URL = newRcv.url()
	if _, err := app.PatchSettings(ctx, ic.SettingsInput{MaxBodyBytes: ic.Null[int](), Webhooks: ic.Set(hooks)}, ic.IfVersion(cur.Version)); err != nil {
		t.Fatal(err)
	}
	before := len(oldRcv.byPosition())
	// Through api1 at once (the writer must not deliver with the settings it
	// had cached: the jobs carry the new version), then through both after
	// the second the change may take to reach api2.
	post := func(a *ic.App, n int) {
		for range n {
			if _, err := a.PostMessage(ctx, 1, "moved"); err != nil {
				t.Fatal(err)
			}
		}
	}
	post(app, 20)
	time.Sleep(time.Second)
	post(app2, 20)
	post(app, 20)
	eventually(t, 30*time.Second, "deliveries of the 60 messages posted after the move", func() (bool, string) {
		n := 0
		for _, ev := range newRcv.byPosition() {
			if ev.Body == "moved" {
				n++
			}
		}
		return n == 60, fmt.Sprintf("%d delivered to the new URL", n)
	})
	for _, ev := range oldRcv.byPosition() {
		if ev.Body == "moved" {
			t.Errorf("a message posted after the move went to the old URL: %+v", ev)
		}
	}
	if n := len(oldRcv.byPosition()); n != before {
		t.Errorf("the old URL got %d more deliveries after the move", n-before)
	}
}

// clientFor is a client of the api at url, without retries.
func (s *system) clientFor(url string) *ic.Client {
	s.t.Helper()
	c, err := ic.New(url, ic.WithRetry(ic.NoRetry), ic.WithHTTPClient(&http.Client{Transport: transport}))
	if err != nil {
		s.t.Fatal(err)
	}
	return c
}
