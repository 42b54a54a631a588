package lang

import (
	"fmt"

	"github.com/nhs-steward/steward/searches/model"
	"gopkg.in/yaml.v3"
)

// seriesKeys are the keys of a series: {months: N}.
var seriesKeys = []string{"months"}

const seriesFix = "write series: {months: N}, N a whole number of month ends from 2 to %d, e.g. series: {months: 12}"

// series reads series: {months: N}, the number of month ends ending at the
// as-of date a measure is also evaluated at.
func (l *loader) series(n *yaml.Node, what string) (int, bool) {
	fix := fmt.Sprintf(seriesFix, model.MaxSeriesMonths)
	if n.Kind != yaml.MappingNode {
		l.add(l.pos(n), fix, "%s series must be a mapping such as {months: 12}", what)
		return 0, false
	}
	m, _ := l.fields(n, "a series", seriesKeys...)
	if m == nil {
		return 0, false
	}
	f, has := l.required(m, n, "a series", "months", fix)
	if !has {
		return 0, false
	}
	v, ok := l.integer(f.val, what+" series months")
	if !ok {
		return 0, false
	}
	if v < 2 || v > model.MaxSeriesMonths {
		l.add(l.pos(f.val), fix, "%s series months must be between 2 and %d, not %d", what, model.MaxSeriesMonths, v)
		return 0, false
	}
	return v, true
}
