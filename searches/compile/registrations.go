package compile

import (
	"fmt"
	"strings"

	"github.com/nhs-steward/steward/searches/model"
	"github.com/nhs-steward/steward/searches/profile"
)

// anchors are the dates pat may compute registration and age at, in
// column order.
var anchors = []model.Anchor{model.AnchorAsOf, model.AnchorBaseline}

// registrations is the reg CTE, the universe: one pass over the
// registrations at the practice, one row per patient with a spell there,
// with a 0/1 flag reg_<anchor> for a spell covering each anchor date the
// query reads.
func (c *compiler) registrations() (cte, error) {
	frag, err := c.fragment(profile.Registrations)
	if err != nil {
		return cte{}, err
	}
	var b strings.Builder
	b.WriteString("SELECT g.patient_id")
	if c.series {
		b.WriteString(",\n           me.point")
	}
	for _, a := range anchors {
		if !c.reg[a] {
			continue
		}
		d, err := c.date(a)
		if err != nil {
			return cte{}, err
		}
		t := c.b.Date(d)
		fmt.Fprintf(&b, ",\n           MAX(CASE WHEN g.start_date <= %s AND (g.end_date IS NULL OR g.end_date >= %s) THEN 1 ELSE 0 END) AS reg_%s", t, t, anchorName(a))
	}
	for _, a := range anchors {
		for _, kind := range []model.RegDateKind{model.RegStart, model.Joined} {
			k := regDateKey{kind, a}
			if !c.regDates[k] {
				continue
			}
			d, err := c.date(a)
			if err != nil {
				return cte{}, err
			}
			t := c.b.Date(d)
			if kind == model.RegStart {
				// The spell covering the date; the latest when they overlap.
				fmt.Fprintf(&b, ",\n           MAX(CASE WHEN g.start_date <= %s AND (g.end_date IS NULL OR g.end_date >= %s) THEN g.start_date END) AS %s", t, t, k.column())
			} else {
				// The first spell started on or before the date.
				fmt.Fprintf(&b, ",\n           MIN(CASE WHEN g.start_date <= %s THEN g.start_date END) AS %s", t, k.column())
			}
		}
	}
	if c.series {
		fmt.Fprintf(&b, "\n    FROM (%s) AS g\n    CROSS JOIN month_ends AS me\n    WHERE g.practice_ods = %s\n    GROUP BY g.patient_id, me.point", indent(frag, "          "), c.b.Text(c.opts.Practice))
		return cte{name: "reg", body: b.String()}, nil
	}
	fmt.Fprintf(&b, "\n    FROM (%s) AS g\n    WHERE g.practice_ods = %s\n    GROUP BY g.patient_id", indent(frag, "          "), c.b.Text(c.opts.Practice))
	return cte{name: "reg", body: b.String()}, nil
}
