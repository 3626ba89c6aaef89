package store_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/instachat/instachat/pkg/store"
)

// TestJournalServesStreamPositions checks that the journal gives each
// position once (however many deliveries recorded it), in order, filtered
// by application and chat, within the generation and range asked for, and
// that JournalSeqs lists the positions it holds with a final outcome.
func TestJournalServesStreamPositions(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	const part, gen = 3, uint64(1795864464673)
	body := func(b string) *string { return &b }
	at := func(seq uint64) time.Time { return t0.Add(time.Duration(seq) * time.Millisecond) }
	entry := func(seq uint64, app, chatN, msg int64, typ string, b *string, outcome string) store.JournalEntry {
		return store.JournalEntry{EventID: fmt.Sprintf("%032x", seq), Type: typ, AppID: app, Chat: chatN, Message: msg, Body: b,
			EventTime: at(seq), ReadAt: t0, Outcome: outcome, Stream: store.StreamPosition{Part: part, Gen: gen, Seq: seq}}
	}
	js := []store.JournalEntry{
		entry(1, 1, 1, 0, "chat.create", nil, store.OutcomeApplied),
		entry(2, 1, 1, 1, "message.create", body("one"), store.OutcomeParked),  // parked, then applied:
		entry(2, 1, 1, 1, "message.create", body("one"), store.OutcomeApplied), // one event
		entry(3, 2, 1, 0, "chat.create", nil, store.OutcomeApplied),            // another application
		entry(4, 1, 2, 0, "chat.create", nil, store.OutcomeApplied),
		entry(5, 1, 1, 1, "message.update", body("uno"), store.OutcomeApplied),
		// 6 not journaled yet
		entry(7, 1, 1, 1, "message.delete", nil, store.OutcomeApplied),
		entry(8, 1, 1, 0, "chat.delete", nil, store.OutcomeDead),
		// 9 parked only: an event, but not in MySQL yet
		entry(9, 1, 3, 1, "message.create", body("early"), store.OutcomeParked),
	}
	other := entry(1, 1, 1, 0, "chat.create", nil, store.OutcomeApplied)
	other.Stream.Gen = gen - 5 // an older generation
	otherPart := entry(9, 1, 1, 0, "chat.create", nil, store.OutcomeApplied)
	otherPart.Stream.Part = 4
	legacy := entry(10, 1, 1, 2, "message.create", body("before streams"), store.OutcomeApplied)
	legacy.Stream = store.StreamPosition{}
	js = append(js, other, otherPart, legacy)
	if err := s.InTx(ctx, func(tx *store.Tx) error { return tx.Journal(ctx, js[:4]) }); err != nil {
		t.Fatal(err)
	}
	if err := s.JournalOutside(ctx, js[4:]); err != nil {
		t.Fatal(err)
	}

	seqs := func(evs []store.JournalEvent) []uint64 {
		var out []uint64
		for _, e := range evs {
			out = append(out, e.Seq)
		}
		return out
	}
	for _, c := range []struct {
		name          string
		after, before uint64
		app, chat     int64
		limit         int
		want          []uint64
	}{
		{"app 1, everything", 0, 0, 1, 0, 0, []uint64{1, 2, 4, 5, 7, 8, 9}},
		{"app 1, chat 1", 0, 0, 1, 1, 0, []uint64{1, 2, 5, 7, 8}},
		{"app 1, chat 2", 0, 0, 1, 2, 0, []uint64{4}},
		{"app 2", 0, 0, 2, 0, 0, []uint64{3}},
		{"between 2 and 7", 2, 7, 1, 0, 0, []uint64{4, 5}},
		{"limit 2", 1, 0, 1, 0, 2, []uint64{2, 4}},
	} {
		got, err := s.EventsBetween(ctx, part, gen, c.after, c.before, c.app, c.chat, c.limit)
		if err != nil || !slices.Equal(seqs(got), c.want) {
			t.Errorf("EventsBetween %s: got %v, %v; want %v", c.name, seqs(got), err, c.want)
		}
	}
	got, err := s.EventsBetween(ctx, part, gen, 0, 0, 1, 1, 0)
	if err != nil || len(got) != 5 {
		t.Fatalf("EventsBetween chat 1: got %+v, %v", got, err)
	}
	want := []store.JournalEvent{
		{Seq: 1, Type: "chat.create", Chat: 1, EventTime: at(1)},
		{Seq: 2, Type: "message.create", Chat: 1, Message: 1, Body: "one", EventTime: at(2)},
		{Seq: 5, Type: "message.update", Chat: 1, Message: 1, Body: "uno", EventTime: at(5)},
		{Seq: 7, Type: "message.delete", Chat: 1, Message: 1, EventTime: at(7)},
		{Seq: 8, Type: "chat.delete", Chat: 1, EventTime: at(8)},
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("event %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
	if got, err := s.EventsBetween(ctx, part, gen-5, 0, 0, 1, 0, 0); err != nil || !slices.Equal(seqs(got), []uint64{1}) {
		t.Errorf("EventsBetween of the older generation: got %v, %v; want [1]", seqs(got), err)
	}

	for _, c := range []struct {
		after uint64
		limit int
		want  []uint64
	}{
		{0, 0, []uint64{1, 2, 3, 4, 5, 7, 8}}, // not 9: parked only
		{0, 1, []uint64{1}},
		{4, 2, []uint64{5, 7}},
		{8, 0, nil},
	} {
		if got, err := s.JournalSeqs(ctx, part, gen, c.after, c.limit); err != nil || !slices.Equal(got, c.want) {
			t.Errorf("JournalSeqs after %d, limit %d: got %v, %v; want %v", c.after, c.limit, got, err, c.want)
		}
	}
	if got, err := s.JournalSeqs(ctx, 4, gen, 0, 0); err != nil || !slices.Equal(got, []uint64{9}) {
		t.Errorf("JournalSeqs of partition 4: got %v, %v; want [9]", got, err)
	}
}
