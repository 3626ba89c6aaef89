// Package health serves /healthz (the process is alive) and /readyz (its
// dependencies answer) for the services that have no other HTTP surface.
package health

import (
	"context"
	"encoding/json"
	"net/http"
	"time"
)

// Check is one named readiness check.
type Check struct {
	Name string
	Run  func(ctx context.Context) error
}

// Handler returns a mux with /healthz and /readyz. extra, when not nil, serves
// every other path.
func Handler(version string, checks []Check, extra http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		write(w, http.StatusOK, map[string]string{"status": "ok", "version": version})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		for _, c := range checks {
			if err := c.Run(ctx); err != nil {
				write(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "error": c.Name + " unreachable"})
				return
			}
		}
		write(w, http.StatusOK, map[string]string{"status": "ok", "version": version})
	})
	if extra != nil {
		mux.Handle("/", extra)
	}
	return mux
}

func write(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}
