package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Admin calls the operator's endpoints under /admin with ADMIN_TOKEN. They
// take no idempotency keys, so their writes are tried once.
type Admin struct {
	c    *Client
	auth string
}

// Admin returns the admin endpoints, authenticated with token.
func (c *Client) Admin(token string) *Admin { return &Admin{c: c, auth: "Bearer " + token} }

// AllPartitions asks for the dead jobs of every queue partition.
const AllPartitions = -1

// DeadJob is a job that used up its attempts. One that does not decode
// (Decoded false) shows its id only: it can be discarded, not replayed.
type DeadJob struct {
	Partition int    `json:"partition"`
	ID        string `json:"id"`
	Type      string `json:"type"`
	Chat      int64  `json:"chat"`
	Message   int64  `json:"message"`
	Body      string `json:"body"`
	Attempt   int    `json:"attempt"`
	Error     string `json:"error"`
	// EventTime is when the api accepted the job.
	EventTime time.Time `json:"event_time"`
	Trace     string    `json:"trace"`
	Decoded   bool      `json:"decoded"`
}

// DeadJobList is one page of dead jobs, newest first.
type DeadJobList struct {
	Jobs    []DeadJob `json:"jobs"`
	Page    int       `json:"page"`
	PerPage int       `json:"per_page"`
	Total   int64     `json:"total"`
}

// ReplayAllResult counts the jobs a bulk replay queued again and those that
// stay dead.
type ReplayAllResult struct {
	Replayed  int   `json:"replayed"`
	Remaining int64 `json:"remaining"`
}

// RebuildProgress is the state of the search index's rebuild: Status is
// "running", "finished", "interrupted" or "never".
type RebuildProgress struct {
	Index      string    `json:"index"`
	Status     string    `json:"status"`
	Done       int64     `json:"done"`
	Total      int64     `json:"total"`
	StartedAt  time.Time `json:"started_at"`
	UpdatedAt  time.Time `json:"updated_at"`
	FinishedAt time.Time `json:"finished_at"`
}

const (
	routeDead    = "/admin/dead"
	routeRebuild = "/admin/index/rebuild"
)

func (a *Admin) call(op, method, path string, query url.Values, out any) *call {
	return &call{op: op, method: method, path: path, query: query, auth: a.auth, out: out}
}

func partitionQuery(partition int) url.Values {
	if partition < 0 {
		return nil
	}
	return url.Values{"partition": {strconv.Itoa(partition)}}
}

// Dead lists dead jobs of one partition (or AllPartitions), newest first.
func (a *Admin) Dead(ctx context.Context, partition, page, perPage int) (DeadJobList, error) {
	q := pageQuery(page, perPage)
	for k, v := range partitionQuery(partition) {
		q[k] = v
	}
	var out DeadJobList
	err := a.c.do(ctx, a.call("GET "+routeDead, http.MethodGet, routeDead, q, &out))
	return out, err
}

// Replay queues dead job id again with its attempts reset.
func (a *Admin) Replay(ctx context.Context, id string) error {
	return a.c.do(ctx, a.call("POST "+routeDead+"/{id}/replay", http.MethodPost, routeDead+"/"+url.PathEscape(id)+"/replay", nil, nil))
}

// Discard deletes dead job id for good.
func (a *Admin) Discard(ctx context.Context, id string) error {
	return a.c.do(ctx, a.call("DELETE "+routeDead+"/{id}", http.MethodDelete, routeDead+"/"+url.PathEscape(id), nil, nil))
}

// ReplayAll queues every dead job that decodes again, of one partition or
// AllPartitions.
func (a *Admin) ReplayAll(ctx context.Context, partition int) (ReplayAllResult, error) {
	var out ReplayAllResult
	err := a.c.do(ctx, a.call("POST "+routeDead+"/replay-all", http.MethodPost, routeDead+"/replay-all", partitionQuery(partition), &out))
	return out, err
}

// DiscardAll deletes every dead job of one partition or AllPartitions and
// says how many.
func (a *Admin) DiscardAll(ctx context.Context, partition int) (int, error) {
	var out struct {
		Discarded int `json:"discarded"`
	}
	err := a.c.do(ctx, a.call("DELETE "+routeDead, http.MethodDelete, routeDead, partitionQuery(partition), &out))
	return out.Discarded, err
}

// StartRebuild starts rebuilding the search index from MySQL in the api's
// background, resuming an unfinished rebuild unless restart. A rebuild that
// already runs is ErrConflict; follow it with RebuildProgress.
func (a *Admin) StartRebuild(ctx context.Context, restart bool) error {
	var q url.Values
	if restart {
		q = url.Values{"restart": {"true"}}
	}
	return a.c.do(ctx, a.call("POST "+routeRebuild, http.MethodPost, routeRebuild, q, nil))
}

// RebuildProgress reads the state of the index rebuild.
func (a *Admin) RebuildProgress(ctx context.Context) (RebuildProgress, error) {
	var out RebuildProgress
	err := a.c.do(ctx, a.call("GET "+routeRebuild, http.MethodGet, routeRebuild, nil, &out))
	return out, err
}
