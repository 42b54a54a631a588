package lang

import (
	"fmt"
	"strings"

	"github.com/nhs-steward/steward/internal/diag"
	"github.com/nhs-steward/steward/searches/model"
)

// Error is one problem in a search, pack or CSV file: where it is, what is
// wrong and, when there is one, how to fix it. It is the diagnostic every
// loader shares.
type Error = diag.Problem

// Errors is every problem found in one load, sorted by position. Loaders
// return it as their error; use errors.As to get at the list.
type Errors = diag.Problems

// sortErrors orders problems by file, line and column and drops exact
// duplicates (a pack may report a shared file's problem twice).
func sortErrors(es Errors) Errors { return es.Sorted() }

// errs collects problems.
type errs struct {
	all Errors
}

func (c *errs) add(p model.Pos, fix, format string, a ...any) {
	c.all = append(c.all, Error{Pos: p, Msg: oneLine.Replace(fmt.Sprintf(format, a...)), Fix: oneLine.Replace(fix)})
}

// oneLine writes the line breaks a quoted CSV field or YAML string may hold
// as \n and \r, so that each problem prints on one line.
var oneLine = strings.NewReplacer("\r", `\r`, "\n", `\n`)

func (c *errs) result() error {
	if len(c.all) == 0 {
		return nil
	}
	return sortErrors(c.all)
}
