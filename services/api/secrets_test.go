package main

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"
)

// TestServeRefusesWeakSecrets checks that the api stops at configuration
// when INTERNAL_TOKEN or ADMIN_TOKEN is missing, a placeholder or short, and
// that the error names the variable but not its value.
func TestServeRefusesWeakSecrets(t *testing.T) {
	const good = "4be1c4f0a2b9d7e6c5f8a1b3d2e4f6a8"
	for _, tc := range []struct {
		name            string
		internal, admin string
		want            string
	}{
		{"no INTERNAL_TOKEN", "", "", "INTERNAL_TOKEN must be set"},
		{"shipped compose default", "change-me-dev-only", "", "INTERNAL_TOKEN is a placeholder"},
		{"short INTERNAL_TOKEN", good[:20], "", "INTERNAL_TOKEN is 20 characters"},
		{"placeholder ADMIN_TOKEN", good, "change-me", "ADMIN_TOKEN is a placeholder"},
		{"short ADMIN_TOKEN", good, "hunter2hunter2", "ADMIN_TOKEN is 14 characters"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// An address nothing listens on: were the secret accepted, the
			// api would fail to reach MySQL instead of touching a database.
			vars := map[string]string{"MYSQL_DSN": "nobody:x@tcp(127.0.0.1:1)/none", "MYSQL_CREATE_DATABASE": "false",
				"INTERNAL_TOKEN": tc.internal, "ADMIN_TOKEN": tc.admin, "HTTP_ADDR": "127.0.0.1:0"}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err := serve(ctx, envOf(vars), io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
			for _, secret := range []string{tc.internal, tc.admin} {
				if len(secret) >= 8 && strings.Contains(err.Error(), secret) {
					t.Errorf("error %q repeats a secret", err)
				}
			}
		})
	}
}
