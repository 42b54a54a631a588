// Package tuftest runs a real search-bundle TUF repository for tests: a
// repository directory with generated keys, served over loopback HTTP by
// tufrepo's handlers, a small pack to build bundles from, and a settable
// clock.
package tuftest

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/nhs-steward/steward/reporting/tufrepo"
	"github.com/nhs-steward/steward/reporting/wire"
	"github.com/nhs-steward/steward/searches/bundle"
)

// Clock is a settable clock.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock set to t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

// Add moves the clock on by d.
func (c *Clock) Add(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.t = c.t.Add(d) }

// Start is the fixtures' initial time.
var Start = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// Pack is the id of the fixture pack.
const Pack = "medsip"

// Search is the fixture pack's one search.
const Search = `steward: search/v1
id: s
codelists:
  c:
    files:
      - path: ../../codelists/c.csv
        version: "1"
references:
  ome:
    path: ../../reference/ome.csv
    version: "1"
    key: code
    value: ome
variables:
  ome_3m:
    sum: {issues: c, window: {months: 3}, value: quantity * ome}
measures:
  - id: users
    title: Registered patients with an issue in 3 months
    count: registered and ome_3m > 0
`

// Test is the fixture pack's fixture file (search.test.yaml): one case
// that the search passes.
const Test = `steward: search-test/v1
search: search.yaml
cases:
  - name: one registered patient with an issue in 3 months
    practice: Y01234
    as_of: 2025-03-31
    patients:
      - id: 1
        sex: F
        date_of_birth: 1960-01-01
        registrations: [{start: 2000-01-01}]
        issues:
          - {date: 2025-03-01, code: "123", quantity: 10}
      - id: 2
        sex: M
        date_of_birth: 1960-01-01
        registrations: [{start: 2000-01-01}]
    expect:
      measures:
        users: 1
`

// Fixture is a running repository.
type Fixture struct {
	t        testing.TB
	Dir      string // repository directory
	Repo     *tufrepo.Repo
	Server   *httptest.Server
	Root     []byte // trusted root metadata
	RootPath string // a file holding Root, as the ICB ships it
	Author   ed25519.PrivateKey
	Clock    *Clock // the repository's clock
	Searches string // the searches folder bundles are built from

	handler atomic.Pointer[http.ServeMux]
}

// New initialises a repository with one root key and one author key and
// serves it, with the clock at Start.
func New(t testing.TB) *Fixture {
	t.Helper()
	return NewAt(t, Start)
}

// NewAt is New with the clock at start: time.Now() for a repository that
// another server opens with the real clock.
func NewAt(t testing.TB, start time.Time) *Fixture {
	t.Helper()
	f := &Fixture{t: t, Dir: filepath.Join(t.TempDir(), "repo"), Clock: NewClock(start)}
	_, rootKey, _ := ed25519.GenerateKey(nil)
	_, f.Author, _ = ed25519.GenerateKey(nil)
	var err error
	f.Root, err = tufrepo.Init(f.Dir, tufrepo.Config{
		AuthorKeys: []ed25519.PublicKey{f.Author.Public().(ed25519.PublicKey)},
		Now:        f.Clock.Now,
	}, rootKey)
	if err != nil {
		t.Fatal(err)
	}
	f.RootPath = filepath.Join(t.TempDir(), "root.json")
	if err := os.WriteFile(f.RootPath, f.Root, 0o644); err != nil {
		t.Fatal(err)
	}
	f.Serve(f.Dir)
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.handler.Load().ServeHTTP(w, r)
	}))
	t.Cleanup(f.Server.Close)

	f.Searches = filepath.Join(t.TempDir(), "searches")
	// A small search that passes lint (the collector lints every bundle it
	// accepts), reading a codelist and a reference table beside the pack.
	writeFile(t, filepath.Join(f.Searches, "packs", Pack, "search.yaml"), Search)
	writeFile(t, filepath.Join(f.Searches, "packs", Pack, "search.test.yaml"), Test)
	writeFile(t, filepath.Join(f.Searches, "codelists", "c.csv"), "code\n123\n")
	writeFile(t, filepath.Join(f.Searches, "reference", "ome.csv"), "code,ome\n123,1.5\n")
	return f
}

