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
)

// Invalidf returns an error that wraps ErrInvalid with a message meant for the client.
func Invalidf(format string, args ...any) error {
	return &invalidError{msg: fmt.Sprintf(format, args...)}
}

type invalidError struct{ msg string }

func (e *invalidError) Error() string { return e.msg }
func (e *invalidError) Is(target error) bool {
	return target == ErrInvalid
}
