package main

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"
)

// TestServeRefusesMalformedRateLimits checks that the api stops at
// configuration, naming the variable, when a rate limit setting or a trusted
// proxy is malformed, also while limiting is off.
func TestServeRefusesMalformedRateLimits(t *testing.T) {
	for _, tc := range []struct {
		name string
		vars map[string]string
		want string
	}{
		{"RATE_LIMIT yes", map[string]string{"RATE_LIMIT": "yes"}, `RATE_LIMIT "yes": want on or off`},
		{"RATE_LIMIT empty", map[string]string{"RATE_LIMIT": " "}, `RATE_LIMIT " ": want on or off`},
		{"applications in words", map[string]string{"RATE_LIMIT_APPLICATIONS": "10 per minute"}, `RATE_LIMIT_APPLICATIONS "10 per minute": no /`},
		{"applications zero", map[string]string{"RATE_LIMIT_APPLICATIONS": "0/1m"}, `RATE_LIMIT_APPLICATIONS "0/1m": requests`},
		{"writes in milliseconds", map[string]string{"RATE_LIMIT_WRITES": "200/500ms"}, `RATE_LIMIT_WRITES "200/500ms": period 500ms is not a whole number of seconds`},
		{"writes with a bare burst", map[string]string{"RATE_LIMIT_WRITES": "200/1s,400"}, `RATE_LIMIT_WRITES "200/1s,400"`},
		{"malformed while off", map[string]string{"RATE_LIMIT": "off", "RATE_LIMIT_WRITES": "lots"}, `RATE_LIMIT_WRITES "lots"`},
		{"proxy host name", map[string]string{"TRUSTED_PROXIES": "10.0.0.0/8,lb.internal"}, `TRUSTED_PROXIES: "lb.internal" is neither an address nor a CIDR`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// An address nothing listens on: were the settings accepted, the
			// api would fail to reach MySQL instead of naming them.
			vars := map[string]string{"MYSQL_DSN": "nobody:x@tcp(127.0.0.1:1)/none", "MYSQL_CREATE_DATABASE": "false",
				"INTERNAL_TOKEN": "4be1c4f0a2b9d7e6c5f8a1b3d2e4f6a8", "HTTP_ADDR": "127.0.0.1:0"}
			for k, v := range tc.vars {
				vars[k] = v
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err := serve(ctx, envOf(vars), io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}
