package e2e

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	ic "github.com/instachat/instachat/client"
	"github.com/instachat/instachat/pkg/chat"
	"github.com/instachat/instachat/pkg/deploycheck"
	"github.com/instachat/instachat/pkg/queue"
)

// TestDashboardMetricsAreExported runs the three services, drives a little
// of everything the Grafana dashboard shows (requests, jobs, an out-of-order
// event, searches that fail, counter syncs, a live-event subscription that
// receives the posts, a webhook on loopback that receives them too), scrapes
// every /metrics endpoint
// and checks that each metric the dashboard queries
// (deploycheck.DashboardMetrics, derived from its PromQL) is exported by at
// least one service. A vector series appears only once something happened,
// so each one is provoked on purpose.
func TestDashboardMetricsAreExported(t *testing.T) {
	// Elasticsearch on a port where nothing listens: the api starts anyway,
	// and its search and index calls fail, which fills
	// instachat_search_errors_total next to the latency histogram.
	s := newSystemWith(t, "SEARCH_BACKEND=elasticsearch", "ELASTICSEARCH_URL=http://127.0.0.1:"+freePort(t))
	writerURL := s.restartOnKnownPort("writer")
	// A sync every second, so the counter sync series exist.
	cronURL := s.restartOnKnownPort("cron", "SYNC_SCHEDULE=@every 1s")

	app := s.newApp("grafana")
	hooked := receiveWebhooks(t, app)
	s.newChats(app, 1)
	created := s.followChat(app, 1)
	for i := range 3 {
		if _, err := app.PostMessage(t.Context(), 1, fmt.Sprintf("hello grafana %d", i)); err != nil {
			t.Fatalf("post message: %v", err)
		}
	}
	eventually(t, 30*time.Second, "message 3 persisted", func() (bool, string) {
		m, err := app.Message(t.Context(), 1, 3)
		return err == nil && m.Status == ic.StatusPersisted, fmt.Sprintf("%+v, %v", m, err)
	})
	select {
	case <-created:
	case <-time.After(30 * time.Second):
		t.Errorf("no message.created event on the subscription to chat 1 within 30 s")
	}
	// The settings reach the api's cache within a second: post until a
	// write accepted with the webhook is delivered.
	eventually(t, 30*time.Second, "a webhook delivered", func() (bool, string) {
		if hooked.Load() > 0 {
			return true, ""
		}
		_, err := app.PostMessage(t.Context(), 1, "hello webhook")
		return false, fmt.Sprintf("no delivery yet (last post: %v)", err)
	})
	s.pushStaleUpdate(app.Token())
	if _, err := app.Search(t.Context(), 1, "hel", 0, 0); !errors.Is(err, ic.ErrUnavailable) || ic.StatusOf(err) != http.StatusServiceUnavailable {
		t.Errorf("search with Elasticsearch down: got %v, want 503", err)
	}

	endpoints := map[string]string{"api": s.apiURL + "/metrics", "writer": writerURL + "/metrics", "cron": cronURL + "/metrics"}
	eventually(t, 30*time.Second, "every dashboard metric exported", func() (bool, string) {
		exported := map[string][]string{} // series name -> services
		for svc, u := range endpoints {
			names, err := scrape(u)
			if err != nil {
				return false, err.Error()
			}
			for n := range names {
				exported[n] = append(exported[n], svc)
			}
		}
		var missing []string
		for _, m := range deploycheck.DashboardMetrics {
			// A histogram family shows as its _bucket series.
			if len(exported[m]) == 0 && len(exported[m+"_bucket"]) == 0 {
				missing = append(missing, m)
			}
		}
		return len(missing) == 0, fmt.Sprintf("not exported by any service: %v", missing)
	})
	if len(deploycheck.DashboardMetrics) < 10 {
		t.Errorf("deploycheck.DashboardMetrics has %d names; the check looked at almost nothing", len(deploycheck.DashboardMetrics))
	}
}

