// Package tufrepo is the collector's side of search-bundle distribution: a
// TUF repository (The Update Framework, spec 1.0, via go-tuf v2) kept in one
// directory, served read-only to agents under wire.PathTUF, and written only
// by publishing an author-signed targets.json with its bundle.
//
// Roles and keys (docs/bundles.md tells the whole story):
//
//   - root: the ICB's keys, kept offline. Init runs on an offline machine
//     (`steward-collector tuf init`) and is the only code that sees them; the
//     directory it writes holds no root private key.
//   - targets: the search authors' keys, also offline from the collector's
//     point of view. Authors sign targets.json on their own machines
//     (`steward search sign`) and upload it (`steward search publish`). The
//     collector cannot add, change or remove a bundle: it has no targets key.
//   - snapshot and timestamp: online keys held by the collector
//     (dir/keys), with short expiry; Refresh re-signs them.
//
// There are no delegations. Consistent snapshots are on: metadata is served
// as N.root.json, N.snapshot.json, N.targets.json and timestamp.json, and
// targets as targets/<pack>/<sha256>.<version>.tar.gz.
package tufrepo

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"time"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/nhs-steward/steward/searches/bundle"
)

// Expiry is how long the online roles' metadata stays valid. Agents refuse
// expired metadata (a frozen or cut-off collector shows up as "stale").
type Expiry struct {
	Timestamp time.Duration `json:"timestamp"`
	Snapshot  time.Duration `json:"snapshot"`
}

// Defaults.
var (
	DefaultExpiry     = Expiry{Timestamp: 24 * time.Hour, Snapshot: 7 * 24 * time.Hour}
	DefaultRootExpiry = 365 * 24 * time.Hour
)

// DefaultMaxUpload bounds a publish request's body.
const DefaultMaxUpload = 64 << 20

// Config is what Init needs besides the root keys.
type Config struct {
	// AuthorKeys are the search authors' public keys: the targets role.
	AuthorKeys       []ed25519.PublicKey
	TargetsThreshold int // default 1
	RootThreshold    int // default 1
	RootExpiry       time.Duration
	Expiry           Expiry
	Now              func() time.Time
}

// Layout of the repository directory.
const (
	metadataDir   = "metadata"
	targetsDir    = "targets"
	keysDir       = "keys"
	tmpDir        = "tmp"
	configFile    = "repo.json"
	snapshotKey   = "snapshot.key"
	timestampKey  = "timestamp.key"
	timestampFile = "timestamp.json"
)

// repoConfig is dir/repo.json.
type repoConfig struct {
	Format string `json:"format"`
	Expiry Expiry `json:"expiry"`
}

const configFormat = "steward.tufrepo/v1"

