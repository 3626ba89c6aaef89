// Package client is InstaChat's Go client: typed calls for every public
// endpoint (and the admin dead-job and index-rebuild endpoints), writes that
// are safe to retry, and iterators over history.
//
// # Retries and idempotency
//
// Every write (POST, PUT, PATCH, DELETE under /api/v1) carries an
// Idempotency-Key header: a random 128-bit key made once per call and sent
// again by every retry of that call, so the server applies the write once
// however many attempts reach it. WithIdempotencyKey sets the key yourself,
// for a retry that outlives the process. Calls are retried with full-jitter
// exponential backoff (never sooner than the server's Retry-After) after a
// network error, an attempt that outlived RetryPolicy.AttemptTimeout, or a
// 429, 502, 503 or 504; never after any other 4xx or a 500. A write that ran
// out of attempts without hearing an answer matches ErrOutcomeUnknown: it may
// have been applied, and retrying it with the same key is safe.
//
// # History
//
// Lists page by cursor: Before(n) walks toward older numbers (newest first),
// After(n) toward newer ones (oldest first). History and AllChats follow the
// cursors for you as iter.Seq2 sequences; the legacy page/per_page lists with
// their exact totals remain as ChatsByPage and MessagesByPage.
//
// # Live events
//
// Subscribe follows one chat and SubscribeAll every chat of the application
// as iter.Seq2[Event, error] sequences over server-sent events:
//
//	for ev, err := range app.Subscribe(ctx, chat, from) {
//		if err != nil {
//			return err // not found, invalid: retrying would not help
//		}
//		switch ev.Type {
//		case client.EventReset:
//			// reload the chat through History, then keep consuming
//		case client.EventMessageCreated, client.EventMessageUpdated: // …
//		}
//	}
//
// Where a subscription starts is a Position, an event id, not the Cursor
// this section once promised: a message cursor names message numbers, and
// an update or a delete has no number of its own to resume after, while
// every event has a position. Start from "" (now), from the Position of a
// MessagePage or ChatPage just loaded (everything after the load), or from
// the ID of the last event handled. Connections that end, break or go
// silent are resumed after the last event yielded, with the client's
// backoff, until ctx ends: each event comes once, in order, or an
// EventReset says which stretch could not be served.
//
// # Settings
//
// Settings reads an application's settings (a body limit, a write rate
// limit, which event types it emits, its webhook endpoints) and their
// Version. Every write names the version it changes, so that two writers
// cannot silently undo each other: PatchSettings changes the fields set in
// a SettingsInput (Set a value, or Null for the server's default) and
// PutSettings replaces the document. A stale version is ErrStale; read
// again and reapply:
//
//	s, err := app.Settings(ctx)
//	// …
//	s, err = app.PatchSettings(ctx, client.SettingsInput{
//		MaxBodyBytes: client.Set(2000),
//		Webhooks:     client.Set(append(s.WebhookInputs(), client.WebhookInput{URL: "https://hooks.example.com/instachat"})),
//	}, client.IfVersion(s.Version))
//
// A new endpoint's signing secret is in that answer (Webhook.Secret) and
// in no other: store it then. RotateWebhookSecret makes a new one; the old
// one keeps signing beside it for an overlap.
//
// # Webhooks
//
// The server POSTs each event an endpoint wants to its URL, at least once,
// signed: X-InstaChat-Signature is "t=<unix>,v1=<hex>", the HMAC-SHA256 of
// "<t>.<body>" keyed with the secret, one v1 per secret during a rotation's
// overlap. ParseWebhook verifies a request and decodes its Event, and
// VerifyWebhook checks a signature by itself (constant time, at most
// DefaultWebhookTolerance from now, against replays). Answer 2xx once the
// event is handled and deduplicate by Delivery.ID: see ExampleParseWebhook.
package client
