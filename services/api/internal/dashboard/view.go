package dashboard

import (
	"context"
	"fmt"
	"html/template"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/instachat/instachat/pkg/queue"
)

// maxOffset bounds how deep a listing may page: each page reads up to
// offset+limit jobs per list.
const maxOffset = 10000

// view is everything the page template shows.
type view struct {
	Base string
	// Lanes link to every lane's page; Hooks is set on the webhook
	// deliveries' lane, whose jobs show their endpoint and event position.
	Lanes      []laneLink
	Hooks      bool
	Now        time.Time
	Error      string
	CSRF       string
	Flash      string
	FlashBad   bool
	States     []stateTab
	Partitions []partitionRow
	Totals     []int64 // per state, in queue.States order
	Stalled    int     // processing jobs flagged stalled (of the first 2,000)
	Stats      []int64 // lifetime counters in statNames order, summed over partitions

	State     queue.State
	Partition int // -1: all
	Jobs      []jobRow
	Total     int64
	PageNo    int
	Pages     int
	PrevURL   string
	NextURL   string
	AllURL    string
	SelfURL   string

	Recent       []recentRow
	Chart        chart
	StalledAfter time.Duration
}

// statNames are the lifetime counters of the partitions' stats hashes that the page shows.
var statNames = []string{"processed", "failed", "dead", "replayed", "discarded", "dead_trimmed"}

// laneLink is one lane's page in the lane toggle.
type laneLink struct {
	Name    string
	URL     string
	Current bool
}

// stateTab is one state's link and total.
type stateTab struct {
	Name   queue.State
	Total  int64
	URL    string
	Active bool
}

// partitionRow is one partition's counts per state.
type partitionRow struct {
	Partition int
	Counts    []int64
	URL       string
	Active    bool
}

// jobRow is one job in the listing, with nothing secret in it: the
// application shows as an abbreviated digest of its token.
type jobRow struct {
	ID        string
	Partition int
	Decoded   bool
	Type      string
	App       string
	Chat      int64
	Message   int64
	Endpoint  string // the webhook a delivery goes to (hooks lane)
	Position  string // the event's "<generation>-<sequence>" position (hooks lane)
	Attempts  int
	Error     string
	ErrorFull string
	Age       string
	Accepted  string
	Body      string
	Detail    string // consumer, due time or parent, depending on the state
	Stalled   string // why a processing job counts as stalled; empty when it does not
	// Conflict marks a create whose number was taken (queue.DeadNumberConflict):
	// the stored row was left alone and a retry gives this one a new number.
	Conflict bool
}

// recentRow is one recently completed job.
type recentRow struct {
	ID      string
	Type    string
	App     string
	Chat    int64
	Message int64
	Outcome string
	Ago     string
	Latency string
}

// frame is the part of the page that needs no Redis: where it is, which
// lane, the links to the others.
func (d *Dashboard) frame(now time.Time) view {
	v := view{Base: d.cfg.Path, Hooks: d.hooks, Now: now}
	for _, l := range d.cfg.Lanes {
		v.Lanes = append(v.Lanes, laneLink{Name: l.Name, URL: l.Path, Current: l.Path == d.cfg.Path})
	}
	return v
}

// view reads the queue and builds the page for query.
func (d *Dashboard) view(ctx context.Context, query url.Values) (view, error) {
	now := d.now().UTC()
	v := d.frame(now)
	v.CSRF, v.StalledAfter = d.csrf, d.cfg.StalledAfter
	v.State = queue.StatePending
	if s := queue.State(query.Get("state")); validState(s) {
		v.State = s
	}
	v.Partition = d.partition(query)
	v.PageNo = 1
	if n, err := strconv.Atoi(query.Get("page")); err == nil && n > 1 {
		v.PageNo = min(n, maxOffset/d.cfg.PerPage+1)
	}
	v.Flash, v.FlashBad = flash(query)

	depths, err := d.q.Depths(ctx)
	if err != nil {
		return view{}, err
	}
	d.counts(&v, depths)
	if v.Stats, err = d.stats(ctx); err != nil {
		return view{}, err
	}
	if err := d.listing(ctx, &v, now); err != nil {
		return view{}, err
	}
	if v.Totals[slices.Index(queue.States, queue.StateProcessing)] > 0 {
		procs, _, err := d.q.Jobs(ctx, queue.StateProcessing, -1, 0, 2000)
		if err != nil {
			return view{}, err
		}
		for _, j := range procs {
			if d.stalled(j, now) != "" {
				v.Stalled++
			}
		}
	}
	recent, err := d.q.Recent(ctx, 20)
	if err != nil {
		return view{}, err
	}
	for _, c := range recent {
		v.Recent = append(v.Recent, recentRowOf(c, now))
	}
	minutes, err := d.q.Throughput(ctx, now, 60)
	if err != nil {
		return view{}, err
	}
	v.Chart = newChart(minutes)
	return v, nil
}