// receiveWebhooks saves a webhook of app that points at a receiver on
// loopback (WEBHOOK_ALLOW_HOSTS) and returns the count of deliveries it
// answered.
func receiveWebhooks(t *testing.T, app *ic.App) *atomic.Int64 {
	t.Helper()
	var n atomic.Int64
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(rcv.Close)
	if _, err := app.PutSettings(t.Context(), ic.SettingsInput{Webhooks: ic.Set([]ic.WebhookInput{{URL: rcv.URL}})}, ic.AnyVersion); err != nil {
		t.Fatalf("save a webhook: %v", err)
	}
	return &n
}

// followChat subscribes to a chat's live events until the test ends, once
// the api counts the stream as open, and returns a channel that receives
// its message.created events (extra ones are dropped).
func (s *system) followChat(app *ic.App, chat int64) <-chan ic.Event {
	s.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	created := make(chan ic.Event, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev, err := range app.Subscribe(ctx, chat, "") {
			if err != nil {
				return
			}
			if ev.Type == ic.EventMessageCreated {
				select {
				case created <- ev:
				default:
				}
			}
		}
	}()
	s.t.Cleanup(func() { cancel(); <-done })
	eventually(s.t, 30*time.Second, "the live-event stream open", func() (bool, string) {
		n, err := seriesSum(s.apiURL+"/metrics", "instachat_event_subscribers")
		return err == nil && n >= 1, fmt.Sprintf("instachat_event_subscribers %v, %v", n, err)
	})
	return created
}

// seriesSum adds the values of every series of one metric that a /metrics
// endpoint exports.
func seriesSum(u, name string) (float64, error) {
	resp, err := client.Get(u)
	if err != nil {
		return 0, fmt.Errorf("scrape %s: %w", u, err)
	}
	defer resp.Body.Close()
	var sum float64
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		f := strings.Fields(line[strings.LastIndexAny(line, "} ")+1:])
		if len(f) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			return 0, fmt.Errorf("scrape %s: %q: %w", u, line, err)
		}
		sum += v
	}
	return sum, sc.Err()
}

// restartOnKnownPort (re)starts a service on a port the test knows, with
// extra settings, and returns its base URL once it is ready. The harness
// starts the writer on a port it does not keep, hence the restart.
func (s *system) restartOnKnownPort(name string, extra ...string) string {
	s.t.Helper()
	s.stop(name)
	addr := "127.0.0.1:" + freePort(s.t)
	s.start(name, append([]string{"HTTP_ADDR=" + addr}, extra...)...)
	s.waitReady("http://" + addr + "/readyz")
	return "http://" + addr
}

// pushStaleUpdate queues an update of message 1 that is an hour older than
// its create, as a late redelivery would be: the writer must count it as an
// out-of-order stale_update and leave the row alone.
func (s *system) pushStaleUpdate(token string) {
	s.t.Helper()
	then := time.Now().Add(-time.Hour)
	e := queue.Envelope{ID: queue.NewEventID(then), Type: queue.TypeMessageUpdate, App: chat.TokenDigest(token),
		Chat: 1, Message: 1, Body: "stale body", Time: then.UnixMicro()}
	raw, err := e.Encode()
	if err != nil {
		s.t.Fatal(err)
	}
	keys := queue.NewKeys(s.prefix, 8)
	if err := s.rdb.LPush(context.Background(), keys.Pending(keys.Partition(e.App)), raw).Err(); err != nil {
		s.t.Fatalf("push a stale update: %v", err)
	}
}

// scrape returns the series names one /metrics endpoint exports (the text
// exposition format: a name, then labels or a space, then the value).
func scrape(u string) (map[string]bool, error) {
	resp, err := client.Get(u)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return nil, fmt.Errorf("scrape %s: %d %s", u, resp.StatusCode, b)
	}
	names := map[string]bool{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if i := strings.IndexAny(line, "{ "); i > 0 {
			names[line[:i]] = true
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("scrape %s: %w", u, err)
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("scrape %s: no series", u)
	}
	return names, nil
}
