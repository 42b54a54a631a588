package bundle

import (
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// Bundles travel as targets of a TUF repository (reporting/tufrepo), one
// target per pack version, named <pack>/<version>.tar.gz, with the pack and
// version repeated in the target's custom metadata. The top-level targets
// role is signed by search authors' keys; there are no delegations.

// TargetCustom is the custom metadata of a bundle target.
type TargetCustom struct {
	Pack    string `json:"pack"`
	Version string `json:"version"`
}

// TargetName is the TUF target name of a pack version.
func TargetName(pack, version string) string { return pack + "/" + version + ".tar.gz" }

// HashAlgorithm is the only hash bundle targets carry. go-tuf names the
// consistent-snapshot copy of a target after "the first" of its hashes (a
// map), so a single algorithm keeps that name well defined.
const HashAlgorithm = "sha256"

// ErrTarget marks a target entry that is not a well-formed bundle target.
var ErrTarget = errors.New("not a bundle target")

// TargetOf checks a target entry and returns its pack and version: the
// custom metadata must name a valid pack and version and agree with the
// target name, and the only hash must be SHA-256.
func TargetOf(name string, tf *metadata.TargetFiles) (TargetCustom, error) {
	var c TargetCustom
	if tf == nil || tf.Custom == nil {
		return c, fmt.Errorf("%w: %s has no custom metadata", ErrTarget, name)
	}
	if err := json.Unmarshal(*tf.Custom, &c); err != nil {
		return c, fmt.Errorf("%w: %s: custom metadata: %w", ErrTarget, name, err)
	}
	if !ValidPackID(c.Pack) {
		return c, fmt.Errorf("%w: %s: pack %q", ErrTarget, name, c.Pack)
	}
	if _, err := ParseVersion(c.Version); err != nil {
		return c, fmt.Errorf("%w: %s: %w", ErrTarget, name, err)
	}
	if TargetName(c.Pack, c.Version) != name {
		return c, fmt.Errorf("%w: %s: custom metadata names %s", ErrTarget, name, TargetName(c.Pack, c.Version))
	}
	if len(tf.Hashes) != 1 || len(tf.Hashes[HashAlgorithm]) != 32 {
		return c, fmt.Errorf("%w: %s: must carry exactly one hash, %s", ErrTarget, name, HashAlgorithm)
	}
	if tf.Length <= 0 || tf.Length > MaxTotalSize {
		return c, fmt.Errorf("%w: %s: length %d out of range", ErrTarget, name, tf.Length)
	}
	return c, nil
}

// Latest returns the newest version of pack among targets, and its target
// name; "" if there is none. A target under <pack>/ that is malformed is an
// error; other packs' targets are ignored.
func Latest(targets map[string]*metadata.TargetFiles, pack string) (version, name string, err error) {
	for n, tf := range targets {
		if !strings.HasPrefix(n, pack+"/") {
			continue
		}
		c, err := TargetOf(n, tf)
		if err != nil {
			return "", "", err
		}
		if c.Pack != pack {
			continue
		}
		if version == "" {
			version, name = c.Version, n
			continue
		}
		if cmp, _ := CompareVersions(c.Version, version); cmp > 0 {
			version, name = c.Version, n
		}
	}
	return version, name, nil
}

// TargetFile is the target entry of a built bundle.
func (b *Bundle) TargetFile() (*metadata.TargetFiles, error) {
	sum, err := hex.DecodeString(b.SHA256)
	if err != nil || len(sum) != 32 {
		return nil, fmt.Errorf("bundle sha256 %q is not a SHA-256", b.SHA256)
	}
	raw, err := json.Marshal(TargetCustom{Pack: b.Manifest.Pack, Version: b.Manifest.Version})
	if err != nil {
		return nil, err
	}
	custom := json.RawMessage(raw)
	return &metadata.TargetFiles{
		Length: b.Length,
		Hashes: metadata.Hashes{HashAlgorithm: sum},
		Custom: &custom,
		Path:   b.Target(),
	}, nil
}

// SignRequest is what an author signs: the repository's current targets
// metadata plus one new bundle.
type SignRequest struct {
	// Current is the repository's current targets.json; nil for the first
	// release. It must verify against TrustedRoot, so a collector cannot
	// slip a target of its own into what the author signs.
	Current []byte
	// TrustedRoot is the root.json the agents trust (from the ICB).
	TrustedRoot []byte
	// Bundle and its archive are the new release; nil re-signs the current
	// targets with a new expiry only.
	Bundle *Bundle
	Key    ed25519.PrivateKey
	// Expires is the new targets metadata's expiry. Agents stop taking new
	// bundles (and report stale) after it until an author signs again.
	Expires time.Time
	Now     time.Time
}

// Signed is the result of Sign.
type Signed struct {
	Targets []byte // the new targets.json
	Version int64  // its version
	Names   []string
}

// Sign produces the next targets metadata: version current+1, the current
// targets kept, the new bundle added (its version must be above every
// version of its pack already listed), signed with the author's key.
func Sign(req SignRequest) (*Signed, error) {
	if req.Now.IsZero() {
		req.Now = time.Now()
	}
	if !req.Expires.After(req.Now) {
		return nil, errors.New("sign targets: the expiry must be in the future")
	}
	root, err := metadata.Root().FromBytes(req.TrustedRoot)
	if err != nil {
		return nil, fmt.Errorf("sign targets: trusted root: %w", err)
	}
	pub, err := metadata.KeyFromPublicKey(req.Key.Public())
	if err != nil {
		return nil, fmt.Errorf("sign targets: %w", err)
	}
	keyID, err := pub.ID()
	if err != nil {
		return nil, fmt.Errorf("sign targets: %w", err)
	}
	role := root.Signed.Roles[metadata.TARGETS]
	if role == nil || !contains(role.KeyIDs, keyID) {
		return nil, fmt.Errorf("sign targets: your key %s is not a targets (search author) key of this repository's root: ask the ICB to add it", keyID)
	}

	next := metadata.Targets(req.Expires.UTC().Truncate(time.Second))
	next.Signed.Version = 1
	if req.Current != nil {
		cur, err := metadata.Targets().FromBytes(req.Current)
		if err != nil {
			return nil, fmt.Errorf("sign targets: current targets: %w", err)
		}
		if err := root.VerifyDelegate(metadata.TARGETS, cur); err != nil {
			return nil, fmt.Errorf("sign targets: the repository's current targets do not verify against the trusted root: %w", err)
		}
		if cur.Signed.Delegations != nil {
			return nil, errors.New("sign targets: the current targets delegate: Steward repositories do not")
		}
		next.Signed.Version = cur.Signed.Version + 1
		for n, tf := range cur.Signed.Targets {
			if _, err := TargetOf(n, tf); err != nil {
				return nil, fmt.Errorf("sign targets: current targets: %w", err)
			}
			tf.Path = n
			next.Signed.Targets[n] = tf
		}
	}
	if req.Bundle != nil {
		tf, err := req.Bundle.TargetFile()
		if err != nil {
			return nil, fmt.Errorf("sign targets: %w", err)
		}
		if _, ok := next.Signed.Targets[tf.Path]; ok {
			return nil, fmt.Errorf("sign targets: %s is already published: raise the version in pack.yaml", tf.Path)
		}
		latest, _, err := Latest(next.Signed.Targets, req.Bundle.Manifest.Pack)
		if err != nil {
			return nil, fmt.Errorf("sign targets: %w", err)
		}
		if latest != "" {
			if cmp, _ := CompareVersions(req.Bundle.Manifest.Version, latest); cmp <= 0 {
				return nil, fmt.Errorf("sign targets: %s %s is not above the published %s: versions only go forward", req.Bundle.Manifest.Pack, req.Bundle.Manifest.Version, latest)
			}
		}
		next.Signed.Targets[tf.Path] = tf
	}
	signer, err := signature.LoadED25519Signer(req.Key)
	if err != nil {
		return nil, fmt.Errorf("sign targets: %w", err)
	}
	if _, err := next.Sign(signer); err != nil {
		return nil, fmt.Errorf("sign targets: %w", err)
	}
	b, err := next.ToBytes(true)
	if err != nil {
		return nil, fmt.Errorf("sign targets: %w", err)
	}
	names := make([]string, 0, len(next.Signed.Targets))
	for n := range next.Signed.Targets {
		names = append(names, n)
	}
	sort.Strings(names)
	return &Signed{Targets: b, Version: next.Signed.Version, Names: names}, nil
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
