// Package outbox is the agent's durable queue of submissions. A submission
// is written once, atomically (temporary file, fsync, rename, fsync of the
// directory), before any attempt to send it; it moves to sent/ only after
// the collector has acknowledged it. A crash at any point leaves either no
// file or a complete one, and since a submission keeps its id (the
// idempotency key) for life, resending after a crash can never make a
// duplicate at the collector.
package outbox

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/nhs-steward/steward/internal/fsutil"
)

// Item is one submission.
type Item struct {
	// ID is the submission id and idempotency key: random, fixed at
	// creation, reused for every attempt.
	ID       string    `json:"id"`
	Practice string    `json:"practice"`
	Pack     string    `json:"pack"`
	AsOf     string    `json:"as_of"`
	Created  time.Time `json:"created"`
	// Body is the exact results document to send (disclosure-controlled).
	Body json.RawMessage `json:"body"`
	// Ack is the collector's acknowledgement, set when the item is sent.
	Ack json.RawMessage `json:"ack,omitempty"`
	// SentAt is when the acknowledgement arrived.
	SentAt *time.Time `json:"sent_at,omitempty"`
}

// Outbox is a directory with pending items in it and sent items in sent/.
type Outbox struct {
	dir string
}

const (
	pendingDir = "outbox"
	sentDir    = "sent"
	suffix     = ".json"
)

// Open opens (creating if needed) the outbox under the data directory.
func Open(dataDir string) (*Outbox, error) {
	o := &Outbox{dir: dataDir}
	for _, d := range []string{o.pending(), o.sent()} {
		if err := os.MkdirAll(d, fsutil.PrivateDir); err != nil {
			return nil, fmt.Errorf("open outbox: %w", err)
		}
	}
	// Leftover temporary files are writes a crash interrupted before their
	// rename: they were never visible as items, so removing them loses nothing.
	for _, d := range []string{o.pending(), o.sent()} {
		tmps, _ := filepath.Glob(filepath.Join(d, ".tmp-*"))
		for _, t := range tmps {
			_ = os.Remove(t)
		}
	}
	return o, nil
}

func (o *Outbox) pending() string { return filepath.Join(o.dir, pendingDir) }
func (o *Outbox) sent() string    { return filepath.Join(o.dir, sentDir) }

// NewID returns a random submission id.
func NewID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("outbox: no randomness: %v", err))
	}
	b[6] = (b[6] & 0x0f) | 0x40 // UUID version 4
	b[8] = (b[8] & 0x3f) | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// name orders items by as-of date, then creation: delivery follows it.
func name(it *Item) string {
	return fmt.Sprintf("%s_%s_%s_%s%s", it.AsOf, safe(it.Pack), it.Created.UTC().Format("20060102T150405.000000000"), it.ID, suffix)
}

func safe(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.' {
			return r
		}
		return '-'
	}, s)
}

// Add writes a new pending item durably. It fails if an item for the same
// pack and as-of date is already pending or sent: a month is delivered once.
func (o *Outbox) Add(it *Item) error {
	if it.ID == "" || it.Pack == "" || it.AsOf == "" || len(it.Body) == 0 {
		return errors.New("outbox: item needs id, pack, as_of and body")
	}
	if has, err := o.Has(it.Pack, it.AsOf); err != nil {
		return err
	} else if has {
		return fmt.Errorf("outbox: %s for %s: %w", it.Pack, it.AsOf, ErrExists)
	}
	if it.Created.IsZero() {
		it.Created = time.Now().UTC()
	}
	return writeAtomic(o.pending(), name(it), it)
}

// AddCorrection writes a new pending item for a month that was already
// queued or sent: a correction, which the collector stores as superseding
// the earlier document. Items for the same month are delivered in the
// order they were created.
func (o *Outbox) AddCorrection(it *Item) error {
	if it.ID == "" || it.Pack == "" || it.AsOf == "" || len(it.Body) == 0 {
		return errors.New("outbox: item needs id, pack, as_of and body")
	}
	if it.Created.IsZero() {
		it.Created = time.Now().UTC()
	}
	return writeAtomic(o.pending(), name(it), it)
}

// Latest returns the newest item for pack and asOf, pending or sent, and
// whether it is still pending; nil when there is none.
func (o *Outbox) Latest(pack, asOf string) (it *Item, pending bool, err error) {
	prefix := asOf + "_" + safe(pack) + "_"
	var best string
	for _, d := range []string{o.pending(), o.sent()} {
		entries, err := os.ReadDir(d)
		if err != nil {
			return nil, false, fmt.Errorf("read outbox: %w", err)
		}
		for _, e := range entries {
			n := e.Name()
			if strings.HasPrefix(n, prefix) && strings.HasSuffix(n, suffix) && n > best {
				best, pending = n, d == o.pending()
			}
		}
	}
	if best == "" {
		return nil, false, nil
	}
	dir := o.sent()
	if pending {
		dir = o.pending()
	}
	it, err = readItem(dir, best)
	return it, pending, err
}

// Unreadable is an outbox file that cannot be read as an item.
type Unreadable struct {
	Path string
	Err  error
}

// Fix says what the practice manager does about it.
func (u Unreadable) Fix() string {
	return fmt.Sprintf("outbox item %s is unreadable (%v): it holds back every later month. Move it out of %s (keep it for your ICB), then run `steward-agent once`: its month is computed again",
		filepath.Base(u.Path), u.Err, filepath.Dir(u.Path))
}

