package chat_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/instachat/instachat/pkg/chat"
)

func TestCheckIdempotencyKey(t *testing.T) {
	for _, ok := range []string{"a", "order-42", strings.Repeat("k", 255), " ~!{}"} {
		if err := chat.CheckIdempotencyKey(ok); err != nil {
			t.Errorf("CheckIdempotencyKey(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"", strings.Repeat("k", 256), "tab\there", "del\x7f", "é", "nul\x00"} {
		err := chat.CheckIdempotencyKey(bad)
		if !errors.Is(err, chat.ErrInvalid) || !strings.Contains(chat.ClientMessage(err, ""), "Idempotency-Key") {
			t.Errorf("CheckIdempotencyKey(%q): got %v, want ErrInvalid naming the header", bad, err)
		}
	}
}

func TestKeyHashAndFingerprint(t *testing.T) {
	if a, b := chat.KeyHash("k1"), chat.KeyHash("k2"); a == b || len(a) != 32 || strings.Contains(a, "k1") {
		t.Errorf("KeyHash: got %q and %q, want 32 distinct hex digits that do not hold the key", a, b)
	}
	if chat.KeyHash("k1") != chat.KeyHash("k1") {
		t.Error("KeyHash is not deterministic")
	}
	same := chat.Fingerprint("POST", "/a", "hi")
	if same != chat.Fingerprint("POST", "/a", "hi") || len(same) != 32 {
		t.Errorf("Fingerprint: got %q, want 32 stable hex digits", same)
	}
	// Length prefixes: moving a boundary changes the fingerprint.
	for _, other := range [][]string{{"POST", "/ah", "i"}, {"PUT", "/a", "hi"}, {"POST", "/a", "hi", ""}} {
		if chat.Fingerprint(other...) == same {
			t.Errorf("Fingerprint(%q) equals Fingerprint(POST, /a, hi)", other)
		}
	}
}

func TestKeyReusedIsItsOwnKind(t *testing.T) {
	err := chat.KeyReused()
	if !errors.Is(err, chat.ErrKeyReused) || errors.Is(err, chat.ErrInvalid) || errors.Is(err, chat.ErrConflict) {
		t.Errorf("KeyReused: got %v, want ErrKeyReused only", err)
	}
}

func TestSealToken(t *testing.T) {
	sealed, err := chat.SealToken("key-1", "the-token")
	if err != nil || strings.Contains(string(sealed), "the-token") {
		t.Fatalf("SealToken: got %q, %v; want ciphertext", sealed, err)
	}
	if got, err := chat.OpenToken("key-1", sealed); err != nil || got != "the-token" {
		t.Errorf("OpenToken: got %q, %v; want the-token", got, err)
	}
	if _, err := chat.OpenToken("key-2", sealed); err == nil {
		t.Error("OpenToken with another key: opened, want an error")
	}
	if again, _ := chat.SealToken("key-1", "the-token"); string(again) == string(sealed) {
		t.Error("two seals of one token are equal: the nonce is not random")
	}
}
