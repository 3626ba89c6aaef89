package live

import (
	"context"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/instachat/instachat/pkg/events"
	"github.com/instachat/instachat/pkg/queue"
)

// TestJoinAtRandomCuts is design §2.4's proof as a test: subscribers whose
// connections are cut at random moments (mid-frame included) and who resume
// each time from the last event they fully got receive, over all their
// connections, exactly their part of the stream: in order, no gap, no
// repeat, and no reset. The ring is small, so resumes come from the ring and
// from Redis, while events keep coming.
func TestJoinAtRandomCuts(t *testing.T) {
	r := newRig(t, Config{Ring: 16}, 2, true)
	const total = 1500
	apps := []string{"A", "B"}
	filters := []Filter{{"A", 1}, {"A", 2}, {"A", 0}, {"B", 1}, {"B", 0}}

	produced := make(chan struct{})
	go func() {
		defer close(produced)
		rng := rand.New(rand.NewPCG(1, 2))
		for i := range total {
			app := apps[rng.IntN(2)]
			r.add(t, queue.TypeMessageCreate, app, 1+rng.Int64N(3), int64(i+1), "m")
			if i%50 == 0 {
				time.Sleep(time.Duration(rng.IntN(20)) * time.Millisecond)
			}
		}
	}()

	got := make([][]msg, len(filters))
	starts := make([]string, len(filters))
	var wg sync.WaitGroup
	for i, f := range filters {
		wg.Go(func() { got[i], starts[i] = r.cutAndResume(t, f, produced, int64(i)) })
	}
	wg.Wait()

	for i, f := range filters {
		start, err := events.Parse(starts[i])
		if err != nil {
			t.Fatal(err)
		}
		p := r.keys.Partition(f.App)
		truth, err := r.hub.reader.Range(context.Background(), p, start, endOfTime, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		for _, e := range truth {
			if f.match(e.App, e.Chat) {
				want = append(want, e.ID.String())
			}
		}
		if len(got[i]) != len(want) {
			t.Errorf("%+v: got %d events, want %d", f, len(got[i]), len(want))
		}
		for j := range min(len(got[i]), len(want)) {
			if got[i][j].ID != want[j] {
				t.Errorf("%+v: event %d: got %s, want %s", f, j, got[i][j].ID, want[j])
				break
			}
		}
	}
	if got := r.metric(t, "instachat_event_resumes_total", "source", "reset"); got != 0 {
		t.Errorf("resets: got %v, want 0", got)
	}
	// Cut connections are peers gone, not stalled ones.
	if got := r.metric(t, "instachat_event_drops_total", "reason", "write_timeout"); got != 0 {
		t.Errorf("write_timeout drops: got %v, want 0", got)
	}
	t.Logf("resumes: ring %v, redis %v", r.metric(t, "instachat_event_resumes_total", "source", "ring"),
		r.metric(t, "instachat_event_resumes_total", "source", "redis"))
}

// endOfTime is after every position.
var endOfTime = events.Position{Gen: math.MaxUint64, Seq: math.MaxUint64}

// cutAndResume subscribes to f again and again, each connection cut after a
// random while, until it holds the last event of its partition after the
// producer stopped. It returns the events and the first ready position.
func (r *rig) cutAndResume(t *testing.T, f Filter, produced <-chan struct{}, seed int64) (got []msg, start string) {
	rng := rand.New(rand.NewPCG(uint64(seed), 7))
	last := ""
	for {
		var c *sseConn
		if last == "" {
			c = r.open(t, f.App, f.Chat, "", "")
		} else if rng.IntN(2) == 0 {
			c = r.open(t, f.App, f.Chat, "", last)
		} else {
			c = r.open(t, f.App, f.Chat, last, "")
		}
		time.AfterFunc(time.Duration(rng.IntN(30000))*time.Microsecond, c.close)
		for m := range c.msgs {
			switch m.Event {
			case "hb":
			case "ready":
				if start == "" {
					start = m.ID
				}
				if last != "" && m.ID != last {
					t.Errorf("%+v: ready %s, want %s", f, m.ID, last)
				}
				last = m.ID
			case "reset", "overflow":
				t.Errorf("%+v: got %+v", f, m)
				last = m.ID
			default:
				got = append(got, m)
				last = m.ID
			}
		}
		select {
		case <-produced:
		default:
			continue
		}
		// Done once the stream's last event of this filter was received.
		if lastPos, _ := events.Parse(last); r.noneAfter(t, f, lastPos) {
			return got, start
		}
	}
}

// noneAfter reports whether the stream holds no event of f after pos.
func (r *rig) noneAfter(t *testing.T, f Filter, pos events.Position) bool {
	evs, err := r.hub.reader.Range(context.Background(), r.keys.Partition(f.App), pos, endOfTime, 1<<20)
	if err != nil {
		t.Error(err)
		return true
	}
	for _, e := range evs {
		if f.match(e.App, e.Chat) {
			return false
		}
	}
	return true
}
