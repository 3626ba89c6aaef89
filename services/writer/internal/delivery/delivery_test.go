package delivery_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/instachat/instachat/pkg/counter"
	"github.com/instachat/instachat/pkg/events"
	"github.com/instachat/instachat/pkg/queue"
	"github.com/instachat/instachat/pkg/settings"
	"github.com/instachat/instachat/pkg/webhook"
)

// TestDeliversSignedEvents: the events the api's step queues for an
// endpoint arrive signed, in the live streams' shape, with the delivery id,
// attempt, event type and position in headers; the application's recent
// deliveries and the metrics show them.
func TestDeliversSignedEvents(t *testing.T) {
	e := newEnv(t, 3)
	id, secret := e.addHook(t, e.recv.url())
	e.start(t, config())
	cnt := counter.New(e.rdb, e.keys, e.st, counter.Config{})
	at := time.Date(2026, 11, 28, 12, 0, 0, 123456000, time.UTC)
	obs := counter.Observers{Emit: true, Hooks: []string{id}}
	chatJob := queue.Envelope{ID: queue.NewEventID(at), Type: queue.TypeChatCreate, App: e.app, Time: at.UnixMicro(), SV: 1}
	if _, err := cnt.AcceptObserved(t.Context(), chatJob, counter.Claim{}, obs); err != nil {
		t.Fatal(err)
	}
	msgJob := queue.Envelope{ID: queue.NewEventID(at), Type: queue.TypeMessageCreate, App: e.app, Chat: 1, Body: "héllo \"you\"", Time: at.UnixMicro(), SV: 1}
	if _, err := cnt.AcceptObserved(t.Context(), msgJob, counter.Claim{}, obs); err != nil {
		t.Fatal(err)
	}
	got := e.recv.waitFor(t, 2)
	// Concurrent deliveries may arrive in either order.
	byEvent := map[string]request{}
	for _, r := range got {
		byEvent[r.header.Get(webhook.HeaderEvent)] = r
	}
	tests := []struct {
		event, id, body string
	}{
		{"chat.created", chatJob.ID + "." + id, `{"id":"%s","type":"chat.created","chat":1,"accepted_at":"2026-11-28T12:00:00.123456Z"}`},
		{"message.created", msgJob.ID + "." + id, `{"id":"%s","type":"message.created","chat":1,"message":1,"body":"héllo \"you\"","accepted_at":"2026-11-28T12:00:00.123456Z"}`},
	}
	for _, tt := range tests {
		r, ok := byEvent[tt.event]
		if !ok {
			t.Fatalf("no %s delivery among %d", tt.event, len(got))
		}
		verify(t, r, secret)
		pos := r.header.Get(webhook.HeaderEventPosition)
		if want := fmt.Sprintf(tt.body, pos); string(r.body) != want {
			t.Errorf("%s body: got %s, want %s", tt.event, r.body, want)
		}
		if d, a := r.header.Get(webhook.HeaderDelivery), r.header.Get(webhook.HeaderAttempt); d != tt.id || a != "1" {
			t.Errorf("%s headers: got delivery %q attempt %q, want %q and 1", tt.event, d, a, tt.id)
		}
		if _, err := events.Parse(pos); err != nil || r.header.Get("Content-Type") != "application/json" {
			t.Errorf("%s headers: got position %q, content type %q", tt.event, pos, r.header.Get("Content-Type"))
		}
	}
	eventually(t, "the lane to drain", func() bool { return e.idle(t) })
	recent := e.recent(t)
	if len(recent) != 2 {
		t.Fatalf("recent deliveries: got %+v, want 2", recent)
	}
	for _, d := range recent {
		if _, err := events.Parse(d.Position); d.Outcome != "ok" || d.Status != 204 || d.Endpoint != id || d.Attempt != 1 || d.Next != "" || d.At == 0 || err != nil {
			t.Errorf("recent delivery: got %+v, want ok 204 at attempt 1", d)
		}
	}
	if n := e.metric(t, "instachat_webhook_deliveries_total", "endpoint", id, "outcome", "ok"); n != 2 {
		t.Errorf("deliveries ok: got %v, want 2", n)
	}
	if n := e.metric(t, "instachat_webhook_delivery_seconds"); n != 2 {
		t.Errorf("delivery durations observed: got %v, want 2", n)
	}
}

