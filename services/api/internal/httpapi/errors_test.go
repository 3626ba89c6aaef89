package httpapi

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/instachat/instachat/pkg/chat"
	"github.com/instachat/instachat/pkg/search"
)

// TestBeyondWindowIsAClientError: an engine's ErrBeyondWindow comes back
// wrapped in the service's "search unavailable"; it is still a 400 without
// Retry-After, so clients do not retry it forever.
func TestBeyondWindowIsAClientError(t *testing.T) {
	h := &handlers{log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	engineErr := fmt.Errorf("elasticsearch search: %w", search.ErrBeyondWindow)
	for _, err := range []error{
		search.Query{Offset: search.MaxWindow, Limit: 1}.CheckWindow(),
		fmt.Errorf("search: %w: %w", chat.Unavailable("search"), engineErr),
	} {
		rec := httptest.NewRecorder()
		c, _ := gin.CreateTestContext(rec)
		c.Request = httptest.NewRequest(http.MethodGet, "/", nil)
		h.respondErr(c, err)
		if rec.Code != http.StatusBadRequest || rec.Header().Get("Retry-After") != "" || !strings.Contains(rec.Body.String(), "at most 10000") {
			t.Errorf("respondErr(%v): got %d (Retry-After %q) %s, want 400 naming the window", err, rec.Code, rec.Header().Get("Retry-After"), rec.Body.String())
		}
	}
}
