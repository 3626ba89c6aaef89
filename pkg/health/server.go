package health

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// Serve serves h on addr until ctx ends, then shuts the server down
// gracefully, giving requests in flight up to grace to finish. It returns
// nil after that shutdown, or the error that kept it from serving (an
// address in use, say), so a main can stop on it. The writer and the cron
// serve their Handler (with /metrics) through it.
func Serve(ctx context.Context, addr string, h http.Handler, grace time.Duration) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("health server: %w", err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served: // stopped on its own: not a shutdown
		return fmt.Errorf("health server: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), grace)
	defer cancel()
	err = srv.Shutdown(shutdownCtx)
	if serveErr := <-served; !errors.Is(serveErr, http.ErrServerClosed) {
		return fmt.Errorf("health server: %w", serveErr)
	}
	if err != nil {
		return fmt.Errorf("health server shutdown: %w", err)
	}
	return nil
}
