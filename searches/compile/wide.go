package compile

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/nhs-steward/steward/searches/model"
	"github.com/nhs-steward/steward/searches/profile"
)

// Wide series: a plan's measures at each of several as-of dates in one
// query whose passes keep one row per patient.
//
// The query of one as-of date is compiled for every date of the series,
// as for a long series (series.go), with two differences: each source
// pass reads the rows of every date (the envelope) and each aggregate
// bounds its own rows, and each pass counts the rows of its date. A
// column of a CTE whose text holds a parameter that varies with the date,
// or reads such a column, is then written once per date (name_p<k>, with
// that date's parameters); every other column once. The final SELECT
// gives every figure of every date in one row. Against a long series query
// (a row per patient and date in reg, pat and val, grouped by date at the
// end) this writes more columns and far fewer rows: no pass but the source
// passes' own reads a row per date.

// maxWideColumns is the most columns any SELECT of a wide query may have
// (PostgreSQL takes 1,664 in a target list, SQLite 2,000 by default).
var maxWideColumns = 1500

// tooWideError is returned by wideSQL when a SELECT would have more than
// maxWideColumns columns; fit is how many dates would fit.
type tooWideError struct{ fit int }

func (e *tooWideError) Error() string {
	return fmt.Sprintf("compile: a wide series query of so many dates has too many columns (%d dates fit)", e.fit)
}

var (
	// qualified matches a qualified column reference, alias.column.
	qualified = regexp.MustCompile(`\b([A-Za-z_]\w*)\.([A-Za-z_]\w*)\b`)
	// fromCTE matches a table (a CTE) read under an alias.
	fromCTE = regexp.MustCompile(`\b(?:FROM|JOIN) (\w+) AS (\w+)\b`)
	// aliased matches an item of a SELECT list with its alias.
	aliased = regexp.MustCompile(`(?s)^(.*) AS (\w+)$`)
	// bareColumn matches an item that is a qualified column alone.
	bareColumn = regexp.MustCompile(`^\w+\.(\w+)$`)
)

// itemSep separates the items of the SELECT list of a CTE the compiler
// writes; finalSep those of the final SELECT.
const (
	itemSep  = ",\n           "
	finalSep = ",\n       "
)

// wideSQL compiles the wide series query of plan at asOfs. It returns
// ErrNoSinglePass when the query cannot be wide (a parameter varying with
// the date outside a column: a window in a ranked row's pass, the as-of
// date inside a table's SQL) and a *tooWideError when a SELECT would have
// too many columns.
func wideSQL(plan *model.Plan, d Dialect, prof *profile.Profile, opts Options, asOfs []time.Time) (*Statement, error) {
	pts, lk, err := compilePoints(plan, d, prof, opts, asOfs, func(c *compiler) { c.wide = true })
	if err != nil {
		return nil, err
	}
	q0, ctes0 := pts[0].q, pts[0].ctes
	first := pts[0].c
	n := len(first.b.params)
	varying := make([]bool, n)
	for i := 0; i < n; i++ {
		p0 := first.b.params[i]
		for _, pt := range pts[1:] {
			p := pt.c.b.params[i]
			if p.Kind != p0.Kind {
				return nil, ErrNoSinglePass
			}
			if valueKey(p) != valueKey(p0) && !first.lows[i] && !first.highs[i] {
				varying[i] = true
			}
		}
	}
	w := &wideQuery{pts: pts, varying: varying, b: NewBinder(d), cols: map[string]map[string]bool{}, copies: map[string]bool{}}

	var ctes []cte
	for _, t := range ctes0 {
		if t.perDate && w.perDate(t.body) {
			// Its rows depend on the date (the patients' SQL reads the
			// as-of date): a copy per date, each read under its own alias.
			for k := range pts {
				body, err := w.subst(t.body, k, nil)
				if err != nil {
					return nil, err
				}
				ctes = append(ctes, cte{name: t.name + "_p" + strconv.Itoa(k), body: body, materialized: t.materialized})
			}
			w.copies[t.name] = true
			continue
		}
		body, cols, err := w.cte(t.body)
		if err != nil {
			return nil, fmt.Errorf("CTE %s: %w", t.name, err)
		}
		w.cols[t.name] = cols
		ctes = append(ctes, cte{name: t.name, body: body, materialized: t.materialized})
	}

	// The final SELECT: each figure once when it is the same at every
	// date, else once per date.
	reads := w.reads("FROM val AS v")
	points := make([][]int, len(pts))
	for k := range points {
		points[k] = make([]int, len(q0.sel))
	}
	var sel, names []string
	for i, s := range q0.sel {
		name := outputName(plan, q0.outs[i])
		if !w.wideExpr(s, reads) {
			text, err := w.subst(s, 0, nil)
			if err != nil {
				return nil, err
			}
			for k := range points {
				points[k][i] = len(sel)
			}
			sel, names = append(sel, text), append(names, name)
			continue
		}
		for k := range pts {
			text, err := w.subst(s, k, reads)
			if err != nil {
				return nil, err
			}
			points[k][i] = len(sel)
			sel, names = append(sel, text), append(names, name+"_p"+strconv.Itoa(k))
		}
	}
	if len(sel) > maxWideColumns {
		return nil, w.tooWide(len(sel))
	}
	var b strings.Builder
	b.WriteString(first.with(ctes))
	b.WriteString("SELECT ")
	for i, s := range sel {
		if i > 0 {
			b.WriteString(finalSep)
		}
		fmt.Fprintf(&b, "%s AS %s", s, names[i])
	}
	b.WriteString("\nFROM val AS v")
	first.b = w.b
	st, err := first.finish(b.String(), lk, names, q0.outs, nil)
	if err != nil {
		return nil, err
	}
	st.points = points
	return st, nil
}

