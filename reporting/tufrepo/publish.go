package tufrepo

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/nhs-steward/steward/internal/strictjson"
	"github.com/nhs-steward/steward/searches/bundle"
)

// Reasons a publish is refused. The publish handler maps them to HTTP
// statuses: ErrSignature 403, ErrVersion 409, ErrInvalid 422.
var (
	ErrSignature = errors.New("targets metadata is not signed by enough trusted search author keys")
	ErrVersion   = errors.New("versions only go forward")
	ErrInvalid   = errors.New("publish refused")
)

// Published is the outcome of a publish.
type Published struct {
	Target           string `json:"target,omitempty"` // the new bundle, "" for a re-sign
	Pack             string `json:"pack,omitempty"`
	Version          string `json:"version,omitempty"`
	TargetsVersion   int64  `json:"targets_version"`
	SnapshotVersion  int64  `json:"snapshot_version"`
	TimestampVersion int64  `json:"timestamp_version"`
}

// Publish accepts an author-signed targets.json and, when it lists a new
// bundle, that bundle's bytes (tgz may be nil when the authors only re-sign
// to extend the targets expiry or drop a target). It checks:
//
//   - the targets signatures reach the threshold of the root's targets keys;
//   - no delegations, not expired, version above the current targets version;
//   - every target is a well-formed bundle target; targets already published
//     are unchanged; at most one is new, and tgz matches its length and hash;
//   - the new bundle's version is above every version of its pack ever
//     published here, and the bundle extracts cleanly with a manifest naming
//     that pack and version;
//
// then writes the target, the targets metadata, a new snapshot and, last, a
// new timestamp (the commit point: a crash before it leaves the previous
// state served).
func (r *Repo) Publish(targetsJSON, tgz []byte) (*Published, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now().UTC()

	root, _, err := r.latestRoot()
	if err != nil {
		return nil, fmt.Errorf("publish: %w", err)
	}
	// go-tuf decodes with encoding/json, which keeps the last of two equal
	// keys: refuse them, so that what is checked is all that is stored.
	if err := strictjson.Check(targetsJSON); err != nil {
		return nil, fmt.Errorf("%w: targets.json: %w", ErrInvalid, err)
	}
	nt, err := metadata.Targets().FromBytes(targetsJSON)
	if err != nil {
		return nil, fmt.Errorf("%w: targets.json: %w", ErrInvalid, err)
	}
	if err := root.VerifyDelegate(metadata.TARGETS, nt); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSignature, err)
	}
	if nt.Signed.Delegations != nil {
		return nil, fmt.Errorf("%w: targets delegate; Steward repositories do not", ErrInvalid)
	}
	if nt.Signed.IsExpired(now) {
		return nil, fmt.Errorf("%w: targets metadata expired at %s", ErrInvalid, nt.Signed.Expires.Format(time.RFC3339))
	}
	st, err := r.readState()
	if err != nil {
		return nil, fmt.Errorf("publish: %w", err)
	}
	cur := map[string]*metadata.TargetFiles{}
	if st.targets != nil {
		if nt.Signed.Version <= st.targets.Signed.Version {
			return nil, fmt.Errorf("%w: targets version %d is not above the current %d (sign again against the current repository)", ErrVersion, nt.Signed.Version, st.targets.Signed.Version)
		}
		cur = st.targets.Signed.Targets
	} else if nt.Signed.Version < 1 {
		return nil, fmt.Errorf("%w: targets version %d", ErrInvalid, nt.Signed.Version)
	}

	var newName string
	var newTF *metadata.TargetFiles
	var newC bundle.TargetCustom
	for name, tf := range nt.Signed.Targets {
		c, err := bundle.TargetOf(name, tf)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
		}
		if old, ok := cur[name]; ok {
			if old.Length != tf.Length || !old.Hashes.Equal(tf.Hashes) {
				return nil, fmt.Errorf("%w: %s is already published with other content: published bundles never change", ErrVersion, name)
			}
			continue
		}
		if newName != "" {
			return nil, fmt.Errorf("%w: %s and %s are both new: publish one bundle at a time", ErrInvalid, newName, name)
		}
		newName, newTF, newC = name, tf, c
	}
	if newName == "" && len(tgz) > 0 {
		return nil, fmt.Errorf("%w: a bundle was uploaded but the targets metadata lists no new target", ErrInvalid)
	}
	if newName != "" {
		if len(tgz) == 0 {
			return nil, fmt.Errorf("%w: %s is new but no bundle was uploaded", ErrInvalid, newName)
		}
		if err := newTF.VerifyLengthHashes(tgz); err != nil {
			return nil, fmt.Errorf("%w: the uploaded bundle does not match the signed target %s: %w", ErrInvalid, newName, err)
		}
		high, err := r.highestEverPublished(newC.Pack)
		if err != nil {
			return nil, fmt.Errorf("publish: %w", err)
		}
		if high != "" {
			if cmp, _ := bundle.CompareVersions(newC.Version, high); cmp <= 0 {
				return nil, fmt.Errorf("%w: %s %s is not above %s, already published", ErrVersion, newC.Pack, newC.Version, high)
			}
		}
		if err := r.checkBundle(tgz, newC); err != nil {
			return nil, err
		}
	}

	// Write: target, targets metadata, snapshot, then timestamp.
	if newName != "" {
		p := r.targetPath(newC.Pack, newC.Version, newTF)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return nil, fmt.Errorf("publish: %w", err)
		}
		if err := writeAtomic(p, tgz, 0o644); err != nil {
			return nil, fmt.Errorf("publish: %w", err)
		}
	}
	if err := writeAtomic(filepath.Join(r.dir, metadataDir, fmt.Sprintf("%d.targets.json", nt.Signed.Version)), targetsJSON, 0o644); err != nil {
		return nil, fmt.Errorf("publish: %w", err)
	}
	sum := sha256.Sum256(targetsJSON)
	meta := &metadata.MetaFiles{Version: nt.Signed.Version, Length: int64(len(targetsJSON)), Hashes: metadata.Hashes{"sha256": sum[:]}}
	sv, tv, err := r.commit(st, meta, now)
	if err != nil {
		return nil, fmt.Errorf("publish: %w", err)
	}
	out := &Published{TargetsVersion: nt.Signed.Version, SnapshotVersion: sv, TimestampVersion: tv}
	if newName != "" {
		out.Target, out.Pack, out.Version = newName, newC.Pack, newC.Version
	}
	r.log.Info("published search bundle", "target", out.Target, "targets_version", out.TargetsVersion)
	return out, nil
}

