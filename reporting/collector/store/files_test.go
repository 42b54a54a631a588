//go:build !windows

package store_test

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/nhs-steward/steward/reporting/collector/store"
)

// TestSQLiteFilesArePrivate: the store, its -wal and -shm files are
// created 0600 under a umask of 022, and files an older collector left
// 0644 are narrowed when the store is opened.
func TestSQLiteFilesArePrivate(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	dir := filepath.Join(t.TempDir(), "new-dir")
	path := filepath.Join(dir, "collector.db")
	check := func(when string) {
		t.Helper()
		for _, p := range []string{path, path + "-wal", path + "-shm"} {
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatalf("%s: %v", when, err)
			}
			if got := fi.Mode().Perm(); got != 0o600 {
				t.Errorf("%s: %s has mode %o, want 600", when, filepath.Base(p), got)
			}
		}
	}
	ctx := context.Background()
	db, err := store.Open(ctx, "sqlite:"+path)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	check("after creation")
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("new directory: %v, %v; want mode 700", fi.Mode(), err)
	}
	// An older collector's files, or a command run with another umask.
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if err := os.Chmod(p, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	db2, err := store.Open(ctx, "sqlite:"+path)
	if err != nil {
		t.Fatal(err)
	}
	check("after reopening files left 0644")
	db2.Close()
	db.Close()
}
