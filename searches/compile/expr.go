package compile

import (
	"fmt"
	"time"

	"github.com/nhs-steward/steward/searches/model"
)

// Expressions compile over the columns of pat (alias p).
//
// A boolean compiles to a predicate that is never unknown (pred), and to a
// 0/1 integer only where a value is needed (expr), so that nesting stays
// shallow: T-SQL allows CASE expressions nested 10 deep only.

// expr compiles e to a value: numbers and dates as themselves, booleans as
// 0/1 integers.
func (c *compiler) expr(e model.Expr) (string, error) {
	switch e := e.(type) {
	case *model.NumberLit:
		return c.b.Number(e.Value), nil
	case *model.ParamRef:
		return c.param(e), nil
	case *model.Arith:
		return c.arith(e)
	case *model.Age:
		return c.ageColumn(e.At)
	case *model.Aggregate:
		if e.Type() == model.Bool {
			break
		}
		return c.aggColumn(e)
	case *model.RunDate:
		d, err := c.runDate(e)
		if err != nil {
			return "", err
		}
		return c.b.Date(d), nil
	case *model.DateShift:
		x, err := c.expr(e.X)
		if err != nil {
			return "", err
		}
		if m, ok := e.Shift.Months(); ok {
			return c.d.AddMonths(x, m), nil
		}
		return c.d.AddDays(x, e.Shift.N), nil
	case *model.DaysBetweenExpr:
		a, b, err := c.pair(e.A, e.B)
		if err != nil {
			return "", err
		}
		return c.d.DaysBetween(a, b), nil
	case *model.AgeAt:
		return c.ageAt(e)
	case *model.Case:
		return c.caseExpr(e)
	case *model.RegDate:
		if _, err := c.date(e.At); err != nil {
			return "", err
		}
		k := regDateKey{e.Kind, anchorOf(e.At)}
		c.regDates[k] = true
		return "p." + k.column(), nil
	case *model.VarRef:
		return "", fmt.Errorf("compile: unresolved variable reference %s", e.Var.Name)
	case nil:
		return "", fmt.Errorf("compile: missing expression")
	}
	if e.Type() != model.Bool {
		return "", fmt.Errorf("compile: unknown expression %T", e)
	}
	p, err := c.pred(e)
	if err != nil {
		return "", err
	}
	return "CASE WHEN " + p + " THEN 1 ELSE 0 END", nil
}

// param binds a parameter's value: the run's override or its default.
func (c *compiler) param(e *model.ParamRef) string {
	v := e.Param.Default
	if o, ok := c.opts.Params[e.Param.Name]; ok {
		v = o
	}
	return c.b.Number(v)
}

func (c *compiler) arith(e *model.Arith) (string, error) {
	l, r, err := c.pair(e.L, e.R)
	if err != nil {
		return "", err
	}
	switch e.Op {
	case "+", "-", "*":
		return "(" + l + " " + e.Op + " " + r + ")", nil
	case "/":
		return "(" + c.d.Float(l) + " / NULLIF(" + c.d.Float(r) + ", 0))", nil
	}
	return "", fmt.Errorf("compile: %s: unknown arithmetic operator %q", e.P, e.Op)
}

// ageColumn is the column of pat holding the age at an anchor, which pat
// must then compute.
func (c *compiler) ageColumn(at model.Anchor) (string, error) {
	a := anchorOf(at)
	if _, err := c.date(a); err != nil {
		return "", err
	}
	c.age[a] = true
	return "p.age_" + anchorName(a), nil
}

// runDate is the concrete date of a run date, failing when it reads a
// baseline the run does not have.
func (c *compiler) runDate(e *model.RunDate) (time.Time, error) {
	d := *e
	if !d.IsLit {
		d.At = anchorOf(d.At)
		if _, err := c.date(d.At); err != nil {
			return time.Time{}, err
		}
	}
	return d.On(c.opts.Dates), nil
}