// Serve makes the server serve the repository in dir (e.g. an old copy).
func (f *Fixture) Serve(dir string) {
	f.t.Helper()
	r, err := tufrepo.Open(dir, tufrepo.Options{Now: f.Clock.Now})
	if err != nil {
		f.t.Fatal(err)
	}
	if dir == f.Dir {
		f.Repo = r
	}
	mux := http.NewServeMux()
	mux.Handle(wire.PathTUF, r.Handler())
	mux.Handle(wire.PathBundles, r.PublishHandler(nil))
	f.handler.Store(mux)
}

// Build builds the fixture pack at version.
func (f *Fixture) Build(version string) (*bundle.Bundle, []byte) {
	f.t.Helper()
	writeFile(f.t, filepath.Join(f.Searches, "packs", Pack, "pack.yaml"),
		fmt.Sprintf("steward: pack/v1\nid: %s\nversion: %s\nsearches: [search.yaml]\n", Pack, version))
	b, tgz, err := bundle.Build(filepath.Join(f.Searches, "packs", Pack), bundle.WithCreated(f.Clock.Now()), bundle.WithBuilder("tuftest"))
	if err != nil {
		f.t.Fatal(err)
	}
	return b, tgz
}

// Sign signs the next targets metadata adding b, with key, against the
// repository's current targets, expiring in 90 days.
func (f *Fixture) Sign(b *bundle.Bundle, key ed25519.PrivateKey) []byte {
	f.t.Helper()
	s, err := f.SignRequest(bundle.SignRequest{Bundle: b, Key: key})
	if err != nil {
		f.t.Fatal(err)
	}
	return s
}

// SignRequest signs req against the repository's current targets, with
// the trusted root, the clock, a 90-day expiry and (when req has none) the
// author key filled in.
func (f *Fixture) SignRequest(req bundle.SignRequest) ([]byte, error) {
	f.t.Helper()
	cur, err := tufrepo.CurrentTargets(context.Background(), nil, f.Dir)
	if err != nil {
		return nil, err
	}
	req.Current, req.TrustedRoot = cur, f.Root
	req.Expires, req.Now = f.Clock.Now().Add(90*24*time.Hour), f.Clock.Now()
	if req.Key == nil {
		req.Key = f.Author
	}
	if (req.Withdraw != "" || req.Promote != "") && req.Pack == "" {
		req.Pack = Pack
	}
	s, err := bundle.Sign(req)
	if err != nil {
		return nil, err
	}
	return s.Targets, nil
}

// Upload uploads signed targets metadata (and a bundle) over HTTP.
func (f *Fixture) Upload(targets, tgz []byte) (*tufrepo.Published, error) {
	return tufrepo.Upload(context.Background(), f.Server.Client(), f.Server.URL, "", targets, tgz)
}

// PublishPilot builds version and publishes it for the pilot practices only.
func (f *Fixture) PublishPilot(version string, pilot ...string) (*tufrepo.Published, error) {
	f.t.Helper()
	b, tgz := f.Build(version)
	s, err := f.SignRequest(bundle.SignRequest{Bundle: b, Pilot: pilot})
	if err != nil {
		return nil, err
	}
	return f.Upload(s, tgz)
}

// Withdraw signs and publishes the withdrawal of version for reason.
func (f *Fixture) Withdraw(version, reason string) (*tufrepo.Published, error) {
	f.t.Helper()
	s, err := f.SignRequest(bundle.SignRequest{Withdraw: version, Reason: reason})
	if err != nil {
		return nil, err
	}
	return f.Upload(s, nil)
}

// Promote signs and publishes the end of version's pilot.
func (f *Fixture) Promote(version string) (*tufrepo.Published, error) {
	f.t.Helper()
	s, err := f.SignRequest(bundle.SignRequest{Promote: version})
	if err != nil {
		return nil, err
	}
	return f.Upload(s, nil)
}

// SignUnchecked adds b to the repository's current targets, raises the
// version and signs with key, skipping the author-side checks of
// bundle.Sign (to test that the collector and the agent make them too).
func (f *Fixture) SignUnchecked(b *bundle.Bundle, key ed25519.PrivateKey) []byte {
	f.t.Helper()
	md := metadata.Targets(f.Clock.Now().Add(90 * 24 * time.Hour))
	cur, err := tufrepo.CurrentTargets(context.Background(), nil, f.Dir)
	if err != nil {
		f.t.Fatal(err)
	}
	if cur != nil {
		old, err := metadata.Targets().FromBytes(cur)
		if err != nil {
			f.t.Fatal(err)
		}
		md.Signed.Targets = old.Signed.Targets
		md.Signed.Version = old.Signed.Version + 1
	}
	tf, err := b.TargetFile()
	if err != nil {
		f.t.Fatal(err)
	}
	md.Signed.Targets[tf.Path] = tf
	raw, err := md.ToBytes(false)
	if err != nil {
		f.t.Fatal(err)
	}
	return Resign(f.t, raw, key)
}

