package client

import (
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Sentinels for errors.Is. An *Error matches the one its status names.
var (
	// ErrInvalid: the request was refused as malformed (400, 413, 415).
	ErrInvalid = errors.New("instachat: invalid request")
	// ErrUnauthorized: admin credentials missing or wrong, or admin endpoints off (401, 403).
	ErrUnauthorized = errors.New("instachat: unauthorized")
	// ErrNotFound: no such application, chat, message or dead job (404).
	ErrNotFound = errors.New("instachat: not found")
	// ErrConflict: concurrent changes kept winning, or a rebuild already
	// runs, or a settings write's version field is stale (409; that one
	// matches ErrStale too).
	ErrConflict = errors.New("instachat: conflict")
	// ErrKeyReused: the idempotency key was first used for a different request (422).
	ErrKeyReused = errors.New("instachat: idempotency key reused for a different request")
	// ErrRateLimited: too many requests; Error.RetryAfter says when to come back (429).
	ErrRateLimited = errors.New("instachat: rate limited")
	// ErrUnavailable: a backing service or gateway is unavailable (502, 503, 504).
	ErrUnavailable = errors.New("instachat: unavailable")
	// ErrStale: a settings write named a version that is no longer the
	// current one (412 for If-Match, 409 for a version field): read the
	// settings again and reapply the change.
	ErrStale = errors.New("instachat: stale version")
	// ErrPreconditionRequired: a settings write named no version (428).
	ErrPreconditionRequired = errors.New("instachat: precondition required")
	// ErrOutcomeUnknown: a write ran out of attempts (or its context ended)
	// after an attempt that went unanswered, so it may have been applied.
	// Retrying it with the same idempotency key (see Response and
	// WithIdempotencyKey) is safe. Settings writes carry no key: read the
	// settings back instead.
	ErrOutcomeUnknown = errors.New("instachat: outcome unknown")
)

// Error is every answer outside 2xx.
type Error struct {
	// Op is the route, as "POST /api/v1/applications/{token}/chats": never
	// the path itself, which holds the application's token.
	Op         string
	StatusCode int
	// Message is the api's explanation (its JSON "error"), or the status
	// text when the body had none (a proxy's page).
	Message string
	// RequestID is the X-Request-ID the api answered with; quote it when
	// reporting a problem, it finds the request in the api's logs.
	RequestID string
	// RetryAfter is the server's Retry-After, 0 when absent.
	RetryAfter time.Duration
	// versioned: the answer to a write conditional on a version, whose 409
	// is ErrStale.
	versioned bool
}

func (e *Error) Error() string {
	s := fmt.Sprintf("instachat: %s: %d %s: %s", e.Op, e.StatusCode, http.StatusText(e.StatusCode), e.Message)
	if e.RequestID != "" {
		s += " (request " + e.RequestID + ")"
	}
	return s
}

// Is matches the sentinel of e's status.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrInvalid:
		return e.StatusCode == http.StatusBadRequest || e.StatusCode == http.StatusRequestEntityTooLarge ||
			e.StatusCode == http.StatusUnsupportedMediaType
	case ErrUnauthorized:
		return e.StatusCode == http.StatusUnauthorized || e.StatusCode == http.StatusForbidden
	case ErrNotFound:
		return e.StatusCode == http.StatusNotFound
	case ErrConflict:
		return e.StatusCode == http.StatusConflict
	case ErrStale:
		return e.StatusCode == http.StatusPreconditionFailed || (e.StatusCode == http.StatusConflict && e.versioned)
	case ErrPreconditionRequired:
		return e.StatusCode == http.StatusPreconditionRequired
	case ErrKeyReused:
		return e.StatusCode == http.StatusUnprocessableEntity
	case ErrRateLimited:
		return e.StatusCode == http.StatusTooManyRequests
	case ErrUnavailable:
		return e.StatusCode == http.StatusBadGateway || e.StatusCode == http.StatusServiceUnavailable ||
			e.StatusCode == http.StatusGatewayTimeout
	}
	return false
}

// StatusOf is the HTTP status of err's *Error, or 0 when no answer came (a
// network error, a timeout, a cancelled context) or err is nil.
func StatusOf(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.StatusCode
	}
	return 0
}

// isStale reports the statuses of a stale version.
func isStale(code int) bool {
	return code == http.StatusPreconditionFailed || code == http.StatusConflict
}

// outcomeError marks a write's final error as ErrOutcomeUnknown while
// keeping the error it wraps (an *Error, a network error) reachable.
type outcomeError struct {
	err     error
	keyless bool // sent without an idempotency key (a settings write)
}

func (e *outcomeError) Error() string {
	if e.keyless {
		return e.err.Error() + " (outcome unknown: an attempt went unanswered and may have been applied; it had no idempotency key, so read back what it changes before trying again)"
	}
	return e.err.Error() + " (outcome unknown: an attempt went unanswered and may have been applied; retrying with the same idempotency key is safe)"
}

func (e *outcomeError) Unwrap() []error { return []error{ErrOutcomeUnknown, e.err} }
