package config_test

import (
	"strings"
	"testing"

	"github.com/instachat/instachat/pkg/config"
)

func TestSecret(t *testing.T) {
	const good = "9f3c2a7b41d85e06c1a4f9b27d3e8c5a" // 32 hex characters
	for _, tc := range []struct {
		name     string
		value    string
		required bool
		wantErr  string // empty: accepted
	}{
		{"random hex", good, true, ""},
		{"random base64url", "p2NvY3Jh-dGVfc2VjcmV0X3Rva2VuXw8", false, ""},
		{"unset, optional (feature off)", "", false, ""},
		{"unset, required", "", true, "must be set"},
		{"shipped compose default", "change-me-dev-only", true, "placeholder"},
		{"shipped kubernetes placeholder", "change-me", false, "placeholder"},
		{"long change-me", "change-me-" + good, true, "placeholder"},
		{"changeme", "CHANGEME" + good, true, "placeholder"},
		{"secret prefix", "secret-" + good, true, "placeholder"},
		{"password prefix", "Password" + good, true, "placeholder"},
		{"example prefix", "example-token-" + good, true, "placeholder"},
		{"placeholder prefix", "placeholder_" + good, true, "placeholder"},
		{"xxx", strings.Repeat("x", 40), true, "placeholder"},
		{"one character repeated", strings.Repeat("a", 64), false, "placeholder"},
		{"short pattern repeated", strings.Repeat("abc1", 10), true, "placeholder"},
		{"admin", "admin", false, "placeholder"},
		{"short", good[:31], true, "31 characters, want at least 32"},
		{"short optional", good[:16], false, "16 characters"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := config.NewEnv(func(k string) string {
				if k == "INTERNAL_TOKEN" {
					return tc.value
				}
				return ""
			})
			got := env.Secret("INTERNAL_TOKEN", "the reindex secret", tc.required)
			if got != tc.value {
				t.Errorf("got %q, want the variable's value %q", got, tc.value)
			}
			err := env.Err()
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("got error %v, want the value accepted", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("got error %v, want one containing %q", err, tc.wantErr)
			case err != nil && !strings.Contains(err.Error(), "INTERNAL_TOKEN"):
				t.Errorf("error %q does not name the variable", err)
			case err != nil && len(tc.value) >= 8 && strings.Contains(err.Error(), tc.value):
				t.Errorf("error %q repeats the secret's value", err)
			}
		})
	}
}

func TestSecretKeepsFirstError(t *testing.T) {
	env := config.NewEnv(func(k string) string {
		return map[string]string{"QUEUE_PARTITIONS": "x", "ADMIN_TOKEN": "change-me"}[k]
	})
	env.Int("QUEUE_PARTITIONS", 8)
	env.Secret("ADMIN_TOKEN", "opens /admin", false)
	if err := env.Err(); err == nil || !strings.Contains(err.Error(), "QUEUE_PARTITIONS") {
		t.Errorf("got %v, want the first error (QUEUE_PARTITIONS)", err)
	}
}

func TestPlaceholderAcceptsRandomSecrets(t *testing.T) {
	// What the README and deploy/local/run.sh generate must never look like a placeholder.
	for _, v := range []string{
		"4be1c4f0a2b9d7e6c5f8a1b3d2e4f6a8c0b9d8e7f6a5b4c3d2e1f0a9b8c7d6e5", // openssl rand -hex 32
		"0123456789abcdef0123456789abcdef",
		"Zm9vYmFyYmF6cXV4cXV1eHF1dXpxdXV6",
	} {
		if config.Placeholder(v) {
			t.Errorf("Placeholder(%q) = true, want false", v)
		}
	}
}
