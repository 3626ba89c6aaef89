package bleve

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	blevesearch "github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/index/scorch"
	bolt "go.etcd.io/bbolt"
)

// shardCount is how many bleve indexes a mapping version's directory holds;
// every chat lives in one of them (see partition.go). It is part of the
// layout: changing it requires bumping MappingVersion.
const shardCount = 2

// ErrLocked means another process (a running api) holds the index open.
var ErrLocked = errors.New("index is locked by another process")

// Internal keys of every shard. The version marker is written last, so a
// shard without it was left half-created.
var (
	internalVersionKey = []byte("mapping_version")
	internalShardKey   = []byte("shard") // "<i>/<n>": which shard of how many
)

// openVersion opens the shards of one mapping version below root, creating
// them all when the version's directory is missing or any shard was left
// half-created: the shards are filled together, so a partial set is
// rebuilt whole. created reports that the index is new and empty.
// Directories of other versions are removed once the index is open: an
// older one is obsolete and a newer one (after a rollback) has missed
// writes, so either would serve wrong results if reused later.
func openVersion(root string, version, shards int, lockTimeout time.Duration) (idxs []blevesearch.Index, created bool, err error) {
	if root == "" {
		return nil, false, errors.New("open bleve index: empty path")
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, false, fmt.Errorf("create index root %s: %w", root, err)
	}
	dir := filepath.Join(root, versionDirName(version))

	idxs, err = openShards(dir, version, shards, lockTimeout)
	if err != nil {
		return nil, false, err
	}
	if idxs == nil {
		idxs, err = createShards(dir, version, shards)
		if err != nil {
			return nil, false, err
		}
		created = true
	}
	if err := removeOtherVersions(root, filepath.Base(dir)); err != nil {
		closeAll(idxs) // the removal error is the one worth reporting
		return nil, false, err
	}
	return idxs, created, nil
}

// openShards opens every shard in dir. It returns nil (and no error) when
// there is no index, or when a shard is missing or half-created: then dir is
// removed.
func openShards(dir string, version, shards int, lockTimeout time.Duration) ([]blevesearch.Index, error) {
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	idxs := make([]blevesearch.Index, 0, shards)
	for i := range shards {
		idx, err := openShard(filepath.Join(dir, shardDirName(i)), version, i, shards, lockTimeout)
		if err != nil {
			closeAll(idxs)
			return nil, err
		}
		if idx == nil {
			closeAll(idxs)
			if err := os.RemoveAll(dir); err != nil {
				return nil, fmt.Errorf("remove half-created index %s: %w", dir, err)
			}
			return nil, nil
		}
		idxs = append(idxs, idx)
	}
	return idxs, nil
}

// openShard opens shard i in dir; it returns nil (and no error) when the
// shard is missing or half-created (no index metadata, or no version
// marker). It waits up to lockTimeout for another process to release it.
func openShard(dir string, version, i, shards int, lockTimeout time.Duration) (blevesearch.Index, error) {
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	idx, err := blevesearch.OpenUsing(dir, map[string]any{"bolt_timeout": lockTimeout.String()})
	if errors.Is(err, blevesearch.ErrorIndexMetaMissing) || errors.Is(err, blevesearch.ErrorIndexMetaCorrupt) {
		return nil, nil
	}
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, fmt.Errorf("open bleve index %s: %w", dir, ErrLocked)
	}
	if err != nil {
		return nil, fmt.Errorf("open bleve index %s: %w", dir, err)
	}
	stored, err := idx.GetInternal(internalVersionKey)
	if err != nil {
		_ = idx.Close()
		return nil, fmt.Errorf("read mapping version of %s: %w", dir, err)
	}
	if len(stored) == 0 {
		if err := idx.Close(); err != nil {
			return nil, fmt.Errorf("close half-created index %s: %w", dir, err)
		}
		return nil, nil
	}
	place, err := idx.GetInternal(internalShardKey)
	if err != nil {
		_ = idx.Close()
		return nil, fmt.Errorf("read shard marker of %s: %w", dir, err)
	}
	if string(stored) != strconv.Itoa(version) || string(place) != shardMarker(i, shards) {
		_ = idx.Close()
		return nil, fmt.Errorf("index %s holds mapping version %q, shard %q; want %d, shard %s", dir, stored, place, version, shardMarker(i, shards))
	}
	return idx, nil
}

// createShards builds every shard of a new index in dir.
func createShards(dir string, version, shards int) ([]blevesearch.Index, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create index directory %s: %w", dir, err)
	}
	idxs := make([]blevesearch.Index, 0, shards)
	for i := range shards {
		idx, err := createShard(filepath.Join(dir, shardDirName(i)), version, i, shards)
		if err != nil {
			closeAll(idxs)
			return nil, err
		}
		idxs = append(idxs, idx)
	}
	return idxs, nil
}

// createShard builds shard i, a new scorch index in dir, and marks it with
// its place and mapping version; the version is written last so a crash
// leaves a detectable shard.
func createShard(dir string, version, i, shards int) (blevesearch.Index, error) {
	m, err := NewMapping()
	if err != nil {
		return nil, err
	}
	idx, err := blevesearch.NewUsing(dir, m, scorch.Name, scorch.Name, nil)
	if err != nil {
		return nil, fmt.Errorf("create bleve index %s: %w", dir, err)
	}
	if err := idx.SetInternal(internalShardKey, []byte(shardMarker(i, shards))); err != nil {
		_ = idx.Close()
		return nil, fmt.Errorf("write shard marker of %s: %w", dir, err)
	}
	if err := idx.SetInternal(internalVersionKey, []byte(strconv.Itoa(version))); err != nil {
		_ = idx.Close()
		return nil, fmt.Errorf("write mapping version of %s: %w", dir, err)
	}
	return idx, nil
}

// closeAll closes indexes opened so far when opening fails half-way; the
// error that stopped the opening is the one worth reporting.
func closeAll(idxs []blevesearch.Index) {
	for _, idx := range idxs {
		_ = idx.Close()
	}
}

// removeOtherVersions deletes every version directory below root except keep.
func removeOtherVersions(root, keep string) error {
	entries, err := os.ReadDir(root)
	if err != nil {
		return fmt.Errorf("list index root %s: %w", root, err)
	}
	for _, e := range entries {
		if !e.IsDir() || e.Name() == keep || !isVersionDir(e.Name()) {
			continue
		}
		if err := os.RemoveAll(filepath.Join(root, e.Name())); err != nil {
			return fmt.Errorf("remove old index version %s: %w", e.Name(), err)
		}
	}
	return nil
}

// versionDirName names the directory of one mapping version below
// Config.Path.
func versionDirName(version int) string { return "v" + strconv.Itoa(version) }

// shardDirName names the directory of shard i below a version's directory.
func shardDirName(i int) string { return fmt.Sprintf("shard-%02d", i) }

// shardMarker is what shard i of n stores under internalShardKey.
func shardMarker(i, n int) string { return strconv.Itoa(i) + "/" + strconv.Itoa(n) }

// isVersionDir reports whether name looks like "v<digits>", the name of a
// per-mapping-version directory below Config.Path.
func isVersionDir(name string) bool {
	if len(name) < 2 || name[0] != 'v' {
		return false
	}
	for _, c := range name[1:] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