// Init creates a repository in dir: root metadata version 1 signed by every
// root key, the authors' keys as the targets role, and fresh online keys
// for snapshot and timestamp (written to dir/keys, mode 0600). It returns
// the root metadata: the trusted root every agent pins. dir must not hold a
// repository already.
//
// In production run it on an offline machine holding the ICB's root keys,
// then copy dir (without the root keys, which Init never writes) to the
// collector.
func Init(dir string, cfg Config, rootKeys ...ed25519.PrivateKey) ([]byte, error) {
	if len(rootKeys) == 0 {
		return nil, errors.New("tuf init: at least one root key is needed")
	}
	if len(cfg.AuthorKeys) == 0 {
		return nil, errors.New("tuf init: at least one search author key is needed")
	}
	if cfg.TargetsThreshold == 0 {
		cfg.TargetsThreshold = 1
	}
	if cfg.RootThreshold == 0 {
		cfg.RootThreshold = 1
	}
	if cfg.TargetsThreshold > len(cfg.AuthorKeys) || cfg.RootThreshold > len(rootKeys) || cfg.TargetsThreshold < 1 || cfg.RootThreshold < 1 {
		return nil, errors.New("tuf init: a threshold must be between 1 and the number of keys of its role")
	}
	if cfg.RootExpiry == 0 {
		cfg.RootExpiry = DefaultRootExpiry
	}
	cfg.Expiry = cfg.Expiry.withDefaults()
	now := time.Now
	if cfg.Now != nil {
		now = cfg.Now
	}
	if _, err := os.Stat(filepath.Join(dir, metadataDir, "1.root.json")); err == nil {
		return nil, fmt.Errorf("tuf init: %s already holds a repository", dir)
	}
	for _, d := range []string{metadataDir, targetsDir, tmpDir} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return nil, fmt.Errorf("tuf init: %w", err)
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, keysDir), 0o700); err != nil {
		return nil, fmt.Errorf("tuf init: %w", err)
	}

	root := metadata.Root(now().UTC().Add(cfg.RootExpiry).Truncate(time.Second))
	addKey := func(pub ed25519.PublicKey, role string) error {
		k, err := metadata.KeyFromPublicKey(pub)
		if err != nil {
			return err
		}
		return root.Signed.AddKey(k, role)
	}
	for _, k := range rootKeys {
		if err := addKey(k.Public().(ed25519.PublicKey), metadata.ROOT); err != nil {
			return nil, fmt.Errorf("tuf init: %w", err)
		}
	}
	for _, k := range cfg.AuthorKeys {
		if err := addKey(k, metadata.TARGETS); err != nil {
			return nil, fmt.Errorf("tuf init: %w", err)
		}
	}
	for _, role := range []string{metadata.SNAPSHOT, metadata.TIMESTAMP} {
		pub, priv, err := ed25519.GenerateKey(nil)
		if err != nil {
			return nil, fmt.Errorf("tuf init: %w", err)
		}
		if err := bundle.WritePrivateKey(filepath.Join(dir, keysDir, role+".key"), priv); err != nil {
			return nil, fmt.Errorf("tuf init: %w", err)
		}
		if err := addKey(pub, role); err != nil {
			return nil, fmt.Errorf("tuf init: %w", err)
		}
	}
	root.Signed.Roles[metadata.ROOT].Threshold = cfg.RootThreshold
	root.Signed.Roles[metadata.TARGETS].Threshold = cfg.TargetsThreshold
	root.Signed.ConsistentSnapshot = true
	for _, k := range rootKeys {
		s, err := signature.LoadED25519Signer(k)
		if err != nil {
			return nil, fmt.Errorf("tuf init: %w", err)
		}
		if _, err := root.Sign(s); err != nil {
			return nil, fmt.Errorf("tuf init: %w", err)
		}
	}
	rb, err := root.ToBytes(true)
	if err != nil {
		return nil, fmt.Errorf("tuf init: %w", err)
	}
	cb, err := json.MarshalIndent(repoConfig{Format: configFormat, Expiry: cfg.Expiry}, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := writeAtomic(filepath.Join(dir, configFile), cb, 0o644); err != nil {
		return nil, fmt.Errorf("tuf init: %w", err)
	}
	if err := writeAtomic(filepath.Join(dir, metadataDir, "1.root.json"), rb, 0o644); err != nil {
		return nil, fmt.Errorf("tuf init: %w", err)
	}
	return rb, nil
}

func (e Expiry) withDefaults() Expiry {
	if e.Timestamp <= 0 {
		e.Timestamp = DefaultExpiry.Timestamp
	}
	if e.Snapshot <= 0 {
		e.Snapshot = DefaultExpiry.Snapshot
	}
	return e
}

// Options tune an opened repository.
type Options struct {
	// Expiry overrides the expiry recorded at Init, role by role.
	Expiry Expiry
	// MaxUpload bounds a publish request body (default DefaultMaxUpload).
	MaxUpload int64
	Now       func() time.Time
	Logger    *slog.Logger
	// Check is what a new bundle's pack folder must pass before it is
	// published (default bundle.Lint: every search loads and plans).
	Check func(packDir string) error
}

