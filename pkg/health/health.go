// Package health serves /healthz (the process is alive) and /readyz (its
// dependencies answer) for the services that have no other HTTP surface.
package health

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
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
		// The checks run side by side, each with its own deadline, so a
		// dependency that hangs is the only one reported.
		results := make([]error, len(checks))
		var wg sync.WaitGroup
		for i, c := range checks {
			wg.Go(func() {
				ctx, cancel := context.WithTimeout(r.Context(), time.Second)
				defer cancel()
				results[i] = c.Run(ctx)
			})
		}
		wg.Wait()
		body := map[string]string{"status": "ok", "version": version}
		var down []string
		for i, c := range checks {
			body[c.Name] = "ok"
			if results[i] != nil {
				body[c.Name] = "unavailable"
				down = append(down, c.Name)
			}
		}
		if len(down) > 0 {
			body["status"], body["error"] = "unavailable", strings.Join(down, ", ")+" unreachable"
			write(w, http.StatusServiceUnavailable, body)
			return
		}
		write(w, http.StatusOK, body)
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
