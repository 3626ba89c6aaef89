package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// Asking a running api: the request must answer quickly (an api that hangs
// counts as none), and progress is read every pollEvery.
var (
	askTimeout = 2 * time.Second
	pollEvery  = time.Second
)

// rebuildPath is the api's admin endpoint that starts (POST) and reports
// (GET) a rebuild of its search index.
const rebuildPath = "/admin/index/rebuild"

// refusedError is an api that answered but did not take the request.
type refusedError struct {
	url    string
	status int
	msg    string
}

func (e *refusedError) Error() string {
	return fmt.Sprintf("the api at %s refused the rebuild request (%d: %s)", e.url, e.status, e.msg)
}

// rebuildStatus is the api's answer at GET /admin/index/rebuild.
type rebuildStatus struct {
	Index  string `json:"index"`
	Status string `json:"status"`
	Done   int64  `json:"done"`
	Total  int64  `json:"total"`
	Error  string `json:"error"`
}

// askAPI asks the api at base to rebuild its index and follows the rebuild
// to its end with a progress bar on stderr. asked is false, with no error,
// when nothing answers at base; a *refusedError means an api answered but
// would not rebuild (wrong token, admin endpoints off).
func askAPI(ctx context.Context, base, token string, restart bool, stdout, stderr io.Writer) (asked bool, err error) {
	client := &http.Client{Timeout: askTimeout}
	url := base + rebuildPath
	if restart {
		url += "?restart=true"
	}
	var st rebuildStatus
	code, err := call(ctx, client, http.MethodPost, url, token, &st)
	if err != nil {
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		return false, nil // no api answers
	}
	switch code {
	case http.StatusAccepted:
		fmt.Fprintf(stderr, "the api at %s is rebuilding its search index from MySQL\n", base)
	case http.StatusConflict:
		fmt.Fprintf(stderr, "the api at %s is already rebuilding its search index; following it\n", base)
	default:
		return false, &refusedError{url: base, status: code, msg: st.Error}
	}
	start := time.Now()
	bar := newProgressBar(stderr, time.Now, isTerminal(stderr))
	for {
		code, err := call(ctx, client, http.MethodGet, base+rebuildPath, token, &st)
		switch {
		case ctx.Err() != nil:
			bar.Finish()
			return true, fmt.Errorf("stopped following; the api keeps rebuilding (GET %s%s)", base, rebuildPath)
		case err != nil:
			bar.Finish()
			return true, fmt.Errorf("follow the api's rebuild: %w (the api may still be rebuilding: GET %s%s)", err, base, rebuildPath)
		case code != http.StatusOK:
			bar.Finish()
			return true, fmt.Errorf("follow the api's rebuild: %d: %s", code, st.Error)
		}
		bar.Update(st.Done, st.Total)
		if st.Status != "running" {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(pollEvery):
		}
	}
	bar.Finish()
	if st.Status != "finished" {
		return true, fmt.Errorf("the api's rebuild of %s ended %s (the api stopped?): run this again to resume", st.Index, st.Status)
	}
	fmt.Fprintf(stdout, "index %s rebuilt: %d messages indexed by the api in %s\n", st.Index, st.Done, time.Since(start).Round(time.Millisecond))
	return true, nil
}

// call sends one admin request and decodes its JSON answer into out; err is
// a transport failure (nothing answered).
func call(ctx context.Context, client *http.Client, method, url, token string, out *rebuildStatus) (int, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	*out = rebuildStatus{}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(out); err != nil && !errors.Is(err, io.EOF) {
		out.Error = "undecodable answer: " + err.Error()
	}
	return resp.StatusCode, nil
}
