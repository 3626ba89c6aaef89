package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/instachat/instachat/pkg/store"
)

func TestRebuildState(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	if _, ok, err := s.RebuildState(ctx, "idx-v1"); ok || err != nil {
		t.Fatalf("state before any rebuild: got ok %v, %v; want none", ok, err)
	}
	if err := s.StartRebuild(ctx, "idx-v1", 10); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveRebuildPosition(ctx, "idx-v1", 42, 12); err != nil {
		t.Fatal(err)
	}
	st, ok, err := s.RebuildState(ctx, "idx-v1")
	if err != nil || !ok || st.Position != 42 || st.Total != 12 || st.Finished() || st.StartedAt.IsZero() {
		t.Fatalf("state after a saved position: got %+v, %v, %v; want position 42, total 12, unfinished", st, ok, err)
	}
	if _, ok, _ := s.RebuildState(ctx, "idx-v2"); ok {
		t.Errorf("another index name: got a state, want none (a new mapping starts from zero)")
	}
	if err := s.FinishRebuild(ctx, "idx-v1"); err != nil {
		t.Fatal(err)
	}
	st, _, _ = s.RebuildState(ctx, "idx-v1")
	if !st.Finished() || st.Position != 42 {
		t.Errorf("finished state: got %+v, want finished at position 42", st)
	}
	if err := s.StartRebuild(ctx, "idx-v1", 20); err != nil {
		t.Fatal(err)
	}
	st, _, _ = s.RebuildState(ctx, "idx-v1")
	if st.Finished() || st.Position != 0 || st.Total != 20 {
		t.Errorf("restarted state: got %+v, want position 0, total 20, unfinished", st)
	}
}

func TestIndexPageAndProgress(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	app, err := s.CreateApplication(ctx, "walk", t0)
	if err != nil {
		t.Fatal(err)
	}
	var ws []store.MessageWrite
	for n := int64(1); n <= 25; n++ {
		ws = append(ws, store.MessageWrite{AppID: app.ID, Chat: n%2 + 1, Number: n, Body: fmt.Sprint("body ", n), Prov: prov(fmt.Sprint("w", n), time.Duration(n))})
	}
	if err := s.InTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.CreateChats(ctx, chatsFor(ws)); err != nil {
			return err
		}
		_, err := tx.CreateMessages(ctx, ws)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	var after int64
	seen := 0
	for page := 0; ; page++ {
		docs, last, err := s.IndexPage(ctx, after, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(docs) == 0 {
			if last != after {
				t.Errorf("empty page: got position %d, want it unchanged at %d", last, after)
			}
			break
		}
		seen += len(docs)
		after = last
		done, total, err := s.IndexProgress(ctx, after)
		if err != nil || done != int64(seen) || total != 25 {
			t.Errorf("progress after page %d: got %d/%d, %v; want %d/25", page, done, total, err, seen)
		}
	}
	if seen != 25 {
		t.Errorf("walked %d messages, want 25", seen)
	}
}
