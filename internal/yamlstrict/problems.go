package yamlstrict

import (
	"fmt"
	"sort"
	"strings"
)

// Problem is one thing wrong with a hand-written file, at a line and
// column, with how to fix it.
type Problem struct {
	Line, Col int
	Msg, Fix  string
}

// Problems is every problem found in one file in one pass; its Error
// prints one a line as file:line:col: problem (fix).
type Problems struct {
	File string
	List []Problem
}

func (e *Problems) Error() string {
	var b strings.Builder
	for i, q := range e.List {
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "%s:%d:%d: %s", e.File, q.Line, q.Col, q.Msg)
		if q.Fix != "" {
			fmt.Fprintf(&b, " (%s)", q.Fix)
		}
	}
	return b.String()
}

// Sort puts the problems in file order (line, then column), keeping the
// order of problems at the same place.
func (e *Problems) Sort() {
	sort.SliceStable(e.List, func(i, j int) bool {
		a, b := e.List[i], e.List[j]
		return a.Line < b.Line || a.Line == b.Line && a.Col < b.Col
	})
}
