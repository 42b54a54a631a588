package results

import (
	"fmt"
	"time"
)

// validateSeries checks a measure's series: at most MaxPoints points at
// ascending month ends, the last at the document's as-of date with the
// measure's own figures, each point valid as the measure's figures are.
func (m *Measure) validateSeries(c *checker, where, asOf string) {
	if m.Series == nil {
		return
	}
	name := m.ID
	if !idPattern.MatchString(name) {
		name = "measure"
	}
	sw := where + ".series"
	switch {
	case len(m.Series) == 0:
		c.add(ErrInvalid, sw, "%s: an empty series: leave series out", name)
		return
	case len(m.Series) > MaxPoints:
		c.add(ErrInvalid, sw, "%s: %d points, more than %d", name, len(m.Series), MaxPoints)
		return
	case m.At == "baseline":
		c.add(ErrInvalid, sw, "%s: a measure at baseline has no series: a series ends at as_of", name)
	}
	var prev time.Time
	for k, p := range m.Series {
		pw := fmt.Sprintf("%s[%d]", sw, k)
		t, err := time.Parse(time.DateOnly, p.AsOf)
		switch {
		case err != nil || !isMonthEnd(p.AsOf):
			c.add(ErrInvalid, pw+".as_of", "%s: as_of %s is not the last day of a month (YYYY-MM-DD)", name, shown(p.AsOf))
		case k > 0 && !prev.IsZero() && !t.After(prev):
			c.add(ErrInvalid, pw+".as_of", "%s: points go oldest first, but %s is not after the point before it", name, p.AsOf)
		}
		if err == nil {
			prev = t
		}
		// A point has the figures of a measure: check them as one.
		pm := Measure{ID: m.ID, Kind: m.Kind, Per: m.Per, Numerator: p.Numerator, Denominator: p.Denominator, Value: p.Value, Suppressed: p.Suppressed}
		pm.validate(c, pw, map[string]bool{})
	}
	last := m.Series[len(m.Series)-1]
	if last.AsOf != asOf {
		c.add(ErrInvalid, fmt.Sprintf("%s[%d].as_of", sw, len(m.Series)-1), "%s: the last point is at %s, but the document is as of %s: a series ends at as_of", name, shown(last.AsOf), shown(asOf))
		return
	}
	if !samePtr(last.Value, m.Value) || !samePtr(last.Numerator, m.Numerator) || !samePtr(last.Denominator, m.Denominator) || last.Suppressed != m.Suppressed {
		c.add(ErrInvalid, fmt.Sprintf("%s[%d]", sw, len(m.Series)-1), "%s: the point at as_of must have the measure's own figures", name)
	}
}

func samePtr(a, b *float64) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}
