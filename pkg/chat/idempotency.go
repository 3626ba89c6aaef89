package chat

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
)

// Idempotency keys let a client retry a write safely: the same key for the
// same application (for application creation, the key alone) within the
// retention window gets the first answer back instead of a second effect.
// Only a digest of the key is ever stored (a key may be a secret: for
// application creation it recovers the token), and a digest of the request
// (its fingerprint) tells a retry from a different request under the same key.

// MaxIdempotencyKey is the longest Idempotency-Key accepted.
const MaxIdempotencyKey = 255

// ErrKeyReused means an idempotency key was first used for a different
// request (method, path or body); the api answers 422.
var ErrKeyReused = errors.New("idempotency key reused")

// KeyReused returns the error for a key first used for another request.
func KeyReused() error {
	return Newf(ErrKeyReused, nil, "Idempotency-Key was first used for a different request (method, path or body); use a new key for a new request")
}

// CheckIdempotencyKey refuses a key that is empty, longer than
// MaxIdempotencyKey or holds anything but printable ASCII (0x20–0x7E).
func CheckIdempotencyKey(key string) error {
	if len(key) == 0 || len(key) > MaxIdempotencyKey {
		return Invalidf("Idempotency-Key must be 1–%d printable ASCII characters", MaxIdempotencyKey)
	}
	for i := 0; i < len(key); i++ {
		if key[i] < 0x20 || key[i] > 0x7e {
			return Invalidf("Idempotency-Key must be 1–%d printable ASCII characters", MaxIdempotencyKey)
		}
	}
	return nil
}

// KeyHash is the name under which an idempotency key's record is stored: 32
// hex digits of a domain-separated SHA-256, never the key itself.
func KeyHash(key string) string {
	sum := sha256.Sum256([]byte("instachat idempotency key v1\x00" + key))
	return hex.EncodeToString(sum[:16])
}

// Fingerprint digests the parts that make a request what it is (method,
// path, payload) into 32 hex digits. Each part is length-prefixed, so no two
// different lists of parts collide by concatenation.
func Fingerprint(parts ...string) string {
	h := sha256.New()
	var n [8]byte
	for _, p := range parts {
		binary.BigEndian.PutUint64(n[:], uint64(len(p)))
		h.Write(n[:])
		h.Write([]byte(p))
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// SealToken encrypts an application's token for the record of its creation
// under an idempotency key (AES-256-GCM, with a key derived from the
// Idempotency-Key by HKDF-SHA256): the record lets a retry with the key get
// the token back, while a database dump, which holds only the key's digest,
// reveals nothing. Whoever holds the Idempotency-Key can recover the token
// until the record expires, so creation keys must be random.
func SealToken(idempotencyKey, token string) ([]byte, error) {
	aead, err := tokenAEAD(idempotencyKey)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return aead.Seal(nonce, nonce, []byte(token), nil), nil
}

// OpenToken decrypts what SealToken sealed with the same idempotency key.
func OpenToken(idempotencyKey string, sealed []byte) (string, error) {
	aead, err := tokenAEAD(idempotencyKey)
	if err != nil {
		return "", err
	}
	if len(sealed) < aead.NonceSize() {
		return "", errors.New("sealed token too short")
	}
	plain, err := aead.Open(nil, sealed[:aead.NonceSize()], sealed[aead.NonceSize():], nil)
	if err != nil {
		return "", err
	}
	return string(plain), nil
}

func tokenAEAD(idempotencyKey string) (cipher.AEAD, error) {
	key, err := hkdf.Key(sha256.New, []byte(idempotencyKey), nil, "instachat application token v1", 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}
