package events_test

import (
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/instachat/instachat/pkg/events"
	"github.com/instachat/instachat/pkg/queue"
	"github.com/instachat/instachat/pkg/testenv"
)

func TestParse(t *testing.T) {
	for s, want := range map[string]events.Position{"1-1": {1, 1}, "1764000000000-42": {1764000000000, 42}, "0-0": {}} {
		got, err := events.Parse(s)
		if err != nil || got != want || got.String() != s {
			t.Errorf("Parse(%q): got %v, %v; want %v", s, got, err, want)
		}
	}
	for _, bad := range []string{"", "1", "-1", "1-", "01-2", "1-02", "+1-2", "1-2-3", "a-1", "1-1 ", "99999999999999999999999-1"} {
		if _, err := events.Parse(bad); !errors.Is(err, events.ErrPosition) {
			t.Errorf("Parse(%q): got %v, want ErrPosition", bad, err)
		}
	}
	a, b, c := events.Position{1, 9}, events.Position{1, 10}, events.Position{2, 1}
	if !a.Less(b) || !b.Less(c) || c.Less(a) || a.Less(a) {
		t.Error("Less: want 1-9 < 1-10 < 2-1")
	}
}

func job(t *testing.T, e queue.Envelope) string {
	t.Helper()
	raw, err := e.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestReaderReadsEntries(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	keys := queue.NewKeys(prefix, 2)
	ctx := t.Context()
	at := time.Date(2026, 11, 28, 10, 0, 0, 123456000, time.UTC)
	entries := []struct {
		id string
		e  queue.Envelope
	}{
		{"5-1", queue.Envelope{ID: "a", Type: queue.TypeChatCreate, App: "app", Chat: 1, Time: at.UnixMicro()}},
		{"5-2", queue.Envelope{ID: "b", Type: queue.TypeMessageCreate, App: "app", Chat: 1, Message: 1, Body: "hi", Time: at.UnixMicro()}},
		{"5-3", queue.Envelope{ID: "c", Type: queue.TypeMessageDelete, App: "app", Chat: 1, Message: 1, Body: "ignored", Time: at.UnixMicro()}},
	}
	for _, en := range entries {
		if err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: keys.Events(1), ID: en.id, Values: []any{"j", job(t, en.e)}}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	rdb.HSet(ctx, keys.EventsMeta(1), "g", "5")
	r := events.NewReader(rdb, keys)
	got, err := r.Read(ctx, 1, events.Position{5, 1}, 10, 0)
	if err != nil || len(got) != 2 {
		t.Fatalf("Read after 5-1: got %+v, %v; want 2 events", got, err)
	}
	want := events.Event{ID: events.Position{5, 2}, Type: events.MessageCreated, App: "app", Chat: 1, Message: 1, Body: "hi", Accepted: at}
	if got[0] != want {
		t.Errorf("event: got %+v, want %+v", got[0], want)
	}
	if got[1].Type != events.MessageDeleted || got[1].Body != "" {
		t.Errorf("delete: got %+v, want message.deleted without body", got[1])
	}
	rng, err := r.Range(ctx, 1, events.Position{}, events.Position{5, 2}, 10)
	if err != nil || len(rng) != 2 || rng[0].Type != events.ChatCreated || rng[1].ID != (events.Position{5, 2}) {
		t.Errorf("Range(0, 5-2]: got %+v, %v", rng, err)
	}
	first, last, gen, err := r.Bounds(ctx, 1)
	if err != nil || first != (events.Position{5, 1}) || last != (events.Position{5, 3}) || gen != 5 {
		t.Errorf("Bounds: got %v %v %d, %v; want 5-1 5-3 5", first, last, gen, err)
	}
	if first, last, gen, err := r.Bounds(ctx, 0); err != nil || !first.IsZero() || !last.IsZero() || gen != 0 {
		t.Errorf("Bounds of an empty partition: got %v %v %d, %v", first, last, gen, err)
	}
	start := time.Now()
	if none, err := r.Read(ctx, 0, events.Position{}, 10, 100*time.Millisecond); err != nil || len(none) != 0 || time.Since(start) < 50*time.Millisecond {
		t.Errorf("blocking Read of an empty stream: got %v, %v after %v; want nothing after waiting", none, err, time.Since(start))
	}
}

// TestReaderReturnsWhatPrecedesABadEntry: an entry that is not an event
// comes back as a *BadEntryError with its position, after the events before
// it, so that a follower can step over it.
func TestReaderReturnsWhatPrecedesABadEntry(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	keys := queue.NewKeys(prefix, 1)
	ctx := t.Context()
	good := job(t, queue.Envelope{ID: "a", Type: queue.TypeChatCreate, App: "app", Chat: 1, Time: time.Now().UnixMicro()})
	for _, en := range []struct{ id, j string }{{"7-1", good}, {"7-2", "{not json"}, {"7-3", good}} {
		if err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: keys.Events(0), ID: en.id, Values: []any{"j", en.j}}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	r := events.NewReader(rdb, keys)
	for name, read := range map[string]func() ([]events.Event, error){
		"Read":  func() ([]events.Event, error) { return r.Read(ctx, 0, events.Position{}, 10, 0) },
		"Range": func() ([]events.Event, error) { return r.Range(ctx, 0, events.Position{}, events.Position{7, 3}, 10) },
	} {
		got, err := read()
		var bad *events.BadEntryError
		if !errors.As(err, &bad) || bad.ID != (events.Position{7, 2}) || len(got) != 1 || got[0].ID != (events.Position{7, 1}) {
			t.Errorf("%s: got %+v, %v; want 7-1 then a bad entry at 7-2", name, got, err)
		}
	}
	if got, err := r.Read(ctx, 0, events.Position{7, 2}, 10, 0); err != nil || len(got) != 1 || got[0].ID != (events.Position{7, 3}) {
		t.Errorf("Read after the bad entry: got %+v, %v; want 7-3", got, err)
	}
}

func TestTypeOfJob(t *testing.T) {
	for job, want := range map[string]string{
		queue.TypeChatCreate: events.ChatCreated, queue.TypeChatDelete: events.ChatDeleted,
		queue.TypeMessageCreate: events.MessageCreated, queue.TypeMessageUpdate: events.MessageUpdated,
		queue.TypeMessageDelete: events.MessageDeleted,
	} {
		if got, ok := events.TypeOfJob(job); !ok || got != want {
			t.Errorf("TypeOfJob(%q): got %q, %v; want %q", job, got, ok, want)
		}
	}
	if got, ok := events.TypeOfJob("application.rename"); ok {
		t.Errorf("TypeOfJob of a job that is no event: got %q, want false", got)
	}
	for typ, want := range map[string]bool{events.MessageCreated: true, events.MessageUpdated: true,
		events.MessageDeleted: false, events.ChatCreated: false, events.ChatDeleted: false} {
		if got := events.HasBody(typ); got != want {
			t.Errorf("HasBody(%q): got %v, want %v", typ, got, want)
		}
	}
}
