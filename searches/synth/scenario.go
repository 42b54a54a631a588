package synth

import (
	"fmt"
	"math"
)

// scenario chooses and writes the patient's opioid trajectory inside main,
// the longest period with data.
func (pg *pgen) scenario(kind int, main interval) {
	p, r := pg.p, pg.r
	s := &p.scen
	s.start, s.end, s.highFrom, s.taperStart, s.gapStart, s.gapEnd = noDay, noDay, noDay, noDay, noDay, noDay
	a, b := max(main.a, p.dob.addYears(18)), main.b
	if a > b {
		return
	}
	span := b - a
	pLT := pLongTerm * longTermRR(p.dob.ageOn(a+span/2), p.sex, p.imd)
	u := r.Float64()
	switch {
	case span >= 120 && u < pLT:
		pg.longTerm(kind, a, b)
	case u < pLT+pAcuteCourse:
		pg.acuteCourses(a, b)
	}
}

func (pg *pgen) acuteCourses(a, b day) {
	s, r := &pg.p.scen, pg.r
	n := 1 + pg.poisson(0.5)
	var last day = noDay
	for _, d := range pg.sortedDays(n, a, b) {
		if last != noDay && d-last < 100 {
			continue
		}
		ad := pg.g.acute[r.IntN(len(pg.g.acute))]
		prod := pg.code(ad.prod)
		pg.addIssue(d, prod, ad.qtys[r.IntN(len(ad.qtys))], ad.dose)
		end := d
		if pg.chance(0.3) {
			if d2 := d + day(7+r.IntN(15)); d2 <= b {
				pg.addIssue(d2, pg.code(ad.prod), ad.qtys[r.IntN(len(ad.qtys))], ad.dose)
				end = d2
			}
		}
		if s.start == noDay {
			s.start, s.product = d, pg.g.cat.products[ad.prod].name
		}
		s.end, last = end, end
	}
	if s.start != noDay {
		s.name = ScenarioAcute
	}
}

func (pg *pgen) sortedDays(n int, a, b day) []day {
	ds := make([]day, n)
	for i := range ds {
		ds[i] = pg.uniform(a, b)
	}
	for i := 1; i < n; i++ {
		for j := i; j > 0 && ds[j] < ds[j-1]; j-- {
			ds[j], ds[j-1] = ds[j-1], ds[j]
		}
	}
	return ds
}

func (pg *pgen) longTerm(kind int, a, b day) {
	g, r, s := pg.g, pg.r, &pg.p.scen
	total := 0.0
	for _, m := range longTermMix {
		total += m.w
	}
	u := r.Float64() * total
	name := longTermMix[len(longTermMix)-1].name
	for _, m := range longTermMix {
		if u < m.w {
			name = m.name
			break
		}
		u -= m.w
	}
	// Where the episode sits in the adult registered period.
	var S, E day
	if pg.chance(0.5) {
		S, E = min(a+day(r.IntN(46)), b-120), b
	} else {
		L := min(day(180+r.IntN(1280)), b-a)
		S = pg.uniform(a, b-L)
		E = S + L
	}
	s.name = name
	switch name {
	case ScenarioTapering:
		if pg.taper(a, b, S) {
			break
		}
		s.name = ScenarioHighDose
		pg.steady(S, E, g.high[r.IntN(len(g.high))], false)
	case ScenarioEscalating:
		if pg.escalate(S, E) {
			break
		}
		s.name = ScenarioLongTermStable
		pg.steady(S, E, g.stable[r.IntN(len(g.stable))], false)
	case ScenarioStopRestart:
		S, E = min(a+day(r.IntN(46)), b-120), b
		if pg.stopRestart(S, E) {
			break
		}
		s.name = ScenarioLongTermStable
		pg.steady(S, E, g.stable[r.IntN(len(g.stable))], false)
	case ScenarioExcluded:
		pg.excluded(kind, a, b, S, E)
	case ScenarioHighDose:
		pg.steady(S, E, g.high[r.IntN(len(g.high))], false)
	case ScenarioPatchLongTerm:
		pg.steady(S, E, g.patch[r.IntN(len(g.patch))], false)
	case ScenarioMessy:
		pg.steady(S, E, g.stable[r.IntN(len(g.stable))], true)
	default:
		pg.steady(S, E, g.stable[r.IntN(len(g.stable))], false)
	}
	if s.start == noDay {
		panic(fmt.Sprintf("synth: scenario %s wrote no issues", s.name))
	}
	// A post-dated issue after --end for some still on treatment.
	if kind == 0 && s.end > g.end-28 && s.taperStart == noDay && pg.chance(pFutureOpioid) {
		last := pg.p.issues[len(pg.p.issues)-1]
		pg.addIssue(g.end+day(1+r.IntN(28)), int(last.prod), last.qty, last.dose)
	}
	// Medication reviews: most long-term users are reviewed each year.
	for k := 0; ; k++ {
		lo := S + day(365*k)
		if lo > s.end {
			break
		}
		if pg.chance(pReviewYearLongTerm) {
			pg.addEvent(pg.uniform(lo, min(lo+364, s.end+60, b)), pg.pick(g.review))
		}
	}
}

