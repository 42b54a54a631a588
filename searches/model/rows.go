package model

import (
	"fmt"
	"sort"
	"strings"
)

// Row values (docs/search-language.md, Row values): aggregates that return
// an attribute of one row (first/last/nth with of:), statistics of the row
// values (min, max, mean), distinct counts of codes or of a codelist
// category, and case/when over per-patient values.

// More aggregate operations.
const (
	OpMin           AggOp = "min"            // Number: least known row value (null when none)
	OpMax           AggOp = "max"            // Number: greatest known row value (null when none)
	OpMean          AggOp = "mean"           // Number: mean of the known row values (null when none)
	OpCountDistinct AggOp = "count_distinct" // Number: distinct codes, or category values, of the rows (0 when none)
)

// AttrKind is what of: reads from a row.
type AttrKind int

// Row attributes. AttrDate is the default of first and last, AttrCode of
// count_distinct.
const (
	AttrDate     AttrKind = iota // the row's date (a Date)
	AttrValue                    // the aggregate's row Value (a Number, null when unknown)
	AttrRef                      // the reference value per unit of the row's code (a Number, null when missing)
	AttrCode                     // the row's code (a Text on first and last; what count_distinct counts)
	AttrCategory                 // the category of the row's code (count_distinct only; rows without one are not counted)
)

// Attr is the attribute an aggregate reads with of:.
type Attr struct {
	Kind     AttrKind
	Ref      *Reference // AttrRef
	Category *Category  // AttrCategory
}

func (a Attr) String() string {
	switch a.Kind {
	case AttrValue:
		return "value"
	case AttrRef:
		return "ref:" + a.Ref.Name
	case AttrCode:
		return "code"
	case AttrCategory:
		return "category:" + a.Category.Name
	}
	return "date"
}

// Category is a column of a codelist's files naming a class of each code,
// such as the BNF chemical substance (the first 9 characters of bnf_code)
// of a dm+d product: a molecule.
type Category struct {
	Name   string
	Column string
	// Length keeps the first Length characters of the column (0: all).
	Length int
	// Values maps each code of the codelist that has one to its value.
	Values map[string]string
	Pos    Pos
}

// Labels are the distinct values of a category, sorted.
func (c *Category) Labels() []string {
	seen := map[string]bool{}
	var out []string
	for _, v := range c.Values {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	sort.Strings(out)
	return out
}

// IDs numbers a category's values 1.. in label order, code by code: what
// engines that work with numbers compare.
func (c *Category) IDs() map[string]float64 {
	id := map[string]float64{}
	for i, l := range c.Labels() {
		id[l] = float64(i + 1)
	}
	out := make(map[string]float64, len(c.Values))
	for code, v := range c.Values {
		out[code] = id[v]
	}
	return out
}

// Category returns the category of c named name, or nil.
func (c *Codelist) Category(name string) *Category {
	for _, k := range c.Categories {
		if k.Name == name {
			return k
		}
	}
	return nil
}

// RowRanked reports whether an aggregate picks one row by its rank (first
// or last reading an attribute other than the date, or an nth row other
// than the first): engines compute it from the rows in order.
func (e *Aggregate) RowRanked() bool {
	return (e.Op == OpFirst || e.Op == OpLast) && (e.Of.Kind != AttrDate || e.Nth > 1)
}

// NthOr1 is the rank an aggregate picks: 1 unless nth: says otherwise.
func (e *Aggregate) NthOr1() int {
	if e.Nth < 1 {
		return 1
	}
	return e.Nth
}

// rowKey is the part of an aggregate's Key that row values add; empty for
// every aggregate the language had before them, so their keys (and the
// SQL named after them) do not change.
func (e *Aggregate) rowKey() string {
	var b strings.Builder
	switch {
	case e.Op == OpCountDistinct && e.Of.Kind != AttrCode:
		b.WriteString(",of=" + e.Of.String())
	case e.Op != OpCountDistinct && e.Of.Kind != AttrDate:
		b.WriteString(",of=" + e.Of.String())
	}
	if e.Nth > 1 {
		fmt.Fprintf(&b, ",nth=%d", e.Nth)
	}
	b.WriteString(e.whereKey())
	return b.String()
}

// CaseWhen is one branch of a Case.
type CaseWhen struct {
	When Expr // boolean
	Then Expr
}

// Case is the Then of the first branch whose When holds, else Else (null
// when Else is nil). Every Then and Else has the type T, a number or a date.
type Case struct {
	Whens []CaseWhen
	Else  Expr
	T     Type
	P     Pos
}

func (*Case) isExpr()         {}
func (e *Case) Position() Pos { return e.P }
func (e *Case) Type() Type    { return e.T }
func (e *Case) writeKey(b *strings.Builder) {
	b.WriteString("case(")
	for i, w := range e.Whens {
		if i > 0 {
			b.WriteString(";")
		}
		writeKey(b, w.When)
		b.WriteString("->")
		writeKey(b, w.Then)
	}
	if e.Else != nil {
		b.WriteString(";else->")
		writeKey(b, e.Else)
	}
	b.WriteString(")")
}

// RowColumn is a column of a row that a row condition compares.
type RowColumn int

// Row columns.
const (
	ColQuantity     RowColumn = iota + 1 // issues: quantity (unknown when NULL or <= 0, as everywhere)
	ColNumericValue                      // events: numeric_value (unknown when NULL)
	ColRef                               // issues: the reference value per unit of the row's code (unknown when missing)
)

// RowCond is one comparison of a row's column with a number that is the
// same for every row and patient: a literal or a parameter. A row whose
// column is unknown passes no comparison, != included.
type RowCond struct {
	Col   RowColumn
	Ref   *Reference // ColRef
	Op    string     // "<", "<=", ">", ">=", "=", "!="
	Value Expr       // *NumberLit or *ParamRef
}

// ColumnName is the column as the search writes it.
func (c RowCond) ColumnName() string {
	switch c.Col {
	case ColQuantity:
		return "quantity"
	case ColNumericValue:
		return "numeric_value"
	case ColRef:
		return c.Ref.Name
	}
	return "?"
}

func (c RowCond) String() string {
	return c.ColumnName() + " " + c.Op + " " + Key(c.Value)
}

// Holds reports whether a known column value x passes the comparison with
// v, in double precision as every SQL engine compares them.
func (c RowCond) Holds(x, v float64) bool {
	switch c.Op {
	case "<":
		return x < v
	case "<=":
		return x <= v
	case ">":
		return x > v
	case ">=":
		return x >= v
	case "=":
		return x == v
	case "!=":
		return x != v
	}
	return false
}

// ReadsQuantityColumn reports whether a row condition of a compares issue
// quantities.
func (a *Aggregate) ReadsQuantityColumn() bool {
	for _, c := range a.Where {
		if c.Col == ColQuantity {
			return true
		}
	}
	return false
}

// whereKey is the part of an aggregate's Key for its row conditions.
func (e *Aggregate) whereKey() string {
	if len(e.Where) == 0 {
		return ""
	}
	parts := make([]string, len(e.Where))
	for i, c := range e.Where {
		parts[i] = c.String()
	}
	return ",rows=[" + strings.Join(parts, " and ") + "]"
}

// WhereUses returns the references and parameters the rows: conditions
// of a compare with, for whatever lists what an aggregate reads.
func (a *Aggregate) WhereUses() (refs []*Reference, params []*Parameter) {
	for _, c := range a.Where {
		if c.Ref != nil {
			refs = append(refs, c.Ref)
		}
		if p, ok := c.Value.(*ParamRef); ok {
			params = append(params, p.Param)
		}
	}
	return refs, params
}
