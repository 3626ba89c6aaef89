package main

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"
)

// TestRunRefusesWeakInternalToken checks that the writer stops at
// configuration when INTERNAL_TOKEN is missing, a placeholder or short.
func TestRunRefusesWeakInternalToken(t *testing.T) {
	for _, tc := range []struct{ token, want string }{
		{"", "INTERNAL_TOKEN must be set"},
		{"change-me-dev-only", "INTERNAL_TOKEN is a placeholder"},
		{"0123456789abcdef", "INTERNAL_TOKEN is 16 characters"},
	} {
		vars := map[string]string{"MYSQL_DSN": "nobody:x@tcp(127.0.0.1:1)/none", "MYSQL_CREATE_DATABASE": "false",
			"INTERNAL_TOKEN": tc.token, "HTTP_ADDR": "127.0.0.1:0"}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := run(ctx, func(k string) string { return vars[k] }, io.Discard)
		cancel()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("INTERNAL_TOKEN %q: got %v, want an error containing %q", tc.token, err, tc.want)
		}
	}
}

// TestRunRefusesBadWebhookSettings checks that each WEBHOOK_* setting is
// validated at start-up with an error that names it.
func TestRunRefusesBadWebhookSettings(t *testing.T) {
	for _, tc := range []struct{ key, value, want string }{
		{"WEBHOOK_KEY", "change-me-dev-only", "WEBHOOK_KEY is a placeholder"},
		{"WEBHOOK_KEY", "0123456789abcdef", "WEBHOOK_KEY is 16 characters"},
		{"WEBHOOK_ALLOW_HOSTS", "https://example.com", "WEBHOOK_ALLOW_HOSTS: webhook allow-list entry"},
		{"WEBHOOK_TIMEOUT", "five", "WEBHOOK_TIMEOUT: \"five\" is not a duration"},
		{"WEBHOOK_TIMEOUT", "2m", "WEBHOOK_TIMEOUT must be from 100ms to 1m"},
		{"WEBHOOK_CONCURRENCY", "0", "WEBHOOK_CONCURRENCY must be from 1 to 1024"},
		{"WEBHOOK_MAX_ATTEMPTS", "0", "WEBHOOK_MAX_ATTEMPTS must be from 1 to 100"},
		{"WEBHOOK_BACKOFF", "1ms", "WEBHOOK_BACKOFF must be at least 10ms"},
		{"WEBHOOK_BACKOFF_MAX", "1s", "WEBHOOK_BACKOFF_MAX must be from WEBHOOK_BACKOFF (5s) to 168h"},
		{"WEBHOOK_PAUSE_AFTER", "0s", "WEBHOOK_PAUSE_AFTER must be from 1s to 720h"},
		{"WEBHOOK_PAUSE_FAILURES", "0", "WEBHOOK_PAUSE_FAILURES must be at least 1"},
	} {
		vars := map[string]string{"MYSQL_DSN": "nobody:x@tcp(127.0.0.1:1)/none", "MYSQL_CREATE_DATABASE": "false",
			"INTERNAL_TOKEN": "3c9f0a7d2e5b8c1f4a6d9e2b7c0f3a5d", "HTTP_ADDR": "127.0.0.1:0", tc.key: tc.value}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := run(ctx, func(k string) string { return vars[k] }, io.Discard)
		cancel()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s=%q: got %v, want an error containing %q", tc.key, tc.value, err, tc.want)
		}
	}
}
