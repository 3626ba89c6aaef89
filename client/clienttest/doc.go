// Package clienttest is an in-memory fake of InstaChat's public HTTP API,
// for tests of code that uses package client, and the conformance suite
// (Run) that the fake and the real api both pass, so the fake cannot drift.
//
// The fake keeps the contract's observable rules: numbers handed out 1, 2,
// 3… per parent, idempotency keys replayed with the original status and
// body (Idempotent-Replayed: true) or refused with 422 for a different
// request, cursor pages (before/after/limit, has_more, next, previous,
// size) beside legacy pages with totals, prefix search, and 404s for what
// does not exist. It differs where the real api is asynchronous: every
// write is applied at once, so nothing stays pending, and counts are exact.
package clienttest
