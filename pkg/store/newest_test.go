package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/instachat/instachat/pkg/chat"
	"github.com/instachat/instachat/pkg/store"
)

// gen is a generation as the counter step numbers them (Redis's clock in
// milliseconds when the generation started).
const gen = uint64(1795864464673)

func pos(part int, g, seq uint64) store.StreamPosition {
	return store.StreamPosition{Part: part, Gen: g, Seq: seq}
}

// at is prov with a stream position.
func at(id string, ms time.Duration, p store.StreamPosition) store.Provenance {
	pr := prov(id, ms)
	pr.Stream = p
	return pr
}

func TestSourceNewer(t *testing.T) {
	src := func(id string, ms int, p store.StreamPosition) store.Source {
		return store.Source{EventID: id, EventTime: t0.Add(time.Duration(ms) * time.Millisecond), Stream: p}
	}
	tests := []struct {
		name      string
		ev, row   store.Source
		evIsNewer bool
	}{
		{"same generation: the later sequence wins over the later event time",
			src("a", 10, pos(3, gen, 5)), src("b", 20, pos(3, gen, 4)), true},
		{"same generation: the earlier sequence loses to the earlier event time",
			src("b", 20, pos(3, gen, 4)), src("a", 10, pos(3, gen, 5)), false},
		{"a later generation wins over a higher sequence and a later event time",
			src("a", 10, pos(3, gen+1, 1)), src("b", 20, pos(3, gen, 900)), true},
		{"an earlier generation loses",
			src("b", 20, pos(3, gen, 900)), src("a", 10, pos(3, gen+1, 1)), false},
		{"the row has no position: the later event time wins",
			src("a", 10, pos(3, gen, 5)), src("b", 20, store.StreamPosition{}), false},
		{"the event has no position: the later event time wins",
			src("b", 20, store.StreamPosition{}), src("a", 10, pos(3, gen, 5)), true},
		{"other partitions: the later event time wins",
			src("a", 10, pos(3, gen, 5)), src("b", 20, pos(4, gen, 4)), false},
		{"no positions, equal event times: the larger event id wins",
			src("b", 10, store.StreamPosition{}), src("a", 10, store.StreamPosition{}), true},
		{"equal positions (one event): time and id decide",
			src("a", 10, pos(3, gen, 5)), src("a", 10, pos(3, gen, 5)), false},
	}
	for _, tt := range tests {
		if got := tt.ev.Newer(tt.row); got != tt.evIsNewer {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.evIsNewer)
		}
	}
}

