package e2e

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/redis/go-redis/v9"

	"github.com/instachat/instachat/pkg/queue"
	"github.com/instachat/instachat/services/api/internal/browsertest"
)

// screenshotPath is where the dashboard's screenshot goes: a fixed place
// under the temporary directory (overwritten by each run), or
// $DASHBOARD_SCREENSHOT when set.
func screenshotPath(t *testing.T, name string) string {
	t.Helper()
	if p := os.Getenv("DASHBOARD_SCREENSHOT"); p != "" && name == "dashboard.png" {
		return p
	}
	dir := filepath.Join(os.TempDir(), "instachat-dashboard")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, name)
}

// seedQueue puts jobs in every state through pkg/queue, on the system's
// Redis prefix: pending, one processing job whose writer is gone (stalled),
// a retry, a parked event, 2 dead jobs, and an hour of completed jobs.
func seedQueue(t *testing.T, q *queue.Queue, rdb redis.UniversalClient) {
	t.Helper()
	ctx := t.Context()
	now := time.Now()
	apps := make([]string, 6)
	for i := range apps {
		sum := make([]byte, 12)
		_, _ = rand.Read(sum)
		apps[i] = hex.EncodeToString(sum) // digests, as the api puts in jobs: never a token
	}
	job := func(app string, chat, msg int64, age time.Duration) queue.Envelope {
		return queue.Envelope{ID: queue.NewEventID(now.Add(-age)), Type: queue.TypeMessageCreate, App: app, Chat: chat, Message: msg,
			Body: fmt.Sprintf("Message %d of chat %d, waiting for the writer", msg, chat), Time: now.Add(-age).UnixMicro()}
	}

	// The processing job first, so its consumer takes it and nothing else.
	stuck := job(apps[0], 1, 1, 12*time.Minute)
	if err := q.Push(ctx, stuck); err != nil {
		t.Fatal(err)
	}
	p := q.Keys().Partition(stuck.App)
	c := q.NewConsumer(p, "writer-gone-1234")
	if got, err := c.Fetch(ctx, 1, 0); err != nil || len(got) != 1 {
		t.Fatalf("fetch the stalled job: got %d jobs, %v", len(got), err)
	}
	// Its writer died: the heartbeat is gone. No cron runs here, so nothing
	// requeues the job while the test looks.
	if err := rdb.Del(ctx, q.Keys().Heartbeat(p, c.Name())).Err(); err != nil {
		t.Fatal(err)
	}

	for i := range 5 {
		if err := q.Push(ctx, job(apps[i%len(apps)], int64(2+i), int64(1+i), time.Duration(90-10*i)*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := q.Retry(ctx, job(apps[1], 7, 3, 3*time.Minute), errors.New("Error 1213: Deadlock found when trying to get lock"), now); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Park(ctx, job(apps[2], 8, 1, 40*time.Second), queue.ParentChat(apps[2], 8), now); err != nil {
		t.Fatal(err)
	}
	for i, cause := range []string{"apply message 9/4: chat 9 of the application was deleted", "decode body: invalid UTF-8"} {
		e := job(apps[3+i], 9, int64(4+i), time.Duration(2+i)*time.Hour)
		e.Attempt = 24
		if err := q.Bury(ctx, e, errors.New(cause)); err != nil {
			t.Fatal(err)
		}
	}
	// An hour of throughput, a batch a minute, with a few failures.
	outcomes := []string{"applied", "applied", "applied", "duplicate", "stale"}
	for m := 59; m >= 0; m-- {
		at := now.Add(-time.Duration(m) * time.Minute)
		var done []queue.Completed
		for k := range 20 + (m*37)%45 {
			e := job(apps[k%len(apps)], int64(1+k%7), int64(100+k), 800*time.Millisecond)
			e.Time = at.Add(-800 * time.Millisecond).UnixMicro()
			done = append(done, queue.CompletedFrom(e, outcomes[k%len(outcomes)]))
		}
		failed := 0
		if m%9 == 4 {
			failed = 3 + m%5
		}
		if err := q.RecordCompleted(ctx, q.Keys().Partition(done[0].App), done, failed, at); err != nil {
			t.Fatal(err)
		}
	}
}

// totals sums the depths Redis reports, per state name.
func totals(t *testing.T, in *queue.Inspector) map[string]int64 {
	t.Helper()
	depths, err := in.Depths(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, d := range depths {
		out["pending"] += d.Pending
		out["processing"] += d.Processing
		out["retry"] += d.Retry
		out["parked"] += d.Parked
		out["dead"] += d.Dead
	}
	return out
}

// pageTotals reads the total of every state from the page's cards.
func pageTotals(t *testing.T, ctx context.Context) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for _, s := range queue.States {
		txt, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#total-"+string(s))))
		if err != nil {
			t.Fatalf("read the %s total: %v", s, err)
		}
		n, err := strconv.ParseInt(strings.TrimSpace(txt), 10, 64)
		if err != nil {
			t.Fatalf("%s total on the page: got %q, want a number", s, txt)
		}
		out[string(s)] = n
	}
	return out
}

func TestDashboardInBrowser(t *testing.T) {
	browsertest.Require(t)
	secret := make([]byte, 16)
	_, _ = rand.Read(secret)
	adminToken := hex.EncodeToString(secret)
	const partitions = 4
	s := newSystemWith(t, "ADMIN_TOKEN="+adminToken, "QUEUE_PARTITIONS="+strconv.Itoa(partitions))
	s.stop("writer") // the jobs stay where the test puts them
	q := queue.New(s.rdb, queue.NewKeys(s.prefix, partitions), queue.DefaultConfig())
	seedQueue(t, q, s.rdb)
	in := queue.NewInspector(s.rdb, q.Keys())

	// Without the credential: 401 with a Basic challenge, so a browser prompts.
	resp, err := http.Get(s.apiURL + "/admin/queues")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || !slices.ContainsFunc(resp.Header.Values("WWW-Authenticate"), func(v string) bool { return strings.HasPrefix(v, "Basic ") }) {
		t.Fatalf("GET /admin/queues without credentials: got %d %v, want 401 with a Basic challenge", resp.StatusCode, resp.Header.Values("WWW-Authenticate"))
	}

	ctx := browsertest.New(t, browsertest.Config{Width: 1440, Height: 900})
	console := browsertest.WatchConsole(t, ctx)
	auth := "Basic " + base64.StdEncoding.EncodeToString([]byte("admin:"+adminToken))
	if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
		t.Fatalf("start the browser: %v", err)
	}
	if _, err := chromedp.Call(ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: network.Headers{"Authorization": auth}}); err != nil {
		t.Fatal(err)
	}
	res, err := chromedp.RunResponse(ctx, chromedp.Navigate(s.apiURL+"/admin/queues?state=dead"))
	if err != nil {
		t.Fatalf("open the dashboard: %v", err)
	}
	if res.Status != http.StatusOK {
		t.Fatalf("GET /admin/queues with Basic credentials: got %d, want 200", res.Status)
	}
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS("#jobs"))); err != nil {
		t.Fatal(err)
	}

	// The counts on the page are Redis's, in total and per partition.
	want := totals(t, in)
	if got := pageTotals(t, ctx); !maps.Equal(got, want) {
		t.Errorf("totals on the page: got %v, want %v (Redis)", got, want)
	}
	if want["dead"] != 2 || want["processing"] != 1 || want["pending"] != 5 || want["retry"] != 1 || want["parked"] != 1 {
		t.Fatalf("seeded queue: got %v, want 5 pending, 1 processing, 1 retry, 1 parked, 2 dead", want)
	}
	rows, err := chromedp.Run(ctx, chromedp.Evaluate[[][]string](`Array.from(document.querySelectorAll('#partitions tbody tr'),
		tr => Array.from(tr.cells, td => td.textContent.trim()))`))
	if err != nil {
		t.Fatal(err)
	}
	depths, err := in.Depths(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != partitions {
		t.Fatalf("partition rows: got %d, want %d", len(rows), partitions)
	}
	for i, d := range depths {
		wantRow := []string{strconv.Itoa(d.Partition)}
		for _, n := range []int64{d.Pending, d.Processing, d.Retry, d.Parked, d.Dead} {
			wantRow = append(wantRow, strconv.FormatInt(n, 10))
		}
		if !slices.Equal(rows[i], wantRow) {
			t.Errorf("partition %d on the page: got %v, want %v (Redis)", d.Partition, rows[i], wantRow)
		}
	}
	// The stylesheet and the chart came from the api itself.
	bg, err := chromedp.Run(ctx, chromedp.Evaluate[string](`getComputedStyle(document.body).backgroundColor`))
	if err != nil || bg != "rgb(244, 245, 247)" {
		t.Errorf("body background: got %q, %v; want the dashboard's stylesheet applied", bg, err)
	}
	bars, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('svg.chart rect.processed').length`))
	if err != nil || bars != 60 {
		t.Errorf("chart bars: got %d, %v; want 60 (one a minute)", bars, err)
	}
	stalled, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#stalled-count")))
	if err != nil || stalled != "1 stalled" {
		t.Errorf("stalled flag: got %q, %v; want \"1 stalled\"", stalled, err)
	}
	browsertest.SaveScreenshot(t, ctx, screenshotPath(t, "dashboard.png"))

	// Retry the first dead job: it leaves the dead list for the pending list.
	first, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS("#jobs tbody tr"), "data-id"))
	if err != nil || !first.Exists {
		t.Fatalf("first dead job's id: got %+v, %v", first, err)
	}
	if _, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS("#jobs tbody tr button.retry"))); err != nil {
		t.Fatalf("click Retry: %v", err)
	}
	flash, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#flash")))
	if err != nil || !strings.Contains(flash, first.Value) || !strings.Contains(flash, "queued again") {
		t.Errorf("after Retry: got message %q, %v; want job %s queued again", flash, err, first.Value)
	}
	after := totals(t, in)
	if after["dead"] != want["dead"]-1 || after["pending"] != want["pending"]+1 {
		t.Errorf("Redis after Retry: got %v, want dead %d and pending %d", after, want["dead"]-1, want["pending"]+1)
	}
	if got := pageTotals(t, ctx); !maps.Equal(got, after) {
		t.Errorf("page after Retry: got %v, want %v (Redis)", got, after)
	}
	pending, _, err := in.Jobs(t.Context(), queue.StatePending, -1, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(pending, func(j queue.Job) bool { return j.ID == first.Value && j.Envelope.Attempt == 0 }) {
		t.Errorf("pending jobs after Retry: %s is not there with its attempts reset", first.Value)
	}
	browsertest.SaveScreenshot(t, ctx, screenshotPath(t, "dashboard-after-retry.png"))

	// Every state's tab lists as many jobs as Redis holds in that state (all
	// fit on one page here), and the stalled job is flagged.
	for _, state := range queue.States {
		if err := chromedp.Do(ctx, chromedp.Navigate(s.apiURL+"/admin/queues?state="+string(state))); err != nil {
			t.Fatalf("open the %s tab: %v", state, err)
		}
		n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('#jobs tbody tr').length`))
		if err != nil || int64(n) != after[string(state)] {
			t.Errorf("%s tab: got %d rows, %v; want %d (Redis)", state, n, err, after[string(state)])
		}
		if state == queue.StateProcessing {
			flagged, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('#jobs tbody tr.stalled').length`))
			if err != nil || flagged != 1 {
				t.Errorf("processing tab: got %d stalled rows, %v; want 1", flagged, err)
			}
			browsertest.SaveScreenshot(t, ctx, screenshotPath(t, "dashboard-processing.png"))
		}
	}

	checkHooksLane(t, ctx, s.apiURL, q, s.rdb)

	for _, e := range console.Errors() {
		t.Errorf("browser console: %s", e)
	}
}

// checkHooksLane buries a webhook delivery on the hooks lane, follows the
// lane toggle from the jobs page to the hooks lane's page, finds the
// delivery there with its endpoint and event position, and retries it.
func checkHooksLane(t *testing.T, ctx context.Context, apiURL string, q *queue.Queue, rdb redis.UniversalClient) {
	t.Helper()
	hq := queue.New(rdb, q.Keys().Hooks(), queue.DefaultConfig())
	now := time.Now()
	e := queue.Envelope{ID: queue.NewEventID(now), Type: queue.TypeMessageCreate, App: "0123456789abcdef01234567", Chat: 3, Message: 7,
		Body: "a delivery that failed", Time: now.Add(-time.Hour).UnixMicro(), Ev: "1764324000123-7", Hook: "wh_3mzq7v2k4xw8b1n5c6d9f0g2hj", Attempt: 7}
	if err := hq.Bury(t.Context(), e, errors.New("HTTP 503 from the receiver")); err != nil {
		t.Fatal(err)
	}
	hooks := queue.NewInspector(rdb, hq.Keys())

	if err := chromedp.Do(ctx, chromedp.Navigate(apiURL+"/admin/queues?state=dead")); err != nil {
		t.Fatalf("open the jobs lane: %v", err)
	}
	if _, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(`#lanes a[href="/admin/queues/hooks"]`))); err != nil {
		t.Fatalf("follow the Webhook deliveries link: %v", err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(apiURL+"/admin/queues/hooks?state=dead")); err != nil {
		t.Fatalf("open the hooks lane's dead list: %v", err)
	}
	current, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#lanes a[aria-current="page"]`)))
	if err != nil || current != "Webhook deliveries" {
		t.Errorf("current lane: got %q, %v; want Webhook deliveries", current, err)
	}
	row, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll('#jobs tbody tr'),
		tr => tr.getAttribute('data-id') + ' ' + tr.querySelector('.endpoint').title + ' ' + tr.querySelector('.position').textContent)`))
	if want := e.Ref() + " " + e.Hook + " " + e.Ev; err != nil || !slices.Equal(row, []string{want}) {
		t.Fatalf("hooks lane's dead list: got %q, %v; want [%q]", row, err, want)
	}
	browsertest.SaveScreenshot(t, ctx, screenshotPath(t, "dashboard-hooks.png"))
	if _, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS("#jobs tbody tr button.retry"))); err != nil {
		t.Fatalf("click Retry on the hooks lane: %v", err)
	}
	flash, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#flash")))
	if err != nil || !strings.Contains(flash, e.Ref()) || !strings.Contains(flash, "queued again") {
		t.Errorf("after Retry on the hooks lane: got message %q, %v; want %s queued again", flash, err, e.Ref())
	}
	if got := totals(t, hooks); got["dead"] != 0 || got["pending"] != 1 {
		t.Errorf("hooks lane after Retry: got %v, want the delivery pending again", got)
	}
}