// wideQuery is a wide series query being written.
type wideQuery struct {
	pts     []point
	varying []bool // parameter -> its value varies with the date
	b       *Binder
	// cols are the columns of each CTE written once per date; copies the
	// CTEs written once per date whole (name_p<k>).
	cols   map[string]map[string]bool
	copies map[string]bool
	// copied are the aliases of copies the CTE being rewritten reads.
	copied map[string]bool
}

// perDate reports whether a CTE must be written once per date whole: its
// SELECT list is the same at every date but its FROM is not (a table's SQL
// reads the as-of date), and it reads no column written per date. Only a
// CTE that allows it (cte.perDate: the patients, px) is copied: a copy of
// a pass over issues or events would read the table again at every date,
// where the long query reads it once.
func (w *wideQuery) perDate(body string) bool {
	from := strings.Index(body, "\n    FROM ")
	if !strings.HasPrefix(body, "SELECT ") || from < 0 {
		return false
	}
	reads := w.reads(body)
	return !w.wideExpr(body[:from], reads) && w.wideExpr(body[from:], nil) && !w.readsWide(body, reads)
}

// joinCopy matches a join to a CTE on one line: its table, alias and
// condition.
var joinCopy = regexp.MustCompile(`\n    (LEFT JOIN|JOIN) (\w+) AS (\w+) ON ([^\n]*)`)

// joinCopies writes each join of tail to a CTE written once per date once
// per date, alias_p<k> reading name_p<k>.
func (w *wideQuery) joinCopies(tail string) string {
	return joinCopy.ReplaceAllStringFunc(tail, func(j string) string {
		m := joinCopy.FindStringSubmatch(j)
		if !w.copies[m[2]] {
			return j
		}
		var b strings.Builder
		for k := range w.pts {
			p := "_p" + strconv.Itoa(k)
			on := strings.ReplaceAll(m[4], m[3]+".", m[3]+p+".")
			fmt.Fprintf(&b, "\n    %s %s AS %s ON %s", m[1], m[2]+p, m[3]+p, on)
		}
		return b.String()
	})
}

// tooWide is the error of a SELECT of n columns.
func (w *wideQuery) tooWide(n int) error {
	return &tooWideError{fit: max(1, len(w.pts)*maxWideColumns/n)}
}

// reads maps each alias under which text reads a CTE with columns written
// per date to those columns.
func (w *wideQuery) reads(text string) map[string]map[string]bool {
	out := map[string]map[string]bool{}
	for _, m := range fromCTE.FindAllStringSubmatch(text, -1) {
		if cols := w.cols[m[1]]; len(cols) > 0 {
			out[m[2]] = cols
		}
	}
	return out
}

// wideExpr reports whether text must be written once per date: it holds
// a parameter varying with the date or reads a column written per date.
func (w *wideQuery) wideExpr(text string, reads map[string]map[string]bool) bool {
	for _, i := range tokensIn(text) {
		if i < len(w.varying) && w.varying[i] {
			return true
		}
	}
	return w.readsWide(text, reads)
}

