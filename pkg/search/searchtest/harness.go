package searchtest

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/instachat/instachat/pkg/search"
)

// Visibility: near-real-time backends (Elasticsearch) show writes after a
// refresh, so every write is followed by a barrier and every expectation is
// polled until it holds or the deadline passes. An embedded index passes on
// the first poll.
const (
	visibilityTimeout = 10 * time.Second
	pollInterval      = 25 * time.Millisecond

	// The barrier documents live in a scope no case uses.
	barrierApp  = 1 << 40
	barrierChat = 1
)

// harness drives one engine for one case.
type harness struct {
	e       search.Engine
	barrier int64 // number of the last barrier document
}

// index writes docs in one Index call together with a barrier document, and
// waits until the barrier is searchable: from then on the whole call is
// visible, so checks that nothing changed (a stale write) can fail.
func (h *harness) index(t *testing.T, docs ...search.Doc) {
	t.Helper()
	h.barrier++
	n := h.barrier
	all := append(slices.Clip(docs), search.Doc{
		AppID: barrierApp, Chat: barrierChat, Number: n, Version: 1,
		Body: fmt.Sprintf("barrier%d", n),
	})
	if err := h.e.Index(context.Background(), all); err != nil {
		t.Fatalf("Index(%d docs): got error %v, want nil", len(docs), err)
	}
	h.waitBarrier(t, n)
}

// remove deletes keys, then writes a barrier and waits for it.
func (h *harness) remove(t *testing.T, keys ...search.Key) {
	t.Helper()
	if err := h.e.Delete(context.Background(), keys); err != nil {
		t.Fatalf("Delete(%v): got error %v, want nil", keys, err)
	}
	h.index(t)
}

// waitBarrier polls until barrier document n is found.
func (h *harness) waitBarrier(t *testing.T, n int64) {
	t.Helper()
	q := search.Query{AppID: barrierApp, Chat: barrierChat, Text: fmt.Sprintf("barrier%d", n), Limit: 100}
	h.poll(t, q, fmt.Sprintf("barrier %d visible", n), func(r search.Result) bool {
		return slices.Contains(r.Numbers, n)
	})
}

// expectSet polls until q matches exactly the numbers want, in any order,
// with a consistent total.
func (h *harness) expectSet(t *testing.T, q search.Query, want ...int64) {
	t.Helper()
	want = slices.Sorted(slices.Values(want))
	h.poll(t, q, fmt.Sprintf("numbers %v (any order), total %d", want, len(want)), func(r search.Result) bool {
		got := slices.Sorted(slices.Values(r.Numbers))
		return slices.Equal(got, want) && r.Total == int64(len(want))
	})
}

// expectPage polls until q returns exactly the numbers want in this order and
// the total wantTotal.
func (h *harness) expectPage(t *testing.T, q search.Query, wantTotal int64, want ...int64) {
	t.Helper()
	h.poll(t, q, fmt.Sprintf("numbers %v in order, total %d", want, wantTotal), func(r search.Result) bool {
		return slices.Equal(r.Numbers, want) && r.Total == wantTotal
	})
}

// poll runs q until ok accepts the result or visibilityTimeout passes, then
// fails with the last result or error.
func (h *harness) poll(t *testing.T, q search.Query, want string, ok func(search.Result) bool) {
	t.Helper()
	deadline := time.Now().Add(visibilityTimeout)
	for {
		got, err := h.e.Search(context.Background(), q)
		if err == nil && ok(got) {
			return
		}
		if time.Now().After(deadline) {
			if err != nil {
				t.Fatalf("Search(%+v): got error %v, want %s", q, err, want)
			}
			t.Fatalf("Search(%+v): got numbers %v, total %d; want %s", q, got.Numbers, got.Total, want)
		}
		time.Sleep(pollInterval)
	}
}
