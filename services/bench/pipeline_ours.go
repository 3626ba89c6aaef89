package main

import (
	"context"
	"fmt"
)

// ourPipeline is the whole system as a ramp step sees it.
//
// Persisted is the messages table's row count. Searchable has no direct
// source: the api exposes no count of indexed documents (its /metrics have
// the searchable lag of the live reindex path only, the admin routes the
// rebuild's progress only). The closest faithful one is the search outbox:
// the writer adds one outbox row per changed message in the transaction
// that commits it, and the row is deleted only once the api has indexed
// the message (by the writer after the api answered its reindex call, or by
// the api's catch-up after indexing it). So, with creates only, messages
// minus outbox rows, read in one statement (one snapshot), counts the
// messages whose documents are in the index. It lags the index by the time
// from the api's answer to the writer's DELETE (milliseconds), so it never
// calls a message searchable early; it would if the writer stopped writing
// outbox rows for messages it indexes itself, which the report checks
// against the api's searchable-lag samples.
type ourPipeline struct {
	sys         *system
	api, writer samples // the last scrape: lags are diffed from it
}

func (o *ourPipeline) url() string { return o.sys.apiURL }

// progress reads the messages and the search outbox in one statement.
func (o *ourPipeline) progress(ctx context.Context) (pipelineProgress, error) {
	var persisted, outbox int64
	err := o.sys.db.QueryRowContext(ctx, "SELECT (SELECT COUNT(*) FROM messages), (SELECT COUNT(*) FROM search_outbox)").Scan(&persisted, &outbox)
	if err != nil {
		return pipelineProgress{}, fmt.Errorf("count messages and outbox rows: %w", err)
	}
	return pipelineProgress{persisted: persisted, searchable: persisted - outbox}, nil
}

// lags diffs the writer's commit lag and the api's searchable lag from the
// last call's scrape. Both are Prometheus histograms: their quantiles are
// interpolated inside buckets (5, 10, 25, 50, 100, 250 ms …), and the
// searchable one counts the live reindex path only.
func (o *ourPipeline) lags(ctx context.Context) (stepLags, error) {
	api, writer, err := scrapeBoth(ctx, o.sys)
	if err != nil {
		return stepLags{}, err
	}
	l := stepLags{
		Commit:     promLag(writer.diff(o.writer), "instachat_job_commit_lag_seconds"),
		Searchable: promLag(api.diff(o.api), "instachat_job_searchable_lag_seconds"),
	}
	o.api, o.writer = api, writer
	return l, nil
}

// promLag summarises one histogram of seconds in s.
func promLag(s samples, metric string) lagSummary {
	bs := s.histogram(metric)
	if len(bs) == 0 || bs[len(bs)-1].count <= 0 {
		return lagSummary{}
	}
	q := func(x float64) float64 { v, _ := quantile(x, bs); return v * 1000 }
	return lagSummary{Count: int64(bs[len(bs)-1].count), P50: q(0.5), P90: q(0.9), P99: q(0.99)}
}
