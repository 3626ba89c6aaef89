package reconcile

import (
	"testing"
	"time"

	"github.com/instachat/instachat/pkg/queue"
	"github.com/instachat/instachat/pkg/store"
)

// These cases need event orders the writer path cannot produce in a test
// (event times that contradict the order the api accepted events in, as
// skewed api clocks can), so they check the replay on its own.

var t0 = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

func ms(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }

func ev(id, typ string, msg int64, body string, at int) store.ReplayEvent {
	return store.ReplayEvent{EventID: id, Type: typ, Message: msg, Body: body, EventTime: ms(at)}
}

// position is a position in partition 0 of one generation.
func position(seq uint64) store.StreamPosition {
	return store.StreamPosition{Gen: 1795864464673, Seq: seq}
}

// positioned gives e a stream position.
func positioned(e store.ReplayEvent, seq uint64) store.ReplayEvent {
	e.Stream = position(seq)
	return e
}

// withPosition gives a stored message the position of its last event.
func withPosition(m store.StoredMessage, seq uint64) store.StoredMessage {
	m.Stream = position(seq)
	return m
}

// positionedChat gives a stored chat the position of its last event.
func positionedChat(c *store.StoredRow, seq uint64) *store.StoredRow {
	c.Stream = position(seq)
	return c
}

func chatRow(id string, at int, deleted *time.Time) *store.StoredRow {
	return &store.StoredRow{ID: 1, LastEventID: id, EventTime: ms(at), CreatedAt: ms(at), DeletedAt: deleted}
}

func msgRow(n int64, body, id string, at, created int, deleted *time.Time) store.StoredMessage {
	return store.StoredMessage{Number: n, Body: body,
		StoredRow: store.StoredRow{ID: n, LastEventID: id, EventTime: ms(at), CreatedAt: ms(created), DeletedAt: deleted}}
}