// counts fills the per-partition table, the totals and the state tabs.
func (d *Dashboard) counts(v *view, depths []queue.Depth) {
	v.Totals = make([]int64, len(queue.States))
	for _, dp := range depths {
		row := partitionRow{Partition: dp.Partition, Counts: []int64{dp.Pending, dp.Processing, dp.Retry, dp.Parked, dp.Dead},
			URL: d.link(v.State, dp.Partition, 1), Active: dp.Partition == v.Partition}
		for i, n := range row.Counts {
			v.Totals[i] += n
		}
		v.Partitions = append(v.Partitions, row)
	}
	for i, s := range queue.States {
		v.States = append(v.States, stateTab{Name: s, Total: v.Totals[i], URL: d.link(s, v.Partition, 1), Active: s == v.State})
	}
	v.AllURL = d.link(v.State, -1, 1)
	v.SelfURL = d.link(v.State, v.Partition, v.PageNo)
}

// stats sums the partitions' lifetime counters named by statNames.
func (d *Dashboard) stats(ctx context.Context) ([]int64, error) {
	out := make([]int64, len(statNames))
	for p := range d.q.Keys().Partitions() {
		vals, err := d.q.Stats(ctx, p)
		if err != nil {
			return nil, err
		}
		for i, name := range statNames {
			out[i] += vals[name]
		}
	}
	return out, nil
}

// listing reads the page of jobs of the chosen state.
func (d *Dashboard) listing(ctx context.Context, v *view, now time.Time) error {
	offset := (v.PageNo - 1) * d.cfg.PerPage
	jobs, total, err := d.q.Jobs(ctx, v.State, v.Partition, offset, d.cfg.PerPage)
	if err != nil {
		return err
	}
	v.Total = total
	v.Pages = max(1, int((min(total, maxOffset+int64(d.cfg.PerPage))+int64(d.cfg.PerPage)-1)/int64(d.cfg.PerPage)))
	if v.PageNo > 1 {
		v.PrevURL = d.link(v.State, v.Partition, v.PageNo-1)
	}
	if v.PageNo < v.Pages {
		v.NextURL = d.link(v.State, v.Partition, v.PageNo+1)
	}
	for _, j := range jobs {
		v.Jobs = append(v.Jobs, d.jobRowOf(j, v.State, now))
	}
	return nil
}

// stalled says why a processing job looks stuck, or "" when it does not.
// A webhook delivery's age says nothing: its retries wait for hours by
// design, and each attempt is bounded by its timeout.
func (d *Dashboard) stalled(j queue.Job, now time.Time) string {
	if !j.Alive {
		return "consumer heartbeat expired"
	}
	if !d.hooks && j.Decoded && j.Envelope.Time > 0 && now.Sub(j.Envelope.AcceptedAt()) > d.cfg.StalledAfter {
		return "older than " + ago(d.cfg.StalledAfter)
	}
	return ""
}

func (d *Dashboard) jobRowOf(j queue.Job, state queue.State, now time.Time) jobRow {
	r := jobRow{ID: j.ID, Partition: j.Partition, Decoded: j.Decoded}
	switch state {
	case queue.StateProcessing:
		r.Detail = j.Consumer
		r.Stalled = d.stalled(j, now)
	case queue.StateRetry:
		r.Detail = due(j.Due, now)
	case queue.StateParked:
		r.Detail = "waits for " + abbreviateParent(j.Parent) + "; " + due(j.Due, now)
	}
	if !j.Decoded {
		return r
	}
	e := j.Envelope
	r.Type, r.App, r.Chat, r.Message, r.Attempts = e.Type, abbreviate(e.App), e.Chat, e.Message, e.Attempt
	r.Endpoint, r.Position = e.Hook, e.Ev
	r.Error, r.ErrorFull = preview(e.Error, 80), e.Error
	r.Conflict = e.Dead == queue.DeadNumberConflict
	r.Body = preview(e.Body, 48)
	if e.Time > 0 {
		r.Age = ago(now.Sub(e.AcceptedAt()))
		r.Accepted = e.AcceptedAt().Format(time.RFC3339)
	}
	return r
}

func recentRowOf(c queue.Completed, now time.Time) recentRow {
	r := recentRow{ID: c.ID, Type: c.Type, App: abbreviate(c.App), Chat: c.Chat, Message: c.Message, Outcome: c.Outcome,
		Ago: "just now"}
	if since := now.Sub(c.CompletedAt()); since >= time.Second {
		r.Ago = ago(since) + " ago"
	}
	if acc := c.AcceptedAt(); !acc.IsZero() {
		r.Latency = latency(c.CompletedAt().Sub(acc))
	}
	return r
}

