// Package dashboard is the api's built-in queue dashboard (in the spirit of
// Sidekiq's Web UI and asynqmon): one server-rendered page that shows every
// queue state per partition, a page of jobs of each state, stalled jobs,
// recently completed jobs and the last hour's throughput, with forms to retry
// or discard dead jobs. Templates and assets are embedded; nothing is loaded
// from elsewhere. It speaks net/http only: the HTTP layer mounts it behind
// the admin credential.
//
// One Dashboard shows one lane of the queue (queue.Keys.Lane): the api
// mounts one over the writer's jobs and one over the webhook deliveries,
// each at its own path, and each page links to both (Config.Lanes).
package dashboard

import (
	"bytes"
	"embed"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"time"

	"github.com/instachat/instachat/pkg/queue"
)

//go:embed templates assets
var files embed.FS

// page is parsed once: the templates are part of the binary, so a parse
// error is a programming error that any test of this package shows.
var page = template.Must(template.New("page.html").Funcs(funcs).ParseFS(files, "templates/page.html"))

// Config tunes the dashboard.
type Config struct {
	// Path is where the page is mounted (default /admin/queues); forms post
	// below it and assets are served under Path + "/assets/".
	Path string
	// AdminToken is the credential that opens the dashboard; the forms'
	// CSRF token is derived from it.
	AdminToken string
	// StalledAfter flags a processing job as stalled once it is this old
	// (since the api accepted it), even while its consumer lives (default 5 min).
	StalledAfter time.Duration
	// PerPage is how many jobs one page lists (default 25).
	PerPage int
	// Lanes are the dashboard's pages, one per queue lane, linked from the
	// top of each; the one at Path is marked current. None: no links.
	Lanes []Lane
}

// Lane is a link to the dashboard page of one queue lane.
type Lane struct {
	Name string // what the link says, such as "Webhook deliveries"
	Path string // that page's Config.Path
}

// Dashboard serves the queue dashboard of one lane.
type Dashboard struct {
	cfg   Config
	q     *queue.Inspector
	log   *slog.Logger
	csrf  string
	now   func() time.Time
	guard *http.CrossOriginProtection
	// hooks is set on the webhook deliveries' lane, whose jobs name an
	// endpoint and an event position, and whose retries wait for hours.
	hooks bool
}

// New returns a dashboard over the queue inspector q, of whichever lane
// q's keys name.
func New(cfg Config, q *queue.Inspector, log *slog.Logger) *Dashboard {
	if cfg.Path == "" {
		cfg.Path = "/admin/queues"
	}
	if cfg.StalledAfter <= 0 {
		cfg.StalledAfter = 5 * time.Minute
	}
	if cfg.PerPage <= 0 {
		cfg.PerPage = 25
	}
	d := &Dashboard{cfg: cfg, q: q, log: log, csrf: csrfToken(cfg.AdminToken), now: time.Now,
		guard: http.NewCrossOriginProtection()}
	if q != nil {
		d.hooks = q.Keys().Lane() == "hooks"
	}
	return d
}

// Page serves the dashboard page (GET Path). Query parameters: state (one of
// the queue states, default pending), partition (default all), page (from 1),
// and done/id/n, which the forms' redirects set to report what they did.
func (d *Dashboard) Page() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v, err := d.view(r.Context(), r.URL.Query())
		status := http.StatusOK
		if err != nil {
			d.log.WarnContext(r.Context(), "queue dashboard: Redis failed", "err", err)
			v = d.frame(d.now().UTC())
			v.Error = "Redis is unavailable; the numbers cannot be read. Try again shortly."
			status = http.StatusServiceUnavailable
		}
		var buf bytes.Buffer
		if err := page.Execute(&buf, v); err != nil {
			d.log.ErrorContext(r.Context(), "queue dashboard: render", "err", err)
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		secureHeaders(w.Header())
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(status)
		_, _ = w.Write(buf.Bytes())
	})
}

// Assets serves the embedded stylesheet and script under Path + "/assets/".
func (d *Dashboard) Assets() http.Handler {
	sub, _ := fs.Sub(files, "assets") // "assets" is embedded above, so Sub cannot fail
	h := http.StripPrefix(d.cfg.Path+"/assets/", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		h.ServeHTTP(w, r)
	})
}

// secureHeaders keeps the page to its own assets and out of frames: its
// buttons change state, so no other site may overlay them.
func secureHeaders(h http.Header) {
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; "+
		"form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
}
