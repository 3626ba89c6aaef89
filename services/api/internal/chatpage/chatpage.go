// Package chatpage is the chat page anyone can try in a browser: create an
// application or open one by its token, list and create chats, and talk in
// one, with every open tab kept current by the chat's live events. It is
// plain HTML, CSS and JavaScript embedded in the binary (no build step, no
// external resource) and speaks net/http only: the HTTP layer mounts Page and
// Assets, and the page calls the public API from the browser.
package chatpage

import (
	"bytes"
	"embed"
	"html/template"
	"io/fs"
	"net/http"
	"strings"
)

//go:embed page.html assets
var files embed.FS

// page is parsed once: it is part of the binary, so a parse error is a
// programming error that any test of this package shows.
var page = template.Must(template.ParseFS(files, "page.html"))

// Config tunes the chat page.
type Config struct {
	// Path is where the page is mounted (default /chat); its assets are
	// served under Path + "/assets/".
	Path string
	// API is the path of the public API the page calls, on the page's own
	// origin (default /api/v1).
	API string
}

// UI serves the chat page and its assets.
type UI struct {
	cfg Config
}

// New returns the chat page for cfg.
func New(cfg Config) *UI {
	if cfg.Path == "" {
		cfg.Path = "/chat"
	}
	cfg.Path = strings.TrimRight(cfg.Path, "/")
	if cfg.API == "" {
		cfg.API = "/api/v1"
	}
	cfg.API = strings.TrimRight(cfg.API, "/")
	return &UI{cfg: cfg}
}

// Page serves the page itself (GET Path). Everything it shows comes from
// the API: the token lives in the URL's fragment and the browser's storage,
// never in a request for the page.
func (u *UI) Page() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var buf bytes.Buffer
		if err := page.Execute(&buf, struct{ Base, API string }{u.cfg.Path, u.cfg.API}); err != nil {
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		secureHeaders(w.Header())
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		if r.Method != http.MethodHead {
			_, _ = w.Write(buf.Bytes())
		}
	})
}

// Assets serves the embedded script, stylesheet and icon under
// Path + "/assets/". Directories are not listed.
func (u *UI) Assets() http.Handler {
	sub, _ := fs.Sub(files, "assets") // "assets" is embedded above, so Sub cannot fail
	h := http.StripPrefix(u.cfg.Path+"/assets/", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		secureHeaders(w.Header())
		if strings.HasSuffix(r.URL.Path, "/") {
			http.NotFound(w, r)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// secureHeaders keeps the page to its own origin: scripts, styles and
// images from its assets, connections (fetch, EventSource) to its API, and
// no frames, since its buttons change state. Bodies on the page are other
// people's input, so the policy is the backstop for the script, which only
// ever sets text.
func secureHeaders(h http.Header) {
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "+
		"connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-cache")
}
