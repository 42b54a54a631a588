package lang

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/nhs-steward/steward/internal/yamlstrict"
	"github.com/nhs-steward/steward/searches/model"
)

// DefaultAgeBands are the age band lower bounds used when a search has no
// age_bands: 18-39, 40-64, 65-79 and 80+.
var DefaultAgeBands = []int{18, 40, 65, 80}

var searchKeys = []string{"steward", "id", "title", "description", "parameters", "codelists", "references", "age_bands", "variables", "measures", "worklist", "series"}

// builtins are the names an expression may use without defining them.
var builtins = []string{"registered", "age", "registration_start", "joined_practice", "as_of", "baseline"}

// reserved names cannot be variables: built-ins and expression keywords.
var reserved = map[string]string{
	"registered":         "a built-in",
	"age":                "a built-in",
	"params":             "reserved for parameters (params.NAME)",
	"registration_start": "a built-in",
	"joined_practice":    "a built-in",
	"as_of":              "the run's as-of date",
	"baseline":           "the run's baseline date",
	"date":               "a function",
	"days_between":       "a function",
	"age_at":             "a function",
	"and":                "an expression keyword",
	"or":                 "an expression keyword",
	"not":                "an expression keyword",
	"true":               "an expression keyword",
	"false":              "an expression keyword",
}

// loader decodes one search.
type loader struct {
	*doc
	s *model.Search

	params    map[string]*model.Parameter
	codelists map[string]*model.Codelist
	refs      map[string]*model.Reference
	// broken holds every name that failed to load, so that its uses
	// report nothing more.
	broken map[string]bool

	// Variables: every declared name with its index and key, the ones
	// defined so far, and the index of the one being defined (-1 after the
	// variables section: every variable is visible).
	varIndex map[string]int
	varKey   map[string]*yaml.Node
	vars     map[string]*model.Variable
	current  int
	curName  string

	measureIDs map[string]*yaml.Node
}

func (d *doc) search(top *yaml.Node) *model.Search {
	if !d.header(top, VersionSearch) {
		return nil
	}
	l := &loader{
		doc:        d,
		s:          &model.Search{Pos: d.pos(top), AgeBands: slices.Clone(DefaultAgeBands)},
		params:     map[string]*model.Parameter{},
		codelists:  map[string]*model.Codelist{},
		refs:       map[string]*model.Reference{},
		broken:     map[string]bool{},
		varIndex:   map[string]int{},
		varKey:     map[string]*yaml.Node{},
		vars:       map[string]*model.Variable{},
		current:    -1,
		measureIDs: map[string]*yaml.Node{},
	}
	m, _ := d.fields(top, "a search", searchKeys...)
	if f, ok := d.required(m, top, "a search", "id", "add id: followed by the search's name, e.g. id: medsip"); ok {
		l.s.ID, _ = d.ident(f.val, "search id")
	}
	if f, ok := m["title"]; ok {
		l.s.Title, _ = d.text(f.val, "title")
	}
	if f, ok := m["description"]; ok {
		l.s.Description, _ = d.text(f.val, "description")
	}
	if f, ok := m["parameters"]; ok {
		l.parameters(f.val)
	}
	if f, ok := m["codelists"]; ok {
		l.loadCodelists(f.val)
	}
	if f, ok := m["references"]; ok {
		l.loadReferences(f.val)
	}
	if f, ok := m["age_bands"]; ok {
		l.ageBands(f.val)
	}
	if f, ok := m["series"]; ok {
		l.s.Series, _ = l.series(f.val, "the search's")
	}
	if f, ok := m["measures"]; ok {
		l.prescanMeasures(f.val)
	}
	if f, ok := m["variables"]; ok {
		l.variables(f.val)
	}
	_, hasMeasures := m["measures"]
	_, hasWorklist := m["worklist"]
	if f, ok := m["measures"]; ok {
		l.measures(f.val)
	}
	if f, ok := m["worklist"]; ok {
		l.worklist(f.key, f.val)
	}
	if m != nil && !hasMeasures && !hasWorklist {
		d.add(d.pos(top), "add measures: (figures that may be published) or a local worklist:", "a search needs measures: or a worklist:")
	}
	return l.s
}

