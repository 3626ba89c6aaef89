package httpapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestReadyzNamesSearch: /readyz checks search as a third dependency; search
// down alone leaves the api ready but degraded, since only searches need it.
func TestReadyzNamesSearch(t *testing.T) {
	d := newDeps(t, 1)
	eng := d.eng
	srv := httptest.NewServer(NewServer(Config{Version: "test"}, d.svc, d.in, d.log))
	t.Cleanup(srv.Close)

	readyz := func() (int, Readiness) {
		t.Helper()
		resp, err := http.Get(srv.URL + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var r Readiness
		if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
			t.Fatalf("decode /readyz: %v", err)
		}
		return resp.StatusCode, r
	}
	tests := []struct {
		name       string
		before     func()
		wantStatus int
		want       Readiness
	}{
		{"all up", func() {}, http.StatusOK, Readiness{Status: "ok", Version: "test", MySQL: "ok", Redis: "ok", Search: "ok"}},
		{"search down", func() { eng.Close() }, http.StatusOK, Readiness{Status: "degraded", Version: "test", MySQL: "ok", Redis: "ok", Search: "unavailable"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.before()
			status, got := readyz()
			if status != tt.wantStatus || got != tt.want {
				t.Errorf("GET /readyz: got %d %+v, want %d %+v", status, got, tt.wantStatus, tt.want)
			}
		})
	}
}
