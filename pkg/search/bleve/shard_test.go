package bleve

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/instachat/instachat/pkg/search"
)

// manyChats is enough chats to reach every shard.
const manyChats = 64

// chatDocs returns messages 1..n of a chat, each holding the word "common"
// and a word naming its chat, at version.
func chatDocs(app, chat int64, n int, version int64) []search.Doc {
	docs := make([]search.Doc, n)
	for i := range docs {
		docs[i] = search.Doc{AppID: app, Chat: chat, Number: int64(i + 1), Version: version,
			Body: fmt.Sprintf("common words of chat%d_%d version%d", app, chat, version)}
	}
	return docs
}

// searchChat returns the numbers and total of text in one chat.
func searchChat(t *testing.T, e *Engine, app, chat int64, text string) ([]int64, int64) {
	t.Helper()
	r, err := e.Search(context.Background(), search.Query{AppID: app, Chat: chat, Text: text, Limit: 100})
	if err != nil {
		t.Fatalf("Search(app %d, chat %d, %q): %v", app, chat, text, err)
	}
	slices.Sort(r.Numbers)
	return r.Numbers, r.Total
}

// Chats are spread over the shards, and each chat finds its own messages
// and no other chat's, wherever it lives.
func TestChatsAreSpreadOverShards(t *testing.T) {
	e := openTemp(t, Config{Path: t.TempDir()})
	var docs []search.Doc
	for c := range int64(manyChats) {
		docs = append(docs, chatDocs(1+c%2, c, 3+int(c%4), 1)...)
	}
	mustIndex(t, e, docs...) // one call: a batch per shard
	used := 0
	for i, s := range e.shards {
		n, err := s.idx.DocCount()
		if err != nil {
			t.Fatalf("DocCount of shard %d: %v", i, err)
		}
		if n > 0 {
			used++
		}
	}
	if used < 2 {
		t.Errorf("documents of %d chats in %d of %d shards, want them spread", manyChats, used, len(e.shards))
	}
	for c := range int64(manyChats) {
		n := 3 + int(c%4)
		want := make([]int64, n)
		for i := range want {
			want[i] = int64(i + 1)
		}
		got, total := searchChat(t, e, 1+c%2, c, "common")
		if !slices.Equal(got, want) || total != int64(n) {
			t.Errorf("chat %d: got %v (total %d), want %v", c, got, total, want)
		}
		// The chat's own word is found, another chat's is not.
		if got, _ := searchChat(t, e, 1+c%2, c, fmt.Sprintf("chat%d_%d", 1+c%2, c)); len(got) != n {
			t.Errorf("chat %d: its own word found %v, want %d messages", c, got, n)
		}
		if got, _ := searchChat(t, e, 1+c%2, c, fmt.Sprintf("chat%d_%d", 1+(c+1)%2, (c+1)%manyChats)); len(got) != 0 {
			t.Errorf("chat %d: another chat's word found %v, want none", c, got)
		}
	}
}

// Every shard keeps its documents and their versions across Close and Open;
// Delete reaches every shard a call names.
func TestReopenKeepsEveryShard(t *testing.T) {
	dir := t.TempDir()
	e, err := Open(Config{Path: dir})
	if err != nil {
		t.Fatal(err)
	}
	var docs []search.Doc
	for c := range int64(manyChats) {
		docs = append(docs, chatDocs(1, c, 2, 5)...)
	}
	mustIndex(t, e, docs...)
	if err := e.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	e = openTemp(t, Config{Path: dir})
	if e.Fresh() {
		t.Errorf("reopen: got Fresh true, want false")
	}
	var stale []search.Doc
	var del []search.Key
	for c := range int64(manyChats) {
		stale = append(stale, chatDocs(1, c, 2, 4)...)
		del = append(del, search.Key{AppID: 1, Chat: c, Number: 2})
	}
	mustIndex(t, e, stale...) // lower versions: ignored in every shard
	if err := e.Delete(context.Background(), del); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	for c := range int64(manyChats) {
		if got, total := searchChat(t, e, 1, c, "version5"); !slices.Equal(got, []int64{1}) || total != 1 {
			t.Errorf("chat %d after reopen, stale writes and delete of 2: got %v (total %d), want [1]", c, got, total)
		}
		if got, _ := searchChat(t, e, 1, c, "version4"); len(got) != 0 {
			t.Errorf("chat %d: stale version found %v, want none", c, got)
		}
	}
}

