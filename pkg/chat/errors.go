package chat

import (
	"errors"
	"fmt"
)

// Sentinel errors that callers check with errors.Is. The api maps each to one
// HTTP status in one place.
var (
	// ErrNotFound means the application, chat or message does not exist.
	ErrNotFound = errors.New("not found")
	// ErrInvalid means the input breaks a rule; the wrapped message says which.
	ErrInvalid = errors.New("invalid input")
	// ErrConflict means a concurrent change won and retries ran out.
	ErrConflict = errors.New("conflict")
	// ErrUnavailable means a dependency (database, Redis, search) cannot be reached.
	ErrUnavailable = errors.New("unavailable")
	// ErrOutcomeUnknown means a write was sent but its reply was lost (a
	// timeout, a cut connection, replicas that did not confirm it): it may
	// or may not have taken effect. It also matches ErrUnavailable.
	ErrOutcomeUnknown = errors.New("outcome unknown")
)

// Invalidf returns an error that wraps ErrInvalid with a message meant for the client.
func Invalidf(format string, args ...any) error {
	return &ClientError{kind: ErrInvalid, msg: fmt.Sprintf(format, args...)}
}

// NotFound returns an error that wraps ErrNotFound and names what was missing
// ("application", "chat", "message").
func NotFound(what string) error {
	return &ClientError{kind: ErrNotFound, msg: what + " not found"}
}

// Unavailable returns an error that wraps ErrUnavailable and tells the client
// which dependency is down ("search") and to try again.
func Unavailable(what string) error {
	return &ClientError{kind: ErrUnavailable, msg: what + " is unavailable; try again shortly"}
}

// OutcomeUnknown returns an error for a write whose outcome is unknown: it
// wraps ErrOutcomeUnknown and ErrUnavailable (the api answers 503) and tells
// the client that a plain retry may apply the write twice.
func OutcomeUnknown(what string) error {
	return &ClientError{kind: ErrUnavailable, also: ErrOutcomeUnknown,
		msg: what + " may or may not have been accepted (the reply was lost or not confirmed); a retry without an idempotency key may apply it twice"}
}

// Newf returns an error for the client of kind (ErrInvalid, ErrNotFound,
// ErrConflict or ErrUnavailable) that also matches also, a finer sentinel of
// the caller's package (nil for none): the api's one error mapping answers it
// by its kind, and the caller's own front ends can still tell it apart.
func Newf(kind, also error, format string, args ...any) error {
	return &ClientError{kind: kind, also: also, msg: fmt.Sprintf(format, args...)}
}

// ClientError is an error whose message is written for the client.
type ClientError struct {
	kind error
	also error // a second sentinel it matches, or nil
	msg  string
}

func (e *ClientError) Error() string { return e.msg }

// Is makes errors.Is match the error's kind (ErrInvalid, ErrNotFound,
// ErrConflict or ErrUnavailable) and its second sentinel, if any (for an
// unknown outcome, ErrOutcomeUnknown).
func (e *ClientError) Is(target error) bool {
	return target == e.kind || (e.also != nil && target == e.also)
}

// ClientMessage returns the client-facing message inside err, or fallback.
func ClientMessage(err error, fallback string) string {
	var ce *ClientError
	if errors.As(err, &ce) {
		return ce.msg
	}
	return fallback
}