// TestUpdatesNewestByStreamPosition applies two updates of one message in
// both orders: the final row is the winner's, whichever came first, and
// keeps the winner's provenance and position.
func TestUpdatesNewestByStreamPosition(t *testing.T) {
	type update struct {
		body string
		prov store.Provenance
	}
	tests := []struct {
		name   string
		create store.Provenance
		a, b   update
		winner string // body of a or b
	}{{
		// Two api replicas: the later-accepted update (later position) has
		// the earlier event time, its replica's clock being behind.
		name:   "the later position wins over the later event time",
		create: at("c", 0, pos(0, gen, 1)),
		a:      update{"later position", at("u-a", 10, pos(0, gen, 5))},
		b:      update{"later time", at("u-b", 20, pos(0, gen, 4))},
		winner: "later position",
	}, {
		name:   "a later generation wins over a higher sequence",
		create: at("c", 0, pos(0, gen, 1)),
		a:      update{"new generation", at("u-a", 10, pos(0, gen+7, 1))},
		b:      update{"old generation", at("u-b", 20, pos(0, gen, 40))},
		winner: "new generation",
	}, {
		name:   "an update without a position: event times decide",
		create: at("c", 0, pos(0, gen, 1)),
		a:      update{"positioned", at("u-a", 10, pos(0, gen, 5))},
		b:      update{"legacy", prov("u-b", 20)},
		winner: "legacy",
	}, {
		name:   "rows and updates without positions keep the old rule",
		create: prov("c", 0),
		a:      update{"earlier", prov("u-a", 10)},
		b:      update{"later", prov("u-b", 20)},
		winner: "later",
	}, {
		name:   "positions of different partitions: event times decide",
		create: at("c", 0, pos(0, gen, 1)),
		a:      update{"partition 0", at("u-a", 10, pos(0, gen, 5))},
		b:      update{"partition 1", at("u-b", 20, pos(1, gen, 4))},
		winner: "partition 1",
	}}
	for _, tt := range tests {
		for _, order := range [][2]update{{tt.a, tt.b}, {tt.b, tt.a}} {
			t.Run(fmt.Sprintf("%s/%s first", tt.name, order[0].body), func(t *testing.T) {
				ctx := context.Background()
				s := open(t)
				app, err := s.CreateApplication(ctx, "positions", t0)
				if err != nil {
					t.Fatal(err)
				}
				msg := func(body string, p store.Provenance) store.MessageWrite {
					return store.MessageWrite{AppID: app.ID, Chat: 1, Number: 1, Body: body, Prov: p}
				}
				createMessage(t, s, msg("original", tt.create))
				for i, u := range order {
					want := store.Applied
					if i == 1 && u.body != tt.winner {
						want = store.Stale
					}
					got := applyOne(t, s, func(tx *store.Tx) (store.Outcome, error) { return tx.UpdateMessage(ctx, msg(u.body, u.prov)) })
					if got != want {
						t.Errorf("update %q applied %s: got %v, want %v", u.body, []string{"first", "second"}[i], got, want)
					}
				}
				m, err := s.Message(ctx, app.ID, 1, 1)
				if err != nil || m.Body != tt.winner {
					t.Fatalf("body: got %q, %v; want %q", m.Body, err, tt.winner)
				}
				win := tt.a
				if tt.b.body == tt.winner {
					win = tt.b
				}
				row := storedMessage(t, s, app.ID)
				if row.LastEventID != win.prov.EventID || row.Stream != win.prov.Stream {
					t.Errorf("row provenance: got event %s at %v, want %s at %v", row.LastEventID, row.Stream, win.prov.EventID, win.prov.Stream)
				}
			})
		}
	}
}

// TestDeleteWinsWhateverItsPosition: a delete is final over a live row, even
// with an earlier position and event time than the row's last update, and an
// update after it is stale however late its position.
func TestDeleteWinsWhateverItsPosition(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	app, err := s.CreateApplication(ctx, "deletes", t0)
	if err != nil {
		t.Fatal(err)
	}
	msg := func(body string, p store.Provenance) store.MessageWrite {
		return store.MessageWrite{AppID: app.ID, Chat: 1, Number: 1, Body: body, Prov: p}
	}
	createMessage(t, s, msg("original", at("c", 0, pos(0, gen, 1))))
	steps := []struct {
		name string
		run  func(tx *store.Tx) (store.Outcome, error)
		want store.Outcome
	}{
		{"update", func(tx *store.Tx) (store.Outcome, error) {
			return tx.UpdateMessage(ctx, msg("edited", at("u", 30, pos(0, gen, 5))))
		}, store.Applied},
		{"delete with an earlier position and time", func(tx *store.Tx) (store.Outcome, error) {
			return tx.DeleteMessage(ctx, msg("", at("d", 5, pos(0, gen, 3))))
		}, store.Applied},
		{"update with a later position", func(tx *store.Tx) (store.Outcome, error) {
			return tx.UpdateMessage(ctx, msg("too late", at("u2", 40, pos(0, gen+1, 9))))
		}, store.StaleDeleted},
	}
	for _, st := range steps {
		if got := applyOne(t, s, st.run); got != st.want {
			t.Errorf("%s: got %v, want %v", st.name, got, st.want)
		}
	}
	if _, err := s.Message(ctx, app.ID, 1, 1); !errors.Is(err, chat.ErrNotFound) {
		t.Errorf("read the deleted message: got %v, want not found", err)
	}
	if row := storedMessage(t, s, app.ID); row.LastEventID != "d" || row.Stream != pos(0, gen, 3) || row.DeletedAt == nil {
		t.Errorf("row: got %+v, want deleted by d at its position", row.StoredRow)
	}
}

