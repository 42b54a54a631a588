package lang

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/nhs-steward/steward/searches/model"
)

// Error is one problem in a search, pack or CSV file: where it is, what is
// wrong and, when there is one, how to fix it.
type Error struct {
	Pos model.Pos
	Msg string
	Fix string
}

// Error formats the problem as file:line:col: what is wrong (how to fix).
func (e Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Pos.String())
	b.WriteString(": ")
	b.WriteString(e.Msg)
	if e.Fix != "" {
		b.WriteString(" (")
		b.WriteString(e.Fix)
		b.WriteString(")")
	}
	return b.String()
}

// Errors is every problem found in one load, sorted by position. Loaders
// return it as their error; use errors.As to get at the list.
type Errors []Error

// Error prints one problem a line.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// sortErrors orders problems by file, line and column and drops exact
// duplicates (a pack may report a shared file's problem twice).
func sortErrors(es Errors) Errors {
	slices.SortStableFunc(es, func(a, b Error) int {
		return cmp.Or(
			cmp.Compare(a.Pos.File, b.Pos.File),
			cmp.Compare(a.Pos.Line, b.Pos.Line),
			cmp.Compare(a.Pos.Col, b.Pos.Col),
		)
	})
	return slices.Compact(es)
}

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
