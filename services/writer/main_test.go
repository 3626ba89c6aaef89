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
