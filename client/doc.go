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
// The live-event subscription of the next issue (13) lands here as
//
//	func (a *App) Subscribe(ctx context.Context, chat int64, from Cursor) iter.Seq2[Event, error]
//
// resuming with the same cursor vocabulary (After(last number seen)) and
// reusing the client's one transport path (base URL, headers, backoff).
// Nothing of it is exported yet.
package client
