// Package elasticsearch is the message search backend for deployments that
// outgrow one machine: github.com/olivere/elastic/v7 against Elasticsearch
// 7.x. It passes the same conformance suite as the embedded bleve backend.
//
// Documents live in a versioned index (<alias>-v<MappingVersion>) behind an
// alias that searches use. A mapping change creates the new index beside the
// old one; writes go to both while the new one is rebuilt from MySQL, and
// SwitchOver moves the alias, so searches never see an empty index. Documents
// are indexed with external versioning (the message's lock_version): a late
// request carrying an older body is refused by Elasticsearch and counted as
// stale, never applied.
package elasticsearch

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/olivere/elastic/v7"

	"github.com/instachat/instachat/pkg/search"
)

// Config says where Elasticsearch is and how to shape the index.
type Config struct {
	// URL of the cluster, e.g. http://elastic:secret@127.0.0.1:9200; user
	// info in the URL is used for basic auth.
	URL string
	// Alias is the name searches use (default "instachat-messages"); the
	// concrete index is Alias-v<MappingVersion>.
	Alias string
	// Shards and Replicas of a new index (defaults 1 and 0). One shard keeps
	// scores exact; more shards need more nodes to pay off.
	Shards, Replicas int
	// KeepAccents turns off ASCII folding ("cafe" then no longer finds "café").
	KeepAccents bool
	// Timeout bounds each request (default 10 s).
	Timeout time.Duration
}

// Engine is a search.Engine on Elasticsearch. It is safe for concurrent use.
type Engine struct {
	client *elastic.Client
	alias  string
	index  string // the concrete index of this mapping version
	fresh  bool
	tm     time.Duration

	mu     sync.RWMutex
	extra  []string // older indices the alias still points to: written until SwitchOver
	closed bool
}

// Open connects, creates the versioned index when it is missing, and points
// the alias at it unless an older index still serves searches.
func Open(ctx context.Context, cfg Config) (*Engine, error) {
	return open(ctx, cfg, MappingVersion)
}

// open is Open with the mapping version as a parameter, for tests.
func open(ctx context.Context, cfg Config, version int) (*Engine, error) {
	if cfg.Alias == "" {
		cfg.Alias = "instachat-messages"
	}
	if cfg.Shards <= 0 {
		cfg.Shards = 1
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	u, err := url.Parse(cfg.URL)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("elasticsearch url %q: not a URL", redact(cfg.URL))
	}
	opts := []elastic.ClientOptionFunc{
		elastic.SetSniff(false),
		elastic.SetHealthcheck(false),
		elastic.SetHttpClient(&http.Client{Timeout: cfg.Timeout}),
	}
	if u.User != nil {
		pass, _ := u.User.Password()
		opts = append(opts, elastic.SetBasicAuth(u.User.Username(), pass))
		u.User = nil
	}
	opts = append(opts, elastic.SetURL(u.String()))
	client, err := elastic.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to elasticsearch at %s: %w: %w", u.Host, search.ErrUnavailable, err)
	}
	e := &Engine{client: client, alias: cfg.Alias, index: fmt.Sprintf("%s-v%d", cfg.Alias, version), tm: cfg.Timeout}
	if err := e.prepare(ctx, cfg); err != nil {
		return nil, err
	}
	return e, nil
}

// prepare creates the index and settles the alias.
func (e *Engine) prepare(ctx context.Context, cfg Config) error {
	exists, err := e.client.IndexExists(e.index).Do(ctx)
	if err != nil {
		return e.fail("check index", err)
	}
	if !exists {
		_, err := e.client.CreateIndex(e.index).BodyJson(indexBody(cfg.Shards, cfg.Replicas, !cfg.KeepAccents)).Do(ctx)
		var ee *elastic.Error
		switch {
		case errors.As(err, &ee) && ee.Details != nil && ee.Details.Type == "resource_already_exists_exception":
			// Another api replica created it first; it rebuilds it.
		case err != nil:
			return e.fail("create index "+e.index, err)
		default:
			e.fresh = true
		}
	}
	current, err := e.aliasTargets(ctx)
	if err != nil {
		return err
	}
	var others []string
	for _, idx := range current {
		if idx != e.index {
			others = append(others, idx)
		}
	}
	switch {
	case len(current) == 0:
		// First install: nothing to keep serving, point the alias now.
		return e.moveAlias(ctx, nil)
	case len(others) > 0 && e.fresh:
		// A new mapping: keep searching the old index and writing both until
		// the rebuild calls SwitchOver.
		e.extra = others
	case len(others) > 0:
		// The new index exists but the alias was not moved yet (a rebuild was
		// interrupted): keep writing both; SwitchOver after the rebuild.
		e.extra = others
	}
	return nil
}

