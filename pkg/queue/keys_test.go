package queue_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/instachat/instachat/pkg/chat"
	"github.com/instachat/instachat/pkg/queue"
)

// hashTag returns the part of a key Redis Cluster hashes.
func hashTag(key string) string {
	i := strings.IndexByte(key, '{')
	if i < 0 {
		return key
	}
	j := strings.IndexByte(key[i+1:], '}')
	if j <= 0 {
		return key
	}
	return key[i+1 : i+1+j]
}

func TestKeysShareHashTagPerPartition(t *testing.T) {
	k := queue.NewKeys("ic:", 8)
	for i := range 50 {
		tok := fmt.Sprintf("token-%d", i)
		app := chat.TokenDigest(tok)
		p := k.Partition(app)
		if p < 0 || p >= 8 {
			t.Fatalf("Partition(%q): got %d, want 0..7", tok, p)
		}
		if again := k.Partition(app); again != p {
			t.Fatalf("Partition(%q): got %d then %d, want stable", tok, p, again)
		}
		keys := []string{
			k.ChatCounter(app), k.LegacyChatCounter(app), k.MessageCounter(app, 3), k.Pending(p), k.Processing(p, "c1"),
			k.Heartbeat(p, "c1"), k.Consumers(p), k.Retry(p), k.Dead(p), k.Stats(p),
		}
		want := fmt.Sprintf("p%d", p)
		for _, key := range keys {
			if !strings.HasPrefix(key, "ic:") {
				t.Errorf("key %s: want prefix ic:", key)
			}
			if got := hashTag(key); got != want {
				t.Errorf("key %s: got hash tag %q, want %q", key, got, want)
			}
			if strings.Contains(key, tok) {
				t.Errorf("key %s: contains the token %q", key, tok)
			}
		}
	}
}

func TestKeysDistinct(t *testing.T) {
	k := queue.NewKeys("ic:", 4)
	keys := []string{
		k.ChatCounter("a"), k.ChatCounter("b"), k.MessageCounter("a", 1), k.MessageCounter("a", 2),
		k.MessageCounter("b", 1), k.Pending(0), k.Pending(1), k.Processing(0, "x"), k.Processing(0, "y"),
		k.Heartbeat(0, "x"), k.Consumers(0), k.Retry(0), k.Dead(0), k.Stats(0),
	}
	seen := map[string]bool{}
	for _, key := range keys {
		if seen[key] {
			t.Errorf("got key %s twice, want distinct keys", key)
		}
		seen[key] = true
	}
}

func TestNewKeysPartitions(t *testing.T) {
	tests := []struct{ in, want int }{{-3, 1}, {0, 1}, {1, 1}, {16, 16}}
	for _, tt := range tests {
		k := queue.NewKeys("x:", tt.in)
		if got := k.Partitions(); got != tt.want {
			t.Errorf("NewKeys(%d).Partitions(): got %d, want %d", tt.in, got, tt.want)
		}
		if p := k.Partition("anything"); p < 0 || p >= tt.want {
			t.Errorf("NewKeys(%d).Partition: got %d, want 0..%d", tt.in, p, tt.want-1)
		}
	}
}

func TestPartitionSpreads(t *testing.T) {
	k := queue.NewKeys("x:", 4)
	counts := make([]int, 4)
	for i := range 4000 {
		counts[k.Partition(fmt.Sprintf("tok-%d", i))]++
	}
	for p, n := range counts {
		if n < 700 || n > 1300 {
			t.Errorf("partition %d: got %d of 4000 tokens, want about 1000", p, n)
		}
	}
}

// TestHooksLane: the webhook deliveries' lane has its own queue keys in the
// same partition's slot.
func TestHooksLane(t *testing.T) {
	k := queue.NewKeys("ic:", 4)
	h := k.Hooks()
	for p := range 4 {
		for _, pair := range [][2]string{{k.Pending(p), h.Pending(p)}, {k.Dead(p), h.Dead(p)}, {k.Retry(p), h.Retry(p)}, {k.Processing(p, "c"), h.Processing(p, "c")}} {
			jobs, hooks := pair[0], pair[1]
			tag := "{p" + strconv.Itoa(p) + "}"
			if jobs == hooks || !strings.Contains(hooks, tag+":hooks:") || !strings.Contains(jobs, tag) {
				t.Errorf("partition %d: jobs %q, hooks %q", p, jobs, hooks)
			}
		}
	}
	if k.Lane() != "jobs" || h.Lane() != "hooks" || h.Partition("app") != k.Partition("app") {
		t.Errorf("lanes: %q %q", k.Lane(), h.Lane())
	}
}
