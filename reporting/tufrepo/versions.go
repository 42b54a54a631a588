package tufrepo

import (
	"fmt"
	"slices"

	"github.com/nhs-steward/steward/searches/bundle"
)

// PublishedVersions lists the versions of pack that the repository in dir
// currently offers agents, oldest first (none before the first publish).
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
		if err != nil || c.Pack != pack {
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