// aliasTargets returns the indices the alias points to.
func (e *Engine) aliasTargets(ctx context.Context) ([]string, error) {
	res, err := e.client.Aliases().Alias(e.alias).Do(ctx)
	if elastic.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, e.fail("read alias "+e.alias, err)
	}
	return res.IndicesByAlias(e.alias), nil
}

// moveAlias points the alias at this engine's index only, in one atomic
// request that also removes it from the old indices.
func (e *Engine) moveAlias(ctx context.Context, old []string) error {
	svc := e.client.Alias().Add(e.index, e.alias)
	for _, idx := range old {
		svc = svc.Remove(idx, e.alias)
	}
	if _, err := svc.Do(ctx); err != nil {
		return e.fail("point alias "+e.alias+" at "+e.index, err)
	}
	return nil
}

// SwitchOver moves the alias to the new index once a rebuild has filled it;
// from then on searches use it and the old index is no longer written.
// Old indices are left for an operator to delete.
func (e *Engine) SwitchOver(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.extra) == 0 {
		return nil
	}
	if err := e.moveAlias(ctx, e.extra); err != nil {
		return err
	}
	e.extra = nil
	return nil
}

// Ping asks the cluster whether the engine's index exists: an error wrapping
// search.ErrUnavailable when the cluster does not answer or the engine is
// closed.
func (e *Engine) Ping(ctx context.Context) error {
	if _, err := e.targets(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, e.tm)
	defer cancel()
	ok, err := e.client.IndexExists(e.index).Do(ctx)
	if err != nil {
		return e.fail("ping", err)
	}
	if !ok {
		return fmt.Errorf("elasticsearch ping: index %s is missing: %w", e.index, search.ErrUnavailable)
	}
	return nil
}

// Info describes the engine.
func (e *Engine) Info() search.Info {
	return search.Info{Backend: "elasticsearch", Index: e.index, Fresh: e.fresh}
}

// targets returns the indices writes go to.
func (e *Engine) targets() ([]string, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.closed {
		return nil, fmt.Errorf("elasticsearch engine closed: %w", search.ErrUnavailable)
	}
	return append([]string{e.index}, e.extra...), nil
}

func docID(appID, chat, number int64) string {
	return strconv.FormatInt(appID, 10) + ":" + strconv.FormatInt(chat, 10) + ":" + strconv.FormatInt(number, 10)
}

func scope(appID, chat int64) string {
	return strconv.FormatInt(appID, 10) + ":" + strconv.FormatInt(chat, 10)
}

// numberOf reads the message number back from a document id.
func numberOf(id string) (int64, error) {
	i := strings.LastIndexByte(id, ':')
	n, err := strconv.ParseInt(id[i+1:], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("document id %q: %w", id, err)
	}
	return n, nil
}

// Index adds or replaces documents with external versioning: Elasticsearch
// keeps a document only if its version is higher than the stored one, so a
// late request with an older body is refused (409) and ignored here.
func (e *Engine) Index(ctx context.Context, docs []search.Doc) error {
	if len(docs) == 0 {
		return nil
	}
	targets, err := e.targets()
	if err != nil {
		return err
	}
	bulk := e.client.Bulk()
	for _, d := range docs {
		for _, idx := range targets {
			bulk.Add(elastic.NewBulkIndexRequest().Index(idx).Id(docID(d.AppID, d.Chat, d.Number)).
				VersionType("external").Version(d.Version).
				Doc(doc{Scope: scope(d.AppID, d.Chat), Number: d.Number, Body: d.Body}))
		}
	}
	return e.runBulk(ctx, bulk, "index")
}

// Delete removes documents; missing ones are fine.
func (e *Engine) Delete(ctx context.Context, keys []search.Key) error {
	if len(keys) == 0 {
		return nil
	}
	targets, err := e.targets()
	if err != nil {
		return err
	}
	bulk := e.client.Bulk()
	for _, k := range keys {
		for _, idx := range targets {
			bulk.Add(elastic.NewBulkDeleteRequest().Index(idx).Id(docID(k.AppID, k.Chat, k.Number)))
		}
	}
	return e.runBulk(ctx, bulk, "delete")
}

// runBulk sends a bulk request and fails on any item error other than a
// version conflict (stale) or a missing document on delete.
func (e *Engine) runBulk(ctx context.Context, bulk *elastic.BulkService, op string) error {
	ctx, cancel := context.WithTimeout(ctx, e.tm)
	defer cancel()
	res, err := bulk.Do(ctx)
	if err != nil {
		return e.fail("bulk "+op, err)
	}
	if !res.Errors {
		return nil
	}
	for _, item := range res.Failed() {
		switch {
		case item.Status == http.StatusConflict:
			// stale: a newer version is indexed
		case item.Status == http.StatusNotFound && op == "delete":
		default:
			reason := ""
			if item.Error != nil {
				reason = item.Error.Type + ": " + item.Error.Reason
			}
			return fmt.Errorf("bulk %s: document %s: status %d %s", op, item.Id, item.Status, reason)
		}
	}
	return nil
}

