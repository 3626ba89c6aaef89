package e2e

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	ic "github.com/instachat/instachat/client"
	"github.com/instachat/instachat/pkg/chat"
	"github.com/instachat/instachat/pkg/events"
	"github.com/instachat/instachat/pkg/queue"
)

// follower collects the events of a subscription until its context ends.
type follower struct {
	mu     sync.Mutex
	events []ic.Event
	done   chan struct{}
	cancel context.CancelFunc
}

func follow(t *testing.T, app *ic.App, chat int64, from ic.Position) *follower {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	f := &follower{done: make(chan struct{}), cancel: cancel}
	go func() {
		defer close(f.done)
		for ev, err := range app.Subscribe(ctx, chat, from) {
			if err != nil {
				t.Errorf("subscription of chat %d: %v", chat, err)
				return
			}
			f.mu.Lock()
			f.events = append(f.events, ev)
			f.mu.Unlock()
		}
	}()
	t.Cleanup(func() { cancel(); <-f.done })
	return f
}

func (f *follower) got() []ic.Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.events)
}

// describe lists events as "type number body".
func describe(evs []ic.Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = fmt.Sprintf("%s %d %s", e.Type, e.Message, e.Body)
	}
	return out
}

// lastStreamID is the id of the newest event of the application's partition.
func (s *system) lastStreamID(app *ic.App, partitions int) string {
	s.t.Helper()
	keys := queue.NewKeys(s.prefix, partitions)
	msgs, err := s.rdb.XRevRangeN(s.t.Context(), keys.Events(keys.Partition(chat.TokenDigest(app.Token()))), "+", "-", 1).Result()
	if err != nil || len(msgs) == 0 {
		s.t.Fatalf("newest event: %v, %v", msgs, err)
	}
	return msgs[0].ID
}

// TestEventPositionCoversUnwrittenEvents checks design §2.5 on the real
// binaries: a list read while the writer is stopped lacks the writes since,
// and its Event-Position is before them, so a subscription from it gets
// exactly those writes, once each, when the writer comes back, and nothing
// the list already showed.
func TestEventPositionCoversUnwrittenEvents(t *testing.T) {
	s := newSystemWith(t, "QUEUE_PARTITIONS=2")
	ctx := t.Context()
	app := s.newApp("position")
	s.newChats(app, 1)
	for n := 1; n <= 3; n++ {
		if _, err := app.PostMessage(ctx, 1, "written "+strconv.Itoa(n)); err != nil {
			t.Fatal(err)
		}
	}
	// Once the writer has journaled everything, the position is the newest event.
	eventually(t, 10*time.Second, "the list's Event-Position reaches the newest event", func() (bool, string) {
		p, err := app.Messages(ctx, 1, ic.Newest())
		want := s.lastStreamID(app, 2)
		return err == nil && len(p.Messages) == 3 && string(p.Position) == want,
			fmt.Sprintf("%d messages, position %q (want %s), %v", len(p.Messages), p.Position, want, err)
	})
	if r := s.get("/api/v1/applications/" + app.Token() + "/chats"); r.header.Get("Event-Position") == "" {
		t.Errorf("the chats list carries no Event-Position")
	}
	if r := s.get("/api/v1/applications/" + app.Token() + "/chats/1"); r.header.Get("Event-Position") == "" {
		t.Errorf("a chat carries no Event-Position")
	}

	s.stop("writer")
	var want []string
	for n := 4; n <= 6; n++ {
		body := "queued " + strconv.Itoa(n)
		if _, err := app.PostMessage(ctx, 1, body); err != nil {
			t.Fatal(err)
		}
		want = append(want, fmt.Sprintf("%s %d %s", ic.EventMessageCreated, n, body))
	}
	if _, err := app.UpdateMessage(ctx, 1, 2, "edited while queued"); err != nil {
		t.Fatal(err)
	}
	want = append(want, fmt.Sprintf("%s 2 edited while queued", ic.EventMessageUpdated))
	time.Sleep(600 * time.Millisecond) // the tracker's polls see nothing new
	page, err := app.Messages(ctx, 1, ic.Newest())
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Messages) != 3 || page.Position == "" {
		t.Fatalf("list with the writer stopped: got %d messages, position %q; want the 3 written and a position", len(page.Messages), page.Position)
	}
	for _, m := range page.Messages {
		if m.Number == 2 && m.Body != "written 2" {
			t.Errorf("message 2 with the writer stopped: got %q, want the written body", m.Body)
		}
	}
	for _, r := range []string{"/chats/1/messages?page=1", "/chats/1/messages?limit=10", "/chats", "/chats/1"} {
		if got := s.get("/api/v1/applications/" + app.Token() + r).header.Get("Event-Position"); got != string(page.Position) {
			t.Errorf("Event-Position of %s with the writer stopped: got %q, want %q", r, got, page.Position)
		}
	}

	f := follow(t, app, 1, page.Position)
	s.startWriter()
	eventually(t, 15*time.Second, "the writer catches up", func() (bool, string) {
		p, err := app.Messages(ctx, 1, ic.Newest())
		return err == nil && len(p.Messages) == 6, fmt.Sprintf("%d messages, %v", len(p.Messages), err)
	})
	eventually(t, 5*time.Second, "the subscriber gets the queued writes", func() (bool, string) {
		got := describe(f.got())
		return len(got) >= len(want), fmt.Sprint(got)
	})
	time.Sleep(500 * time.Millisecond) // nothing more comes
	if got := describe(f.got()); !slices.Equal(got, want) {
		t.Errorf("events after the list's position:\n got %q\nwant %q", got, want)
	}
	evs := f.got()
	for i := 1; i < len(evs); i++ {
		a, _ := events.Parse(string(evs[i-1].ID))
		b, _ := events.Parse(string(evs[i].ID))
		if !a.Less(b) {
			t.Errorf("event ids out of order: %s then %s", evs[i-1].ID, evs[i].ID)
		}
	}
}

