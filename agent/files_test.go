//go:build !windows

package agent

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"
)

// TestAgentFilesArePrivate: what the agent writes (queued and sent
// submissions, state) is created 0600 in directories of 0700, whatever the
// umask, and what an older agent left group- or world-readable is
// narrowed when the agent starts.
func TestAgentFilesArePrivate(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// An older agent's outbox and state, readable by everyone.
	if err := os.MkdirAll(filepath.Join(dir, "outbox"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"state.json", "outbox/left-over.txt"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("{}"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	now := day("2025-04-06")
	r, s := &fakeRunner{}, &fakeSender{}
	a := newAgent(t, dir, r, s, &now)
	if _, err := a.Cycle(context.Background(), time.Time{}); err != nil {
		t.Fatal(err)
	}
	s.down = true
	now = day("2025-05-06")
	_, _ = a.Cycle(context.Background(), time.Time{}) // leaves May pending
	if p, _ := a.Outbox().Pending(); len(p) != 1 {
		t.Fatalf("pending = %d, want 1", len(p))
	}
	n := 0
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		want := fs.FileMode(0o600)
		switch {
		case p == dir:
			want = 0o750
		case d.IsDir():
			want = 0o700
		default:
			n++
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s: mode %o, want %o", p, got, want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 5 { // state, the left-over, three sent, one pending
		t.Fatalf("only %d files under the data directory", n)
	}
}

func TestHeartbeatCarriesAFreshNonce(t *testing.T) {
	now := day("2025-04-06")
	s := &fakeSender{}
	a := newAgent(t, t.TempDir(), &fakeRunner{}, s, &now)
	hex := regexp.MustCompile(`^[0-9a-f]{32}$`)
	seen := map[string]bool{}
	for range 3 {
		if err := a.Heartbeat(context.Background()); err != nil {
			t.Fatal(err)
		}
		if !hex.MatchString(s.last.Nonce) || seen[s.last.Nonce] {
			t.Fatalf("heartbeat nonce %q: want 32 hex digits, new each time", s.last.Nonce)
		}
		seen[s.last.Nonce] = true
	}
}
