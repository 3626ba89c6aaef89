package webhook

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Headers of a delivery.
const (
	// HeaderSignature carries Sign's value: "t=<unix>,v1=<hex>[,v1=<hex>…]".
	HeaderSignature = "X-InstaChat-Signature"
	// HeaderDelivery carries the delivery id; retries repeat it, so
	// receivers deduplicate on it.
	HeaderDelivery = "X-InstaChat-Delivery"
	// HeaderAttempt carries the attempt number: 1, 2, …
	HeaderAttempt = "X-InstaChat-Attempt"
	// HeaderEvent carries the event type, such as "message.created".
	HeaderEvent = "X-InstaChat-Event"
	// HeaderEventPosition carries the event's "<gen>-<seq>" stream position.
	HeaderEventPosition = "X-InstaChat-Event-Position"
	// UserAgent is the User-Agent of every delivery.
	UserAgent = "InstaChat-Webhooks/1"
)

// SecretPrefix starts every signing secret, so a leaked one is recognisable.
const SecretPrefix = "whsec_"

// NewSecret returns a new signing secret: SecretPrefix followed by 32 random
// bytes in unpadded base64url (49 characters in all).
func NewSecret() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("new webhook secret: %w", err)
	}
	return SecretPrefix + base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// Sign returns the HeaderSignature value for body sent at t: the Unix time
// in seconds, then for each secret a v1 entry, the hex HMAC-SHA256 of
// "<t>.<body>" keyed with the secret string's bytes (prefix included).
// Several secrets give several v1 entries, so receivers holding either the
// old or the new secret accept the delivery while a rotation overlaps. No
// secrets gives "t=<unix>" alone, which no receiver should accept.
func Sign(secrets []string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	var b strings.Builder
	b.Grow(len("t=") + len(ts) + len(secrets)*len(",v1=") + len(secrets)*hex.EncodedLen(sha256.Size))
	b.WriteString("t=")
	b.WriteString(ts)
	for _, s := range secrets {
		m := hmac.New(sha256.New, []byte(s))
		m.Write([]byte(ts))
		m.Write([]byte{'.'})
		m.Write(body)
		b.WriteString(",v1=")
		b.WriteString(hex.EncodeToString(m.Sum(nil)))
	}
	return b.String()
}