// issueItems writes one issue of each regimen item on d; mess adds the
// untidiness of real records to opioid issues.
func (pg *pgen) issueItems(d day, items []item, mess bool) {
	for _, it := range items {
		is := pg.addIssue(d, pg.code(it.prod), it.qty, it.dose)
		if !mess {
			continue
		}
		switch u := pg.r.Float64(); {
		case u < 0.08:
			is.qtyNull, is.qty = true, 0
		case u < 0.12:
			is.qty = 0
		}
		if pg.chance(0.08) {
			dup := *is
			pg.seq++
			dup.seq = pg.seq
			pg.p.issues = append(pg.p.issues, dup)
		}
		if pg.chance(0.05) {
			pg.addIssue(d, pg.pick(pg.g.unknownOME), []float64{28, 56, 100}[pg.r.IntN(3)], "as directed")
		}
	}
}

// steady issues a regimen every 28 days (up to 3 days early) from S to E.
func (pg *pgen) steady(S, E day, rg regimen, mess bool) day {
	s := &pg.p.scen
	last := noDay
	for d := S; d <= E; d += day(28 - pg.r.IntN(4)) {
		pg.issueItems(d, rg.items, mess)
		last = d
	}
	if s.start == noDay {
		s.start, s.daily, s.product = S, rg.rate, rg.name
	}
	s.peak = max(s.peak, rg.rate)
	s.last, s.end = rg.rate, last
	if rg.rate >= MinHighDailyOME && s.highFrom == noDay {
		s.highFrom = S
	}
	return last
}

// familyItems returns the issue items for mgPerDay of a family taken twice a
// day, supplied for days.
func familyItems(f *family, mgPerDay, days int) ([]item, float64) {
	var items []item
	rate := 0.0
	for k, n := range f.split(mgPerDay) {
		if n == 0 {
			continue
		}
		word := "ONE"
		if n == 2 {
			word = "TWO"
		} else if n > 2 {
			word = fmt.Sprint(n)
		}
		qty := float64(n * 2 * days)
		items = append(items, item{prod: f.idx[k], qty: qty, dose: fmt.Sprintf("%s %dmg tablet twice a day", word, f.mgs[k])})
		rate += qty * f.ome[k] / float64(days)
	}
	return items, rate
}

func roundUp10(x float64) int { return int(math.Ceil(x/10)) * 10 }

// escalate: a low dose for at least 3 months, then increases every 4 to 8
// weeks until at least MinHighDailyOME, held to E.
func (pg *pgen) escalate(S, E day) bool {
	r, s := pg.r, &pg.p.scen
	f := &pg.g.morphine
	mg := []int{20, 30, 40, 60}[r.IntN(4)]
	if pg.chance(0.4) {
		f = &pg.g.oxycodone
		mg = []int{20, 30, 40}[r.IntN(3)]
	}
	// Plan the doses first, then check they fit.
	doses := []int{mg}
	for float64(doses[len(doses)-1])*f.factor() < MinHighDailyOME {
		doses = append(doses, max(doses[len(doses)-1]+10, roundUp10(float64(doses[len(doses)-1])*(1.25+0.25*r.Float64()))))
	}
	stepIssues := make([]int, len(doses))
	need := 0
	for i := range doses {
		stepIssues[i] = 1 + r.IntN(2)
		if i == 0 {
			stepIssues[i] = 4 + r.IntN(3)
		}
		need += 28 * stepIssues[i]
	}
	if int(E-S) < need+28 {
		return false
	}
	d := S
	for i, mgDay := range doses {
		items, rate := familyItems(f, mgDay, 28)
		n := stepIssues[i]
		if i == len(doses)-1 {
			n = math.MaxInt
		}
		for k := 0; k < n && d <= E; k++ {
			pg.issueItems(d, items, false)
			if s.start == noDay {
				s.start, s.daily, s.product = d, rate, f.name
			}
			if rate >= MinHighDailyOME && s.highFrom == noDay {
				s.highFrom = d
			}
			s.peak, s.last, s.end = max(s.peak, rate), rate, d
			d += day(28 - r.IntN(4))
		}
	}
	return true
}

