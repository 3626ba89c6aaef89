package store_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/instachat/instachat/pkg/chat"
	"github.com/instachat/instachat/pkg/store"
	"github.com/instachat/instachat/pkg/testenv"
)

func idem(key, request string, expires time.Time) store.Idempotency {
	return store.Idempotency{KeyHash: chat.KeyHash(key), Fingerprint: chat.Fingerprint(request), Expires: expires}
}

// sealed stands in for the api's sealing: it marks the token so a test can
// tell what the record kept.
func sealed(token string) ([]byte, error) { return []byte("sealed:" + token), nil }

// openWithDB returns a store and a plain connection to its database.
func openWithDB(t *testing.T) (*store.Store, *sql.DB) {
	t.Helper()
	dsn := testenv.MySQLDSN(t)
	s, err := store.Open(context.Background(), store.Config{DSN: dsn})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return s, db
}

func countApps(t *testing.T, db *sql.DB, name string) int64 {
	t.Helper()
	var n int64
	if err := db.QueryRow("SELECT COUNT(*) FROM applications WHERE name = ?", name).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestCreateApplicationOnce: a creation retried with its key creates nothing
// more and answers the first answer, with the token as it was sealed; racing
// twins create one application; a key used for another request is refused;
// an expired key creates anew.
func TestCreateApplicationOnce(t *testing.T) {
	ctx := context.Background()
	s, db := openWithDB(t)
	later := t0.Add(24 * time.Hour)
	first, err := s.CreateApplicationOnce(ctx, "once", t0, idem("k1", "create once", later), sealed)
	if err != nil || first.Replayed || first.Ref.App.Token == "" {
		t.Fatalf("first creation: got %+v, %v", first, err)
	}
	again, err := s.CreateApplicationOnce(ctx, "once", t0.Add(time.Minute), idem("k1", "create once", later), sealed)
	if err != nil || !again.Replayed || again.Ref.ID != first.Ref.ID || !bytes.Equal(again.Sealed, []byte("sealed:"+first.Ref.App.Token)) ||
		again.Ref.App.Name != "once" || !again.Ref.App.CreatedAt.Equal(t0) {
		t.Errorf("retried creation: got %+v, %v; want the first answer replayed with its sealed token", again, err)
	}
	if _, err := s.CreateApplicationOnce(ctx, "other", t0, idem("k1", "create other", later), sealed); !errors.Is(err, chat.ErrKeyReused) {
		t.Errorf("key reused for another name: got %v, want ErrKeyReused", err)
	}
	if n := countApps(t, db, "once"); n != 1 {
		t.Errorf("applications named once: got %d, want 1", n)
	}
	if n := countApps(t, db, "other"); n != 0 {
		t.Errorf("applications named other: got %d, want 0", n)
	}

	var wg sync.WaitGroup
	ids := make(chan int64, 10)
	for range 10 {
		wg.Go(func() {
			o, err := s.CreateApplicationOnce(ctx, "raced", t0, idem("k2", "create raced", later), sealed)
			if err != nil {
				t.Error(err)
				return
			}
			ids <- o.Ref.ID
		})
	}
	wg.Wait()
	close(ids)
	seen := map[int64]bool{}
	for id := range ids {
		seen[id] = true
	}
	if len(seen) != 1 || countApps(t, db, "raced") != 1 {
		t.Errorf("10 racing creations with one key: got ids %v and %d applications, want one", seen, countApps(t, db, "raced"))
	}

	// After it expired, the key creates anew.
	fresh, err := s.CreateApplicationOnce(ctx, "once", later.Add(time.Second), idem("k1", "create once", later.Add(48*time.Hour)), sealed)
	if err != nil || fresh.Replayed || fresh.Ref.ID == first.Ref.ID {
		t.Errorf("creation after the key expired: got %+v, %v; want a new application", fresh, err)
	}
}

// TestRenameApplicationOnce: a rename retried with its key answers the first
// answer even after a later rename; the key is scoped to the application.
func TestRenameApplicationOnce(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	later := t0.Add(time.Hour)
	app, err := s.CreateApplication(ctx, "before", t0)
	if err != nil {
		t.Fatal(err)
	}
	tok := app.App.Token
	first, err := s.RenameApplicationOnce(ctx, tok, "after", t0.Add(time.Second), idem("r1", "rename after", later))
	if err != nil || first.Replayed || first.Ref.App.Name != "after" {
		t.Fatalf("first rename: got %+v, %v", first, err)
	}
	if _, err := s.RenameApplication(ctx, tok, "meanwhile", t0.Add(2*time.Second)); err != nil {
		t.Fatal(err)
	}
	again, err := s.RenameApplicationOnce(ctx, tok, "after", t0.Add(3*time.Second), idem("r1", "rename after", later))
	if err != nil || !again.Replayed || again.Ref.App.Name != "after" || again.Ref.App.Token != tok || !again.Ref.App.UpdatedAt.Equal(t0.Add(time.Second)) {
		t.Errorf("retried rename: got %+v, %v; want the first answer", again, err)
	}
	if got, _ := s.Application(ctx, tok); got.App.Name != "meanwhile" {
		t.Errorf("name after the replay: got %q, want meanwhile (a replay changes nothing)", got.App.Name)
	}
	if _, err := s.RenameApplicationOnce(ctx, tok, "third", t0, idem("r1", "rename third", later)); !errors.Is(err, chat.ErrKeyReused) {
		t.Errorf("key reused: got %v, want ErrKeyReused", err)
	}
	other, err := s.CreateApplication(ctx, "other", t0)
	if err != nil {
		t.Fatal(err)
	}
	if o, err := s.RenameApplicationOnce(ctx, other.App.Token, "other renamed", t0, idem("r1", "rename other", later)); err != nil || o.Replayed {
		t.Errorf("same key, another application: got %+v, %v; want a fresh rename", o, err)
	}
	if _, err := s.RenameApplicationOnce(ctx, "no-such-token-000000000000000000", "x", t0, idem("r9", "x", later)); !errors.Is(err, chat.ErrNotFound) {
		t.Errorf("unknown application: got %v, want ErrNotFound", err)
	}

	n, err := s.PurgeIdempotencyKeys(ctx, later.Add(time.Second))
	if err != nil || n != 2 {
		t.Errorf("purge: got %d, %v; want the 2 records", n, err)
	}
}
