package chat

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
)

// tokenBytes is the entropy of an application token: 192 bits.
const tokenBytes = 24

// NewToken returns a fresh application token: 192 random bits from crypto/rand,
// base64url-encoded without padding (32 characters, URL-safe).
func NewToken() (string, error) {
	b := make([]byte, tokenBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("read random token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// ValidToken reports whether s has the shape of a token, so malformed tokens
// are refused before any lookup.
func ValidToken(s string) bool {
	if len(s) != base64.RawURLEncoding.EncodedLen(tokenBytes) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// TokenDigest names an application everywhere outside the api's edge: Redis
// keys, queued jobs and applications.token_digest in MySQL. It is the first
// 96 bits of the token's SHA-256 in hex, so a secret never shows up in Redis
// MONITOR, SLOWLOG, queue dumps or dashboards.
func TokenDigest(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:12])
}
