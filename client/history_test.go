package client_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/instachat/instachat/client"
)

// TestHistoryBacksOffOnAStalledPage: an empty page with has_more and the
// same cursor again makes no progress; History asks again after a backoff
// instead of ending early or spinning.
func TestHistoryBacksOffOnAStalledPage(t *testing.T) {
	app, rec := serve(t, func(n int, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch after := r.URL.Query().Get("after"); {
		case after == "0":
			fmt.Fprint(w, `{"messages":[{"chat_number":1,"number":1,"body":"a","status":"persisted"}],"limit":50,"has_more":true,"next":{"after":1}}`)
		case after == "1" && n < 4: // message 2 is not settled yet
			fmt.Fprint(w, `{"messages":[],"limit":50,"has_more":true,"next":{"after":1}}`)
		case after == "1":
			fmt.Fprint(w, `{"messages":[{"chat_number":1,"number":2,"body":"b","status":"persisted"}],"limit":50,"has_more":false}`)
		default:
			t.Errorf("unexpected query %q", r.URL.RawQuery)
			w.WriteHeader(http.StatusBadRequest)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var got []int64
	for m, err := range app.History(ctx, 1, client.Oldest()) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, m.Number)
	}
	if len(got) != 2 || got[0] != 1 || got[1] != 2 {
		t.Errorf("got %v, want [1 2]", got)
	}
	if n := len(rec.seen()); n != 4 {
		t.Errorf("got %d requests, want 4 (one page, two waits, the last page)", n)
	}
}

// TestHistoryRefusesLegacyAnswers: an api without cursors answers with a
// page/per_page list, which would end a walk after one page unnoticed.
func TestHistoryRefusesLegacyAnswers(t *testing.T) {
	app, _ := serve(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"messages":[{"chat_number":1,"number":1,"status":"persisted"}],"page":1,"per_page":20,"total":40}`)
	})
	for _, err := range app.History(context.Background(), 1, client.Oldest()) {
		if err == nil {
			t.Fatal("got a message, want an error first")
		}
		return
	}
	t.Fatal("got nothing, want an error")
}
