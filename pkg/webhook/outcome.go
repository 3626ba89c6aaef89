package webhook

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"syscall"
	"time"
)

// Kind classifies a delivery's outcome; its values are metrics labels.
type Kind string

// The outcomes of a delivery.
const (
	KindOK        Kind = "ok"         // the receiver answered 2xx
	KindHTTPError Kind = "http_error" // it answered anything else, 3xx included
	KindTimeout   Kind = "timeout"    // no complete answer within the timeout
	KindConnect   Kind = "connect"    // no connection: refused, reset, unresolved host
	KindForbidden Kind = "forbidden"  // the policy refused the URL or address
	KindTLS       Kind = "tls"        // the TLS handshake failed
	// KindCanceled means the caller's context was canceled (shutdown): the
	// attempt did not conclude and should not count against the endpoint.
	KindCanceled Kind = "canceled"
)

// classify turns a client.Do error into a Kind and a message for the
// tenant. The raw error is not shown: it can carry our resolver's or our
// own addresses.
func classify(ctx context.Context, err error, timeout time.Duration) (Kind, string) {
	var (
		pe *policyError
		ue *url.Error
	)
	inner := err
	if errors.As(err, &ue) {
		inner = ue.Err // drop the method and URL around the cause
	}
	switch {
	case errors.Is(ctx.Err(), context.Canceled):
		return KindCanceled, "delivery canceled"
	case errors.As(err, &pe) && errors.Is(pe, ErrUnresolved):
		return KindConnect, pe.Error()
	case errors.As(err, &pe):
		return KindForbidden, pe.Error()
	case isTimeout(err):
		if timeout > 0 {
			return KindTimeout, "no complete response within " + timeout.String()
		}
		return KindTimeout, "timed out"
	case isTLS(inner):
		return KindTLS, "TLS handshake failed: " + tlsDetail(inner)
	}
	return KindConnect, connectDetail(inner)
}

// isTimeout reports whether any error in err's tree is a timeout. A
// net.Error found by errors.As would not do: it is the *url.Error on top,
// whose Timeout method does not look into an errors.Join of dial errors.
func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	found := false
	walk(err, func(e error) {
		if t, ok := e.(interface{ Timeout() bool }); ok && t.Timeout() {
			found = true
		}
	})
	return found
}

// walk calls f on every error in err's tree.
func walk(err error, f func(error)) {
	if err == nil {
		return
	}
	f(err)
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		walk(u.Unwrap(), f)
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			walk(e, f)
		}
	}
}

// httpToHTTPS is net/http's message when an https URL reaches a server
// that answers in plain HTTP.
const httpToHTTPS = "server gave HTTP response to HTTPS client"

// isTLS reports whether err comes from the TLS handshake or certificate
// verification. Some crypto/tls errors have no exported type; their text
// starts with "tls: ".
func isTLS(err error) bool {
	var (
		verify   *tls.CertificateVerificationError
		record   tls.RecordHeaderError
		alert    tls.AlertError
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		badCert  x509.CertificateInvalidError
		op       *net.OpError
	)
	if errors.As(err, &verify) || errors.As(err, &record) || errors.As(err, &alert) ||
		errors.As(err, &unknown) || errors.As(err, &hostname) || errors.As(err, &badCert) ||
		errors.As(err, &op) && op.Op == "remote error" {
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "tls: ") || strings.Contains(msg, "x509: ") || strings.Contains(msg, httpToHTTPS)
}

// tlsDetail is the innermost useful text of a TLS error.
func tlsDetail(err error) string {
	var (
		verify *tls.CertificateVerificationError
		record tls.RecordHeaderError
	)
	switch {
	case errors.As(err, &verify):
		return verify.Err.Error()
	case errors.As(err, &record), strings.Contains(err.Error(), httpToHTTPS):
		return "the server did not answer in TLS (plain http on this port?)"
	}
	msg := err.Error()
	for _, marker := range []string{"remote error: tls: ", "tls: ", "x509: "} {
		if i := strings.Index(msg, marker); i >= 0 {
			return msg[i:]
		}
	}
	return "handshake error"
}

// connectDetail describes a failure to connect or to get an answer.
func connectDetail(err error) string {
	var errno syscall.Errno
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset by the receiver"
	case errors.As(err, &errno):
		return "could not connect: " + errno.Error()
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "the receiver closed the connection without answering"
	}
	return "could not get a response from the receiver"
}
