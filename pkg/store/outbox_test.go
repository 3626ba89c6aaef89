package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/instachat/instachat/pkg/store"
)

// queue commits outbox rows for keys in one writer transaction.
func queue(t *testing.T, s *store.Store, keys []store.MessageKey) {
	t.Helper()
	ctx := context.Background()
	if err := s.InTx(ctx, func(tx *store.Tx) error { return tx.QueueForIndex(ctx, keys) }); err != nil {
		t.Fatalf("queue %d keys: %v", len(keys), err)
	}
}

func backlog(t *testing.T, s *store.Store) int64 {
	t.Helper()
	n, err := s.OutboxBacklog(context.Background())
	if err != nil {
		t.Fatalf("outbox backlog: %v", err)
	}
	return n
}

func keysUpTo(n int) []store.MessageKey {
	keys := make([]store.MessageKey, n)
	for i := range keys {
		keys[i] = store.MessageKey{AppID: 7, Chat: int64(i%3 + 1), Number: int64(i + 1)}
	}
	return keys
}

func TestQueueForIndexCommitsWithTheTransaction(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	queue(t, s, keysUpTo(2500)) // three statements
	if got := backlog(t, s); got != 2500 {
		t.Fatalf("backlog after a committed transaction: got %d, want 2500", got)
	}
	boom := errors.New("boom")
	err := s.InTx(ctx, func(tx *store.Tx) error {
		if err := tx.QueueForIndex(ctx, keysUpTo(3)); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("rolled back transaction: got %v, want boom", err)
	}
	if got := backlog(t, s); got != 2500 {
		t.Errorf("backlog after a rolled back transaction: got %d, want 2500 (its rows roll back too)", got)
	}
	if err := s.InTx(ctx, func(tx *store.Tx) error { return tx.QueueForIndex(ctx, nil) }); err != nil {
		t.Errorf("queue nothing: got %v, want nil", err)
	}
}

func TestProcessOutboxDeletesOnlyWhatSucceeded(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	k := keysUpTo(5)
	queue(t, s, []store.MessageKey{k[0], k[1], k[1], k[2], k[3], k[4]})

	failure := errors.New("engine down")
	n, err := s.ProcessOutbox(ctx, 3, 0, func([]store.MessageKey) error { return failure })
	if !errors.Is(err, failure) || n != 0 {
		t.Fatalf("failing fn: got %d, %v; want 0 and the fn's error", n, err)
	}
	if got := backlog(t, s); got != 6 {
		t.Fatalf("backlog after a failed round: got %d, want 6 (rows kept)", got)
	}

	rounds := []struct {
		rows int
		keys []store.MessageKey
	}{
		{rows: 3, keys: []store.MessageKey{k[0], k[1]}}, // a key queued twice comes once
		{rows: 3, keys: []store.MessageKey{k[2], k[3], k[4]}},
	}
	for i, r := range rounds {
		var got []store.MessageKey
		n, err := s.ProcessOutbox(ctx, 3, 0, func(keys []store.MessageKey) error { got = keys; return nil })
		if err != nil || n != r.rows || fmt.Sprint(got) != fmt.Sprint(r.keys) {
			t.Fatalf("round %d: got %d rows, keys %v, %v; want %d rows, keys %v", i, n, got, err, r.rows, r.keys)
		}
	}
	called := false
	n, err = s.ProcessOutbox(ctx, 3, 0, func([]store.MessageKey) error { called = true; return nil })
	if n != 0 || err != nil || called {
		t.Errorf("empty outbox: got %d, %v, fn called %v; want 0, nil, not called", n, err, called)
	}
	if _, err := s.ProcessOutbox(ctx, 0, 0, func([]store.MessageKey) error { return nil }); err == nil {
		t.Error("limit 0: got nil error, want one")
	}
}

func TestProcessOutboxSkipsRowsAnotherCallerHolds(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	queue(t, s, keysUpTo(10))

	held := make(chan []store.MessageKey)
	release := make(chan struct{})
	errc := make(chan error, 1)
	go func() {
		_, err := s.ProcessOutbox(ctx, 4, 0, func(keys []store.MessageKey) error {
			held <- keys
			<-release
			return nil
		})
		errc <- err
	}()
	first := <-held
	var second []store.MessageKey
	n, err := s.ProcessOutbox(ctx, 100, 0, func(keys []store.MessageKey) error { second = keys; return nil })
	close(release)
	if err := <-errc; err != nil {
		t.Fatalf("first caller: %v", err)
	}
	if err != nil || n != 6 {
		t.Fatalf("second caller: got %d rows, %v; want the 6 rows the first does not hold", n, err)
	}
	seen := map[store.MessageKey]bool{}
	for _, k := range append(first, second...) {
		if seen[k] {
			t.Errorf("key %v went to both callers", k)
		}
		seen[k] = true
	}
	if len(seen) != 10 || backlog(t, s) != 0 {
		t.Errorf("got %d distinct keys and backlog %d; want 10 and 0", len(seen), backlog(t, s))
	}
}

func TestConcurrentProcessOutboxHandsEachRowOutOnce(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	const rows = 600
	queue(t, s, keysUpTo(rows))
	var mu sync.Mutex
	got := map[store.MessageKey]int{}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			for {
				n, err := s.ProcessOutbox(ctx, 7, 0, func(keys []store.MessageKey) error {
					mu.Lock()
					defer mu.Unlock()
					for _, k := range keys {
						got[k]++
					}
					return nil
				})
				if err != nil {
					errs <- err
					return
				}
				if n == 0 {
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent caller: %v", err)
	}
	for k, n := range got {
		if n != 1 {
			t.Errorf("key %v processed %d times, want once", k, n)
		}
	}
	if len(got) != rows || backlog(t, s) != 0 {
		t.Errorf("got %d keys processed, backlog %d; want %d and 0", len(got), backlog(t, s), rows)
	}
}

func TestForgetIndexedRemovesOnlyItsBatches(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	a, b := store.NewOutboxBatch(), store.NewOutboxBatch()
	if a == 0 || a == b {
		t.Fatalf("batch names %d and %d: want two distinct non-zero names", a, b)
	}
	for _, batch := range []store.OutboxBatch{a, b} {
		if err := s.InTx(ctx, func(tx *store.Tx) error { return tx.QueueForIndexAs(ctx, batch, keysUpTo(5)) }); err != nil {
			t.Fatal(err)
		}
	}
	queue(t, s, keysUpTo(2)) // no batch: only the catch-up removes these
	if err := s.ForgetIndexed(ctx, []store.OutboxBatch{a, 0}); err != nil {
		t.Fatal(err)
	}
	if n := backlog(t, s); n != 7 {
		t.Fatalf("backlog %d after forgetting one batch of 5 out of 12 rows, want 7", n)
	}
	if err := s.ForgetIndexed(ctx, nil); err != nil {
		t.Fatalf("forgetting nothing: %v", err)
	}
	if err := s.ForgetIndexed(ctx, []store.OutboxBatch{b}); err != nil {
		t.Fatal(err)
	}
	if n := backlog(t, s); n != 2 {
		t.Fatalf("backlog %d, want the 2 rows of no batch", n)
	}
}

func TestProcessOutboxLeavesYoungRowsToTheWriter(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	queue(t, s, keysUpTo(4))
	called := false
	n, err := s.ProcessOutbox(ctx, 100, time.Hour, func([]store.MessageKey) error { called = true; return nil })
	if err != nil || n != 0 || called {
		t.Fatalf("rows younger than an hour: processed %d (fn called %v, err %v); want none", n, called, err)
	}
	n, err = s.ProcessOutbox(ctx, 100, 0, func([]store.MessageKey) error { return nil })
	if err != nil || n != 4 || backlog(t, s) != 0 {
		t.Fatalf("with no age limit: processed %d, err %v, backlog %d; want 4, nil, 0", n, err, backlog(t, s))
	}
}