// Search finds a chat's messages whose words begin with every query word.
func (e *Engine) Search(ctx context.Context, q search.Query) (search.Result, error) {
	if q.Offset < 0 || q.Limit < 0 {
		return search.Result{}, fmt.Errorf("search: negative offset or limit")
	}
	if err := q.CheckWindow(); err != nil {
		return search.Result{}, fmt.Errorf("search: %w", err)
	}
	if _, err := e.targets(); err != nil {
		return search.Result{}, err
	}
	if strings.TrimSpace(q.Text) == "" {
		return search.Result{Numbers: []int64{}}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, e.tm)
	defer cancel()
	res, err := e.client.Search(e.alias).SearchSource(searchSource(q)).Do(ctx)
	if err != nil {
		var ee *elastic.Error
		switch {
		case beyondWindow(err):
			// The index's max_result_window is smaller than MaxWindow: still
			// the client's page, not an outage, whatever status it came with.
			return search.Result{}, fmt.Errorf("search: %w: %w", search.ErrBeyondWindow, err)
		case errors.As(err, &ee) && ee.Status == http.StatusBadRequest:
			return search.Result{}, fmt.Errorf("search: %w", err)
		}
		return search.Result{}, e.fail("search", err)
	}
	out := search.Result{Numbers: make([]int64, 0, len(res.Hits.Hits))}
	if res.Hits.TotalHits != nil {
		out.Total = res.Hits.TotalHits.Value
	}
	for _, h := range res.Hits.Hits {
		n, err := numberOf(h.Id)
		if err != nil {
			return search.Result{}, fmt.Errorf("search: %w", err)
		}
		out.Numbers = append(out.Numbers, n)
	}
	return out, nil
}

// searchSource is the request body of a search: the chat's scope as a filter
// (application and chat, so no other tenant's or chat's message can match),
// every query word required, best score first and ties by ascending number.
func searchSource(q search.Query) *elastic.SearchSource {
	query := elastic.NewBoolQuery().
		Filter(elastic.NewTermQuery("scope", scope(q.AppID, q.Chat))).
		Must(elastic.NewMatchQuery("body", q.Text).Operator("and"))
	return elastic.NewSearchSource().Query(query).
		SortBy(elastic.NewScoreSort().Desc(), elastic.NewFieldSort("number").Asc()).
		From(q.Offset).Size(q.Limit).TrackTotalHits(true).FetchSource(false)
}

// beyondWindow reports whether Elasticsearch refused a search because its
// page ends beyond the index's max_result_window ("Result window is too
// large"); the reason is on the error, its root causes or its cause.
func beyondWindow(err error) bool {
	var ee *elastic.Error
	if !errors.As(err, &ee) || ee.Details == nil {
		return false
	}
	reasons := []string{ee.Details.Reason}
	for _, rc := range ee.Details.RootCause {
		if rc != nil {
			reasons = append(reasons, rc.Reason)
		}
	}
	if r, ok := ee.Details.CausedBy["reason"].(string); ok {
		reasons = append(reasons, r)
	}
	for _, r := range reasons {
		if strings.Contains(strings.ToLower(r), "result window is too large") {
			return true
		}
	}
	return false
}

// Close stops the engine; later calls fail with search.ErrUnavailable.
func (e *Engine) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.closed {
		e.closed = true
		e.client.Stop()
	}
	return nil
}

// DeleteIndex removes this engine's concrete index (tests and operators).
func (e *Engine) DeleteIndex(ctx context.Context) error {
	if _, err := e.client.DeleteIndex(e.index).Do(ctx); err != nil && !elastic.IsNotFound(err) {
		return fmt.Errorf("delete index %s: %w", e.index, err)
	}
	return nil
}

// fail wraps err; a cluster that cannot be reached (connection refused,
// timeouts, 5xx) wraps search.ErrUnavailable so the api answers 503.
func (e *Engine) fail(op string, err error) error {
	var ne net.Error
	var ee *elastic.Error
	switch {
	case errors.As(err, &ne), errors.Is(err, context.DeadlineExceeded), elastic.IsConnErr(err),
		errors.As(err, &ee) && ee.Status >= 500:
		return fmt.Errorf("elasticsearch %s: %w: %w", op, search.ErrUnavailable, err)
	}
	return fmt.Errorf("elasticsearch %s: %w", op, err)
}

// redact hides the password of a URL for error messages.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable)"
	}
	return u.Redacted()
}