// TestCreatesAndChatDeletesKeepTheirPosition: the rows a create or a chat
// delete writes carry the event's position, and none when it has none.
func TestCreatesAndChatDeletesKeepTheirPosition(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	app, err := s.CreateApplication(ctx, "creates", t0)
	if err != nil {
		t.Fatal(err)
	}
	err = s.InTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.CreateChats(ctx, []store.ChatWrite{{AppID: app.ID, Number: 1, Prov: at("c", 0, pos(2, gen, 1))}}); err != nil {
			return err
		}
		_, err := tx.CreateMessages(ctx, []store.MessageWrite{
			{AppID: app.ID, Chat: 1, Number: 1, Body: "one", Prov: at("m1", 1, pos(2, gen, 2))},
			{AppID: app.ID, Chat: 1, Number: 2, Body: "two", Prov: prov("m2", 2)},
		})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	h, err := s.ChatHistory(ctx, store.ChatKey{AppID: app.ID, Number: 1})
	if err != nil {
		t.Fatal(err)
	}
	if h.Chat.Stream != pos(2, gen, 1) || h.Messages[0].Stream != pos(2, gen, 2) || !h.Messages[1].Stream.IsZero() {
		t.Errorf("positions: got chat %v, messages %v and %v; want 1, 2 and none", h.Chat.Stream, h.Messages[0].Stream, h.Messages[1].Stream)
	}
	if got := applyOne(t, s, func(tx *store.Tx) (store.Outcome, error) {
		o, _, err := tx.DeleteChat(ctx, store.ChatWrite{AppID: app.ID, Number: 1, Prov: at("cd", 3, pos(2, gen, 3))})
		return o, err
	}); got != store.Applied {
		t.Fatalf("delete chat: got %v, want applied", got)
	}
	if h, err = s.ChatHistory(ctx, store.ChatKey{AppID: app.ID, Number: 1}); err != nil {
		t.Fatal(err)
	}
	if h.Chat.LastEventID != "cd" || h.Chat.Stream != pos(2, gen, 3) {
		t.Errorf("deleted chat: got event %s at %v, want cd at 3", h.Chat.LastEventID, h.Chat.Stream)
	}
}

// createMessage writes the chat and message of w.
func createMessage(t *testing.T, s *store.Store, w store.MessageWrite) {
	t.Helper()
	ctx := context.Background()
	err := s.InTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.CreateChats(ctx, chatsFor([]store.MessageWrite{w})); err != nil {
			return err
		}
		outs, err := tx.CreateMessages(ctx, []store.MessageWrite{w})
		if err == nil && outs[0] != store.Applied {
			err = fmt.Errorf("create: got %v, want applied", outs[0])
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// applyOne runs fn in its own transaction and returns its outcome.
func applyOne(t *testing.T, s *store.Store, fn func(tx *store.Tx) (store.Outcome, error)) store.Outcome {
	t.Helper()
	var o store.Outcome
	if err := s.InTx(context.Background(), func(tx *store.Tx) error { var err error; o, err = fn(tx); return err }); err != nil {
		t.Fatal(err)
	}
	return o
}

// storedMessage reads message 1 of chat 1 as a reconcile pass sees it.
func storedMessage(t *testing.T, s *store.Store, app int64) store.StoredMessage {
	t.Helper()
	h, err := s.ChatHistory(context.Background(), store.ChatKey{AppID: app, Number: 1})
	if err != nil || len(h.Messages) != 1 {
		t.Fatalf("read message row: got %d rows, %v; want 1", len(h.Messages), err)
	}
	return h.Messages[0]
}