func (l *loader) parameters(n *yaml.Node) {
	for _, p := range l.pairs(n, "parameters") {
		name, ok := l.ident(p.key, "parameter name")
		if !ok {
			continue
		}
		what := "parameter " + name
		m, _ := l.fields(p.val, what, "default", "description")
		if m == nil {
			l.broken["params."+name] = true
			continue
		}
		par := &model.Parameter{Name: name, Pos: l.pos(p.key)}
		f, ok := l.required(m, p.val, what, "default", "add default: with the value used when a run does not override it")
		if ok {
			par.Default, ok = l.number(f.val, what+" default")
		}
		if d, has := m["description"]; has {
			par.Description, _ = l.text(d.val, what+" description")
		}
		if !ok {
			l.broken["params."+name] = true
			continue
		}
		l.params[name] = par
		l.s.Parameters = append(l.s.Parameters, par)
	}
}

func (l *loader) ageBands(n *yaml.Node) {
	items, ok := l.list(n, "age_bands")
	if !ok {
		return
	}
	if len(items) == 0 {
		l.add(l.pos(n), "remove age_bands: to use the default [18, 40, 65, 80]", "age_bands is empty")
		return
	}
	var bands []int
	for i, item := range items {
		v, ok := l.integer(item, "an age band")
		if !ok {
			return
		}
		switch {
		case v < 1 || v > 150:
			l.add(l.pos(item), "age bands are lower bounds in years, between 1 and 150", "age band %d is out of range", v)
			return
		case i > 0 && v <= bands[i-1]:
			l.add(l.pos(item), "list the lower bounds in ascending order, e.g. [18, 40, 65, 80]", "age band %d is not above the one before it (%d)", v, bands[i-1])
			return
		}
		bands = append(bands, v)
	}
	l.s.AgeBands = bands
}

func (l *loader) variables(n *yaml.Node) {
	pairs := l.pairs(n, "variables")
	for i, p := range pairs {
		if _, dup := l.varIndex[p.key.Value]; !dup {
			l.varIndex[p.key.Value] = i
			l.varKey[p.key.Value] = p.key
		}
	}
	for i, p := range pairs {
		l.current, l.curName = i, p.key.Value
		name, ok := l.ident(p.key, "variable name")
		if ok && reserved[name] != "" {
			l.add(l.pos(p.key), "rename the variable", "variable name %q is %s", name, reserved[name])
			ok = false
		}
		var e model.Expr
		switch {
		case p.val.Kind == yaml.MappingNode:
			e = l.aggregate(p.val, "variable "+p.key.Value)
		case p.val.Kind == yaml.ScalarNode && p.val.Tag != "!!null":
			e = l.expr(p.val, "variable "+p.key.Value, 0)
		default:
			l.add(l.pos(p.val), "write an expression such as registered and age >= 18, or an aggregate such as exists: {issues: opioids, window: {months: 3}}", "variable %s must be an expression or an aggregate, not %s", p.key.Value, yamlstrict.Describe(p.val))
		}
		if !ok || e == nil {
			l.broken[p.key.Value] = true
			continue
		}
		v := &model.Variable{Name: name, Expr: e, Pos: l.pos(p.key)}
		l.vars[name] = v
		l.s.Variables = append(l.s.Variables, v)
	}
	l.current, l.curName = -1, ""
}

