package store_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/instachat/instachat/pkg/store"
)

// TestCreateNeverOverwritesAnotherEventsRow checks invariant 8: a create
// whose number holds a row another event created is a number conflict and
// leaves the row alone, newer or not; a redelivery of the creating event is
// a duplicate.
func TestCreateNeverOverwritesAnotherEventsRow(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	app, err := s.CreateApplication(ctx, "conflicts", t0)
	if err != nil {
		t.Fatal(err)
	}
	first := store.MessageWrite{AppID: app.ID, Chat: 1, Number: 11, Body: "the first message 11", Prov: prov("first", 1)}
	// Handed out again after Redis went back: a later event, as a real one is.
	second := store.MessageWrite{AppID: app.ID, Chat: 1, Number: 11, Body: "a second message 11", Prov: prov("second", 5)}
	third := store.MessageWrite{AppID: app.ID, Chat: 1, Number: 12, Body: "message 12", Prov: prov("third", 6)}
	thirdAgain := third
	thirdAgain.Prov = prov("third-again", 7)
	chatAgain := store.ChatWrite{AppID: app.ID, Number: 1, Prov: prov("chat-again", 9)}
	var outs [][]store.Outcome
	steps := []func(tx *store.Tx) ([]store.Outcome, error){
		func(tx *store.Tx) ([]store.Outcome, error) {
			return tx.CreateChats(ctx, chatsFor([]store.MessageWrite{first}))
		},
		func(tx *store.Tx) ([]store.Outcome, error) {
			return tx.CreateMessages(ctx, []store.MessageWrite{first})
		},
		func(tx *store.Tx) ([]store.Outcome, error) {
			return tx.CreateMessages(ctx, []store.MessageWrite{second, first, third, thirdAgain})
		},
		func(tx *store.Tx) ([]store.Outcome, error) { return tx.CreateChats(ctx, []store.ChatWrite{chatAgain}) },
	}
	for _, step := range steps {
		if err := s.InTx(ctx, func(tx *store.Tx) error {
			o, err := step(tx)
			outs = append(outs, o)
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	want := [][]store.Outcome{
		{store.Applied},
		{store.Applied},
		{store.NumberConflict, store.Duplicate, store.Applied, store.NumberConflict},
		{store.NumberConflict},
	}
	for i := range want {
		if !slices.Equal(outs[i], want[i]) {
			t.Errorf("step %d outcomes: got %v, want %v", i, outs[i], want[i])
		}
	}
	for n, body := range map[int64]string{11: first.Body, 12: third.Body} {
		m, err := s.Message(ctx, app.ID, 1, n)
		if err != nil || m.Body != body {
			t.Errorf("message %d: got %q, %v; want %q kept", n, m.Body, err, body)
		}
	}
	if got := store.NumberConflict.String(); got != store.OutcomeNumberConflict {
		t.Errorf("outcome name: got %q, want %q", got, store.OutcomeNumberConflict)
	}
}

// TestConcurrentCreatesOfOneNumber races writers that insert different
// events for the same numbers: each number ends with exactly one creator,
// every other create is a conflict, and no body is overwritten.
func TestConcurrentCreatesOfOneNumber(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	app, err := s.CreateApplication(ctx, "race", t0)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.InTx(ctx, func(tx *store.Tx) error {
		_, err := tx.CreateChats(ctx, []store.ChatWrite{{AppID: app.ID, Number: 1, Prov: prov("chat", 0)}})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	const writers, numbers = 4, 20
	applied := make([]map[int64]string, writers)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			var ws []store.MessageWrite
			for n := int64(1); n <= numbers; n++ {
				ws = append(ws, store.MessageWrite{AppID: app.ID, Chat: 1, Number: n, Body: fmt.Sprintf("w%d-n%d", w, n), Prov: prov(fmt.Sprintf("w%d-%d", w, n), 1)})
			}
			for {
				var outs []store.Outcome
				err := s.InTx(ctx, func(tx *store.Tx) error {
					var err error
					outs, err = tx.CreateMessages(ctx, ws)
					return err
				})
				if err != nil && store.Transient(err) {
					continue // a deadlock between racing inserts: try again, as the writer does
				}
				if err != nil {
					t.Error(err)
					return
				}
				applied[w] = map[int64]string{}
				for i, o := range outs {
					switch o {
					case store.Applied:
						applied[w][ws[i].Number] = ws[i].Body
					case store.NumberConflict:
					default:
						t.Errorf("writer %d number %d: got %v, want applied or conflict", w, ws[i].Number, o)
					}
				}
				return
			}
		})
	}
	wg.Wait()
	for n := int64(1); n <= numbers; n++ {
		var owners []string
		for w := range writers {
			if b, ok := applied[w][n]; ok {
				owners = append(owners, b)
			}
		}
		m, err := s.Message(ctx, app.ID, 1, n)
		if len(owners) != 1 || err != nil || m.Body != owners[0] {
			t.Errorf("number %d: applied by %v, stored %q (%v); want exactly one creator whose body is stored", n, owners, m.Body, err)
		}
	}
}

// TestCreatedDocsAreWhatCommitted checks the documents CreateMessagesIndexed
// returns instead of a read back: one per row it inserted, equal to what
// SearchDocs reads after commit, and none for a duplicate, a conflict or a
// message born deleted in a deleted chat.
func TestCreatedDocsAreWhatCommitted(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	app, err := s.CreateApplication(ctx, "indexed creates", t0)
	if err != nil {
		t.Fatal(err)
	}
	old := store.MessageWrite{AppID: app.ID, Chat: 1, Number: 1, Body: "already there", Prov: prov("old", 1)}
	gone := store.MessageWrite{AppID: app.ID, Chat: 2, Number: 1, Body: "in a deleted chat", Prov: prov("gone", 2)}
	if err := s.InTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.CreateChats(ctx, chatsFor([]store.MessageWrite{old, gone})); err != nil {
			return err
		}
		_, err := tx.CreateMessages(ctx, []store.MessageWrite{old})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.InTx(ctx, func(tx *store.Tx) error {
		_, _, err := tx.DeleteChat(ctx, store.ChatWrite{AppID: app.ID, Number: 2, Prov: prov("delete chat 2", 3)})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	batch := []store.MessageWrite{
		{AppID: app.ID, Chat: 1, Number: 3, Body: "new three", Prov: prov("new3", 5)},
		old, // redelivered: a duplicate
		{AppID: app.ID, Chat: 1, Number: 1, Body: "another one", Prov: prov("other1", 6)}, // a conflict
		{AppID: app.ID, Chat: 1, Number: 2, Body: "new two", Prov: prov("new2", 7)},
		{AppID: app.ID, Chat: 1, Number: 2, Body: "two again", Prov: prov("again2", 8)}, // the batch's own conflict
		{AppID: app.ID, Chat: 3, Number: 1, Body: "no chat yet", Prov: prov("parked", 9)},
		{AppID: app.ID, Chat: 2, Number: 2, Body: "born deleted", Prov: prov("born deleted", 10)},
	}
	var outs []store.Outcome
	var docs []store.IndexDoc
	if err := s.InTx(ctx, func(tx *store.Tx) error {
		var err error
		outs, docs, err = tx.CreateMessagesIndexed(ctx, batch)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	want := []store.Outcome{store.Applied, store.Duplicate, store.NumberConflict, store.Applied, store.NumberConflict,
		store.ParkedNoChat, store.Applied}
	if !slices.Equal(outs, want) {
		t.Fatalf("outcomes: got %v, want %v", outs, want)
	}
	keys := []store.MessageKey{{AppID: app.ID, Chat: 1, Number: 1}, {AppID: app.ID, Chat: 1, Number: 2},
		{AppID: app.ID, Chat: 1, Number: 3}, {AppID: app.ID, Chat: 2, Number: 2}}
	read, err := s.SearchDocs(ctx, keys)
	if err != nil {
		t.Fatal(err)
	}
	byKey := map[store.MessageKey]store.IndexDoc{}
	for _, d := range read {
		byKey[d.Key()] = d
	}
	if len(docs) != 2 {
		t.Fatalf("got %d documents %+v, want the 2 inserted rows of live chats", len(docs), docs)
	}
	for _, d := range docs {
		if d.Number == 1 || d.Chat != 1 {
			t.Errorf("document %+v: not a row this batch inserted in a live chat", d)
		}
		if got := byKey[d.Key()]; got != d {
			t.Errorf("document %+v differs from what MySQL holds after commit: %+v", d, got)
		}
	}
}
