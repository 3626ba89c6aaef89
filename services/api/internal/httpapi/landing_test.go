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

// TestJSONEndsWithANewline checks that JSON answers, errors included, end
// with a newline and that other bodies are left alone.
func TestJSONEndsWithANewline(t *testing.T) {
	r := gin.New()
	r.Use(jsonNewline())
	r.GET("/ok", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"a": 1}) })
	r.GET("/err", func(c *gin.Context) { fail(c, http.StatusBadRequest, "no") })
	r.GET("/html", (&handlers{}).landing)
	r.GET("/empty", func(c *gin.Context) { c.Status(http.StatusNoContent) })
	for path, want := range map[string]string{"/ok": "{\"a\":1}\n", "/err": "{\"error\":\"no\"}\n"} {
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Body.String() != want {
			t.Errorf("GET %s: got %q, want %q", path, rec.Body.String(), want)
		}
	}
	rec := httptest.NewRecorder()
	r.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/html", nil))
	if strings.HasSuffix(rec.Body.String(), "\n\n") {
		t.Errorf("HTML page got a newline added")
	}
	rec = httptest.NewRecorder()
	r.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/empty", nil))
	if rec.Body.Len() != 0 {
		t.Errorf("204: got body %q, want none", rec.Body.String())
	}
}
