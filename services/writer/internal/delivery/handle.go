package delivery

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/instachat/instachat/pkg/chat"
	"github.com/instachat/instachat/pkg/events"
	"github.com/instachat/instachat/pkg/queue"
	"github.com/instachat/instachat/pkg/settings"
	"github.com/instachat/instachat/pkg/webhook"
)

// job is one delivery taken from a partition's hooks lane.
type job struct {
	c   *queue.Consumer
	raw string // as taken: what AckJob removes
	e   queue.Envelope
	typ string // event type ("" when the job is no event)
}

// Outcomes beyond webhook.Kind: the delivery was not attempted.
const (
	outcomeDropped = "dropped" // the endpoint (or application) is gone, or no longer wants the event
	outcomeDead    = "dead"    // buried: attempts used, endpoint paused, or undeliverable
)

// handle delivers one job and settles it: acknowledged, retried, dropped or
// buried. A job it leaves unsettled (shutdown) stays in the processing list.
func (w *Worker) handle(ctx context.Context, c *queue.Consumer, raw string) {
	e, err := queue.Decode(raw)
	if err != nil {
		w.buryRaw(ctx, c, raw, err)
		return
	}
	j := job{c: c, raw: raw, e: e}
	j.typ, _ = events.TypeOfJob(e.Type)
	// The settings the job was accepted under, or newer ones: a pause, a
	// deletion or a new URL saved since is heard before delivering.
	s, err := w.cache.AtLeast(ctx, e.App, e.SV)
	switch {
	case ctx.Err() != nil:
		return // shutting down: Leave gives the job back
	case errors.Is(err, chat.ErrNotFound):
		w.drop(ctx, j, "the application no longer exists")
		return
	case err != nil:
		w.postpone(ctx, j, fmt.Errorf("read the application's settings: %w", err))
		return
	}
	hook, ok := s.Webhook(e.Hook)
	switch {
	case !ok:
		w.drop(ctx, j, "the endpoint was deleted")
		return
	case !hook.Active:
		w.kill(ctx, j, pausedError(hook))
		return
	case !wants(s, hook, j.typ):
		w.drop(ctx, j, "the endpoint no longer subscribes to "+j.typ)
		return
	}
	typ, b, err := body(e)
	if err != nil {
		w.kill(ctx, j, err)
		return
	}
	now := time.Now()
	res := webhook.Deliver(ctx, w.client, webhook.Delivery{URL: hook.URL, Body: b, ID: e.Ref(), Attempt: e.Attempt + 1,
		Event: typ, Position: e.Ev, Secrets: hook.SigningSecrets(now), Now: now})
	w.cfg.Metrics.delivered(e.Hook, res)
	if res.Kind == webhook.KindCanceled {
		return // shutting down: not an attempt; Leave gives the job back
	}
	if res.OK() {
		w.delivered(ctx, j, res)
		return
	}
	w.failed(ctx, j, res)
}

// wants reports whether the endpoint still wants events of type typ: a
// tenant may have unsubscribed it, or the application, since the event was
// accepted.
func wants(s settings.Settings, hook settings.Webhook, typ string) bool {
	return typ == "" || s.Emits(typ) && (hook.Events == nil || slices.Contains(hook.Events, typ))
}

// pausedError is why a paused endpoint's delivery is buried: the reason the
// server paused it for, if it did.
func pausedError(hook settings.Webhook) error {
	if hook.PausedReason == "" {
		return errors.New("endpoint paused")
	}
	return errors.New("endpoint paused: " + hook.PausedReason)
}

// delivered settles a 2xx: acknowledged, and the endpoint's run of failures
// ended.
func (w *Worker) delivered(ctx context.Context, j job, res webhook.Result) {
	if !w.settle(ctx, "acknowledge a webhook delivery", func(ctx context.Context) error { return j.c.AckJob(ctx, j.raw, false) }) {
		return
	}
	if err := w.failures.reset(context.WithoutCancel(ctx), j.e.App, j.e.Hook); err != nil {
		w.log.Warn("reset the endpoint's failures", "endpoint", j.e.Hook, "err", err)
	}
	w.record(ctx, j, res, "")
}

// failed settles an attempt that did not succeed: counted against the
// endpoint (which may pause it), then retried after a backoff, or buried
// once it used its attempts.
func (w *Worker) failed(ctx context.Context, j job, res webhook.Result) {
	cause := failureText(res)
	w.trackFailure(ctx, j, cause)
	var dead bool
	retry := func(ctx context.Context) error {
		var err error
		dead, err = w.q.RetryAfter(ctx, j.e, errors.New(cause), time.Now(), w.backoff)
		return err
	}
	if !w.settle(ctx, "schedule a webhook delivery's retry", retry) {
		return
	}
	if !w.settle(ctx, "acknowledge a failed webhook delivery", func(ctx context.Context) error { return j.c.AckJob(ctx, j.raw, true) }) {
		return
	}
	next := "retry"
	if dead {
		next = outcomeDead
		w.cfg.Metrics.outcome(j.e.Hook, outcomeDead)
		w.log.Warn("webhook delivery dead after its last attempt", "delivery", j.e.Ref(), "attempt", j.e.Attempt+1, "err", cause)
	} else {
		w.cfg.Metrics.retried()
		w.log.Debug("webhook delivery failed; retried after a backoff", "delivery", j.e.Ref(), "attempt", j.e.Attempt+1, "err", cause)
	}
	w.record(ctx, j, res, next)
}

