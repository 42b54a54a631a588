package outbox

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func item(asOf string) *Item {
	return &Item{ID: NewID(), Practice: "Y01234", Pack: "medsip", AsOf: asOf, Body: []byte(`{"as_of":"` + asOf + `"}`)}
}

func TestAddPendingMarkSent(t *testing.T) {
	dir := t.TempDir()
	o, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"2025-03-31", "2025-01-31", "2025-02-28"} {
		if err := o.Add(item(d)); err != nil {
			t.Fatal(err)
		}
	}
	if err := o.Add(item("2025-02-28")); !errors.Is(err, ErrExists) {
		t.Fatalf("second item for the same month: err = %v, want ErrExists", err)
	}
	p, err := o.Pending()
	if err != nil {
		t.Fatal(err)
	}
	if len(p) != 3 || p[0].AsOf != "2025-01-31" || p[2].AsOf != "2025-03-31" {
		t.Fatalf("pending order = %v, want oldest month first", asOfs(p))
	}
	if err := o.MarkSent(p[0], []byte(`{"ok":true}`), time.Now()); err != nil {
		t.Fatal(err)
	}
	p2, _ := o.Pending()
	s, _ := o.Sent()
	var ack struct{ OK bool }
	if len(s) == 1 {
		_ = json.Unmarshal(s[0].Ack, &ack)
	}
	if len(p2) != 2 || len(s) != 1 || !ack.OK || s[0].ID != p[0].ID {
		t.Fatalf("after MarkSent: pending %v, sent %v", asOfs(p2), asOfs(s))
	}
	if err := o.Add(item("2025-01-31")); !errors.Is(err, ErrExists) {
		t.Fatalf("re-adding a sent month: err = %v, want ErrExists", err)
	}
	// Reopening sees the same state: nothing is held in memory only.
	o2, _ := Open(dir)
	p3, _ := o2.Pending()
	if len(p3) != 2 || p3[0].ID != p[1].ID {
		t.Fatalf("after reopen: pending %v", asOfs(p3))
	}
}

func TestCrashLeftovers(t *testing.T) {
	dir := t.TempDir()
	o, _ := Open(dir)
	it := item("2025-03-31")
	if err := o.Add(it); err != nil {
		t.Fatal(err)
	}
	// A write interrupted before its rename leaves a temporary file.
	if err := os.WriteFile(filepath.Join(dir, "outbox", ".tmp-123"), []byte(`{"torn`), 0o600); err != nil {
		t.Fatal(err)
	}
	// A crash between MarkSent's write to sent/ and its removal from outbox/.
	p, _ := o.Pending()
	b, _ := os.ReadFile(filepath.Join(dir, "outbox", name(p[0])))
	if err := os.WriteFile(filepath.Join(dir, "sent", name(p[0])), b, 0o600); err != nil {
		t.Fatal(err)
	}
	o2, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "outbox", ".tmp-123")); !os.IsNotExist(err) {
		t.Errorf("leftover temporary file not removed")
	}
	n, err := o2.Reconcile()
	if err != nil || n != 1 {
		t.Fatalf("Reconcile = %d, %v; want 1 duplicate removed", n, err)
	}
	if p, _ := o2.Pending(); len(p) != 0 {
		t.Errorf("pending after reconcile = %v, want none", asOfs(p))
	}
}

func TestWriteFileAtomicReplaces(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	for _, v := range []string{"one", "two"} {
		if err := WriteFileAtomic(path, []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if b, _ := os.ReadFile(path); string(b) != "two" {
		t.Fatalf("content = %q, want two", b)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Fatalf("directory holds %d entries, want only the file", len(entries))
	}
}

func asOfs(items []*Item) []string {
	var out []string
	for _, it := range items {
		out = append(out, it.AsOf)
	}
	return out
}
