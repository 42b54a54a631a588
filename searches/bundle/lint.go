package bundle

import (
	"fmt"

	"github.com/nhs-steward/steward/searches/lang"
	"github.com/nhs-steward/steward/searches/model"
)

// Lint loads the pack in packDir with the strict loader and plans every
// search: what `steward search lint` checks, what the collector checks
// before it accepts a bundle, and what the agent checks before a bundle
// may run. The error lists every problem, one a line, as
// file:line:col: what is wrong (how to fix).
func Lint(packDir string) error {
	p, err := lang.LoadPack(packDir)
	if err != nil {
		return err
	}
	for _, s := range p.Searches {
		if _, err := model.Resolve(s); err != nil {
			return fmt.Errorf("search %s: %w", s.ID, err)
		}
	}
	return nil
}