func TestCheck(t *testing.T) {
	del := func(at int) *time.Time { d := ms(at); return &d }
	horizon := ms(-1000)
	tests := []struct {
		name             string
		h                store.ChatHistory
		diffs            []Kind
		checked, unverif int64
		chatUnverifiable bool
	}{{
		name: "an update older than its create is stale once the create ran",
		h: store.ChatHistory{Horizon: horizon,
			Events:   []store.ReplayEvent{ev("c", queue.TypeChatCreate, 0, "", 1), ev("u", queue.TypeMessageUpdate, 1, "edit", 5), ev("m", queue.TypeMessageCreate, 1, "body", 10)},
			Chat:     chatRow("c", 1, nil),
			Messages: []store.StoredMessage{msgRow(1, "body", "m", 10, 10, nil)}},
		checked: 1,
	}, {
		name: "a delete older than its create deletes it",
		h: store.ChatHistory{Horizon: horizon,
			Events:   []store.ReplayEvent{ev("c", queue.TypeChatCreate, 0, "", 1), ev("d", queue.TypeMessageDelete, 1, "", 5), ev("m", queue.TypeMessageCreate, 1, "body", 10)},
			Chat:     chatRow("c", 1, nil),
			Messages: []store.StoredMessage{msgRow(1, "body", "d", 5, 10, del(5))}},
		checked: 1,
	}, {
		name: "a chat delete older than its create waits for it; later messages are born deleted",
		h: store.ChatHistory{Horizon: horizon,
			Events:   []store.ReplayEvent{ev("cd", queue.TypeChatDelete, 0, "", 0), ev("c", queue.TypeChatCreate, 0, "", 1), ev("m", queue.TypeMessageCreate, 1, "body", 2)},
			Chat:     chatRow("cd", 0, del(0)),
			Messages: []store.StoredMessage{msgRow(1, "body", "m", 2, 2, del(0))}},
		checked: 1,
	}, {
		name: "a deleted message's body and last event are not compared",
		h: store.ChatHistory{Horizon: horizon,
			Events: []store.ReplayEvent{ev("c", queue.TypeChatCreate, 0, "", 1), ev("m", queue.TypeMessageCreate, 1, "body", 2),
				ev("u", queue.TypeMessageUpdate, 1, "edit", 3), ev("cd", queue.TypeChatDelete, 0, "", 4)},
			Chat:     chatRow("cd", 4, del(4)),
			Messages: []store.StoredMessage{msgRow(1, "body", "m", 2, 2, del(4))}},
		checked: 1,
	}, {
		name: "equal event times: the larger event id wins",
		h: store.ChatHistory{Horizon: horizon,
			Events: []store.ReplayEvent{ev("c", queue.TypeChatCreate, 0, "", 1), ev("m", queue.TypeMessageCreate, 1, "body", 2),
				ev("u1", queue.TypeMessageUpdate, 1, "one", 3), ev("u2", queue.TypeMessageUpdate, 1, "two", 3)},
			Chat:     chatRow("c", 1, nil),
			Messages: []store.StoredMessage{msgRow(1, "one", "u1", 3, 2, nil)}},
		diffs:   []Kind{BodyMismatch, LastEventMismatch},
		checked: 1,
	}, {
		name: "a later stream position wins over a later event time",
		h: store.ChatHistory{Horizon: horizon,
			Events: []store.ReplayEvent{positioned(ev("c", queue.TypeChatCreate, 0, "", 1), 1), positioned(ev("m", queue.TypeMessageCreate, 1, "body", 2), 2),
				positioned(ev("u-pos", queue.TypeMessageUpdate, 1, "later position", 10), 4), positioned(ev("u-time", queue.TypeMessageUpdate, 1, "later time", 20), 3)},
			Chat:     positionedChat(chatRow("c", 1, nil), 1),
			Messages: []store.StoredMessage{withPosition(msgRow(1, "later position", "u-pos", 10, 2, nil), 4)}},
		checked: 1,
	}, {
		name: "an update older than its create by event time but later by position wins once the create ran",
		h: store.ChatHistory{Horizon: horizon,
			Events: []store.ReplayEvent{positioned(ev("c", queue.TypeChatCreate, 0, "", 1), 1), positioned(ev("u", queue.TypeMessageUpdate, 1, "edit", 5), 3),
				positioned(ev("m", queue.TypeMessageCreate, 1, "body", 10), 2)},
			Chat:     positionedChat(chatRow("c", 1, nil), 1),
			Messages: []store.StoredMessage{withPosition(msgRow(1, "edit", "u", 5, 10, nil), 3)}},
		checked: 1,
	}, {
		name: "a row left by the event-time rule differs from the later position",
		h: store.ChatHistory{Horizon: horizon,
			Events: []store.ReplayEvent{positioned(ev("c", queue.TypeChatCreate, 0, "", 1), 1), positioned(ev("m", queue.TypeMessageCreate, 1, "body", 2), 2),
				positioned(ev("u-pos", queue.TypeMessageUpdate, 1, "later position", 10), 4), positioned(ev("u-time", queue.TypeMessageUpdate, 1, "later time", 20), 3)},
			Chat:     positionedChat(chatRow("c", 1, nil), 1),
			Messages: []store.StoredMessage{withPosition(msgRow(1, "later time", "u-time", 20, 2, nil), 3)}},
		diffs:   []Kind{BodyMismatch, LastEventMismatch},
		checked: 1,
	}, {
		name: "a row without its last event's position differs",
		h: store.ChatHistory{Horizon: horizon,
			Events:   []store.ReplayEvent{positioned(ev("c", queue.TypeChatCreate, 0, "", 1), 1), positioned(ev("m", queue.TypeMessageCreate, 1, "body", 2), 2)},
			Chat:     positionedChat(chatRow("c", 1, nil), 1),
			Messages: []store.StoredMessage{msgRow(1, "body", "m", 2, 2, nil)}},
		diffs:   []Kind{LastEventMismatch},
		checked: 1,
	}, {
		name: "a delete wins over a later position",
		h: store.ChatHistory{Horizon: horizon,
			Events: []store.ReplayEvent{positioned(ev("c", queue.TypeChatCreate, 0, "", 1), 1), positioned(ev("m", queue.TypeMessageCreate, 1, "body", 2), 2),
				positioned(ev("d", queue.TypeMessageDelete, 1, "", 3), 3), positioned(ev("u", queue.TypeMessageUpdate, 1, "late", 4), 4)},
			Chat:     positionedChat(chatRow("c", 1, nil), 1),
			Messages: []store.StoredMessage{withPosition(msgRow(1, "body", "d", 3, 2, del(3)), 3)}},
		checked: 1,
	}, {
		name: "an empty journal verifies nothing",
		h: store.ChatHistory{
			Chat:     chatRow("c", 1, nil),
			Messages: []store.StoredMessage{msgRow(1, "body", "m", 2, 2, nil)}},
		unverif: 1, chatUnverifiable: true,
	}, {
		name: "a row last written by a purged update is unverifiable",
		h: store.ChatHistory{Horizon: ms(100),
			Events:   []store.ReplayEvent{ev("c", queue.TypeChatCreate, 0, "", 1), ev("m", queue.TypeMessageCreate, 1, "body", 2)},
			Chat:     chatRow("c", 1, nil),
			Messages: []store.StoredMessage{msgRow(1, "edit", "purged", 50, 2, nil)}},
		unverif: 1,
	}, {
		name: "a row last written by an unknown event after the horizon differs",
		h: store.ChatHistory{Horizon: ms(100),
			Events:   []store.ReplayEvent{ev("c", queue.TypeChatCreate, 0, "", 1), ev("m", queue.TypeMessageCreate, 1, "body", 2)},
			Chat:     chatRow("c", 1, nil),
			Messages: []store.StoredMessage{msgRow(1, "edit", "unknown", 150, 2, nil)}},
		diffs:   []Kind{BodyMismatch, LastEventMismatch},
		checked: 1,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.h.Key = store.ChatKey{AppID: 1, Number: 1}
			f := check(tt.h)
			var got []Kind
			for _, d := range f.diffs {
				got = append(got, d.Kind)
			}
			if len(got) != len(tt.diffs) {
				t.Fatalf("differences: got %v, want %v", f.diffs, tt.diffs)
			}
			for i := range got {
				if got[i] != tt.diffs[i] {
					t.Errorf("difference %d: got %s, want %s", i, got[i], tt.diffs[i])
				}
			}
			if f.messagesChecked != tt.checked || f.messagesUnverifiable != tt.unverif || f.chatUnverifiable != tt.chatUnverifiable {
				t.Errorf("got %d messages checked, %d unverifiable, chat unverifiable %v; want %d, %d, %v",
					f.messagesChecked, f.messagesUnverifiable, f.chatUnverifiable, tt.checked, tt.unverif, tt.chatUnverifiable)
			}
		})
	}
}
