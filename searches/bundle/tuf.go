package bundle

import (
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// Bundles travel as targets of a TUF repository (reporting/tufrepo), one
// target per pack version, named <pack>/<version>.tar.gz, with the pack and
// version repeated in the target's custom metadata. The top-level targets
// role is signed by search authors' keys; there are no delegations.

// TargetCustom is the custom metadata of a bundle target. Besides the
// pack and version it carries the authors' release decisions, signed like
// the rest of the targets metadata: a pilot (the version is only for the
// practices listed, until promoted) and a withdrawal (no agent may run the
// version any more). Agents older than these fields ignore them.
type TargetCustom struct {
	Pack    string `json:"pack"`
	Version string `json:"version"`
	// Pilot lists the ODS codes of the practices that may take the version
	// before it is promoted to all; empty means every practice.
	Pilot []string `json:"pilot,omitempty"`
	// Withdrawn is set when the authors withdrew the version.
	Withdrawn *Withdrawal `json:"withdrawn,omitempty"`
}

// Withdrawal is why and when the authors withdrew a version.
type Withdrawal struct {
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
}

// MaxReason bounds a withdrawal's reason (characters).
const MaxReason = 500

// MaxPilot bounds a pilot's practices.
const MaxPilot = 500

var odsRE = regexp.MustCompile(`^[A-Z0-9]{3,10}$`)

// ValidODS reports whether s looks like an ODS organisation code.
func ValidODS(s string) bool { return odsRE.MatchString(s) }

// InPilot reports whether the practice ods may take the version: there is
// no pilot, or the practice is in it.
func (c TargetCustom) InPilot(ods string) bool {
	return len(c.Pilot) == 0 || slices.Contains(c.Pilot, ods)
}

// CheckReason checks a withdrawal reason.
func CheckReason(reason string) error {
	n := utf8.RuneCountInString(reason)
	if strings.TrimSpace(reason) == "" || n > MaxReason || !utf8.ValidString(reason) {
		return fmt.Errorf("the reason must be 1 to %d characters of text: it is shown to every practice and to the ICB", MaxReason)
	}
	return nil
}

// CheckPilot checks a pilot list: ODS codes, sorted, each once.
func CheckPilot(pilot []string) error {
	if len(pilot) > MaxPilot {
		return fmt.Errorf("a pilot of %d practices is more than %d: promote the version to all instead", len(pilot), MaxPilot)
	}
	for i, ods := range pilot {
		if !ValidODS(ods) {
			return fmt.Errorf("pilot practice %q is not an ODS code (upper-case letters and digits, e.g. Y01234)", ods)
		}
		if i > 0 && pilot[i-1] >= ods {
			return fmt.Errorf("pilot practices must be sorted and each listed once (at %s)", ods)
		}
	}
	return nil
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
	if err := CheckPilot(c.Pilot); err != nil {
		return c, fmt.Errorf("%w: %s: %w", ErrTarget, name, err)
	}
	if c.Withdrawn != nil {
		if err := CheckReason(c.Withdrawn.Reason); err != nil {
			return c, fmt.Errorf("%w: %s: withdrawn: %w", ErrTarget, name, err)
		}
		if c.Withdrawn.At.IsZero() {
			return c, fmt.Errorf("%w: %s: withdrawn without a time", ErrTarget, name)
		}
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

// Latest returns the newest version of pack among targets, withdrawn or
// in a pilot or not, and its target name; "" if there is none. A target
// under <pack>/ that is malformed is an error; other packs' targets are
// ignored.
func Latest(targets map[string]*metadata.TargetFiles, pack string) (version, name string, err error) {
	return newest(targets, pack, func(TargetCustom) bool { return true })
}

// Available returns the newest version of pack that practice ods may run:
// not withdrawn, and not in a pilot that leaves the practice out.
func Available(targets map[string]*metadata.TargetFiles, pack, ods string) (version, name string, err error) {
	return newest(targets, pack, func(c TargetCustom) bool { return c.Withdrawn == nil && c.InPilot(ods) })
}

// Releases returns the custom metadata of every version of pack, oldest
// first.
func Releases(targets map[string]*metadata.TargetFiles, pack string) ([]TargetCustom, error) {
	var out []TargetCustom
	for n, tf := range targets {
		if !strings.HasPrefix(n, pack+"/") {
			continue
		}
		c, err := TargetOf(n, tf)
		if err != nil {
			return nil, err
		}
		if c.Pack == pack {
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b TargetCustom) int { c, _ := CompareVersions(a.Version, b.Version); return c })
	return out, nil
}

func newest(targets map[string]*metadata.TargetFiles, pack string, keep func(TargetCustom) bool) (version, name string, err error) {
	for n, tf := range targets {
		if !strings.HasPrefix(n, pack+"/") {
			continue
		}
		c, err := TargetOf(n, tf)
		if err != nil {
			return "", "", err
		}
		if c.Pack != pack || !keep(c) {
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
	tf := &metadata.TargetFiles{Length: b.Length, Hashes: metadata.Hashes{HashAlgorithm: sum}, Path: b.Target()}
	if err := setCustom(tf, TargetCustom{Pack: b.Manifest.Pack, Version: b.Manifest.Version}); err != nil {
		return nil, err
	}
	return tf, nil
}

func setCustom(tf *metadata.TargetFiles, c TargetCustom) error {
	raw, err := json.Marshal(c)
	if err != nil {
		return err
	}
	custom := json.RawMessage(raw)
	tf.Custom = &custom
	return nil
}

// VerifyTargets checks targets metadata against the trusted root (the
// targets keys and threshold) and returns its targets. Authors' tools use
// it before they trust what a collector serves.
func VerifyTargets(targetsJSON, trustedRoot []byte) (map[string]*metadata.TargetFiles, error) {
	root, err := metadata.Root().FromBytes(trustedRoot)
	if err != nil {
		return nil, fmt.Errorf("trusted root: %w", err)
	}
	t, err := metadata.Targets().FromBytes(targetsJSON)
	if err != nil {
		return nil, fmt.Errorf("targets: %w", err)
	}
	if err := root.VerifyDelegate(metadata.TARGETS, t); err != nil {
		return nil, fmt.Errorf("the repository's targets do not verify against the trusted root: %w", err)
	}
	for n, tf := range t.Signed.Targets {
		tf.Path = n
	}
	return t.Signed.Targets, nil
}

// Baseline returns the version a new release of pack is compared with:
// the newest version listed that is not withdrawn ("" for none).
func Baseline(targets map[string]*metadata.TargetFiles, pack string) (version, name string, err error) {
	return newest(targets, pack, func(c TargetCustom) bool { return c.Withdrawn == nil })
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
	// targets with a new expiry only, or makes the change below.
	Bundle *Bundle
	// Pilot, with Bundle, limits the new version to these practices (ODS
	// codes) until it is promoted.
	Pilot []string
	// Withdraw names a published version of Pack to mark withdrawn, for
	// Reason: agents stop running it and fall back.
	Withdraw, Reason string
	// Promote names a published version of Pack whose pilot ends: every
	// practice may take it.
	Promote string
	// Pack is the pack Withdraw or Promote name a version of.
	Pack string
	Key  ed25519.PrivateKey
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
	ops := 0
	for _, set := range []bool{req.Bundle != nil, req.Withdraw != "", req.Promote != ""} {
		if set {
			ops++
		}
	}
	if ops > 1 {
		return nil, errors.New("sign targets: add a bundle, withdraw a version or promote one: one at a time")
	}
	if len(req.Pilot) > 0 && req.Bundle == nil {
		return nil, errors.New("sign targets: a pilot goes with a new bundle")
	}
	if req.Withdraw != "" || req.Promote != "" {
		if err := changeRelease(next.Signed.Targets, req); err != nil {
			return nil, fmt.Errorf("sign targets: %w", err)
		}
	}
	if req.Bundle != nil {
		tf, err := req.Bundle.TargetFile()
		if err != nil {
			return nil, fmt.Errorf("sign targets: %w", err)
		}
		if len(req.Pilot) > 0 {
			pilot := slices.Clone(req.Pilot)
			slices.Sort(pilot)
			pilot = slices.Compact(pilot)
			if err := CheckPilot(pilot); err != nil {
				return nil, fmt.Errorf("sign targets: %w", err)
			}
			if err := setCustom(tf, TargetCustom{Pack: req.Bundle.Manifest.Pack, Version: req.Bundle.Manifest.Version, Pilot: pilot}); err != nil {
				return nil, fmt.Errorf("sign targets: %w", err)
			}
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

// changeRelease withdraws or promotes a published version in targets.
func changeRelease(targets map[string]*metadata.TargetFiles, req SignRequest) error {
	v := req.Withdraw + req.Promote
	if !ValidPackID(req.Pack) {
		return fmt.Errorf("pack %q is not a pack id", req.Pack)
	}
	if _, err := ParseVersion(v); err != nil {
		return err
	}
	name := TargetName(req.Pack, v)
	tf, ok := targets[name]
	if !ok {
		var listed []string
		rs, _ := Releases(targets, req.Pack)
		for _, r := range rs {
			listed = append(listed, r.Version)
		}
		return fmt.Errorf("%s %s is not published (published: %s)", req.Pack, v, strings.Join(listed, ", "))
	}
	c, err := TargetOf(name, tf)
	if err != nil {
		return err
	}
	switch {
	case req.Withdraw != "":
		if c.Withdrawn != nil {
			return fmt.Errorf("%s %s is already withdrawn (%s)", req.Pack, v, c.Withdrawn.Reason)
		}
		if err := CheckReason(req.Reason); err != nil {
			return err
		}
		now := req.Now
		if now.IsZero() {
			now = time.Now()
		}
		c.Withdrawn = &Withdrawal{Reason: strings.TrimSpace(req.Reason), At: now.UTC().Truncate(time.Second)}
	default:
		if c.Withdrawn != nil {
			return fmt.Errorf("%s %s is withdrawn: it cannot be promoted; publish a new version", req.Pack, v)
		}
		if len(c.Pilot) == 0 {
			return fmt.Errorf("%s %s is not in a pilot: every practice may take it already", req.Pack, v)
		}
		c.Pilot = nil
	}
	return setCustom(tf, c)
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
