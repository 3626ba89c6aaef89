package settings

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
)

// Sealer encrypts webhook signing secrets for MySQL (AES-256-GCM, with a key
// derived by HKDF-SHA256 from WEBHOOK_KEY), bound to their endpoint's id: a
// database dump or a row copied to another endpoint reveals nothing. The api
// seals what it generates; the writer opens what it signs with.
type Sealer struct {
	aead cipher.AEAD
}

// NewSealer derives the sealing key from the operator's WEBHOOK_KEY (a
// random value, checked by config.Env.Secret).
func NewSealer(key string) (*Sealer, error) {
	if key == "" {
		return nil, errors.New("settings: no WEBHOOK_KEY to seal webhook secrets with")
	}
	k, err := hkdf.Key(sha256.New, []byte(key), nil, "instachat webhook secrets v1", 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Sealer{aead: aead}, nil
}

// Seal encrypts secret for endpoint id.
func (s *Sealer) Seal(id, secret string) ([]byte, error) {
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(secret)+s.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return s.aead.Seal(nonce, nonce, []byte(secret), []byte(id)), nil
}

// Open decrypts what Seal sealed for endpoint id. It fails when the key is
// not the one that sealed it (WEBHOOK_KEY changed) or the row was altered.
func (s *Sealer) Open(id string, sealed []byte) (string, error) {
	n := s.aead.NonceSize()
	if len(sealed) < n {
		return "", fmt.Errorf("webhook %s: sealed secret too short", id)
	}
	plain, err := s.aead.Open(nil, sealed[:n], sealed[n:], []byte(id))
	if err != nil {
		return "", fmt.Errorf("webhook %s: cannot open its secret (was WEBHOOK_KEY changed?): %w", id, err)
	}
	return string(plain), nil
}