func (l *loader) worklist(key, n *yaml.Node) {
	m, _ := l.fields(n, "the worklist", "local_only", "title", "where", "columns")
	if m == nil {
		return
	}
	w := &model.Worklist{Pos: l.pos(key)}
	const why = "a worklist names patients, so it never leaves the practice: the author states this with local_only: true"
	if f, ok := m["local_only"]; !ok {
		l.add(l.pos(key), why, "the worklist needs local_only: true")
	} else if v, ok := l.boolean(f.val, "local_only"); ok && !v {
		l.add(l.pos(f.val), why+"; figures to publish are measures", "worklist local_only must be true")
	}
	if f, ok := m["title"]; ok {
		w.Title, _ = l.text(f.val, "worklist title")
	}
	if f, ok := l.required(m, n, "the worklist", "where", "add where: with the patients to list, e.g. where: long_term and not reviewed"); ok {
		w.Where = l.expr(f.val, "worklist where", model.Bool)
	}
	if f, ok := m["columns"]; ok {
		for _, c := range l.pairs(f.val, "worklist columns") {
			name, ok := l.ident(c.key, "worklist column name")
			if ok && name == "patient_id" {
				l.add(l.pos(c.key), "the patient id is always the first column: remove this one or rename it", "worklist column name %q is reserved", name)
				continue
			}
			e := l.expr(c.val, "worklist column "+c.key.Value, 0)
			if ok && e != nil {
				w.Columns = append(w.Columns, model.WorklistColumn{Name: name, Expr: e})
			}
		}
	}
	l.s.Worklist = w
}

// exprText returns the text of an expression scalar.
func (l *loader) exprText(n *yaml.Node, what string) (string, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		l.add(l.pos(n), "write an expression such as long_term and not reviewed", "%s must be an expression, not %s", what, yamlstrict.Describe(n))
		return "", false
	}
	return n.Value, true
}

// expr parses and type-checks the expression in scalar n. want is the type
// the context needs, or 0 for any. It returns nil after reporting problems.
func (l *loader) expr(n *yaml.Node, what string, want model.Type) model.Expr {
	src, ok := l.exprText(n, what)
	if !ok {
		return nil
	}
	a, serr := parseExpr(src)
	if serr != nil {
		l.add(l.scalarPos(n, serr.off), serr.fix, "%s", serr.msg)
		return nil
	}
	c := &checker{l: l, n: n, src: src}
	e, t := c.check(a)
	if e == nil {
		return nil
	}
	if want != 0 && t != want {
		l.add(l.scalarPos(n, a.off), fixFor(src, a, t, want), "%s must be %s, but %s is %s", what, article(want), quoteText(a.text(src)), article(t))
		return nil
	}
	return e
}

func article(t model.Type) string {
	switch t {
	case model.Bool:
		return "a boolean"
	case model.Number:
		return "a number"
	case model.Date:
		return "a date"
	case model.Text:
		return "a code"
	}
	return "unknown"
}

func quoteText(s string) string {
	if len(s) > 40 {
		s = s[:37] + "..."
	}
	return fmt.Sprintf("%q", s)
}

// fixFor suggests how to turn an expression of type got into one of want.
func fixFor(src string, a *ast, got, want model.Type) string {
	text := a.text(src)
	if a.kind == aBin || a.kind == aNot || a.kind == aNeg {
		text = "(" + text + ")"
	}
	switch {
	case want == model.Bool && got == model.Number:
		return "compare it, e.g. " + text + " > 0"
	case got == model.Date:
		return "a date can only be compared with another date, or shown as a worklist column"
	case got == model.Text:
		return textFix
	case want == model.Number && got == model.Bool:
		return "a count of patients is a count measure: count: " + a.text(src)
	}
	return "write an expression of the right type"
}

// textFix is the fix for a row's code used as a value.
const textFix = "a row's code (of: code) can only be shown as a worklist column; test codes with a codelist (exists, count) or a category, count them with count_distinct"

// checker type-checks one expression and builds its model.
type checker struct {
	l   *loader
	n   *yaml.Node
	src string
}

func (c *checker) pos(off int) model.Pos { return c.l.scalarPos(c.n, off) }

func (c *checker) errorf(off int, fix, format string, a ...any) {
	c.l.add(c.pos(off), fix, format, a...)
}

