package compile

import (
	"context"

	"github.com/nhs-steward/steward/searches/engine"
)

// SetMaxWideColumns lowers the column limit of wide series queries for a
// test, and returns what restores it.
func SetMaxWideColumns(n int) (restore func()) {
	old := maxWideColumns
	maxWideColumns = n
	return func() { maxWideColumns = old }
}

// StorageOptions are the options Evaluate compiles in with, storage hints
// included.
func (e *Engine) StorageOptions(ctx context.Context, in engine.Input) Options {
	return e.options(ctx, in)
}