// failureText is a failed attempt's error as its dead job and the endpoint's
// pause reason show it: what went wrong and the start of the answer.
func failureText(res webhook.Result) string {
	msg := res.Error
	if msg == "" {
		msg = "receiver answered " + strconv.Itoa(res.Status)
	}
	if res.Excerpt != "" {
		msg += ": " + res.Excerpt
	}
	return msg
}

// drop acknowledges a delivery that is no longer wanted.
func (w *Worker) drop(ctx context.Context, j job, why string) {
	if !w.settle(ctx, "acknowledge a dropped webhook delivery", func(ctx context.Context) error { return j.c.AckJob(ctx, j.raw, false) }) {
		return
	}
	w.cfg.Metrics.outcome(j.e.Hook, outcomeDropped)
	w.log.Debug("webhook delivery dropped", "delivery", j.e.Ref(), "why", why)
	w.record(ctx, j, webhook.Result{Kind: outcomeDropped, Error: why}, "")
}

// kill buries a delivery that cannot be made now (its endpoint is paused)
// or ever, without attempting it; a replay can make it again.
func (w *Worker) kill(ctx context.Context, j job, cause error) {
	if !w.settle(ctx, "bury a webhook delivery", func(ctx context.Context) error { return w.q.Bury(ctx, j.e, cause) }) {
		return
	}
	if !w.settle(ctx, "acknowledge a buried webhook delivery", func(ctx context.Context) error { return j.c.AckJob(ctx, j.raw, true) }) {
		return
	}
	w.cfg.Metrics.outcome(j.e.Hook, outcomeDead)
	w.log.Info("webhook delivery moved to the dead list", "delivery", j.e.Ref(), "err", cause)
	w.record(ctx, j, webhook.Result{Kind: outcomeDead, Error: cause.Error()}, outcomeDead)
}

// buryRaw keeps a job that does not decode on the dead list as it was.
func (w *Worker) buryRaw(ctx context.Context, c *queue.Consumer, raw string, cause error) {
	if !w.settle(ctx, "bury an undecodable webhook delivery", func(ctx context.Context) error { return w.q.BuryRaw(ctx, c.Partition(), raw) }) {
		return
	}
	if w.settle(ctx, "acknowledge an undecodable webhook delivery", func(ctx context.Context) error { return c.AckJob(ctx, raw, true) }) {
		w.cfg.Metrics.outcome("", outcomeDead)
		w.log.Warn("undecodable webhook delivery moved to the dead list", "err", cause)
	}
}

// postpone gives a delivery that could not be tried (its settings could not
// be read) another go later, without spending an attempt.
func (w *Worker) postpone(ctx context.Context, j job, cause error) {
	due := time.Now().Add(w.backoff(1))
	if !w.settle(ctx, "postpone a webhook delivery", func(ctx context.Context) error { return w.q.Postpone(ctx, j.e, cause, due) }) {
		return
	}
	if w.settle(ctx, "acknowledge a postponed webhook delivery", func(ctx context.Context) error { return j.c.AckJob(ctx, j.raw, true) }) {
		w.log.Warn("webhook delivery postponed", "delivery", j.e.Ref(), "err", cause, "until", due)
	}
}

// record remembers a settled delivery for the application's admins and the
// lane's dashboard. It is for display: a failure is only logged.
func (w *Worker) record(ctx context.Context, j job, res webhook.Result, next string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	now := time.Now()
	d := queue.HookDelivery{ID: j.e.Ref(), Endpoint: j.e.Hook, Event: j.typ, Position: j.e.Ev, Attempt: j.e.Attempt + 1,
		Outcome: string(res.Kind), Status: res.Status, DurationMS: res.Duration.Milliseconds(), Excerpt: res.Excerpt,
		Error: res.Error, Next: next}
	if err := w.q.RecordHookDelivery(ctx, j.e.App, d, now); err != nil {
		w.log.Warn("record a webhook delivery", "delivery", d.ID, "err", err)
	}
	var done []queue.Completed
	failed := 1
	if next == "" {
		c := queue.CompletedFrom(j.e, d.Outcome)
		c.ID = d.ID
		done, failed = []queue.Completed{c}, 0
	}
	if err := w.q.RecordCompleted(ctx, j.c.Partition(), done, failed, now); err != nil {
		w.log.Warn("record a webhook delivery for the dashboard", "delivery", d.ID, "err", err)
	}
}