func anchorOf(at string) model.Anchor {
	switch at {
	case "as_of":
		return model.AnchorAsOf
	case "baseline":
		return model.AnchorBaseline
	}
	return model.AnchorCurrent
}

// check returns the model of a and its type, or nil after reporting.
func (c *checker) check(a *ast) (model.Expr, model.Type) {
	p := c.pos(a.off)
	switch a.kind {
	case aNum:
		return &model.NumberLit{Value: a.num, P: p}, model.Number
	case aBool:
		return &model.BoolLit{Value: a.b, P: p}, model.Bool
	case aParen:
		return c.check(a.l)
	case aParam:
		return c.param(a)
	case aName:
		return c.name(a)
	case aNot:
		x, t := c.check(a.l)
		if x == nil {
			return nil, 0
		}
		if t != model.Bool {
			c.operand(a.l, t, `"not" needs a boolean`)
			return nil, 0
		}
		return &model.Not{X: x, P: p}, model.Bool
	case aNeg:
		x, t := c.check(a.l)
		if x == nil {
			return nil, 0
		}
		if t != model.Number {
			c.operand(a.l, t, `"-" needs a number`)
			return nil, 0
		}
		if lit, ok := x.(*model.NumberLit); ok {
			return &model.NumberLit{Value: -lit.Value, P: p}, model.Number
		}
		return &model.Arith{Op: "-", L: &model.NumberLit{Value: 0, P: p}, R: x, P: p}, model.Number
	case aBin:
		return c.binary(a)
	case aCall:
		return c.call(a)
	case aDur:
		c.errorf(a.off, "shift a date by it, e.g. as_of - "+a.text(c.src)+"; days_between(a, b) gives the days between two dates", "%s is a duration: it can only be added to or subtracted from a date", a.text(c.src))
		return nil, 0
	}
	return nil, 0
}

// call checks date(), days_between() and age_at().
func (c *checker) call(a *ast) (model.Expr, model.Type) {
	p := c.pos(a.off)
	if a.name == "date" {
		s := a.args[0]
		t, err := time.Parse(time.DateOnly, s.str)
		if err != nil {
			c.errorf(s.off, `write the date as YYYY-MM-DD, e.g. date("2024-04-01")`, "%q is not a date", s.str)
			return nil, 0
		}
		return &model.RunDate{Lit: t, IsLit: true, P: p}, model.Date
	}
	var xs []model.Expr
	for _, arg := range a.args {
		x, t := c.check(arg)
		if x == nil {
			return nil, 0
		}
		if t != model.Date {
			c.errorf(arg.off, "give it a date, e.g. "+a.name+"(first_issue) or "+a.name+`(date("2024-04-01"))`, "%s needs a date, but %s is %s", a.name, quoteText(arg.text(c.src)), article(t))
			return nil, 0
		}
		xs = append(xs, x)
	}
	if a.name == "days_between" {
		return &model.DaysBetweenExpr{A: xs[0], B: xs[1], P: p}, model.Number
	}
	return &model.AgeAt{X: xs[0], P: p}, model.Number
}

// shift checks date +/- duration: a run date stays a run date (computed
// once), any other date becomes a per-patient shift.
func (c *checker) shift(a *ast, l model.Expr, lt model.Type) (model.Expr, model.Type) {
	d := a.r
	if lt != model.Date {
		c.errorf(a.l.off, "a duration shifts a date, e.g. as_of - 6 months", "%q %s needs a date on the left, but %s is %s", a.op, d.text(c.src), quoteText(a.l.text(c.src)), article(lt))
		return nil, 0
	}
	if d.num != float64(int(d.num)) || d.num > 100000 {
		c.errorf(d.off, "write a whole number of "+d.unit+" up to 100000", "%s is not a whole number of %s", d.text(c.src), d.unit)
		return nil, 0
	}
	n := int(d.num)
	if a.op == "-" {
		n = -n
	}
	s := model.Shift{N: n, Unit: model.Unit(d.unit)}
	if rd, ok := l.(*model.RunDate); ok {
		out := *rd
		out.Shifts = append(slices.Clone(rd.Shifts), s)
		return &out, model.Date
	}
	return &model.DateShift{X: l, Shift: s, P: c.pos(a.opOff)}, model.Date
}