// Publish builds, signs with the author key and uploads version over HTTP.
func (f *Fixture) Publish(version string) (*tufrepo.Published, error) {
	f.t.Helper()
	b, tgz := f.Build(version)
	return tufrepo.Upload(context.Background(), f.Server.Client(), f.Server.URL, "", f.Sign(b, f.Author), tgz)
}

// MustPublish is Publish, failing the test on error.
func (f *Fixture) MustPublish(version string) {
	f.t.Helper()
	if _, err := f.Publish(version); err != nil {
		f.t.Fatalf("publish %s: %v", version, err)
	}
}

// Resign re-signs targets metadata with key only (dropping other
// signatures), as an attacker holding key would.
func Resign(t testing.TB, targetsJSON []byte, key ed25519.PrivateKey) []byte {
	t.Helper()
	md, err := metadata.Targets().FromBytes(targetsJSON)
	if err != nil {
		t.Fatal(err)
	}
	md.ClearSignatures()
	if key != nil {
		s, _ := signature.LoadED25519Signer(key)
		if _, err := md.Sign(s); err != nil {
			t.Fatal(err)
		}
	}
	b, err := md.ToBytes(true)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Plant writes targets metadata and a target straight into the repository
// directory, bypassing every publish check, and re-signs snapshot and
// timestamp with the online keys: what an attacker who controls the
// collector (but holds no author key) can do.
func (f *Fixture) Plant(targetsJSON, tgz []byte, pack, version string) {
	t := f.t
	t.Helper()
	md, err := metadata.Targets().FromBytes(targetsJSON)
	if err != nil {
		t.Fatal(err)
	}
	mdir := filepath.Join(f.Dir, "metadata")
	if tgz != nil {
		sum := sha256.Sum256(tgz)
		p := filepath.Join(f.Dir, "targets", pack, hex.EncodeToString(sum[:])+"."+version+".tar.gz")
		os.MkdirAll(filepath.Dir(p), 0o755)
		writeFile(t, p, string(tgz))
	}
	writeFile(t, filepath.Join(mdir, strconv.FormatInt(md.Signed.Version, 10)+".targets.json"), string(targetsJSON))
	ts, err := metadata.Timestamp().FromFile(filepath.Join(mdir, "timestamp.json"))
	if err != nil {
		t.Fatal(err)
	}
	now := f.Clock.Now()
	sum := sha256.Sum256(targetsJSON)
	snap := metadata.Snapshot(now.Add(7 * 24 * time.Hour))
	snap.Signed.Version = ts.Signed.Meta["snapshot.json"].Version + 1
	snap.Signed.Meta["targets.json"] = &metadata.MetaFiles{Version: md.Signed.Version, Length: int64(len(targetsJSON)), Hashes: metadata.Hashes{"sha256": sum[:]}}
	sb := signWith(t, snap, filepath.Join(f.Dir, "keys", "snapshot.key"))
	writeFile(t, filepath.Join(mdir, strconv.FormatInt(snap.Signed.Version, 10)+".snapshot.json"), string(sb))
	ssum := sha256.Sum256(sb)
	nts := metadata.Timestamp(now.Add(24 * time.Hour))
	nts.Signed.Version = ts.Signed.Version + 1
	nts.Signed.Meta["snapshot.json"] = &metadata.MetaFiles{Version: snap.Signed.Version, Length: int64(len(sb)), Hashes: metadata.Hashes{"sha256": ssum[:]}}
	writeFile(t, filepath.Join(mdir, "timestamp.json"), string(signWith(t, nts, filepath.Join(f.Dir, "keys", "timestamp.key"))))
}

func signWith[T metadata.Roles](t testing.TB, md *metadata.Metadata[T], keyFile string) []byte {
	t.Helper()
	k, err := bundle.LoadPrivateKey(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := signature.LoadED25519Signer(k)
	if _, err := md.Sign(s); err != nil {
		t.Fatal(err)
	}
	b, err := md.ToBytes(true)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// CopyDir copies the repository directory (to replay it later).
func CopyDir(t testing.TB, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		out := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(out, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(out, b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func writeFile(t testing.TB, p, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}
