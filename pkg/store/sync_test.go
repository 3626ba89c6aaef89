package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/instachat/instachat/pkg/store"
)

// TestSyncCountsSkipsSingleDeletedMessages guards invariant 4 for single
// deletes: a chat's messages_count counts live messages only, and an
// application's chats_count live chats only.
func TestSyncCountsSkipsSingleDeletedMessages(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	app, err := s.CreateApplication(ctx, "counts", t0)
	if err != nil {
		t.Fatal(err)
	}
	var ws []store.MessageWrite
	for n := int64(1); n <= 5; n++ {
		ws = append(ws, store.MessageWrite{AppID: app.ID, Chat: 1, Number: n, Body: "m", Prov: prov(fmt.Sprint("m", n), time.Duration(n))})
	}
	chats := append(chatsFor(ws), store.ChatWrite{AppID: app.ID, Number: 2, Prov: prov("chat-2", 0)})
	if err := s.InTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.CreateChats(ctx, chats); err != nil {
			return err
		}
		_, err := tx.CreateMessages(ctx, ws)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	for i, n := range []int64{2, 4} {
		del := store.MessageWrite{AppID: app.ID, Chat: 1, Number: n, Prov: prov(fmt.Sprint("d", n), time.Duration(100+i))}
		if err := s.InTx(ctx, func(tx *store.Tx) error {
			o, err := tx.DeleteMessage(ctx, del)
			if err == nil && o != store.Applied {
				err = fmt.Errorf("delete message %d: got %v, want applied", n, o)
			}
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.InTx(ctx, func(tx *store.Tx) error {
		_, _, err := tx.DeleteChat(ctx, store.ChatWrite{AppID: app.ID, Number: 2, Prov: prov("d-chat-2", 200)})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SyncCounts(ctx); err != nil {
		t.Fatal(err)
	}
	c, err := s.Chat(ctx, app.ID, 1)
	if err != nil || c.MessagesCount != 3 {
		t.Errorf("messages_count of chat 1 after deleting 2 of 5: got %d, %v; want 3", c.MessagesCount, err)
	}
	a, err := s.Application(ctx, app.App.Token)
	if err != nil || a.App.ChatsCount != 1 {
		t.Errorf("chats_count after deleting chat 2 of 2: got %d, %v; want 1", a.App.ChatsCount, err)
	}
}
