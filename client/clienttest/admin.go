package clienttest

import (
	"net/http"
	"strings"
	"time"
)

// admin serves the operator's endpoints the client calls: the fake has no
// queue, so there are never dead jobs, and a rebuild finishes at once.
func admin(f *fake, r request) reply {
	if auth := r.Header.Get("Authorization"); auth != "Bearer "+AdminToken {
		if _, pw, ok := r.BasicAuth(); !ok || pw != AdminToken {
			return fail(http.StatusUnauthorized, "admin endpoint: missing or wrong credentials")
		}
	}
	path := strings.TrimPrefix(r.URL.Path, "/admin")
	switch {
	case r.Method == http.MethodGet && path == "/dead":
		p, bad := parseList(r)
		if bad != nil {
			return *bad
		}
		return ok(http.StatusOK, map[string]any{"jobs": []any{}, "page": p.page, "per_page": p.perPage, "total": 0})
	case r.Method == http.MethodDelete && path == "/dead":
		return ok(http.StatusOK, map[string]int{"discarded": 0})
	case r.Method == http.MethodPost && path == "/dead/replay-all":
		return ok(http.StatusOK, map[string]int{"replayed": 0, "remaining": 0})
	case strings.HasPrefix(path, "/dead/") && (r.Method == http.MethodPost || r.Method == http.MethodDelete):
		return fail(http.StatusNotFound, "no dead job has this id")
	case path == "/index/rebuild" && r.Method == http.MethodPost:
		if v := r.URL.Query().Get("restart"); v != "" && v != "true" && v != "false" {
			return fail(http.StatusBadRequest, "restart must be true or false")
		}
		rep := ok(http.StatusAccepted, map[string]any{"started": true, "progress": "/admin/index/rebuild"})
		rep.header = http.Header{"Location": {"/admin/index/rebuild"}}
		return rep
	case path == "/index/rebuild" && r.Method == http.MethodGet:
		var total int64
		for _, a := range f.apps {
			for _, c := range a.chats {
				if !c.deleted {
					total += c.liveMessages()
				}
			}
		}
		now := time.Now().UTC()
		return ok(http.StatusOK, map[string]any{"index": "clienttest", "status": "finished", "done": total, "total": total,
			"started_at": now, "updated_at": now, "finished_at": now})
	}
	return fail(http.StatusNotFound, "not found")
}
