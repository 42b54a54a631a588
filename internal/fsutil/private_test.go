//go:build !windows

package fsutil

import (
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func mode(t *testing.T, p string) fs.FileMode {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func TestCreatePrivateNarrowsAnExistingFile(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	p := filepath.Join(t.TempDir(), "worklist.html")
	if err := os.WriteFile(p, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := mode(t, p); got != 0o644 {
		t.Fatalf("set-up: mode %o", got)
	}
	f, err := CreatePrivate(p)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if got := mode(t, p); got != 0o600 {
		t.Fatalf("existing file after CreatePrivate: mode %o, want 600", got)
	}
	q := filepath.Join(t.TempDir(), "new.csv")
	if f, err = CreatePrivate(q); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if got := mode(t, q); got != 0o600 {
		t.Fatalf("new file: mode %o, want 600", got)
	}
}

func TestRestrictTree(t *testing.T) {
	dir := t.TempDir()
	sub := filepath.Join(dir, "outbox")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	files := []string{filepath.Join(dir, "state.json"), filepath.Join(sub, "item.json")}
	for _, f := range files {
		if err := os.WriteFile(f, []byte("{}"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(f, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := RestrictTree(dir); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{dir, sub} {
		if got := mode(t, d); got != 0o700 {
			t.Errorf("%s: mode %o, want 700", d, got)
		}
	}
	for _, f := range files {
		if got := mode(t, f); got != 0o600 {
			t.Errorf("%s: mode %o, want 600", f, got)
		}
	}
	// A directory already narrower than asked stays as it is; 0750 keeps a
	// group's read and search.
	if err := os.Chmod(sub, 0o770); err != nil {
		t.Fatal(err)
	}
	if err := RestrictDir(sub, 0o750); err != nil {
		t.Fatal(err)
	}
	if got := mode(t, sub); got != 0o750 {
		t.Errorf("RestrictDir(0770, 0750): mode %o, want 750", got)
	}
	if err := RestrictFiles(filepath.Join(dir, "missing"), files[0]); err != nil {
		t.Fatalf("RestrictFiles with a missing path: %v", err)
	}
}
