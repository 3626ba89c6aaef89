package client

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Headers of a webhook delivery. Only the body is signed: the others are
// hints, and the event itself is read from the body.
const (
	// HeaderWebhookSignature is "t=<unix>,v1=<hex>[,v1=<hex>]" (see
	// VerifyWebhook).
	HeaderWebhookSignature = "X-InstaChat-Signature"
	// HeaderWebhookDelivery is the delivery's id: every attempt repeats it.
	HeaderWebhookDelivery = "X-InstaChat-Delivery"
	// HeaderWebhookAttempt is the attempt's number: 1, 2, …
	HeaderWebhookAttempt = "X-InstaChat-Attempt"
	// HeaderWebhookEvent is the event's type.
	HeaderWebhookEvent = "X-InstaChat-Event"
	// HeaderWebhookPosition is the event's position (its ID).
	HeaderWebhookPosition = "X-InstaChat-Event-Position"
)

// DefaultWebhookTolerance is how far a delivery's signed time may be from
// the receiver's clock, either way: a delivery recorded and sent again
// later is refused as a replay.
const DefaultWebhookTolerance = 5 * time.Minute

// MaxWebhookBytes bounds the body ParseWebhook reads: an event is far
// smaller (a message body is at most 16 KiB).
const MaxWebhookBytes = 1 << 20

// Reasons VerifyWebhook refuses a delivery, for errors.Is.
var (
	// ErrWebhookMalformed: no signature header, or not one of the form
	// "t=<unix>,v1=<64 hex digits>[,v1=…]".
	ErrWebhookMalformed = errors.New("instachat: webhook signature header malformed")
	// ErrWebhookSignature: no v1 signature is the body's under any of the
	// secrets: a forged or altered delivery, or a secret that is not (or no
	// longer) the endpoint's.
	ErrWebhookSignature = errors.New("instachat: webhook signature does not match")
	// ErrWebhookExpired: the signature is good but its time is further from
	// now than the tolerance: a replay, or a clock far off.
	ErrWebhookExpired = errors.New("instachat: webhook timestamp outside the tolerance")
)

// Delivery is what a webhook request says about itself besides the event.
type Delivery struct {
	// ID is the delivery's id (X-InstaChat-Delivery), the same on every
	// attempt: deliveries are at least once, so deduplicate by it. It is
	// not signed; the event's ID, signed in the body, is as unique per
	// endpoint.
	ID string
	// Attempt is 1 for the first attempt (X-InstaChat-Attempt; 0 if absent).
	Attempt int
	// SignedAt is the signature's time.
	SignedAt time.Time
}

// VerifyWebhook checks that body, as received, was signed by InstaChat with
// one of secrets at a time within tolerance of now (tolerance ≤ 0:
// DefaultWebhookTolerance). header is the X-InstaChat-Signature value:
// "t=<unix seconds>,v1=<hex>", where v1 is the HMAC-SHA256, keyed with the
// secret string (whsec_… whole), of "<t>.<body>". During a rotation's
// overlap there is one v1 per secret: any v1 matching any secret passes, so
// receivers can hold the old and the new secret meanwhile. Entries of
// schemes other than v1 are ignored. Signatures are compared in constant
// time (hmac.Equal). Errors match ErrWebhookMalformed, ErrWebhookSignature
// or ErrWebhookExpired.
func VerifyWebhook(secrets []string, header string, body []byte, now time.Time, tolerance time.Duration) error {
	_, err := verifyWebhook(secrets, header, body, now, tolerance)
	return err
}

// verifyWebhook is VerifyWebhook, returning the signed time.
func verifyWebhook(secrets []string, header string, body []byte, now time.Time, tolerance time.Duration) (time.Time, error) {
	if tolerance <= 0 {
		tolerance = DefaultWebhookTolerance
	}
	keys := 0
	for _, s := range secrets {
		if s != "" {
			keys++
		}
	}
	if keys == 0 {
		return time.Time{}, errors.New("instachat: webhook: no secret to verify the signature with")
	}
	ts, sigs, err := parseSignature(header)
	if err != nil {
		return time.Time{}, err
	}
	if !signedBy(secrets, ts, body, sigs) {
		return time.Time{}, fmt.Errorf("%w (%d signatures, %d secrets tried)", ErrWebhookSignature, len(sigs), keys)
	}
	sec, _ := strconv.ParseInt(ts, 10, 64) // parseSignature checked it
	signed := time.Unix(sec, 0)
	if d := now.Sub(signed); d > tolerance || d < -tolerance {
		return time.Time{}, fmt.Errorf("%w: signed at %s, %s from now, tolerance %s", ErrWebhookExpired,
			signed.UTC().Format(time.RFC3339), d.Round(time.Second), tolerance)
	}
	return signed, nil
}

