// Package clienttest is an in-memory fake of InstaChat's public HTTP API,
// for tests of code that uses package client, and the conformance suite
// (Run) that the fake and the real api both pass, so the fake cannot drift.
//
// The fake keeps the contract's observable rules: numbers handed out 1, 2,
// 3… per parent, idempotency keys replayed with the original status and
// body (Idempotent-Replayed: true) or refused with 422 for a different
// request, cursor pages (before/after/limit, has_more, next, previous,
// size) beside legacy pages with totals, prefix search, and 404s for what
// does not exist; applications' settings (versions, If-Match and version
// preconditions answered 412, 409 or 428, PUT and PATCH, webhook secrets
// shown once, rotation, the body limit and event types applied to writes),
// with webhook URLs checked without DNS: https, or plain http to 127.0.0.1
// and localhost, and no private address literals; and live events: both
// event routes as server-sent events (ready, reset, heartbeats, resume by
// Last-Event-ID or after=, the Event-Position header on lists), over one
// log of positions 1-1, 1-2, 1-3… keeping the newest 10,000. It differs
// where the real api is asynchronous: every write is applied at once, so
// nothing stays pending, and counts are exact. It delivers no webhooks:
// test a receiver with client.SignWebhook.
//
// Run's Subscribe case cuts its own client's connections (all at once, and
// once in the middle of a frame) through a dialer of its own, so it needs
// no hook in the server: against the real api it checks the same
// continuity as against the fake.
package clienttest