// link is the page URL for a state, partition and page number.
func (d *Dashboard) link(state queue.State, partition, pageNo int) string {
	q := url.Values{"state": {string(state)}}
	if partition >= 0 {
		q.Set("partition", strconv.Itoa(partition))
	}
	if pageNo > 1 {
		q.Set("page", strconv.Itoa(pageNo))
	}
	return d.cfg.Path + "?" + q.Encode()
}

func validState(s queue.State) bool { return slices.Contains(queue.States, s) }

// flash turns the outcome a form's redirect carries into a sentence.
func flash(q url.Values) (msg string, bad bool) {
	id, n := q.Get("id"), q.Get("n")
	switch q.Get("done") {
	case "replayed":
		return "Dead job " + id + " is queued again, at the front of its pending list.", false
	case "discarded":
		return "Dead job " + id + " is discarded.", false
	case "replayed-all":
		return n + " dead jobs are queued again.", false
	case "discarded-all":
		return n + " dead jobs are discarded.", false
	case "gone":
		return "No dead job " + id + " any more: someone replayed or discarded it already.", true
	case "not-replayable":
		return "Dead job " + id + " does not decode as a job, so it cannot be retried; discard it.", true
	case "failed":
		return "Redis did not answer; nothing changed. Try again shortly.", true
	}
	return "", false
}

// abbreviate shortens an application digest: enough to tell applications
// apart on a page, too little to be mistaken for a credential. Webhook ids
// (whose full form is in the cell's title) are shortened alike.
func abbreviate(app string) string {
	if len(app) <= 8 {
		return app
	}
	return app[:8] + "…"
}

// abbreviateParent shortens the digest inside a parked job's parent name
// (digest:chat[:message]).
func abbreviateParent(parent string) string {
	app, rest, ok := strings.Cut(parent, ":")
	if !ok {
		return parent
	}
	return abbreviate(app) + " chat " + strings.Replace(rest, ":", " message ", 1)
}

// preview is s on one line, cut to at most n characters.
func preview(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// ago formats a duration the way people read ages: 42s, 3m 5s, 2h 10m, 4d 3h.
func ago(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	s := int64(d / time.Second)
	switch {
	case s < 60:
		return fmt.Sprintf("%ds", s)
	case s < 3600:
		return units(s/60, "m", s%60, "s")
	case s < 86400:
		return units(s/3600, "h", s%3600/60, "m")
	}
	return units(s/86400, "d", s%86400/3600, "h")
}

// units writes a two-unit amount, leaving out a zero second unit: 5m, 5m 3s.
func units(a int64, ua string, b int64, ub string) string {
	if b == 0 {
		return fmt.Sprintf("%d%s", a, ua)
	}
	return fmt.Sprintf("%d%s %d%s", a, ua, b, ub)
}

// latency formats the time from acceptance to completion, which is often
// under a second: 850ms, 2.4s, 3m 5s.
func latency(d time.Duration) string {
	switch {
	case d < 0:
		return "0ms"
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%.1fs", d.Seconds())
	}
	return ago(d)
}

// shortID shows the end of an event id: its first 12 hex digits are the
// millisecond it was made, shared by every job of a burst, while the end is
// random and tells jobs apart. A webhook delivery's id (queue.Envelope.Ref,
// "<event id>.<webhook id>") shows both parts so shortened. The full id is
// in the cell's title.
func shortID(id string) string {
	if strings.HasPrefix(id, "raw-") {
		return id
	}
	if ev, hook, ok := strings.Cut(id, "."); ok {
		return shortID(ev) + "." + abbreviate(hook)
	}
	if len(id) <= 12 {
		return id
	}
	return "…" + id[len(id)-10:]
}

// due says when something scheduled at t happens: "due in 35s", or "due
// now" once t has passed (the next promotion round takes it).
func due(t, now time.Time) string {
	if t.IsZero() {
		return ""
	}
	if t.After(now) {
		return "due in " + ago(t.Sub(now))
	}
	return "due now"
}

// funcs are the template's helpers.
var funcs = template.FuncMap{
	"stateIndex": func(s queue.State) int { return slices.Index(queue.States, s) },
	"statName":   func(i int) string { return strings.ReplaceAll(statNames[i], "_", " ") },
	"clock":      func(t time.Time) string { return t.Format("15:04:05 MST") },
	"ago":        ago,
	"shortID":    shortID,
	"abbreviate": abbreviate,
}
