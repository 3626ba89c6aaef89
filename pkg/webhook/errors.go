package webhook

import "errors"

// Errors returned by CheckURL and, wrapped in *url.Error, by the Client.
// Their messages are meant for the tenant who chose the URL: they name the
// host and the address at fault, never our own network.
var (
	// ErrInvalidURL is matched by errors for a URL that is not a usable
	// webhook URL at all (not absolute, not http(s), userinfo, fragment…).
	ErrInvalidURL = errors.New("invalid webhook url")
	// ErrForbidden is matched by errors for a destination the policy
	// refuses: a non-public address, or plain http to a host that is not
	// allow-listed.
	ErrForbidden = errors.New("webhook destination forbidden")
	// ErrUnresolved is matched by errors for a host name without addresses.
	ErrUnresolved = errors.New("webhook host does not resolve")
)

// policyError is an error whose whole text is safe to show a tenant: its
// sentinel, then the detail.
type policyError struct {
	sentinel error
	detail   string
}

func (e *policyError) Error() string { return e.sentinel.Error() + ": " + e.detail }
func (e *policyError) Unwrap() error { return e.sentinel }

func invalid(detail string) error    { return &policyError{ErrInvalidURL, detail} }
func forbidden(detail string) error  { return &policyError{ErrForbidden, detail} }
func unresolved(detail string) error { return &policyError{ErrUnresolved, detail} }
