package compile

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/nhs-steward/steward/searches/model"
)

// Statement is the SQL of one evaluation: setup statements, the query and
// teardown statements, all run on one connection.
type Statement struct {
	Dialect  Dialect
	Profile  string
	Setup    []Exec
	Query    Exec
	Teardown []Exec
	// Columns names the query's result columns.
	Columns []string

	outputs []output // how Evaluate fills a Result from the row
	types   []model.Type
	// points are, for a wide series query, the column of each output at
	// each date (its one row holds every date's figures).
	points [][]int
}

// finish binds the parameters of a query text and returns its statement.
func (c *compiler) finish(text string, lk *Lookups, cols []string, outs []output, types []model.Type) (*Statement, error) {
	q, err := c.b.Finish(text)
	if err != nil {
		return nil, err
	}
	return &Statement{
		Dialect: c.d, Profile: c.prof.Name,
		Setup: lk.Setup, Query: q, Teardown: lk.Teardown,
		Columns: cols, outputs: outs, types: types,
	}, nil
}

// maxParamComments is how many parameters of one statement String lists;
// the rest are summarised (a SQL Server batch of codes has 2,000).
const maxParamComments = 40

// String renders every statement in run order, each followed by its
// parameters as comments, for `steward search sql`.
func (s *Statement) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "-- dialect: %s, profile: %s\n", s.Dialect.Name(), s.Profile)
	n := len(s.Setup) + 1 + len(s.Teardown)
	i := 0
	write := func(what string, e Exec) {
		i++
		if n > 1 {
			fmt.Fprintf(&b, "\n-- statement %d of %d: %s\n", i, n, what)
		}
		b.WriteString(e.SQL)
		b.WriteString(";\n")
		writeParams(&b, s.Dialect, e)
	}
	for _, e := range s.Setup {
		write("setup", e)
	}
	write("query", s.Query)
	for _, e := range s.Teardown {
		write("teardown", e)
	}
	return b.String()
}

func writeParams(b *strings.Builder, d Dialect, e Exec) {
	if len(e.Params) == 0 {
		return
	}
	b.WriteString("-- parameters:\n")
	for i, p := range e.Params {
		if i == maxParamComments && len(e.Params) > maxParamComments+1 {
			fmt.Fprintf(b, "--   ... and %d more\n", len(e.Params)-i)
			break
		}
		fmt.Fprintf(b, "--   %s = %s (%s)\n", strings.TrimSpace(placeholderName(d, i+1, p.Kind)), describe(p), p.Kind)
	}
}

// placeholderName is the bare placeholder, without a cast.
func placeholderName(d Dialect, n int, k ArgKind) string {
	ph := d.Placeholder(n, k)
	if strings.HasPrefix(ph, "CAST(") {
		if i := strings.Index(ph, " AS "); i > 0 {
			return ph[len("CAST("):i]
		}
	}
	return ph
}

func describe(p Param) string {
	switch v := p.Value.(type) {
	case time.Time:
		return v.Format(time.DateOnly)
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64)
	case int64:
		return strconv.FormatInt(v, 10)
	case string:
		q := strconv.Quote(v)
		if utf8.RuneCountInString(q) > 120 {
			return fmt.Sprintf("%s... (%d characters)", q[:100], len(v))
		}
		return q
	case []string:
		return fmt.Sprintf("array of %d", len(v))
	case []int32:
		return fmt.Sprintf("array of %d", len(v))
	case []float64:
		return fmt.Sprintf("array of %d", len(v))
	}
	return fmt.Sprintf("%v", p.Value)
}
