package httpapi

import (
	"html/template"
	"net/http"

	"github.com/gin-gonic/gin"
)

// landingPage is what a browser sees at /: where everything is.
var landingPage = template.Must(template.New("landing").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>InstaChat api</title>
<style>body{font:15px/1.5 system-ui,sans-serif;max-width:40em;margin:3em auto;padding:0 1em;color:#222}
code{background:#f3f3f3;padding:0 .3em}li{margin:.3em 0}</style></head>
<body><h1>InstaChat api</h1>
<p>Version <code>{{.Version}}</code>. The API lives under <code>/api/v1</code>; errors are <code>{"error": "…"}</code>.</p>
<ul>
<li><a href="/chat">Chat page</a>: try the API in a browser, live</li>
<li><a href="/swagger/index.html">API reference (Swagger)</a></li>
<li><a href="/admin/queues">Queue dashboard</a>{{if not .Admin}} (off: set <code>ADMIN_TOKEN</code>){{end}}</li>
<li><a href="/metrics">Metrics</a> (Prometheus text)</li>
<li><a href="/healthz">Liveness</a> and <a href="/readyz">readiness</a></li>
</ul></body></html>
`))

// landing serves the page at / that links the api's other surfaces.
func (h *handlers) landing(c *gin.Context) {
	c.Header("Content-Type", "text/html; charset=utf-8")
	c.Status(http.StatusOK)
	_ = landingPage.Execute(c.Writer, struct {
		Version string
		Admin   bool
	}{h.cfg.Version, h.cfg.AdminToken != ""})
}