// TestRetriesWithTheSameDeliveryID: a receiver that answers 500 and then
// 200 gets the delivery again as attempt 2 under the same id; the
// endpoint's run of failures ends with the success.
func TestRetriesWithTheSameDeliveryID(t *testing.T) {
	e := newEnv(t, 3)
	id, secret := e.addHook(t, e.recv.url())
	e.recv.setAnswer(func(n int, w http.ResponseWriter, _ *http.Request) {
		if n == 0 {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	e.start(t, config())
	j := e.push(t, id, 1)
	got := e.recv.waitFor(t, 2)
	for i, r := range got {
		verify(t, r, secret)
		if d, a := r.header.Get(webhook.HeaderDelivery), r.header.Get(webhook.HeaderAttempt); d != j.Ref() || a != fmt.Sprint(i+1) {
			t.Errorf("request %d: got delivery %q attempt %q, want %q and %d", i, d, a, j.Ref(), i+1)
		}
	}
	eventually(t, "the lane to drain", func() bool { return e.idle(t) })
	if len(e.recv.requests()) != 2 || len(e.dead(t)) != 0 {
		t.Errorf("got %d requests and %d dead jobs, want 2 and 0", len(e.recv.requests()), len(e.dead(t)))
	}
	recent := e.recent(t)
	if len(recent) != 2 || recent[0].Outcome != "ok" || recent[1].Outcome != "http_error" || recent[1].Status != 500 || recent[1].Next != "retry" {
		t.Errorf("recent deliveries: got %+v, want http_error (retry) then ok", recent)
	}
	if n := e.metric(t, "instachat_webhook_retries_total"); n != 1 {
		t.Errorf("retries: got %v, want 1", n)
	}
	if n := e.rdb.Exists(t.Context(), e.keys.HookFailures(e.app, id)).Val(); n != 0 {
		t.Errorf("the endpoint's run of failures outlived its success")
	}
}

// TestDeadAfterLastAttemptThenReplayed: a delivery that fails every attempt
// lands on the hooks lane's dead list with the last status and excerpt,
// and the Inspector's replay delivers it afresh under the same id.
func TestDeadAfterLastAttemptThenReplayed(t *testing.T) {
	e := newEnv(t, 3)
	id, secret := e.addHook(t, e.recv.url())
	e.recv.setAnswer(answerStatus(http.StatusInternalServerError, "database on fire"))
	e.start(t, config())
	j := e.push(t, id, 7)
	eventually(t, "the delivery to die", func() bool { return len(e.dead(t)) == 1 })
	dead := e.dead(t)[0]
	if dead.ID != j.Ref() || dead.Envelope.Attempt != 3 || !strings.Contains(dead.Envelope.Error, "500") || !strings.Contains(dead.Envelope.Error, "database on fire") {
		t.Errorf("dead job: got id %s attempt %d error %q, want %s after 3 attempts with the status and excerpt", dead.ID, dead.Envelope.Attempt, dead.Envelope.Error, j.Ref())
	}
	if n := len(e.recv.requests()); n != 3 {
		t.Errorf("requests: got %d, want 3", n)
	}
	if n := e.metric(t, "instachat_webhook_deliveries_total", "endpoint", id, "outcome", "dead"); n != 1 {
		t.Errorf("dead deliveries: got %v, want 1", n)
	}
	if r := e.recent(t); len(r) != 3 || r[0].Next != "dead" || r[0].Excerpt != "database on fire" {
		t.Errorf("recent deliveries: got %+v, want the last attempt marked dead with its excerpt", r)
	}

	e.recv.setAnswer(nil)
	if err := e.in.ReplayDead(t.Context(), j.Ref()); err != nil {
		t.Fatal(err)
	}
	got := e.recv.waitFor(t, 4)
	verify(t, got[3], secret)
	if d, a := got[3].header.Get(webhook.HeaderDelivery), got[3].header.Get(webhook.HeaderAttempt); d != j.Ref() || a != "1" {
		t.Errorf("replayed delivery: got id %q attempt %q, want %q and 1", d, a, j.Ref())
	}
	eventually(t, "the lane to drain", func() bool { return e.idle(t) && len(e.dead(t)) == 0 })
}

// TestPausedEndpointBuriesAndDeletedOneDrops: a paused endpoint's delivery
// goes to the dead list with the pause's reason (to be replayed once it is
// resumed); a deleted endpoint's is dropped. Neither calls the receiver.
func TestPausedEndpointBuriesAndDeletedOneDrops(t *testing.T) {
	e := newEnv(t, 3)
	paused, _ := e.addHook(t, e.recv.url())
	deleted, _ := e.addHook(t, e.recv.url())
	e.update(t, func(cur settings.Settings) (settings.Settings, error) {
		next, _ := settings.Pause(cur, paused, "maintenance by the test", time.Now())
		return next, nil
	})
	e.deleteHook(t, deleted)
	e.start(t, config())
	j := e.push(t, paused, 1)
	e.push(t, deleted, 2)
	e.push(t, "wh_0000000000000000000000nope", 3)
	eventually(t, "the lane to settle", func() bool { return e.idle(t) && len(e.dead(t)) == 1 })
	dead := e.dead(t)[0]
	if dead.ID != j.Ref() || dead.Envelope.Error != "endpoint paused: maintenance by the test" {
		t.Errorf("dead job: got %s with %q, want %s with the pause's reason", dead.ID, dead.Envelope.Error, j.Ref())
	}
	if n := len(e.recv.requests()); n != 0 {
		t.Errorf("requests: got %d, want none", n)
	}
	if n := e.metric(t, "instachat_webhook_deliveries_total", "endpoint", deleted, "outcome", "dropped"); n != 1 {
		t.Errorf("dropped for the deleted endpoint: got %v, want 1", n)
	}
	if n := e.metric(t, "instachat_webhook_deliveries_total", "endpoint", paused, "outcome", "dead"); n != 1 {
		t.Errorf("dead for the paused endpoint: got %v, want 1", n)
	}
	// Resumed by the tenant, the endpoint gets the replayed delivery.
	e.update(t, func(cur settings.Settings) (settings.Settings, error) {
		active := true
		in := inputs(cur, "")
		in[0].Active = &active
		next, _, err := settings.Apply(cur, settings.Change{Webhooks: settings.Field[[]settings.WebhookInput]{Set: true, Value: in}}, time.Now(), webhook.NewSecret)
		return next, err
	})
	if err := e.in.ReplayDead(t.Context(), j.Ref()); err != nil {
		t.Fatal(err)
	}
	if got := e.recv.waitFor(t, 1); got[0].header.Get(webhook.HeaderDelivery) != j.Ref() {
		t.Errorf("after resuming: got delivery %q, want %q", got[0].header.Get(webhook.HeaderDelivery), j.Ref())
	}
}

// TestEndpointThatKeepsFailingIsPaused: after enough failures over the
// window the endpoint is paused in MySQL with the reason (the settings'
// version bumps), every cache hears it, and its delivery goes to the dead
// list as paused.
func TestEndpointThatKeepsFailingIsPaused(t *testing.T) {
	e := newEnv(t, 1000)
	id, _ := e.addHook(t, e.recv.url())
	_, before := e.hook(t, id)
	e.recv.setAnswer(answerStatus(http.StatusInternalServerError, "still down"))
	cfg := config()
	cfg.PauseFailures, cfg.PauseAfter = 5, 300*time.Millisecond
	start := time.Now()
	e.start(t, cfg)
	j := e.push(t, id, 1)
	eventually(t, "the endpoint to be paused", func() bool { w, _ := e.hook(t, id); return !w.Active })
	w, after := e.hook(t, id)
	if after != before+1 || !strings.HasPrefix(w.PausedReason, "paused after ") || !strings.Contains(w.PausedReason, "failed deliveries over ") ||
		!strings.Contains(w.PausedReason, "; last: receiver answered 500 Internal Server Error: still down") || w.PausedAt == nil {
		t.Errorf("paused endpoint: got reason %q at %v, version %d (was %d)", w.PausedReason, w.PausedAt, after, before)
	}
	if n := len(e.recv.requests()); n < 5 || time.Since(start) < 300*time.Millisecond {
		t.Errorf("paused after %d failures in %v, want at least 5 over 300ms", n, time.Since(start))
	}
	eventually(t, "the delivery to be buried as paused", func() bool { return len(e.dead(t)) == 1 })
	if dead := e.dead(t)[0]; dead.ID != j.Ref() || !strings.HasPrefix(dead.Envelope.Error, "endpoint paused: paused after ") {
		t.Errorf("dead job: got %s with %q, want %s buried as paused", dead.ID, dead.Envelope.Error, j.Ref())
	}
	if n := e.metric(t, "instachat_webhook_endpoints_paused_total"); n != 1 {
		t.Errorf("pauses: got %v, want 1", n)
	}
	if err := e.rdb.Get(t.Context(), e.keys.HookFailures(e.app, id)).Err(); err != redis.Nil {
		t.Errorf("the run of failures should restart after a pause: got %v", err)
	}
}

// TestCanceledDeliveryIsMadeAgain: a worker stopped in the middle of a
// delivery gives the job back without counting an attempt, and the next
// worker delivers it again under the same id: at least once.
func TestCanceledDeliveryIsMadeAgain(t *testing.T) {
	e := newEnv(t, 3)
	id, secret := e.addHook(t, e.recv.url())
	arrived := make(chan struct{})
	e.recv.setAnswer(func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 0 {
			close(arrived)
			<-r.Context().Done() // hang until the writer goes away
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	stop := e.start(t, config())
	j := e.push(t, id, 1)
	<-arrived
	stop()
	pending, err := e.rdb.LRange(t.Context(), e.q.Keys().Pending(e.keys.Partition(e.app)), 0, -1).Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(pending) != 1 {
		t.Fatalf("after the stop: got %d pending deliveries, want the one in flight back", len(pending))
	}
	if back, _ := queue.Decode(pending[0]); back.Ref() != j.Ref() || back.Attempt != 0 {
		t.Errorf("given back: got %s at attempt %d, want %s at attempt 0", back.Ref(), back.Attempt, j.Ref())
	}
	if len(e.recent(t)) != 0 || len(e.dead(t)) != 0 {
		t.Errorf("a canceled delivery is recorded or buried: recent %+v", e.recent(t))
	}

	e.start(t, config())
	got := e.recv.waitFor(t, 2)
	verify(t, got[1], secret)
	if d, a := got[1].header.Get(webhook.HeaderDelivery), got[1].header.Get(webhook.HeaderAttempt); d != j.Ref() || a != "1" {
		t.Errorf("made again: got delivery %q attempt %q, want %q and 1", d, a, j.Ref())
	}
	eventually(t, "the lane to drain", func() bool { return e.idle(t) })
}

// TestRedirectIsAFailure: a 302 to the metadata address is the attempt's
// answer, never followed.
func TestRedirectIsAFailure(t *testing.T) {
	e := newEnv(t, 1)
	id, _ := e.addHook(t, e.recv.url())
	e.recv.setAnswer(func(_ int, w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://169.254.169.254/latest/meta-data/", http.StatusFound)
	})
	e.start(t, config())
	j := e.push(t, id, 1)
	eventually(t, "the delivery to die", func() bool { return len(e.dead(t)) == 1 })
	if dead := e.dead(t)[0]; dead.ID != j.Ref() || !strings.Contains(dead.Envelope.Error, "302") || !strings.Contains(dead.Envelope.Error, "redirects are not followed") {
		t.Errorf("dead job: got %s with %q, want a 302 not followed", dead.ID, dead.Envelope.Error)
	}
	if r := e.recent(t); len(r) != 1 || r[0].Outcome != string(webhook.KindHTTPError) || r[0].Status != http.StatusFound {
		t.Errorf("recent deliveries: got %+v, want one http_error 302", r)
	}
	if n := len(e.recv.requests()); n != 1 {
		t.Errorf("requests: got %d, want 1", n)
	}
}

// TestSettingsUnavailablePostpones: while MySQL cannot answer for settings
// the cache does not hold, a delivery waits without spending an attempt;
// once MySQL is back it goes on (here: its endpoint is gone, so it drops).
func TestSettingsUnavailablePostpones(t *testing.T) {
	e := newEnv(t, 1)
	e.mysql.Cut()
	e.start(t, config())
	j := e.push(t, "wh_00000000000000000000000gone", 1)
	eventually(t, "the delivery to be postponed", func() bool {
		retry, _, err := e.in.Jobs(t.Context(), queue.StateRetry, -1, 0, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(retry) == 0 {
			return false
		}
		if got := retry[0].Envelope; got.Attempt != 0 || !strings.Contains(got.Error, "read the application's settings") {
			t.Errorf("postponed: got attempt %d error %q, want attempt 0 and why", got.Attempt, got.Error)
		}
		return true
	})
	e.mysql.Restore()
	eventually(t, "the delivery to drop", func() bool {
		return e.metric(t, "instachat_webhook_deliveries_total", "endpoint", j.Hook, "outcome", "dropped") == 1
	})
	if !e.idle(t) || len(e.dead(t)) != 0 {
		t.Errorf("the lane is not empty after the drop")
	}
}

// TestConcurrencyIsBounded: one partition has as many deliveries in flight
// as there are slots, and no more.
func TestConcurrencyIsBounded(t *testing.T) {
	e := newEnv(t, 3)
	id, _ := e.addHook(t, e.recv.url())
	release := make(chan struct{})
	e.recv.setAnswer(func(_ int, w http.ResponseWriter, _ *http.Request) {
		<-release
		w.WriteHeader(http.StatusOK)
	})
	cfg := config()
	cfg.Concurrency = 3
	e.start(t, cfg)
	for n := range 7 {
		e.push(t, id, int64(n+1))
	}
	e.recv.waitFor(t, 3)
	time.Sleep(200 * time.Millisecond)
	if n := len(e.recv.requests()); n != 3 {
		t.Errorf("in flight: got %d deliveries, want 3", n)
	}
	close(release)
	e.recv.waitFor(t, 7)
	eventually(t, "the lane to drain", func() bool { return e.idle(t) })
}