// TestResumeFromJournalOnTheBinaries checks the journal source on the real
// binaries with a tiny Redis retention: a subscriber far behind gets exactly
// the events it missed, in order (from the journal, then Redis, then live);
// with the writer stopped, a gap Redis no longer holds is reset after
// EVENTS_REPLAY_WAIT, explicitly.
func TestResumeFromJournalOnTheBinaries(t *testing.T) {
	if testing.Short() {
		t.Skip("posts thousands of messages")
	}
	const wait = 2 * time.Second
	s := newSystemWith(t, "QUEUE_PARTITIONS=1", "EVENTS_RETAIN_MAX=1000", "EVENTS_RING=8", "EVENTS_REPLAY_WAIT="+wait.String())
	ctx := t.Context()
	app := s.newApp("journal")
	s.newChats(app, 1)
	post := func(from, to int) {
		t.Helper()
		for n := from; n <= to; n++ {
			if m, err := app.PostMessage(ctx, 1, "m"+strconv.Itoa(n)); err != nil || m.Number != int64(n) {
				t.Fatalf("post %d: got %+v, %v", n, m, err)
			}
		}
	}
	post(1, 1)
	var start ic.Position
	eventually(t, 10*time.Second, "message 1 is written and the position follows", func() (bool, string) {
		p, err := app.Messages(ctx, 1, ic.Newest())
		start = p.Position
		return err == nil && len(p.Messages) == 1 && string(p.Position) == s.lastStreamID(app, 1), fmt.Sprintf("%+v, %v", p, err)
	})
	const n = 1500 // beyond what MAXLEN ~ 1000 keeps (it trims whole stream nodes of 100 entries)
	post(2, n)
	eventually(t, 30*time.Second, "the writer catches up", func() (bool, string) {
		p, err := app.Messages(ctx, 1, ic.Newest().WithLimit(1))
		return err == nil && len(p.Messages) == 1 && p.Messages[0].Number == n && string(p.Position) == s.lastStreamID(app, 1),
			fmt.Sprintf("%+v, %v", p.Position, err)
	})
	keys := queue.NewKeys(s.prefix, 1)
	if l, err := s.rdb.XLen(ctx, keys.Events(0)).Result(); err != nil || l >= n {
		t.Fatalf("stream length: got %d, %v; want it trimmed below %d", l, err, n)
	}

	f := follow(t, app, 1, start)
	eventually(t, 20*time.Second, "the subscriber from message 1 gets 2..n", func() (bool, string) {
		return len(f.got()) >= n-1, strconv.Itoa(len(f.got()))
	})
	post(n+1, n+1)
	eventually(t, 5*time.Second, "and the next live message", func() (bool, string) {
		return len(f.got()) >= n, strconv.Itoa(len(f.got()))
	})
	for i, e := range f.got() {
		if e.Type != ic.EventMessageCreated || e.Message != int64(i+2) || e.Body != "m"+strconv.Itoa(i+2) {
			t.Fatalf("event %d: got %+v, want message.created %d", i, e, i+2)
		}
	}
	m := s.get("/metrics").raw
	if !regexp.MustCompile(`instachat_event_resumes_total\{source="journal"\} [1-9]`).MatchString(m) {
		t.Errorf("api /metrics: want a journal resume counted, got\n%s", regexp.MustCompile(`(?m)^instachat_event_resumes_total.*$`).FindAllString(m, -1))
	}
	f.cancel()
	<-f.done
	last := f.got()[len(f.got())-1].ID

	// The writer stops; the gap after last leaves Redis before it is
	// journaled: a resume from last waits, then is told.
	s.stop("writer")
	post(n+2, 2*n)
	began := time.Now()
	g := follow(t, app, 1, last)
	eventually(t, 10*time.Second, "a reset", func() (bool, string) {
		evs := g.got()
		return len(evs) > 0, fmt.Sprint(describe(evs))
	})
	if e := g.got()[0]; e.Type != ic.EventReset || string(e.ID) != s.lastStreamID(app, 1) {
		t.Errorf("resume over an unjournaled gap: got %+v, want a reset to %s", e, s.lastStreamID(app, 1))
	}
	if d := time.Since(began); d < wait {
		t.Errorf("reset after %v, want after EVENTS_REPLAY_WAIT (%v)", d, wait)
	}
	s.startWriter()
}
