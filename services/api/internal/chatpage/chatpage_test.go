package chatpage

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

const wantCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// serve mounts the page as the api does: the page at Path, assets below it.
func serve(u *UI) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET "+u.cfg.Path, u.Page())
	mux.Handle("GET "+u.cfg.Path+"/assets/", u.Assets())
	return mux
}

func TestPageAndAssetsHeaders(t *testing.T) {
	h := serve(New(Config{}))
	tests := []struct {
		path, method string
		status       int
		ctype        string
		contains     string
	}{
		{"/chat", http.MethodGet, 200, "text/html; charset=utf-8", `<script src="/chat/assets/chat.js" defer></script>`},
		{"/chat", http.MethodHead, 200, "text/html; charset=utf-8", ""},
		{"/chat/assets/chat.js", http.MethodGet, 200, "text/javascript; charset=utf-8", "window.icLog"},
		{"/chat/assets/chat.css", http.MethodGet, 200, "text/css; charset=utf-8", "#status"},
		{"/chat/assets/favicon.svg", http.MethodGet, 200, "image/svg+xml", "<svg"},
		{"/chat/assets/", http.MethodGet, 404, "", ""},
		{"/chat/assets/nope.js", http.MethodGet, 404, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, nil))
			res := rec.Result()
			body, _ := io.ReadAll(res.Body)
			if res.StatusCode != tt.status {
				t.Fatalf("got status %d, want %d", res.StatusCode, tt.status)
			}
			for k, want := range map[string]string{
				"Content-Security-Policy": wantCSP,
				"X-Content-Type-Options":  "nosniff",
				"Cache-Control":           "no-cache",
				"X-Frame-Options":         "DENY",
				"Referrer-Policy":         "no-referrer",
			} {
				if k == "Cache-Control" && res.StatusCode != http.StatusOK {
					continue // net/http's error replies drop it: nothing is cached from them anyway
				}
				if got := res.Header.Get(k); got != want {
					t.Errorf("got %s %q, want %q", k, got, want)
				}
			}
			if tt.ctype != "" && res.Header.Get("Content-Type") != tt.ctype {
				t.Errorf("got Content-Type %q, want %q", res.Header.Get("Content-Type"), tt.ctype)
			}
			if !strings.Contains(string(body), tt.contains) {
				t.Errorf("body does not contain %q", tt.contains)
			}
			if tt.method == http.MethodHead && len(body) != 0 {
				t.Errorf("HEAD: got %d bytes of body, want none", len(body))
			}
		})
	}
}

func TestConfigPaths(t *testing.T) {
	u := New(Config{Path: "/try/", API: "/v2/"})
	rec := httptest.NewRecorder()
	serve(u).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/try", nil))
	body := rec.Body.String()
	for _, want := range []string{`data-api="/v2"`, `href="/try/assets/chat.css"`, `src="/try/assets/chat.js"`} {
		if !strings.Contains(body, want) {
			t.Errorf("page does not contain %q", want)
		}
	}
	rec = httptest.NewRecorder()
	serve(u).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/try/assets/chat.js", nil))
	if rec.Code != http.StatusOK {
		t.Errorf("got status %d for the script under /try/assets/, want 200", rec.Code)
	}
}

// TestNoInlineCode keeps the page within its own policy: no inline script,
// style or handler, which the CSP would refuse; and the script sets text,
// never markup, since bodies are user input.
func TestNoInlineCode(t *testing.T) {
	html, _ := files.ReadFile("page.html")
	js, _ := files.ReadFile("assets/chat.js")
	for _, bad := range []string{"<style", "style=", " onclick=", " onload=", " onsubmit=", "<script>", "javascript:"} {
		if strings.Contains(string(html), bad) {
			t.Errorf("page.html contains %q", bad)
		}
	}
	for _, bad := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function", "setAttribute(\"style\""} {
		if strings.Contains(string(js), bad) {
			t.Errorf("chat.js contains %q", bad)
		}
	}
}