// parseSignature splits a signature header into its timestamp, as sent
// (the signed text), and its v1 signatures.
func parseSignature(header string) (ts string, sigs [][]byte, err error) {
	malformed := func(why string, args ...any) (string, [][]byte, error) {
		return "", nil, fmt.Errorf("%w: %s", ErrWebhookMalformed, fmt.Sprintf(why, args...))
	}
	if strings.TrimSpace(header) == "" {
		return malformed("no %s header", HeaderWebhookSignature)
	}
	for i, part := range strings.Split(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return malformed("entry %d is not key=value", i+1)
		}
		switch k {
		case "t":
			if ts != "" {
				return malformed("two t= entries")
			}
			if n, err := strconv.ParseInt(v, 10, 64); err != nil || n < 0 || strings.Trim(v, "0123456789") != "" {
				return malformed("t= is not a Unix time in seconds")
			}
			ts = v
		case "v1":
			sig, err := hex.DecodeString(v)
			if err != nil || len(sig) != sha256.Size {
				return malformed("v1= entry %d is not %d hex digits", i+1, hex.EncodedLen(sha256.Size))
			}
			sigs = append(sigs, sig)
		}
	}
	switch {
	case ts == "":
		return malformed("no t= entry")
	case len(sigs) == 0:
		return malformed("no v1= signature")
	}
	return ts, sigs, nil
}

// signedBy reports whether any of sigs is the signature of "<ts>.<body>"
// under any of secrets.
func signedBy(secrets []string, ts string, body []byte, sigs [][]byte) bool {
	for _, s := range secrets {
		if s == "" {
			continue
		}
		want := mac(s, ts, body)
		for _, sig := range sigs {
			if hmac.Equal(want, sig) {
				return true
			}
		}
	}
	return false
}

func mac(secret, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// SignWebhook returns the X-InstaChat-Signature value the server sends with
// body at t, one v1 per secret: for tests of a receiver.
func SignWebhook(secrets []string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	var b strings.Builder
	b.WriteString("t=" + ts)
	for _, s := range secrets {
		b.WriteString(",v1=" + hex.EncodeToString(mac(s, ts, body)))
	}
	return b.String()
}

// ParseWebhook reads a delivery that InstaChat POSTed to a webhook
// endpoint: it verifies the body against secrets (VerifyWebhook, with the
// receiver's clock and DefaultWebhookTolerance) and decodes the event from
// it. A delivery that does not verify is an error matching one of the
// ErrWebhook* sentinels: answer it 400 and do nothing. Answer a good one
// with a 2xx once it is handled (or recorded); any other answer, or none
// within a few seconds, makes the server try again later with the same
// Delivery.ID.
func ParseWebhook(r *http.Request, secrets []string) (Event, Delivery, error) {
	var body []byte
	if r.Body != nil {
		b, err := io.ReadAll(io.LimitReader(r.Body, MaxWebhookBytes+1))
		if err != nil {
			return Event{}, Delivery{}, fmt.Errorf("instachat: webhook: read the body: %w", err)
		}
		if len(b) > MaxWebhookBytes {
			return Event{}, Delivery{}, fmt.Errorf("instachat: webhook: body larger than %d bytes", MaxWebhookBytes)
		}
		body = b
	}
	signed, err := verifyWebhook(secrets, r.Header.Get(HeaderWebhookSignature), body, time.Now(), 0)
	if err != nil {
		return Event{}, Delivery{}, err
	}
	var w wireEvent
	if err := json.Unmarshal(body, &w); err != nil {
		return Event{}, Delivery{}, fmt.Errorf("instachat: webhook: decode the event: %w", err)
	}
	attempt, _ := strconv.Atoi(r.Header.Get(HeaderWebhookAttempt))
	ev := Event{ID: w.ID, Type: w.Type, Chat: w.Chat, Message: w.Message, Body: w.Body, AcceptedAt: w.AcceptedAt}
	return ev, Delivery{ID: r.Header.Get(HeaderWebhookDelivery), Attempt: attempt, SignedAt: signed}, nil
}
