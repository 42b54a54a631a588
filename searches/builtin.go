// Package searches holds Steward's standard packs as data, with the
// codelists and reference tables they read, embedded in every binary so
// that `steward run --pack medsip` and a freshly installed agent work with
// no files beside them.
package searches

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/nhs-steward/steward/internal/fsutil"
)

//go:embed packs codelists/*.csv codelists/SOURCES.md reference/ome-*.csv reference/README.md
var builtin embed.FS

// BuiltinPacks lists the names of the embedded packs.
func BuiltinPacks() []string {
	entries, _ := fs.ReadDir(builtin, "packs")
	var out []string
	for _, e := range entries {
		if e.IsDir() {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out
}

// IsBuiltin reports whether name is an embedded pack name (not a path).
func IsBuiltin(name string) bool {
	if strings.ContainsAny(name, `/\.`) {
		return false
	}
	_, err := fs.Stat(builtin, path.Join("packs", name, "pack.yaml"))
	return err == nil
}

// BuiltinPackVersion returns the version of the embedded pack name, as its
// pack.yaml gives it: the version an agent runs when it has no search
// bundle, and the one results documents from it carry.
func BuiltinPackVersion(name string) (string, error) {
	if !IsBuiltin(name) {
		return "", fmt.Errorf("no built-in pack %q (built-in: %s)", name, strings.Join(BuiltinPacks(), ", "))
	}
	b, err := fs.ReadFile(builtin, path.Join("packs", name, "pack.yaml"))
	if err != nil {
		return "", err
	}
	var p struct {
		Version string `yaml:"version"`
	}
	if err := yaml.Unmarshal(b, &p); err != nil || p.Version == "" {
		return "", fmt.Errorf("built-in pack %s: pack.yaml has no version", name)
	}
	return p.Version, nil
}

// ExtractBuiltin writes the embedded tree under dir (once per content
// version: the directory name carries a hash of the content) and returns the
// path of the named pack's directory, ready for lang.LoadPack.
func ExtractBuiltin(name, dir string) (string, error) {
	if !IsBuiltin(name) {
		return "", fmt.Errorf("no built-in pack %q (built-in: %s)", name, strings.Join(BuiltinPacks(), ", "))
	}
	h := sha256.New()
	var files []string
	err := fs.WalkDir(builtin, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		files = append(files, p)
		b, err := fs.ReadFile(builtin, p)
		if err != nil {
			return err
		}
		h.Write([]byte(p))
		h.Write(b)
		return nil
	})
	if err != nil {
		return "", err
	}
	root := filepath.Join(dir, "builtin-"+hex.EncodeToString(h.Sum(nil))[:12])
	done := filepath.Join(root, ".complete")
	if _, err := os.Stat(done); err != nil {
		for _, p := range files {
			b, _ := fs.ReadFile(builtin, p)
			dst := filepath.Join(root, filepath.FromSlash(p))
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				return "", fmt.Errorf("extract built-in packs: %w", err)
			}
			if err := fsutil.WriteFileAtomic(dst, b, 0o644); err != nil {
				return "", fmt.Errorf("extract built-in packs: %w", err)
			}
		}
		if err := fsutil.WriteFileAtomic(done, nil, 0o644); err != nil {
			return "", err
		}
	}
	return filepath.Join(root, "packs", name), nil
}

// CacheDir is where built-in packs are extracted by default.
func CacheDir() string {
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "steward")
	}
	return filepath.Join(os.TempDir(), "steward-cache")
}
