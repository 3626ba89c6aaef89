package client

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
)

// WriteOption adjusts one write call.
type WriteOption func(*writeOpts)

type writeOpts struct {
	key  string
	resp *Response
}

func collect(opts []WriteOption) writeOpts {
	var w writeOpts
	for _, o := range opts {
		o(&w)
	}
	return w
}

// WithIdempotencyKey sends key instead of a fresh random one: to retry, with
// the same key, a write whose outcome is unknown (ErrOutcomeUnknown). The
// server answers a key it has seen with the original status and body, and a
// key first used for a different request with ErrKeyReused. A key is 1–255
// printable ASCII characters. The key that creates an application gets its
// token back while the server keeps the key (24 h by default): treat it as
// a secret.
func WithIdempotencyKey(key string) WriteOption { return func(w *writeOpts) { w.key = key } }

// WithResponse fills r with what the answer said besides its body: status,
// request id, the idempotency key sent, whether the server replayed an
// earlier answer, and how many attempts it took. r is filled on errors too:
// its IdempotencyKey is the one to retry with.
func WithResponse(r *Response) WriteOption { return func(w *writeOpts) { w.resp = r } }

// Response describes the last attempt of a write.
type Response struct {
	StatusCode     int // 0 when no answer came
	RequestID      string
	IdempotencyKey string
	// Replayed is true when the server answered from its record of an
	// earlier attempt with the same key (Idempotent-Replayed: true).
	Replayed bool
	Attempts int
}

// NewIdempotencyKey returns 128 random bits as 32 hex digits: the key every
// write gets unless WithIdempotencyKey or WithKeyFunc says otherwise.
func NewIdempotencyKey() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read does not fail on the platforms Go supports
	return hex.EncodeToString(b[:])
}

// checkKey applies the server's rule before anything is sent.
func checkKey(key string) error {
	if len(key) < 1 || len(key) > 255 {
		return fmt.Errorf("%w: idempotency key must be 1–255 printable ASCII characters, got %d bytes", ErrInvalid, len(key))
	}
	for i := 0; i < len(key); i++ {
		if key[i] < 0x20 || key[i] > 0x7e {
			return fmt.Errorf("%w: idempotency key must be 1–255 printable ASCII characters (byte %d is %#x)", ErrInvalid, i, key[i])
		}
	}
	return nil
}
