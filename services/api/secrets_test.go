package main

import (
	"context"
	"io"
	"net"
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
		name                     string
		internal, admin, webhook string
		want                     string
	}{
		{"no INTERNAL_TOKEN", "", "", "", "INTERNAL_TOKEN must be set"},
		{"shipped compose default", "change-me-dev-only", "", "", "INTERNAL_TOKEN is a placeholder"},
		{"short INTERNAL_TOKEN", good[:20], "", "", "INTERNAL_TOKEN is 20 characters"},
		{"placeholder ADMIN_TOKEN", good, "change-me", "", "ADMIN_TOKEN is a placeholder"},
		{"short ADMIN_TOKEN", good, "hunter2hunter2", "", "ADMIN_TOKEN is 14 characters"},
		{"placeholder WEBHOOK_KEY", good, "", "changeme", "WEBHOOK_KEY is a placeholder"},
		{"short WEBHOOK_KEY", good, "", "webhook-key-0123", "WEBHOOK_KEY is 16 characters"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// An address nothing listens on: were the secret accepted, the
			// api would fail to reach MySQL instead of touching a database.
			vars := map[string]string{"MYSQL_DSN": "nobody:x@tcp(127.0.0.1:1)/none", "MYSQL_CREATE_DATABASE": "false",
				"INTERNAL_TOKEN": tc.internal, "ADMIN_TOKEN": tc.admin, "WEBHOOK_KEY": tc.webhook, "HTTP_ADDR": "127.0.0.1:0"}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err := serve(ctx, envOf(vars), io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
			for _, secret := range []string{tc.internal, tc.admin, tc.webhook} {
				if len(secret) >= 8 && strings.Contains(err.Error(), secret) {
					t.Errorf("error %q repeats a secret", err)
				}
			}
		})
	}
}

// TestServeFailsAtOnceOnATakenPort checks that the api binds its port before
// anything else: a taken address is the error (not a MySQL one, nor an
// "api listening" line for a port another process holds).
func TestServeFailsAtOnceOnATakenPort(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	vars := map[string]string{"MYSQL_DSN": "nobody:x@tcp(127.0.0.1:1)/none", "MYSQL_CREATE_DATABASE": "false",
		"INTERNAL_TOKEN": "4be1c4f0a2b9d7e6c5f8a1b3d2e4f6a8", "HTTP_ADDR": taken.Addr().String()}
	var out strings.Builder
	err = serve(t.Context(), envOf(vars), &out)
	if err == nil || !strings.Contains(err.Error(), "listen") || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("got %v, want the listen error", err)
	}
	if strings.Contains(out.String(), "api listening") {
		t.Errorf("the log says the api listens on a port it could not bind:\n%s", out.String())
	}
}