// readsWide reports whether text reads a column written per date.
func (w *wideQuery) readsWide(text string, reads map[string]map[string]bool) bool {
	for _, m := range qualified.FindAllStringSubmatch(text, -1) {
		if reads[m[1]][m[2]] || w.copied[m[1]] {
			return true
		}
	}
	return false
}

// subst is text at date k: its parameters bound to their values at k (the
// envelope's for the bounds of a pass), and its reads of columns written
// per date (reads) of date k.
func (w *wideQuery) subst(text string, k int, reads map[string]map[string]bool) (string, error) {
	if reads != nil {
		text = qualified.ReplaceAllStringFunc(text, func(ref string) string {
			m := qualified.FindStringSubmatch(ref)
			switch {
			case w.copied[m[1]]:
				return m[1] + "_p" + strconv.Itoa(k) + "." + m[2]
			case reads[m[1]][m[2]]:
				return ref + "_p" + strconv.Itoa(k)
			}
			return ref
		})
	}
	first := w.pts[0].c
	var out strings.Builder
	for {
		i := strings.IndexByte(text, 0)
		if i < 0 {
			out.WriteString(text)
			return out.String(), nil
		}
		j := strings.IndexByte(text[i+1:], 0)
		if j < 0 {
			return "", fmt.Errorf("compile: unterminated parameter token")
		}
		idx, err := strconv.Atoi(text[i+1 : i+1+j])
		if err != nil || idx < 0 || idx >= len(w.varying) {
			return "", fmt.Errorf("compile: bad parameter token")
		}
		out.WriteString(text[:i])
		if first.lows[idx] || first.highs[idx] {
			out.WriteString(w.b.Bind(ArgDate, envelopeDate(w.pts, idx, first.lows[idx])))
		} else {
			p := w.pts[k].c.b.params[idx]
			out.WriteString(w.b.Bind(p.Kind, p.Value))
		}
		text = text[i+1+j+1:]
	}
}

// cte rewrites the body of a CTE for every date: unchanged (its
// parameters bound) when nothing in it varies with the date, else its
// SELECT list with each varying column once per date. It returns the
// columns written per date.
func (w *wideQuery) cte(body string) (string, map[string]bool, error) {
	reads := w.reads(body)
	// Every column read under the alias of a CTE copied per date differs
	// by date.
	w.copied = map[string]bool{}
	for _, m := range joinCopy.FindAllStringSubmatch(body, -1) {
		if w.copies[m[2]] {
			w.copied[m[3]] = true
		}
	}
	defer func() { w.copied = nil }()
	if !w.wideExpr(body, reads) {
		out, err := w.subst(body, 0, nil)
		return out, nil, err
	}
	from := strings.Index(body, "\n    FROM ")
	if !strings.HasPrefix(body, "SELECT ") || from < 0 {
		return "", nil, ErrNoSinglePass
	}
	list, tail := body[len("SELECT "):from], body[from:]
	tail = w.joinCopies(tail)
	if w.wideExpr(tail, reads) {
		// A date inside the FROM or WHERE: a pass per date.
		return "", nil, ErrNoSinglePass
	}
	cols := map[string]bool{}
	var items []string
	for _, item := range strings.Split(list, itemSep) {
		// A comment line naming an aggregate stays before its first copy.
		var comment string
		for strings.HasPrefix(item, "--") {
			nl := strings.Index(item, "\n")
			if nl < 0 {
				return "", nil, ErrNoSinglePass
			}
			comment += item[:nl] + "\n           "
			item = strings.TrimLeft(item[nl+1:], " ")
		}
		expr, name := item, ""
		if m := aliased.FindStringSubmatch(item); m != nil {
			expr, name = m[1], m[2]
		} else if m := bareColumn.FindStringSubmatch(item); m != nil {
			name = m[1]
		} else {
			return "", nil, ErrNoSinglePass
		}
		if !w.wideExpr(expr, reads) {
			text, err := w.subst(item, 0, nil)
			if err != nil {
				return "", nil, err
			}
			items = append(items, comment+text)
			continue
		}
		cols[name] = true
		for k := range w.pts {
			text, err := w.subst(expr, k, reads)
			if err != nil {
				return "", nil, err
			}
			items = append(items, comment+text+" AS "+name+"_p"+strconv.Itoa(k))
			comment = ""
		}
	}
	if len(items) > maxWideColumns {
		return "", nil, w.tooWide(len(items))
	}
	tail, err := w.subst(tail, 0, nil)
	if err != nil {
		return "", nil, err
	}
	return "SELECT " + strings.Join(items, itemSep) + tail, cols, nil
}