// operand reports an operand of the wrong type.
func (c *checker) operand(a *ast, t model.Type, need string) {
	text := a.text(c.src)
	var fix string
	switch t {
	case model.Number:
		if a.kind == aBin {
			text = "(" + text + ")"
		}
		fix = "compare it, e.g. " + text + " > 0"
	case model.Bool:
		fix = "combine booleans with and, or and not; compare numbers with < <= > >= = !="
	case model.Date:
		fix = "a date can only be compared with another date, or shown as a worklist column"
	case model.Text:
		fix = textFix
	}
	c.errorf(a.off, fix, "%s, but %s is %s", need, quoteText(a.text(c.src)), article(t))
}

func (c *checker) binary(a *ast) (model.Expr, model.Type) {
	if a.r.kind == aDur && (a.op == "+" || a.op == "-") {
		l, lt := c.check(a.l)
		if l == nil {
			return nil, 0
		}
		return c.shift(a, l, lt)
	}
	l, lt := c.check(a.l)
	r, rt := c.check(a.r)
	if l == nil || r == nil {
		return nil, 0
	}
	p := c.pos(a.opOff)
	switch op := a.op; {
	case op == "and" || op == "or":
		ok := true
		for _, x := range []struct {
			a *ast
			t model.Type
		}{{a.l, lt}, {a.r, rt}} {
			if x.t != model.Bool {
				c.operand(x.a, x.t, fmt.Sprintf("%q needs a boolean on each side", op))
				ok = false
			}
		}
		if !ok {
			return nil, 0
		}
		return &model.Logic{Op: op, L: l, R: r, P: p}, model.Bool
	case compareOps[op]:
		switch {
		case lt == rt && (lt == model.Number || lt == model.Date):
			return &model.Compare{Op: op, L: l, R: r, P: p}, model.Bool
		case lt == model.Text || rt == model.Text:
			c.errorf(a.opOff, textFix, "%q cannot compare %s with %s", op, article(lt), article(rt))
		case lt == model.Bool && rt == model.Bool:
			c.errorf(a.opOff, "combine booleans with and, or and not, e.g. a and not b", "%q cannot compare booleans", op)
		case lt == model.Bool || rt == model.Bool:
			x := a.l
			if rt == model.Bool {
				x = a.r
			}
			c.errorf(x.off, "compare numbers or dates, e.g. daily_ome >= 120; use and, or and not with booleans", "%q compares numbers or dates, but %s is a boolean", op, quoteText(x.text(c.src)))
		case (lt == model.Date) != (rt == model.Date):
			// The usual cause: a date written in the expression, which
			// reads as arithmetic (2024-01-01 is 2024 - 1 - 1).
			c.errorf(a.opOff, `write a date as date("2024-01-01"): 2024-01-01 unquoted reads as the number 2024 - 1 - 1`, "%q cannot compare %s with %s", op, article(lt), article(rt))
		default:
			c.errorf(a.opOff, "compare a number with a number, or a date with a date", "%q cannot compare %s with %s", op, article(lt), article(rt))
		}
		return nil, 0
	default: // arithmetic
		ok := true
		for _, x := range []struct {
			a *ast
			t model.Type
		}{{a.l, lt}, {a.r, rt}} {
			switch x.t {
			case model.Number:
			case model.Date:
				c.errorf(x.a.off, "shift a date by days, months or years (last_issue + 3 months), or count the days between two dates with days_between(a, b)", "%q needs numbers, but %s is a date", op, quoteText(x.a.text(c.src)))
				ok = false
			default:
				c.errorf(x.a.off, "only numbers can be added, subtracted, multiplied or divided", "%q needs numbers, but %s is %s", op, quoteText(x.a.text(c.src)), article(x.t))
				ok = false
			}
		}
		if !ok {
			return nil, 0
		}
		return &model.Arith{Op: op, L: l, R: r, P: p}, model.Number
	}
}

