package compile

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/nhs-steward/steward/searches/model"
)

// Codelists and reference tables: which aggregates a query computes, the
// codes and refs CTEs the dialect provides, and per source the codes its
// pass joins to.

// aggCol is an aggregate the query computes, with its column.
type aggCol struct {
	agg  *model.Aggregate
	name string // a<k>
}

// collect registers the aggregates, codelists and references of exprs, in
// a stable order (by model.Key).
func (c *compiler) collect(exprs []model.Expr) error {
	found, err := aggregatesOf(exprs)
	if err != nil {
		return err
	}
	for _, a := range found {
		if err := c.register(a); err != nil {
			return err
		}
	}
	return nil
}

// aggregatesOf returns the distinct aggregates of exprs ordered by key,
// failing on an unresolved variable reference.
func aggregatesOf(exprs []model.Expr) ([]*model.Aggregate, error) {
	var found []*model.Aggregate
	seen := map[string]bool{}
	for _, e := range exprs {
		var err error
		model.Walk(e, func(x model.Expr) {
			switch x := x.(type) {
			case *model.Aggregate:
				k := model.Key(x)
				if !seen[k] {
					seen[k] = true
					found = append(found, x)
				}
			case *model.VarRef:
				err = fmt.Errorf("compile: unresolved variable reference %s (resolve the plan first)", x.Var.Name)
			}
		})
		if err != nil {
			return nil, err
		}
	}
	sort.Slice(found, func(i, j int) bool { return model.Key(found[i]) < model.Key(found[j]) })
	return found, nil
}

// register gives an aggregate its column (a<k>) and its codelist and
// reference table their ids.
func (c *compiler) register(a *model.Aggregate) error {
	if a.Codelist == nil {
		return fmt.Errorf("compile: %s: aggregate without a codelist", a.P)
	}
	if a.Source != model.Issues && a.Source != model.Events {
		return fmt.Errorf("compile: %s: unknown source %q", a.P, a.Source)
	}
	ac := &aggCol{agg: a, name: "a" + strconv.Itoa(len(c.aggOrder))}
	c.aggs[model.Key(a)] = ac
	c.aggOrder = append(c.aggOrder, ac)
	if _, ok := c.lists[a.Codelist.Name]; !ok {
		c.lists[a.Codelist.Name] = len(c.listRows)
		c.listRows = append(c.listRows, dedupe(a.Codelist.Codes))
	}
	c.registerExtraRef(a)
	if a.Value != model.ValueQuantityRef {
		return nil
	}
	if a.Ref == nil {
		return fmt.Errorf("compile: %s: quantity x reference without a reference", a.P)
	}
	if _, ok := c.refs[a.Ref.Name]; !ok {
		c.refs[a.Ref.Name] = len(c.refRows)
		c.refRows = append(c.refRows, a.Ref.Values)
	}
	return nil
}

func dedupe(codes []string) []string {
	out := make([]string, 0, len(codes))
	seen := make(map[string]bool, len(codes))
	for _, s := range codes {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}

// lookups returns the codes and refs CTEs (none when the query reads no
// rows) and the dialect's setup and teardown statements that fill them.
func (c *compiler) lookups() ([]cte, *Lookups, error) {
	if len(c.aggOrder) == 0 {
		return nil, &Lookups{}, nil
	}
	lk, err := c.d.Lookups(c.b, c.listRows, c.refRows)
	if err != nil {
		return nil, nil, err
	}
	c.outside = append(c.outside, lk.Codes, lk.Refs)
	out := []cte{{name: "codes", body: lk.Codes, materialized: true}}
	if len(c.refRows) > 0 {
		out = append(out, cte{name: "refs", body: lk.Refs, materialized: true})
	}
	return out, lk, nil
}

// sourceCodes is the codes_<source> CTE of a source pass computing aggs:
// one row per code, a 0/1 flag l<id> per codelist and the reference value
// r<id> per reference table.
func (c *compiler) sourceCodes(name string, aggs []*aggCol) cte {
	listIDs, refIDs := c.lookupIDs(aggs)
	var b strings.Builder
	b.WriteString("SELECT k.code")
	for _, l := range listIDs {
		fmt.Fprintf(&b, ",\n           MAX(CASE WHEN k.list_id = %d THEN 1 ELSE 0 END) AS l%d", l, l)
	}
	for _, r := range refIDs {
		fmt.Fprintf(&b, ",\n           MAX(f%d.value) AS r%d", r, r)
	}
	b.WriteString("\n    FROM codes AS k")
	for _, r := range refIDs {
		fmt.Fprintf(&b, "\n    LEFT JOIN refs AS f%d ON f%d.ref_id = %d AND f%d.code = k.code", r, r, r, r)
	}
	ids := make([]string, len(listIDs))
	for i, l := range listIDs {
		ids[i] = strconv.Itoa(l)
	}
	fmt.Fprintf(&b, "\n    WHERE k.list_id IN (%s)\n    GROUP BY k.code", strings.Join(ids, ", "))
	return cte{name: name, body: b.String(), materialized: true}
}

// lookupIDs returns the ids of the codelists and reference tables aggs
// read, ascending.
func (c *compiler) lookupIDs(aggs []*aggCol) (listIDs, refIDs []int) {
	seenList, seenRef := map[int]bool{}, map[int]bool{}
	for _, ac := range aggs {
		l := c.lists[ac.agg.Codelist.Name]
		if !seenList[l] {
			seenList[l] = true
			listIDs = append(listIDs, l)
		}
		if ac.agg.Value == model.ValueQuantityRef {
			r := c.refs[ac.agg.Ref.Name]
			if !seenRef[r] {
				seenRef[r] = true
				refIDs = append(refIDs, r)
			}
		}
		for _, r := range c.extraRefIDs(ac.agg) {
			if !seenRef[r] {
				seenRef[r] = true
				refIDs = append(refIDs, r)
			}
		}
	}
	sort.Ints(listIDs)
	sort.Ints(refIDs)
	return listIDs, refIDs
}
