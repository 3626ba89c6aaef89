package httpapi

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
)

func TestLandingLinksEverySurface(t *testing.T) {
	for _, admin := range []string{"", "an-admin-token"} {
		r := gin.New()
		h := &handlers{cfg: Config{Version: "v1.2.3", AdminToken: admin}}
		r.GET("/", h.landing)
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
		body := rec.Body.String()
		if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
			t.Fatalf("GET /: got %d %q, want 200 HTML", rec.Code, rec.Header().Get("Content-Type"))
		}
		for _, want := range []string{`href="/swagger/index.html"`, `href="/admin/queues"`, `href="/metrics"`, `href="/healthz"`, `href="/readyz"`, "v1.2.3"} {
			if !strings.Contains(body, want) {
				t.Errorf("landing page (admin %q) lacks %s", admin, want)
			}
		}
		if off := strings.Contains(body, "set <code>ADMIN_TOKEN</code>"); off != (admin == "") {
			t.Errorf("landing page with admin token %q: says the dashboard is off: %v", admin, off)
		}
	}
}
