package compile

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/nhs-steward/steward/searches/model"
	"github.com/nhs-steward/steward/searches/profile"
)

// Patients: pat, one row per patient of the universe with every column
// expressions read, and the per-patient query over it.

// pat is the pat CTE: the universe (reg) joined to the patients table and
// to the source passes, with registered_<anchor> and age_<anchor> for the
// anchors expressions read, every aggregate and the rows read (n_rows).
// Expressions must be compiled first: they say which anchors pat needs.
func (c *compiler) pat(in patInputs) ([]cte, error) {
	frag, err := c.fragment(profile.Patients)
	if err != nil {
		return nil, err
	}
	var out []cte
	patients := "(" + indent(frag, "          ") + ")"
	if c.wide {
		// A wide series reads the patients once, in px: a profile whose
		// patients' SQL reads the as-of date (an address at the date)
		// gets a px per month end (wide.go). Ages at every month end need
		// the birth year and day of the year once per patient, not once
		// per month end.
		dob := ""
		if c.age[model.AnchorAsOf] || c.age[model.AnchorBaseline] {
			dob = fmt.Sprintf(",\n           %s AS dob_year,\n           %s AS dob_md", c.d.Year("x.date_of_birth"), c.d.MonthDay("x.date_of_birth"))
		}
		out = append(out, cte{name: "px", materialized: true, perDate: true, body: fmt.Sprintf(
			"SELECT x.patient_id,\n           x.sex,\n           x.date_of_birth,\n           x.date_of_death,\n           x.imd_decile%s\n    FROM (%s) AS x",
			dob, indent(frag, "          "))})
		patients = "px"
	}
	var b strings.Builder
	b.WriteString("SELECT r.patient_id,\n           x.sex,\n           x.imd_decile")
	if c.series {
		b.WriteString(",\n           r.point")
	}
	if c.dob {
		b.WriteString(",\n           x.date_of_birth")
	}
	c.patAnchors(&b)
	for _, col := range in.cols {
		b.WriteString(",\n           " + col)
	}
	if len(in.rows) == 0 {
		b.WriteString(",\n           0 AS n_rows")
	} else {
		b.WriteString(",\n           " + strings.Join(in.rows, " + ") + " AS n_rows")
	}
	b.WriteString("\n    FROM reg AS r")
	if c.series {
		b.WriteString("\n    JOIN month_ends AS me ON me.point = r.point")
	}
	fmt.Fprintf(&b, "\n    LEFT JOIN %s AS x ON x.patient_id = r.patient_id", patients)
	for _, j := range in.joins {
		b.WriteString("\n    " + j)
	}
	// A series query reads pat once, row by row: materializing its rows
	// (the universe times the month ends) would only write them out.
	return append(out, cte{name: "pat", body: b.String(), materialized: !c.series}), nil
}

// patAnchors writes the registered_<anchor> and age_<anchor> columns of
// pat. Their dates were checked when the expressions reading them were
// compiled.
func (c *compiler) patAnchors(b *strings.Builder) {
	for _, a := range anchors {
		if !c.reg[a] {
			continue
		}
		d, _ := c.date(a)
		fmt.Fprintf(b, ",\n           CASE WHEN r.reg_%s = 1 AND (x.date_of_death IS NULL OR x.date_of_death > %s) THEN 1 ELSE 0 END AS registered_%s",
			anchorName(a), c.b.Date(d), anchorName(a))
	}
	for _, a := range anchors {
		for _, kind := range []model.RegDateKind{model.RegStart, model.Joined} {
			if k := (regDateKey{kind, a}); c.regDates[k] {
				fmt.Fprintf(b, ",\n           r.%s", k.column())
			}
		}
	}
	for _, a := range anchors {
		if !c.age[a] {
			continue
		}
		d, _ := c.date(a)
		year, md := c.d.Year("x.date_of_birth"), c.d.MonthDay("x.date_of_birth")
		if c.wide {
			year, md = "x.dob_year", "x.dob_md"
		}
		fmt.Fprintf(b, ",\n           %s - %s - CASE WHEN %s > %s THEN 1 ELSE 0 END AS age_%s",
			c.b.Int(int64(d.Year())), year, md, c.b.Int(int64(int(d.Month())*100+d.Day())), anchorName(a))
	}
}

// patients compiles the per-patient query of PatientsSQL: patient_id and
// x<i> per expression, for the patients for whom where holds.
func (c *compiler) patients(where model.Expr, exprs []model.Expr) (*Statement, error) {
	resolved, where, err := c.resolvePatients(where, exprs)
	if err != nil {
		return nil, err
	}
	cols := []string{"patient_id"}
	sel := []string{"p.patient_id"}
	var types []model.Type
	for i, e := range resolved {
		s, err := c.expr(e)
		if err != nil {
			return nil, err
		}
		if e.Type() == model.Number {
			s = c.d.Float(s)
		}
		name := "x" + strconv.Itoa(i)
		cols = append(cols, name)
		sel = append(sel, s+" AS "+name)
		types = append(types, e.Type())
	}
	w := ""
	if where != nil {
		if where.Type() != model.Bool {
			return nil, fmt.Errorf("compile: where is %s, not boolean", where.Type())
		}
		s, err := c.pred(where)
		if err != nil {
			return nil, err
		}
		w = "\nWHERE " + s
	}
	ctes, lk, err := c.ctes()
	if err != nil {
		return nil, err
	}
	text := c.with(ctes) + "SELECT " + strings.Join(sel, ",\n       ") + "\nFROM pat AS p" + w + "\nORDER BY p.patient_id"
	return c.finish(text, lk, cols, nil, types)
}

// resolvePatients resolves where and exprs at the as-of date and collects
// their aggregates.
func (c *compiler) resolvePatients(where model.Expr, exprs []model.Expr) ([]model.Expr, model.Expr, error) {
	if where != nil {
		where = model.ResolveExpr(where, model.AnchorAsOf)
	}
	resolved := make([]model.Expr, len(exprs))
	for i, e := range exprs {
		if e == nil {
			return nil, nil, fmt.Errorf("compile: expression %d is missing", i)
		}
		resolved[i] = model.ResolveExpr(e, model.AnchorAsOf)
	}
	all := append([]model.Expr{}, resolved...)
	if where != nil {
		all = append(all, where)
	}
	if err := c.collect(all); err != nil {
		return nil, nil, err
	}
	return resolved, where, nil
}
