package dashboard

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"strconv"

	"github.com/instachat/instachat/pkg/queue"
)

// csrfToken derives the forms' hidden token from the admin credential. A
// browser sends Basic credentials with any request to this origin, also one
// that another site's form makes it send, so a state-changing POST must also
// carry a value only a page served to the admin holds. Deriving it from the
// credential (not from a per-process secret) keeps it valid across api
// replicas and restarts and invalidates it when the credential rotates; the
// HMAC reveals nothing of the credential.
func csrfToken(adminToken string) string {
	mac := hmac.New(sha256.New, []byte(adminToken))
	mac.Write([]byte("instachat queue dashboard forms v1"))
	return hex.EncodeToString(mac.Sum(nil))
}

// outcome is what an action reports back to the page through the redirect.
type outcome struct {
	done string // replayed, discarded, gone, not-replayable, replayed-all, discarded-all, failed
	id   string
	n    int
}

// Retry queues the dead job named by the form field id again (POST).
func (d *Dashboard) Retry() http.Handler {
	return d.action(func(ctx context.Context, f url.Values) outcome {
		id := f.Get("id")
		return d.result(ctx, "replayed", id, d.q.ReplayDead(ctx, id))
	})
}

// Discard deletes the dead job named by the form field id (POST).
func (d *Dashboard) Discard() http.Handler {
	return d.action(func(ctx context.Context, f url.Values) outcome {
		id := f.Get("id")
		return d.result(ctx, "discarded", id, d.q.DiscardDead(ctx, id))
	})
}

// RetryAll queues every decodable dead job again, of the partition the form
// names or of all (POST).
func (d *Dashboard) RetryAll() http.Handler {
	return d.action(func(ctx context.Context, f url.Values) outcome {
		n, err := d.q.ReplayAllDead(ctx, d.partition(f))
		if err != nil {
			d.log.WarnContext(ctx, "queue dashboard: replay all dead jobs", "replayed", n, "err", err)
			return outcome{done: "failed"}
		}
		return outcome{done: "replayed-all", n: n}
	})
}

// DiscardAll deletes every dead job, of the partition the form names or of
// all (POST).
func (d *Dashboard) DiscardAll() http.Handler {
	return d.action(func(ctx context.Context, f url.Values) outcome {
		n, err := d.q.DiscardAllDead(ctx, d.partition(f))
		if err != nil {
			d.log.WarnContext(ctx, "queue dashboard: discard all dead jobs", "discarded", n, "err", err)
			return outcome{done: "failed"}
		}
		return outcome{done: "discarded-all", n: n}
	})
}

// result turns the answer of a one-job action into an outcome.
func (d *Dashboard) result(ctx context.Context, done, id string, err error) outcome {
	switch {
	case errors.Is(err, queue.ErrNotReplayable):
		return outcome{done: "not-replayable", id: id}
	case errors.Is(err, queue.ErrNoDeadJob):
		return outcome{done: "gone", id: id}
	case err != nil:
		d.log.WarnContext(ctx, "queue dashboard: dead job action", "action", done, "job", id, "err", err)
		return outcome{done: "failed", id: id}
	}
	return outcome{done: done, id: id}
}

// action checks a form post (same origin, CSRF token), runs do and sends the
// browser back to the page it came from with the outcome (303, so a reload
// does not post again).
func (d *Dashboard) action(do func(context.Context, url.Values) outcome) http.Handler {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		if err := r.ParseForm(); err != nil {
			http.Error(w, "bad form", http.StatusBadRequest)
			return
		}
		got := r.PostForm.Get("csrf")
		if subtle.ConstantTimeCompare([]byte(got), []byte(d.csrf)) != 1 {
			http.Error(w, "this form is stale or did not come from the dashboard; reload the dashboard and try again", http.StatusForbidden)
			return
		}
		o := do(r.Context(), r.PostForm)
		back := d.backURL(r.PostForm)
		q := back.Query()
		q.Set("done", o.done)
		if o.id != "" {
			q.Set("id", o.id)
		}
		if o.done == "replayed-all" || o.done == "discarded-all" {
			q.Set("n", strconv.Itoa(o.n))
		}
		back.RawQuery = q.Encode()
		http.Redirect(w, r, back.String(), http.StatusSeeOther)
	})
	return d.guard.Handler(h)
}

// partition reads the form's partition field: -1 (all) unless it names one.
func (d *Dashboard) partition(f url.Values) int {
	p, err := d.q.ParsePartition(f.Get("partition"))
	if err != nil {
		return -1
	}
	return p
}

// backURL is the page a form was posted from, rebuilt from validated fields
// only, so a form cannot redirect anywhere else.
func (d *Dashboard) backURL(f url.Values) *url.URL {
	state := queue.StateDead
	if s := queue.State(f.Get("state")); validState(s) {
		state = s
	}
	pageNo, _ := strconv.Atoi(f.Get("page"))
	u, _ := url.Parse(d.link(state, d.partition(f), max(pageNo, 1)))
	return u
}