// taper: a high dose for at least 4 months, then about 10% less every 2 to 4
// weeks until stopped.
func (pg *pgen) taper(a, b, S day) bool {
	r, s := pg.r, &pg.p.scen
	f := &pg.g.morphine
	mg := []int{140, 160, 180, 200, 240}[r.IntN(5)]
	if pg.chance(0.4) {
		f = &pg.g.oxycodone
		mg = []int{100, 120, 140, 160}[r.IntN(4)]
	}
	every := []int{14, 21, 28}[r.IntN(3)]
	var steps []int
	for d := mg; d >= 10; d = min(d-10, int(float64(d)*0.9)/10*10) {
		steps = append(steps, d)
	}
	dur := day(len(steps) * every)
	need := 120 + dur
	if b-a < need {
		return false
	}
	S = min(S, b-need)
	T := pg.uniform(S+120, b-dur)
	high, rate := familyItems(f, mg, 28)
	s.start, s.daily, s.peak, s.product, s.highFrom = S, rate, rate, f.name, S
	d := S
	for ; d < T-20; d += day(28 - r.IntN(4)) {
		pg.issueItems(d, high, false)
		s.end, s.last = d, rate
	}
	s.taperStart = noDay
	for i, mgDay := range steps {
		if i == 0 {
			continue // the first step is the dose already taken
		}
		items, rate := familyItems(f, mgDay, every)
		pg.issueItems(d, items, false)
		if s.taperStart == noDay {
			s.taperStart = d
		}
		s.end, s.last = d, rate
		d += day(every - r.IntN(3))
	}
	return true
}

// stopRestart: long-term, a gap of at least 4 months, long-term again.
func (pg *pgen) stopRestart(S, E day) bool {
	g, r, s := pg.g, pg.r, &pg.p.scen
	gap := day(125 + r.IntN(420))
	if E-S < 120+gap+120 {
		return false
	}
	g1 := pg.uniform(S+120, E-gap-120)
	r1 := g.stable[r.IntN(len(g.stable))]
	last := pg.steady(S, g1, r1, false)
	s.gapStart = last
	r2 := r1
	if pg.chance(0.4) {
		r2 = g.stable[r.IntN(len(g.stable))]
	}
	s.gapEnd = last + gap
	pg.steady(s.gapEnd, E, r2, false)
	return true
}

// excluded: a long-term user with cancer or palliative care codes, who the
// measures must leave out.
func (pg *pgen) excluded(kind int, a, b, S, E day) {
	g, r := pg.g, pg.r
	var rg regimen
	switch u := r.Float64(); {
	case u < 0.6:
		rg = g.stable[r.IntN(len(g.stable))]
	case u < 0.8:
		rg = g.patch[r.IntN(len(g.patch))]
	default:
		rg = g.high[r.IntN(len(g.high))]
	}
	if kind == 2 && pg.chance(0.6) {
		// Palliative care in the last months of life.
		S = max(a, b-day(120+r.IntN(420)))
		pg.addEvent(max(a, S-day(r.IntN(61))), pg.pick(g.palliative))
		pg.steady(S, b, rg, false)
		return
	}
	x := max(a-day(365), S-day(r.IntN(366)))
	pg.addEvent(x, pg.pick(g.cancer))
	E = min(E, monthEnd(x.monthIndex()+58))
	if E-S < 120 {
		S = max(a, E-120)
	}
	pg.steady(S, E, rg, false)
}