func (c *checker) param(a *ast) (model.Expr, model.Type) {
	if par, ok := c.l.params[a.name]; ok {
		return &model.ParamRef{Param: par, P: c.pos(a.off)}, model.Number
	}
	if c.l.broken["params."+a.name] {
		return nil, 0
	}
	names := make([]string, 0, len(c.l.params))
	for _, p := range c.l.s.Parameters {
		names = append(names, p.Name)
	}
	c.errorf(a.off+len("params."), yamlstrict.Suggest(a.name, names, "define it under parameters: with a default"), "undefined parameter %q", a.name)
	return nil, 0
}

func (c *checker) name(a *ast) (model.Expr, model.Type) {
	at := anchorOf(a.at)
	p := c.pos(a.off)
	switch a.name {
	case "registered":
		return &model.Registered{At: at, P: p}, model.Bool
	case "age":
		return &model.Age{At: at, P: p}, model.Number
	case "registration_start":
		return &model.RegDate{Kind: model.RegStart, At: at, P: p}, model.Date
	case "joined_practice":
		return &model.RegDate{Kind: model.Joined, At: at, P: p}, model.Date
	case "as_of", "baseline":
		if a.at != "" {
			c.errorf(a.atOff, "write "+a.name+" alone: it is already a date", "%s is a date, not a name evaluated at a date: it takes no @", a.name)
			return nil, 0
		}
		// as_of is the date the expression is evaluated at (the run's
		// baseline inside x@baseline), like a window's ending: as_of.
		at := model.AnchorCurrent
		if a.name == "baseline" {
			at = model.AnchorBaseline
		}
		return &model.RunDate{At: at, P: p}, model.Date
	}
	l := c.l
	if v, ok := l.vars[a.name]; ok {
		return &model.VarRef{Var: v, At: at, P: p}, v.Expr.Type()
	}
	if i, declared := l.varIndex[a.name]; declared && (l.current < 0 || i < l.current) {
		// Declared above (or anywhere, after the variables section) but
		// failed to load: already reported.
		return nil, 0
	}
	if i, declared := l.varIndex[a.name]; declared {
		if i == l.current {
			c.errorf(a.off, "define it from built-ins and the variables above it", "variable %s refers to itself", a.name)
			return nil, 0
		}
		c.errorf(a.off, fmt.Sprintf("move %s above %s: a variable may use only the variables defined above it", a.name, l.curName), "%s is defined below, at line %d", a.name, l.varKey[a.name].Line)
		return nil, 0
	}
	if _, ok := l.params[a.name]; ok {
		c.errorf(a.off, "write params."+a.name, "%s is a parameter, not a variable", a.name)
		return nil, 0
	}
	if _, ok := l.codelists[a.name]; ok || l.broken["codelist "+a.name] {
		c.errorf(a.off, fmt.Sprintf("use it in an aggregate variable, e.g. exists: {issues: %s, window: {months: 3}}", a.name), "%s is a codelist, not a variable", a.name)
		return nil, 0
	}
	if _, ok := l.measureIDs[a.name]; ok {
		c.errorf(a.off, "use a variable here; a ratio can refer to a measure with {measure: "+a.name+"}", "%s is a measure, not a variable", a.name)
		return nil, 0
	}
	var visible []string
	for _, v := range l.s.Variables {
		visible = append(visible, v.Name)
	}
	visible = append(visible, builtins...)
	fix := yamlstrict.Suggest(a.name, visible, "define it under variables: above this use")
	if strings.ToLower(a.name) != a.name && fix != "define it under variables: above this use" {
		fix = "names are lower case: " + fix
	}
	c.errorf(a.off, fix, "undefined name %q", a.name)
	return nil, 0
}
