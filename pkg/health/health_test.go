package health_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/instachat/instachat/pkg/health"
)

// TestReadyzNamesOnlyWhatIsDown checks that a dependency that hangs is the
// only one reported: each check has its own deadline, so the hung one does
// not use up the others' time.
func TestReadyzNamesOnlyWhatIsDown(t *testing.T) {
	hung := func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }
	ok := func(ctx context.Context) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		return nil
	}
	tests := []struct {
		name   string
		checks []health.Check
		status int
		want   map[string]string
	}{
		{"all up", []health.Check{{Name: "mysql", Run: ok}, {Name: "redis", Run: ok}}, http.StatusOK,
			map[string]string{"status": "ok", "mysql": "ok", "redis": "ok"}},
		{"mysql hangs", []health.Check{{Name: "mysql", Run: hung}, {Name: "redis", Run: ok}}, http.StatusServiceUnavailable,
			map[string]string{"status": "unavailable", "mysql": "unavailable", "redis": "ok", "error": "mysql unreachable"}},
		{"both fail", []health.Check{{Name: "mysql", Run: func(context.Context) error { return errors.New("refused") }}, {Name: "redis", Run: hung}},
			http.StatusServiceUnavailable, map[string]string{"mysql": "unavailable", "redis": "unavailable", "error": "mysql, redis unreachable"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			health.Handler("v", tt.checks, nil).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
			var got map[string]string
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
				t.Fatal(err)
			}
			if rec.Code != tt.status {
				t.Errorf("status: got %d, want %d", rec.Code, tt.status)
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Errorf("%s: got %q, want %q (body %v)", k, got[k], v, got)
				}
			}
		})
	}
}