// targetPath is where a target is stored: the consistent-snapshot name.
func (r *Repo) targetPath(pack, version string, tf *metadata.TargetFiles) string {
	h := hex.EncodeToString(tf.Hashes[bundle.HashAlgorithm])
	return filepath.Join(r.dir, targetsDir, pack, h+"."+version+".tar.gz")
}

// checkBundle extracts the bundle into a scratch folder: it must be safe
// and name the pack and version it is published as.
func (r *Repo) checkBundle(tgz []byte, c bundle.TargetCustom) error {
	if err := os.MkdirAll(filepath.Join(r.dir, tmpDir), 0o755); err != nil {
		return err
	}
	scratch, err := os.MkdirTemp(filepath.Join(r.dir, tmpDir), "check-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(scratch)
	dir := filepath.Join(scratch, "b")
	if err := bundle.Extract(tgz, dir); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	m, err := bundle.ReadManifest(dir)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if m.Pack != c.Pack || m.Version != c.Version {
		return fmt.Errorf("%w: the bundle's manifest is %s %s but it is signed as %s %s", ErrInvalid, m.Pack, m.Version, c.Pack, c.Version)
	}
	return nil
}

var targetsFileRE = regexp.MustCompile(`^([1-9][0-9]*)\.targets\.json$`)

// highestEverPublished scans every targets metadata version the repository
// has held, so a version removed from the current targets cannot come back
// lower.
func (r *Repo) highestEverPublished(pack string) (string, error) {
	ents, err := os.ReadDir(filepath.Join(r.dir, metadataDir))
	if err != nil {
		return "", err
	}
	high := ""
	for _, e := range ents {
		if !targetsFileRE.MatchString(e.Name()) {
			continue
		}
		t, err := metadata.Targets().FromFile(filepath.Join(r.dir, metadataDir, e.Name()))
		if err != nil {
			return "", fmt.Errorf("%s: %w", e.Name(), err)
		}
		v, _, err := bundle.Latest(t.Signed.Targets, pack)
		if err != nil || v == "" {
			continue
		}
		if high == "" {
			high = v
		} else if cmp, _ := bundle.CompareVersions(v, high); cmp > 0 {
			high = v
		}
	}
	return high, nil
}

// commit signs and writes a new snapshot listing targets (meta) and a new
// timestamp listing that snapshot. It returns their versions.
func (r *Repo) commit(st *state, targets *metadata.MetaFiles, now time.Time) (int64, int64, error) {
	snap := metadata.Snapshot(now.Add(r.expiry.Snapshot).Truncate(time.Second))
	snap.Signed.Meta = map[string]*metadata.MetaFiles{"targets.json": targets}
	if st.snapshot != nil {
		snap.Signed.Version = st.snapshot.Signed.Version + 1
	}
	if _, err := snap.Sign(r.snapshot); err != nil {
		return 0, 0, err
	}
	sb, err := snap.ToBytes(true)
	if err != nil {
		return 0, 0, err
	}
	if err := writeAtomic(filepath.Join(r.dir, metadataDir, strconv.FormatInt(snap.Signed.Version, 10)+".snapshot.json"), sb, 0o644); err != nil {
		return 0, 0, err
	}
	tv, err := r.writeTimestamp(st, snap.Signed.Version, sb, now)
	return snap.Signed.Version, tv, err
}

func (r *Repo) writeTimestamp(st *state, snapVersion int64, snapBytes []byte, now time.Time) (int64, error) {
	ts := metadata.Timestamp(now.Add(r.expiry.Timestamp).Truncate(time.Second))
	sum := sha256.Sum256(snapBytes)
	ts.Signed.Meta = map[string]*metadata.MetaFiles{"snapshot.json": {Version: snapVersion, Length: int64(len(snapBytes)), Hashes: metadata.Hashes{"sha256": sum[:]}}}
	if st.timestamp != nil {
		ts.Signed.Version = st.timestamp.Signed.Version + 1
	}
	if _, err := ts.Sign(r.timestamp); err != nil {
		return 0, err
	}
	tb, err := ts.ToBytes(true)
	if err != nil {
		return 0, err
	}
	return ts.Signed.Version, writeAtomic(filepath.Join(r.dir, metadataDir, timestampFile), tb, 0o644)
}

// Refresh re-signs the online metadata before it expires: a new snapshot
// when less than half of its validity is left, and a new timestamp when
// less than half of its validity is left or the snapshot changed. The
// collector calls it periodically (say hourly, well inside the timestamp
// expiry). It reports whether anything was re-signed. It cannot renew the
// targets metadata: only the authors can (Status().TargetsExpireSoon).
func (r *Repo) Refresh() (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now().UTC()
	st, err := r.readState()
	if err != nil {
		return false, fmt.Errorf("refresh tuf metadata: %w", err)
	}
	if st.targets == nil {
		return false, nil // nothing published yet
	}
	if st.targets.Signed.Expires.Before(now.Add(30 * 24 * time.Hour)) {
		r.log.Warn("search bundle targets metadata expires soon: a search author must re-sign and publish",
			"expires", st.targets.Signed.Expires, "targets_version", st.targets.Signed.Version)
	}
	if st.snapshot.Signed.Expires.Sub(now) < r.expiry.Snapshot/2 {
		_, _, err := r.commit(st, st.snapshot.Signed.Meta["targets.json"], now)
		if err != nil {
			return false, fmt.Errorf("refresh tuf metadata: %w", err)
		}
		return true, nil
	}
	if st.timestamp.Signed.Expires.Sub(now) < r.expiry.Timestamp/2 {
		sb, err := os.ReadFile(filepath.Join(r.dir, metadataDir, strconv.FormatInt(st.snapshot.Signed.Version, 10)+".snapshot.json"))
		if err != nil {
			return false, fmt.Errorf("refresh tuf metadata: %w", err)
		}
		if _, err := r.writeTimestamp(st, st.snapshot.Signed.Version, sb, now); err != nil {
			return false, fmt.Errorf("refresh tuf metadata: %w", err)
		}
		return true, nil
	}
	return false, nil
}