// A missing shard directory makes the whole index be created again: the
// shards are filled together, so a partial set would miss messages.
func TestMissingShardIsRecreated(t *testing.T) {
	dir := t.TempDir()
	e, err := Open(Config{Path: dir})
	if err != nil {
		t.Fatal(err)
	}
	mustIndex(t, e, chatDocs(1, 1, 3, 1)...)
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(dir, versionDirName(MappingVersion), shardDirName(1))); err != nil {
		t.Fatal(err)
	}
	e = openTemp(t, Config{Path: dir})
	if !e.Fresh() {
		t.Errorf("got Fresh false, want true")
	}
	if got, _ := searchChat(t, e, 1, 1, "common"); len(got) != 0 {
		t.Errorf("got %v, want none (recreated empty)", got)
	}
}

// An index written with another number of shards is refused rather than
// searched with a routing that would miss its chats.
func TestOtherShardCountIsRefused(t *testing.T) {
	dir := t.TempDir()
	e, err := Open(Config{Path: dir})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	_, _, err = openVersion(dir, MappingVersion, shardCount+1, defaultLockTimeout)
	if err == nil {
		t.Fatalf("open with %d shards an index of %d: got nil error, want one", shardCount+1, shardCount)
	}
}

// Writers of different chats (so of different shards) and searches run
// together; in the end every chat holds its newest version. Run with -race.
func TestConcurrentIndexAndSearchAcrossShards(t *testing.T) {
	e := openTemp(t, Config{Path: t.TempDir()})
	const writers, versions = 8, 4
	var wg sync.WaitGroup
	for w := range int64(writers) {
		wg.Go(func() {
			for v := int64(1); v <= versions; v++ {
				var docs []search.Doc
				for c := w; c < manyChats; c += writers {
					docs = append(docs, chatDocs(1, c, 3, v)...)
				}
				if err := e.Index(context.Background(), docs); err != nil {
					t.Errorf("Index: %v", err)
				}
			}
		})
		wg.Go(func() {
			for c := range int64(manyChats) {
				if _, err := e.Search(context.Background(), search.Query{AppID: 1, Chat: c, Text: "common", Limit: 20}); err != nil {
					t.Errorf("Search: %v", err)
				}
			}
		})
	}
	wg.Wait()
	for c := range int64(manyChats) {
		if got, total := searchChat(t, e, 1, c, fmt.Sprintf("version%d", versions)); total != 3 {
			t.Errorf("chat %d: newest version found %v (total %d), want 3 messages", c, got, total)
		}
	}
}

// Chats spread over every partition, and every shard holds groupsPerShard of
// them, so no term group or shard is left empty.
func TestPartitionsSpreadChats(t *testing.T) {
	const chats = 4000
	count := make([]int, partitions)
	for c := range int64(chats) {
		count[partitionOf(scopeOf(1+c%40, c))]++
	}
	perShard := make([]map[int]bool, shardCount)
	for p, n := range count {
		if n < chats/partitions/2 || n > chats/partitions*3/2 {
			t.Errorf("partition %d holds %d of %d chats, want about %d", p, n, chats, chats/partitions)
		}
		s := shardOfPartition(p)
		if perShard[s] == nil {
			perShard[s] = map[int]bool{}
		}
		perShard[s][p] = true
	}
	for s, ps := range perShard {
		if len(ps) != groupsPerShard {
			t.Errorf("shard %d holds partitions %v, want %d of them", s, ps, groupsPerShard)
		}
	}
}

// Two chats of one partition share its terms; the scope term keeps their
// messages apart.
func TestChatsOfOnePartitionStayApart(t *testing.T) {
	e := openTemp(t, Config{Path: t.TempDir()})
	first := partitionOf(scopeOf(1, 1))
	other := int64(2)
	for partitionOf(scopeOf(1, other)) != first {
		other++
	}
	mustIndex(t, e, chatDocs(1, 1, 2, 1)...)
	mustIndex(t, e, chatDocs(1, other, 5, 1)...)
	for _, c := range []struct {
		chat int64
		want int64
	}{{1, 2}, {other, 5}} {
		if _, total := searchChat(t, e, 1, c.chat, "common words"); total != c.want {
			t.Errorf("chat %d (partition %d): got %d matches, want %d", c.chat, first, total, c.want)
		}
	}
}
