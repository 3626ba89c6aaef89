package bleve

import (
	bolt "go.etcd.io/bbolt"

	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	blevesearch "github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/index/scorch"
)

// openVersion opens the index of one mapping version below root, creating it
// when it is missing or was left half-created. created reports that the index
// is new and empty. Directories of other versions are removed once the index
// is open: an older one is obsolete and a newer one (after a rollback) has
// missed writes, so either would serve wrong results if reused later.
func openVersion(root string, version int, lockTimeout time.Duration) (idx blevesearch.Index, created bool, err error) {
	if root == "" {
		return nil, false, errors.New("open bleve index: empty path")
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, false, fmt.Errorf("create index root %s: %w", root, err)
	}
	dir := filepath.Join(root, versionDirName(version))

	idx, err = openExisting(dir, version, lockTimeout)
	if err != nil {
		return nil, false, err
	}
	if idx == nil {
		idx, err = create(dir, version)
		if err != nil {
			return nil, false, err
		}
		created = true
	}
	if err := removeOtherVersions(root, filepath.Base(dir)); err != nil {
		_ = idx.Close() // the removal error is the one worth reporting
		return nil, false, err
	}
	return idx, created, nil
}

// openExisting opens the index in dir; it returns nil (and no error) when
// there is none, or when creation was interrupted (no index metadata, or no
// version marker, which create writes last) and the directory is removed.
// It waits up to lockTimeout for another process to release the index.
// ErrLocked means another process (a running api) holds the index open.
var ErrLocked = errors.New("index is locked by another process")

func openExisting(dir string, version int, lockTimeout time.Duration) (blevesearch.Index, error) {
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	idx, err := blevesearch.OpenUsing(dir, map[string]any{"bolt_timeout": lockTimeout.String()})
	if errors.Is(err, blevesearch.ErrorIndexMetaMissing) || errors.Is(err, blevesearch.ErrorIndexMetaCorrupt) {
		if err := os.RemoveAll(dir); err != nil {
			return nil, fmt.Errorf("remove half-created index %s: %w", dir, err)
		}
		return nil, nil
	}
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, fmt.Errorf("open bleve index %s: %w", dir, ErrLocked)
	}
	if err != nil {
		return nil, fmt.Errorf("open bleve index %s: %w", dir, err)
	}
	stored, err := idx.GetInternal([]byte(internalVersionKey))
	if err != nil {
		_ = idx.Close()
		return nil, fmt.Errorf("read mapping version of %s: %w", dir, err)
	}
	want := strconv.Itoa(version)
	switch string(stored) {
	case want:
		return idx, nil
	case "":
		if err := idx.Close(); err != nil {
			return nil, fmt.Errorf("close half-created index %s: %w", dir, err)
		}
		if err := os.RemoveAll(dir); err != nil {
			return nil, fmt.Errorf("remove half-created index %s: %w", dir, err)
		}
		return nil, nil
	default:
		_ = idx.Close()
		return nil, fmt.Errorf("index %s holds mapping version %q, want %s", dir, stored, want)
	}
}

// create builds a new scorch index in dir and marks it with its mapping
// version; the marker is written last so a crash leaves a detectable index.
func create(dir string, version int) (blevesearch.Index, error) {
	m, err := NewMapping()
	if err != nil {
		return nil, err
	}
	idx, err := blevesearch.NewUsing(dir, m, scorch.Name, scorch.Name, nil)
	if err != nil {
		return nil, fmt.Errorf("create bleve index %s: %w", dir, err)
	}
	if err := idx.SetInternal([]byte(internalVersionKey), []byte(strconv.Itoa(version))); err != nil {
		_ = idx.Close()
		return nil, fmt.Errorf("write mapping version of %s: %w", dir, err)
	}
	return idx, nil
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
