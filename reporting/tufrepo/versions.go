package tufrepo

import (
	"fmt"
	"slices"

	"github.com/nhs-steward/steward/searches/bundle"
)

// PublishedVersions lists the versions of pack that the repository in dir
// currently offers agents, oldest first (none before the first publish):
// withdrawn versions are left out, versions in a pilot kept.
// It reads the metadata only and needs none of the repository's keys, so
// the collector's commands can ask without opening the repository.
func PublishedVersions(dir, pack string) ([]string, error) {
	r := &Repo{dir: dir}
	if _, _, err := r.latestRoot(); err != nil {
		return nil, fmt.Errorf("read tuf repository %s: %w (create it with `steward-collector tuf init`)", dir, err)
	}
	st, err := r.readState()
	if err != nil {
		return nil, fmt.Errorf("read tuf repository %s: %w", dir, err)
	}
	if st.targets == nil {
		return nil, nil
	}
	var out []string
	for name, tf := range st.targets.Signed.Targets {
		c, err := bundle.TargetOf(name, tf)
		if err != nil || c.Pack != pack || c.Withdrawn != nil {
			continue
		}
		out = append(out, c.Version)
	}
	slices.SortFunc(out, func(a, b string) int {
		c, _ := bundle.CompareVersions(a, b)
		return c
	})
	return out, nil
}

// Releases returns the authors' decisions on every version of pack the
// repository lists (pilot, withdrawal), oldest first; none before the
// first publish.
func (r *Repo) Releases(pack string) ([]bundle.TargetCustom, error) {
	st, err := r.readState()
	if err != nil {
		return nil, fmt.Errorf("read tuf repository: %w", err)
	}
	if st.targets == nil {
		return nil, nil
	}
	return bundle.Releases(st.targets.Signed.Targets, pack)
}