// Repo is an opened repository. Its methods are safe for concurrent use;
// only one process may write a repository directory at a time.
type Repo struct {
	dir       string
	expiry    Expiry
	maxUpload int64
	now       func() time.Time
	log       *slog.Logger
	snapshot  signature.Signer
	timestamp signature.Signer
	check     func(packDir string) error

	mu sync.Mutex // serialises writes
}

// Open opens the repository in dir and loads the online keys.
func Open(dir string, opts Options) (*Repo, error) {
	cb, err := os.ReadFile(filepath.Join(dir, configFile))
	if err != nil {
		return nil, fmt.Errorf("open tuf repository: %w (create it with `steward-collector tuf init`)", err)
	}
	var rc repoConfig
	if err := json.Unmarshal(cb, &rc); err != nil || rc.Format != configFormat {
		return nil, fmt.Errorf("open tuf repository: %s is not a %s file", configFile, configFormat)
	}
	r := &Repo{dir: dir, expiry: rc.Expiry.withDefaults(), maxUpload: opts.MaxUpload, now: opts.Now, log: opts.Logger, check: opts.Check}
	if r.check == nil {
		r.check = bundle.Lint
	}
	if opts.Expiry.Timestamp > 0 {
		r.expiry.Timestamp = opts.Expiry.Timestamp
	}
	if opts.Expiry.Snapshot > 0 {
		r.expiry.Snapshot = opts.Expiry.Snapshot
	}
	if r.maxUpload <= 0 {
		r.maxUpload = DefaultMaxUpload
	}
	if r.now == nil {
		r.now = time.Now
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	root, _, err := r.latestRoot()
	if err != nil {
		return nil, fmt.Errorf("open tuf repository: %w", err)
	}
	for _, role := range []string{metadata.SNAPSHOT, metadata.TIMESTAMP} {
		priv, err := bundle.LoadPrivateKey(filepath.Join(dir, keysDir, role+".key"))
		if err != nil {
			return nil, fmt.Errorf("open tuf repository: %s key: %w", role, err)
		}
		if err := checkRoleKey(root, role, priv); err != nil {
			return nil, fmt.Errorf("open tuf repository: %w", err)
		}
		s, err := signature.LoadED25519Signer(priv)
		if err != nil {
			return nil, err
		}
		if role == metadata.SNAPSHOT {
			r.snapshot = s
		} else {
			r.timestamp = s
		}
	}
	return r, nil
}

// Dir returns the repository directory.
func (r *Repo) Dir() string { return r.dir }

func checkRoleKey(root *metadata.Metadata[metadata.RootType], role string, priv ed25519.PrivateKey) error {
	k, err := metadata.KeyFromPublicKey(priv.Public())
	if err != nil {
		return err
	}
	id, err := k.ID()
	if err != nil {
		return err
	}
	for _, want := range root.Signed.Roles[role].KeyIDs {
		if want == id {
			return nil
		}
	}
	return fmt.Errorf("the %s key in %s is not the %s key of the current root", role, keysDir, role)
}

var rootFileRE = regexp.MustCompile(`^([1-9][0-9]*)\.root\.json$`)

// latestRoot returns the newest N.root.json. A new root is added offline
// by the ICB (root key rotation) and picked up here.
func (r *Repo) latestRoot() (*metadata.Metadata[metadata.RootType], []byte, error) {
	ents, err := os.ReadDir(filepath.Join(r.dir, metadataDir))
	if err != nil {
		return nil, nil, err
	}
	best := 0
	for _, e := range ents {
		if m := rootFileRE.FindStringSubmatch(e.Name()); m != nil {
			if n, _ := strconv.Atoi(m[1]); n > best {
				best = n
			}
		}
	}
	if best == 0 {
		return nil, nil, errors.New("no root metadata (1.root.json)")
	}
	b, err := os.ReadFile(filepath.Join(r.dir, metadataDir, fmt.Sprintf("%d.root.json", best)))
	if err != nil {
		return nil, nil, err
	}
	root, err := metadata.Root().FromBytes(b)
	if err != nil {
		return nil, nil, fmt.Errorf("%d.root.json: %w", best, err)
	}
	return root, b, nil
}

// state is the repository's current metadata, as timestamp.json names it.
type state struct {
	timestamp *metadata.Metadata[metadata.TimestampType]
	snapshot  *metadata.Metadata[metadata.SnapshotType]
	targets   *metadata.Metadata[metadata.TargetsType] // nil before the first publish
}

func (r *Repo) readState() (*state, error) {
	tb, err := os.ReadFile(filepath.Join(r.dir, metadataDir, timestampFile))
	if errors.Is(err, os.ErrNotExist) {
		return &state{}, nil
	}
	if err != nil {
		return nil, err
	}
	st := &state{}
	if st.timestamp, err = metadata.Timestamp().FromBytes(tb); err != nil {
		return nil, fmt.Errorf("timestamp.json: %w", err)
	}
	sv := st.timestamp.Signed.Meta["snapshot.json"].Version
	sb, err := os.ReadFile(filepath.Join(r.dir, metadataDir, fmt.Sprintf("%d.snapshot.json", sv)))
	if err != nil {
		return nil, err
	}
	if st.snapshot, err = metadata.Snapshot().FromBytes(sb); err != nil {
		return nil, fmt.Errorf("%d.snapshot.json: %w", sv, err)
	}
	tm, ok := st.snapshot.Signed.Meta["targets.json"]
	if !ok {
		return nil, fmt.Errorf("%d.snapshot.json lists no targets.json", sv)
	}
	gb, err := os.ReadFile(filepath.Join(r.dir, metadataDir, fmt.Sprintf("%d.targets.json", tm.Version)))
	if err != nil {
		return nil, err
	}
	if st.targets, err = metadata.Targets().FromBytes(gb); err != nil {
		return nil, fmt.Errorf("%d.targets.json: %w", tm.Version, err)
	}
	return st, nil
}

// Status describes the repository for the collector's dashboard and logs.
type Status struct {
	RootVersion       int64
	TargetsVersion    int64 // 0 before the first publish
	SnapshotVersion   int64
	TimestampVersion  int64
	TargetsExpires    time.Time // set by the authors; agents go stale after it
	SnapshotExpires   time.Time
	TimestampExpires  time.Time
	RootExpires       time.Time
	Latest            map[string]string // pack → newest version
	TargetsExpireSoon bool              // within 30 days: an author must re-sign
}

// Status reads the repository's current state.
func (r *Repo) Status() (Status, error) {
	root, _, err := r.latestRoot()
	if err != nil {
		return Status{}, err
	}
	st, err := r.readState()
	if err != nil {
		return Status{}, err
	}
	s := Status{RootVersion: root.Signed.Version, RootExpires: root.Signed.Expires, Latest: map[string]string{}}
	if st.targets == nil {
		return s, nil
	}
	s.TargetsVersion, s.TargetsExpires = st.targets.Signed.Version, st.targets.Signed.Expires
	s.SnapshotVersion, s.SnapshotExpires = st.snapshot.Signed.Version, st.snapshot.Signed.Expires
	s.TimestampVersion, s.TimestampExpires = st.timestamp.Signed.Version, st.timestamp.Signed.Expires
	s.TargetsExpireSoon = s.TargetsExpires.Before(r.now().Add(30 * 24 * time.Hour))
	for name, tf := range st.targets.Signed.Targets {
		c, err := bundle.TargetOf(name, tf)
		if err != nil {
			continue
		}
		if cur, ok := s.Latest[c.Pack]; !ok {
			s.Latest[c.Pack] = c.Version
		} else if cmp, _ := bundle.CompareVersions(c.Version, cur); cmp > 0 {
			s.Latest[c.Pack] = c.Version
		}
	}
	return s, nil
}

// writeAtomic writes path through a synced temporary file and a rename.
func writeAtomic(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync() // best effort: not supported on every platform
		d.Close()
	}
	return nil
}
