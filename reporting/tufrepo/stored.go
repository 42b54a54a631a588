package tufrepo

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
)

// StoredBundle is a bundle file the repository holds: published now, or
// once and since dropped from the targets (agents may still run it).
type StoredBundle struct {
	Pack, Version string
	SHA256        string // hex, as in the file name
	path          string
}

var (
	storedNameRE = regexp.MustCompile(`^([0-9a-f]{64})\.([0-9][0-9.]*)\.tar\.gz$`)
	packDirRE    = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)
)

// StoredBundles lists every bundle under the repository's targets folder,
// by pack and then by file name. Only Publish writes there, after checking
// the authors' signatures and the bundle.
func (r *Repo) StoredBundles() ([]StoredBundle, error) {
	packs, err := os.ReadDir(filepath.Join(r.dir, targetsDir))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list stored bundles: %w", err)
	}
	var out []StoredBundle
	for _, p := range packs {
		if !p.IsDir() || !packDirRE.MatchString(p.Name()) {
			continue
		}
		files, err := os.ReadDir(filepath.Join(r.dir, targetsDir, p.Name()))
		if err != nil {
			return nil, fmt.Errorf("list stored bundles: %w", err)
		}
		for _, f := range files {
			m := storedNameRE.FindStringSubmatch(f.Name())
			if m == nil || !f.Type().IsRegular() {
				continue
			}
			out = append(out, StoredBundle{Pack: p.Name(), Version: m[2], SHA256: m[1],
				path: filepath.Join(r.dir, targetsDir, p.Name(), f.Name())})
		}
	}
	slices.SortFunc(out, func(a, b StoredBundle) int {
		return cmp.Or(cmp.Compare(a.Pack, b.Pack), cmp.Compare(a.path, b.path))
	})
	return out, nil
}

// ReadStoredBundle reads a stored bundle and checks it against the SHA-256
// its name carries.
func (r *Repo) ReadStoredBundle(b StoredBundle) ([]byte, error) {
	tgz, err := os.ReadFile(b.path)
	if err != nil {
		return nil, fmt.Errorf("read stored bundle %s %s: %w", b.Pack, b.Version, err)
	}
	sum := sha256.Sum256(tgz)
	if hex.EncodeToString(sum[:]) != b.SHA256 {
		return nil, fmt.Errorf("stored bundle %s %s (%s) does not match the SHA-256 in its name", b.Pack, b.Version, filepath.Base(b.path))
	}
	return tgz, nil
}