// Check lists the pending and sent files that cannot be read as items.
func (o *Outbox) Check() []Unreadable {
	var out []Unreadable
	for _, d := range []string{o.pending(), o.sent()} {
		entries, err := os.ReadDir(d)
		if err != nil {
			out = append(out, Unreadable{Path: d, Err: err})
			continue
		}
		for _, e := range entries {
			if e.IsDir() || !strings.HasSuffix(e.Name(), suffix) || strings.HasPrefix(e.Name(), ".") {
				continue
			}
			if _, err := readItem(d, e.Name()); err != nil {
				out = append(out, Unreadable{Path: filepath.Join(d, e.Name()), Err: err})
			}
		}
	}
	return out
}

// PendingCount counts the pending files, readable or not.
func (o *Outbox) PendingCount() int {
	entries, _ := os.ReadDir(o.pending())
	n := 0
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), suffix) && !strings.HasPrefix(e.Name(), ".") {
			n++
		}
	}
	return n
}

// UpdateSent records a new receipt for an item already in sent/ (sent
// again to a collector that had lost it).
func (o *Outbox) UpdateSent(it *Item, ack []byte, at time.Time) error {
	it.Ack = append(json.RawMessage(nil), ack...)
	t := at.UTC()
	it.SentAt = &t
	return writeAtomic(o.sent(), name(it), it)
}

// ErrExists means a submission for the pack and as-of date already exists.
var ErrExists = errors.New("already queued or sent")

// Has reports whether an item for pack and asOf is pending or sent.
func (o *Outbox) Has(pack, asOf string) (bool, error) {
	prefix := asOf + "_" + safe(pack) + "_"
	for _, d := range []string{o.pending(), o.sent()} {
		entries, err := os.ReadDir(d)
		if err != nil {
			return false, fmt.Errorf("read outbox: %w", err)
		}
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), prefix) && strings.HasSuffix(e.Name(), suffix) {
				return true, nil
			}
		}
	}
	return false, nil
}

// Pending returns the pending items in delivery order.
func (o *Outbox) Pending() ([]*Item, error) { return o.list(o.pending()) }

// Sent returns the sent items in delivery order.
func (o *Outbox) Sent() ([]*Item, error) { return o.list(o.sent()) }

func (o *Outbox) list(dir string) ([]*Item, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read outbox: %w", err)
	}
	var names []string
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), suffix) && !strings.HasPrefix(e.Name(), ".") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	out := make([]*Item, 0, len(names))
	for _, n := range names {
		it, err := readItem(dir, n)
		if err != nil {
			return nil, err
		}
		out = append(out, it)
	}
	return out, nil
}

func readItem(dir, n string) (*Item, error) {
	b, err := os.ReadFile(filepath.Join(dir, n))
	if err != nil {
		return nil, fmt.Errorf("read outbox item %s: %w", n, err)
	}
	var it Item
	if err := json.Unmarshal(b, &it); err != nil {
		return nil, fmt.Errorf("outbox item %s is corrupt (move it aside and run the cycle again): %w", n, err)
	}
	if it.ID == "" || it.AsOf == "" || len(it.Body) == 0 {
		return nil, fmt.Errorf("outbox item %s is incomplete (move it aside and run the cycle again)", n)
	}
	return &it, nil
}

// MarkSent records the collector's acknowledgement and moves the item to
// sent/: the acknowledged copy is written durably into sent/ first, then
// the pending file is removed. A crash between the two leaves the item in
// both places; Open's caller sees it pending, resends it with the same id,
// and the collector answers with the original acknowledgement.
func (o *Outbox) MarkSent(it *Item, ack []byte, at time.Time) error {
	it.Ack = append(json.RawMessage(nil), ack...)
	t := at.UTC()
	it.SentAt = &t
	n := name(it)
	if err := writeAtomic(o.sent(), n, it); err != nil {
		return err
	}
	if err := os.Remove(filepath.Join(o.pending(), n)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("outbox: remove sent item: %w", err)
	}
	return syncDir(o.pending())
}

// Reconcile removes pending items that are already in sent/ (a crash
// between MarkSent's two steps). It returns how many it removed.
func (o *Outbox) Reconcile() (int, error) {
	entries, err := os.ReadDir(o.pending())
	if err != nil {
		return 0, fmt.Errorf("read outbox: %w", err)
	}
	n := 0
	for _, e := range entries {
		if _, err := os.Stat(filepath.Join(o.sent(), e.Name())); err == nil {
			if err := os.Remove(filepath.Join(o.pending(), e.Name())); err != nil {
				return n, fmt.Errorf("outbox: %w", err)
			}
			n++
		}
	}
	if n > 0 {
		return n, syncDir(o.pending())
	}
	return 0, nil
}

// writeAtomic writes v as JSON to dir/name: temporary file, fsync, rename,
// fsync of the directory.
func writeAtomic(dir, name string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("outbox: encode: %w", err)
	}
	return WriteFileAtomic(filepath.Join(dir, name), b, fsutil.PrivateFile)
}

// WriteFileAtomic replaces path with data durably; see fsutil.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	return fsutil.WriteFileAtomic(path, data, perm)
}

func syncDir(dir string) error { return fsutil.SyncDir(dir) }

const rejectedDir = "rejected"

// Reject moves an item the collector refused for good to rejected/, with
// the reason, so it stops blocking the queue but is never lost.
func (o *Outbox) Reject(it *Item, reason string) error {
	dir := filepath.Join(o.dir, rejectedDir)
	if err := os.MkdirAll(dir, fsutil.PrivateDir); err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	it.Ack = nil
	b, err := json.Marshal(map[string]any{"item": it, "reason": reason})
	if err != nil {
		return err
	}
	if err := WriteFileAtomic(filepath.Join(dir, name(it)), b, fsutil.PrivateFile); err != nil {
		return err
	}
	if err := os.Remove(filepath.Join(o.pending(), name(it))); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("outbox: %w", err)
	}
	return syncDir(o.pending())
}
