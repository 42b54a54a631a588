// Package catalogue tells the collector what the results documents of each
// pack version hold (results.PackSpec: measure ids, kinds, titles, scales,
// strata, searches, parameters and references), so that a submission is
// held to the pack it names instead of being trusted. It knows the packs
// built into this binary (searches.Builtin) and every bundle the
// collector's search-bundle repository holds (reporting/tufrepo), read with
// the same loader the agent runs them with.
package catalogue

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/nhs-steward/steward/reporting/measures"
	"github.com/nhs-steward/steward/reporting/results"
	"github.com/nhs-steward/steward/reporting/tufrepo"
	"github.com/nhs-steward/steward/searches"
	"github.com/nhs-steward/steward/searches/bundle"
	"github.com/nhs-steward/steward/searches/lang"
)

// Source is a search-bundle repository: *tufrepo.Repo.
type Source interface {
	StoredBundles() ([]tufrepo.StoredBundle, error)
	ReadStoredBundle(tufrepo.StoredBundle) ([]byte, error)
}

var _ Source = (*tufrepo.Repo)(nil)

type key struct{ id, version string }

// Catalogue maps pack id and version to what its documents hold. It is
// safe for concurrent use.
type Catalogue struct {
	src Source // nil: built-in packs only
	log *slog.Logger

	mu      sync.Mutex
	bundles map[key]*results.PackSpec
	failed  map[string]error // stored bundles that did not load, by SHA-256
}

// New returns a catalogue of the built-in packs and, when src is not nil,
// of the bundles src holds (read when first asked for, so a bundle
// published while the collector runs is known at once). log may be nil.
func New(src Source, log *slog.Logger) *Catalogue {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Catalogue{src: src, log: log, bundles: map[key]*results.PackSpec{}, failed: map[string]error{}}
}

// builtin loads the packs compiled into the binary, once per process.
var builtin = sync.OnceValues(func() (map[key]*results.PackSpec, error) {
	tmp, err := os.MkdirTemp("", "steward-catalogue-")
	if err != nil {
		return nil, fmt.Errorf("built-in packs: %w", err)
	}
	defer os.RemoveAll(tmp)
	out := map[key]*results.PackSpec{}
	for _, name := range searches.BuiltinPacks() {
		dir, err := searches.ExtractBuiltin(name, tmp)
		if err != nil {
			return nil, fmt.Errorf("built-in pack %s: %w", name, err)
		}
		p, err := lang.LoadPack(dir)
		if err != nil {
			return nil, fmt.Errorf("built-in pack %s: %w", name, err)
		}
		s := measures.Spec(p)
		out[key{s.ID, s.Version}] = s
	}
	return out, nil
})

// Lookup returns what documents of pack id at version hold. A version the
// collector does not know gives an error wrapping results.ErrUnknownPack
// that names the versions it knows and the fix; any other error means a
// pack it holds could not be read.
func (c *Catalogue) Lookup(id, version string) (*results.PackSpec, error) {
	bi, err := builtin()
	if err != nil {
		return nil, err
	}
	k := key{id, version}
	if s, ok := bi[k]; ok {
		return s, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.bundles[k]; ok {
		return s, nil
	}
	var stored []tufrepo.StoredBundle
	if c.src != nil {
		if stored, err = c.src.StoredBundles(); err != nil {
			return nil, fmt.Errorf("pack catalogue: %w", err)
		}
	}
	for _, b := range stored {
		if b.Pack != id || b.Version != version {
			continue
		}
		if err, ok := c.failed[b.SHA256]; ok {
			return nil, err
		}
		s, err := c.load(b)
		if err != nil {
			err = fmt.Errorf("pack catalogue: stored bundle %s %s: %w", b.Pack, b.Version, err)
			c.failed[b.SHA256] = err
			c.log.Error("a stored search bundle does not load: submissions of its version are refused until it does",
				"pack", b.Pack, "version", b.Version, "err", err)
			return nil, err
		}
		c.bundles[k] = s
		c.log.Info("pack version added to the catalogue", "pack", id, "version", version, "measures", len(s.Measures))
		return s, nil
	}
	return nil, c.unknown(id, version, bi, stored)
}

func (c *Catalogue) unknown(id, version string, bi map[key]*results.PackSpec, stored []tufrepo.StoredBundle) error {
	var known []string
	for k := range bi {
		if k.id == id {
			known = append(known, k.version)
		}
	}
	for _, b := range stored {
		if b.Pack == id && !slices.Contains(known, b.Version) {
			known = append(known, b.Version)
		}
	}
	slices.SortFunc(known, func(a, b string) int {
		if n, err := bundle.CompareVersions(a, b); err == nil {
			return n
		}
		return strings.Compare(a, b)
	})
	have := "no version of " + id
	if len(known) > 0 {
		have = id + " " + strings.Join(known, ", ")
	}
	fix := "publish its bundle to this collector (steward search publish), or run a version it knows"
	if c.src == nil {
		fix = "publish its bundle to this collector's search-bundle repository (tuf_repository; steward search publish), or run a version it knows"
	}
	return fmt.Errorf("%w: this collector does not know %s %s (it knows %s): %s", results.ErrUnknownPack, id, version, have, fix)
}

// load extracts a stored bundle into a scratch folder and loads its pack.
func (c *Catalogue) load(b tufrepo.StoredBundle) (*results.PackSpec, error) {
	tgz, err := c.src.ReadStoredBundle(b)
	if err != nil {
		return nil, err
	}
	scratch, err := os.MkdirTemp("", "steward-catalogue-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(scratch)
	root := filepath.Join(scratch, "b")
	if err := bundle.Extract(tgz, root); err != nil {
		return nil, err
	}
	m, err := bundle.ReadManifest(root)
	if err != nil {
		return nil, err
	}
	p, err := lang.LoadPack(m.PackDirIn(root))
	if err != nil {
		return nil, err
	}
	if p.ID != b.Pack || p.Version != b.Version {
		return nil, fmt.Errorf("the pack inside is %s %s", p.ID, p.Version)
	}
	return measures.Spec(p), nil
}