// ageAt is age_at(x): whole years completed on x, NULL when x is NULL. A
// run date binds its year and month-day, like age.
func (c *compiler) ageAt(e *model.AgeAt) (string, error) {
	c.dob = true
	if rd, ok := e.X.(*model.RunDate); ok {
		d, err := c.runDate(rd)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("(%s - %s - CASE WHEN %s > %s THEN 1 ELSE 0 END)",
			c.b.Int(int64(d.Year())), c.d.Year("p.date_of_birth"), c.d.MonthDay("p.date_of_birth"), c.b.Int(int64(int(d.Month())*100+d.Day()))), nil
	}
	x, err := c.expr(e.X)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("(%s - %s - CASE WHEN %s > %s THEN 1 ELSE 0 END)",
		c.d.Year(x), c.d.Year("p.date_of_birth"), c.d.MonthDay("p.date_of_birth"), c.d.MonthDay(x)), nil
}

// regDateKey is a registration date at an anchor, a column of reg and pat.
type regDateKey struct {
	kind model.RegDateKind
	at   model.Anchor
}

func (k regDateKey) column() string {
	if k.kind == model.Joined {
		return "joined_" + anchorName(k.at)
	}
	return "regstart_" + anchorName(k.at)
}

// aggColumn is the column of pat holding a collected aggregate.
func (c *compiler) aggColumn(e *model.Aggregate) (string, error) {
	ac, ok := c.aggs[model.Key(e)]
	if !ok {
		return "", fmt.Errorf("compile: %s: aggregate %s was not collected", e.P, model.Key(e))
	}
	return "p." + ac.name, nil
}

// pred compiles a boolean to a SQL condition that is true or false, never
// unknown (a comparison with a null operand is false).
func (c *compiler) pred(e model.Expr) (string, error) {
	switch e := e.(type) {
	case *model.BoolLit:
		if e.Value {
			return "1 = 1", nil
		}
		return "1 = 0", nil
	case *model.Not:
		x, err := c.pred(e.X)
		if err != nil {
			return "", err
		}
		return "NOT (" + x + ")", nil
	case *model.Logic:
		return c.logic(e)
	case *model.Compare:
		return c.compare(e)
	case *model.Registered:
		return c.registered(e.At)
	case *model.Aggregate:
		if e.Type() != model.Bool {
			return "", fmt.Errorf("compile: %s: %s is not boolean", e.P, model.Key(e))
		}
		col, err := c.aggColumn(e)
		if err != nil {
			return "", err
		}
		return col + " = 1", nil
	case *model.VarRef:
		return "", fmt.Errorf("compile: unresolved variable reference %s", e.Var.Name)
	case nil:
		return "", fmt.Errorf("compile: missing expression")
	}
	return "", fmt.Errorf("compile: %T is not a boolean expression", e)
}

func (c *compiler) logic(e *model.Logic) (string, error) {
	l, err := c.pred(e.L)
	if err != nil {
		return "", err
	}
	r, err := c.pred(e.R)
	if err != nil {
		return "", err
	}
	switch e.Op {
	case "and":
		return "(" + l + " AND " + r + ")", nil
	case "or":
		return "(" + l + " OR " + r + ")", nil
	}
	return "", fmt.Errorf("compile: %s: unknown logical operator %q", e.P, e.Op)
}

// compare is false, not unknown, when either side is null.
func (c *compiler) compare(e *model.Compare) (string, error) {
	l, r, err := c.pair(e.L, e.R)
	if err != nil {
		return "", err
	}
	op := e.Op
	switch op {
	case "<", "<=", ">", ">=", "=":
	case "!=":
		op = "<>"
	default:
		return "", fmt.Errorf("compile: %s: unknown comparison %q", e.P, e.Op)
	}
	return "(" + l + " IS NOT NULL AND " + r + " IS NOT NULL AND " + l + " " + op + " " + r + ")", nil
}

// registered tests the column of pat saying whether the patient is
// registered at an anchor, which pat must then compute.
func (c *compiler) registered(at model.Anchor) (string, error) {
	a := anchorOf(at)
	if _, err := c.date(a); err != nil {
		return "", err
	}
	c.reg[a] = true
	return "p.registered_" + anchorName(a) + " = 1", nil
}

func (c *compiler) pair(l, r model.Expr) (string, string, error) {
	ls, err := c.expr(l)
	if err != nil {
		return "", "", err
	}
	rs, err := c.expr(r)
	if err != nil {
		return "", "", err
	}
	return ls, rs, nil
}
