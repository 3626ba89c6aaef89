package elasticsearch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/olivere/elastic/v7"

	"github.com/instachat/instachat/pkg/search"
)

// recorder is a stand-in Elasticsearch that records each request and answers
// with a canned status and body: the query the engine sends is checked without
// a search server (the conformance suite checks its results against one).
type recorder struct {
	mu     sync.Mutex
	paths  []string
	bodies []string
	status int
	answer string
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	b, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	r.paths = append(r.paths, req.Method+" "+req.URL.Path)
	r.bodies = append(r.bodies, string(b))
	status, answer := r.status, r.answer
	r.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, answer)
}

// recordingEngine returns an engine whose alias "msgs" lives on a recorder.
func recordingEngine(t *testing.T, status int, answer string) (*Engine, *recorder) {
	t.Helper()
	rec := &recorder{status: status, answer: answer}
	srv := httptest.NewServer(rec)
	t.Cleanup(srv.Close)
	client, err := elastic.NewClient(elastic.SetURL(srv.URL), elastic.SetSniff(false), elastic.SetHealthcheck(false))
	if err != nil {
		t.Fatal(err)
	}
	e := &Engine{client: client, alias: "msgs", index: "msgs-v1", tm: 5 * time.Second}
	t.Cleanup(func() { e.Close() })
	return e, rec
}

func TestSearchSendsTheChatScope(t *testing.T) {
	const hits = `{"took":1,"hits":{"total":{"value":3,"relation":"eq"},"hits":[{"_id":"7:3:12"},{"_id":"7:3:5"}]}}`
	e, rec := recordingEngine(t, http.StatusOK, hits)
	got, err := e.Search(context.Background(), search.Query{AppID: 7, Chat: 3, Text: "hel wor", Offset: 20, Limit: 10})
	if err != nil {
		t.Fatalf("Search: %v", err)
	}
	if !slices.Equal(got.Numbers, []int64{12, 5}) || got.Total != 3 {
		t.Errorf("Search: got %v of %d, want [12 5] of 3", got.Numbers, got.Total)
	}
	if len(rec.paths) != 1 || rec.paths[0] != "POST /msgs/_search" {
		t.Fatalf("requests: got %v, want one POST /msgs/_search (the alias)", rec.paths)
	}
	const want = `{
		"query": {"bool": {
			"filter": {"term": {"scope": "7:3"}},
			"must": {"match": {"body": {"query": "hel wor", "operator": "and"}}}
		}},
		"sort": [{"_score": {"order": "desc"}}, {"number": {"order": "asc"}}],
		"from": 20, "size": 10, "track_total_hits": true, "_source": false
	}`
	var gotBody, wantBody any
	if err := json.Unmarshal([]byte(rec.bodies[0]), &gotBody); err != nil {
		t.Fatalf("request body %s: %v", rec.bodies[0], err)
	}
	if err := json.Unmarshal([]byte(want), &wantBody); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(gotBody, wantBody) {
		t.Errorf("search request:\ngot  %s\nwant %s", rec.bodies[0], want)
	}
}

func TestSearchSourceScopesEveryChatApart(t *testing.T) {
	// The scope term joins application and chat: chat 11 of application 1 and
	// chat 1 of application 11 must not share one.
	a, _ := searchSource(search.Query{AppID: 1, Chat: 11, Text: "x", Limit: 1}).Source()
	b, _ := searchSource(search.Query{AppID: 11, Chat: 1, Text: "x", Limit: 1}).Source()
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if string(ja) == string(jb) {
		t.Errorf("application 1 chat 11 and application 11 chat 1 send the same query: %s", ja)
	}
}

func TestSearchBeyondTheWindowIsTheClientsError(t *testing.T) {
	// Past MaxWindow the engine refuses before sending anything.
	e, rec := recordingEngine(t, http.StatusOK, `{}`)
	_, err := e.Search(context.Background(), search.Query{AppID: 1, Chat: 1, Text: "x", Offset: search.MaxWindow, Limit: 1})
	if !errors.Is(err, search.ErrBeyondWindow) || errors.Is(err, search.ErrUnavailable) {
		t.Errorf("Search past MaxWindow: got %v, want ErrBeyondWindow and not ErrUnavailable", err)
	}
	if len(rec.paths) != 0 {
		t.Errorf("Search past MaxWindow sent %v, want nothing", rec.paths)
	}

	// An index with a smaller max_result_window: Elasticsearch's refusal
	// (400, or 500 on older versions) maps to ErrBeyondWindow too.
	const refusal = `{"error":{"root_cause":[{"type":"illegal_argument_exception","reason":"Result window is too large, from + size must be less than or equal to: [1000] but was [1010]. See the scroll api for a more efficient way to request large data sets."}],` +
		`"type":"search_phase_execution_exception","reason":"all shards failed","phase":"query","grouped":true,` +
		`"caused_by":{"type":"illegal_argument_exception","reason":"Result window is too large, from + size must be less than or equal to: [1000] but was [1010]."}},"status":%d}`
	for _, status := range []int{http.StatusBadRequest, http.StatusInternalServerError} {
		e, _ := recordingEngine(t, status, fmt.Sprintf(refusal, status))
		_, err := e.Search(context.Background(), search.Query{AppID: 1, Chat: 1, Text: "x", Offset: 1000, Limit: 10})
		if !errors.Is(err, search.ErrBeyondWindow) || errors.Is(err, search.ErrUnavailable) {
			t.Errorf("Elasticsearch %d result window too large: got %v, want ErrBeyondWindow and not ErrUnavailable", status, err)
		}
	}

	// Any other 5xx is still an outage.
	e, _ = recordingEngine(t, http.StatusServiceUnavailable, `{"error":{"type":"cluster_block_exception","reason":"blocked"},"status":503}`)
	if _, err := e.Search(context.Background(), search.Query{AppID: 1, Chat: 1, Text: "x", Limit: 10}); !errors.Is(err, search.ErrUnavailable) || errors.Is(err, search.ErrBeyondWindow) {
		t.Errorf("Elasticsearch 503: got %v, want ErrUnavailable", err)
	}
}
