package synth

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
)

// patientRec is everything generated for one patient, layout-neutral.
type patientRec struct {
	id     int64
	sex    byte // 'F', 'M' or 'U'
	dob    day
	dod    day // noDay when alive
	imd    int // 0 = NULL
	imdRnk int // rank of the LSOA, consistent with imd
	regs   []reg
	issues []issue
	events []event
	scen   scenarioRec
}

type reg struct {
	ods        string
	start, end day // end noDay = open
}

type issue struct {
	date     day
	prod     int32
	qty      float64
	qtyNull  bool
	dose     string // "" = NULL
	minute   int16  // tpp: minute of the day
	withUnit bool   // tpp: quantity text carries the unit
	unmapped int16  // tpp: index of an unmapped dictionary row, -1 = none
	seq      int32  // generation order, for a stable sort
}

type event struct {
	date   day
	code   int32 // catalogue index
	minute int16
	seq    int32
}

// scenarioRec is one row of synth_scenarios.
type scenarioRec struct {
	name                                                 string
	start, end                                           day
	daily, peak, last                                    float64
	highFrom, taperStart, gapStart, gapEnd, excludedFrom day
	product                                              string
	coprescribed                                         string
}

// generator holds everything shared, read-only, by the workers.
type generator struct {
	cat        *catalog
	seed       uint64
	practice   string
	others     []string
	start, end day
	years      float64

	stable, patch, high []regimen
	acute               []acuteDef
	morphine, oxycodone family
	gabaOral, benzoOral []int
	filler, unknownOME  []int
	review, cancer      []int
	palliative          []int
	careHome, otherEvt  []int
	unmappedRows        int
}

var otherPracticeCodes = []string{"B82005", "C84001", "F85002", "J82013", "M85063", "P87620", "Y02345", "K81002"}

func newGenerator(cfg Config) (*generator, error) {
	c, err := loadCatalog()
	if err != nil {
		return nil, err
	}
	g := &generator{cat: c, seed: cfg.Seed, practice: cfg.Practice, start: dayOf(cfg.Start), end: dayOf(cfg.End)}
	g.years = float64(g.end-g.start+1) / 365.25
	for _, o := range otherPracticeCodes {
		if o != cfg.Practice {
			g.others = append(g.others, o)
		}
	}
	if g.stable, err = resolveRegimens(c, stableRegimens); err != nil {
		return nil, err
	}
	if g.patch, err = resolveRegimens(c, patchRegimens); err != nil {
		return nil, err
	}
	if g.high, err = resolveRegimens(c, highRegimens); err != nil {
		return nil, err
	}
	if err := checkRates("stable", g.stable, 1, MaxStableDailyOME); err != nil {
		return nil, err
	}
	if err := checkRates("patch", g.patch, 1, MaxStableDailyOME); err != nil {
		return nil, err
	}
	if err := checkRates("high-dose", g.high, MinHighDailyOME, 1000); err != nil {
		return nil, err
	}
	for _, a := range acuteProducts {
		i, err := c.vmpProduct(a.vmp)
		if err != nil {
			return nil, err
		}
		g.acute = append(g.acute, acuteDef{prod: i, qtys: a.qtys, dose: a.dose})
	}
	g.morphine, g.oxycodone = morphineFamily, oxycodoneFamily
	if err := g.morphine.resolve(c); err != nil {
		return nil, err
	}
	if err := g.oxycodone.resolve(c); err != nil {
		return nil, err
	}
	for _, i := range c.byRole[roleGaba] {
		p := c.products[i]
		if strings.HasPrefix(p.bnf, "0408010") && (p.unit == "tablet" || p.unit == "capsule") {
			g.gabaOral = append(g.gabaOral, i)
		}
	}
	for _, i := range c.byRole[roleBenzo] {
		if u := c.products[i].unit; u == "tablet" || u == "capsule" {
			g.benzoOral = append(g.benzoOral, i)
		}
	}
	for _, i := range c.byRole[roleOpioid] {
		if c.products[i].omeStatus == omeNone {
			g.unknownOME = append(g.unknownOME, i)
		}
	}
	g.filler = c.byRole[roleFiller]
	g.review = c.byRole[roleReview]
	g.cancer = c.byRole[roleCancer]
	g.palliative = c.byRole[rolePalliative]
	g.careHome = c.byRole[roleCareHome]
	g.otherEvt = c.byRole[roleOtherEvent]
	if len(g.gabaOral) == 0 || len(g.benzoOral) == 0 || len(g.unknownOME) == 0 {
		return nil, fmt.Errorf("catalogue lacks oral gabapentinoids, benzodiazepines or unknown-OME opioids")
	}
	g.unmappedRows = 16
	return g, nil
}

// pgen is the state of generating one patient.
type pgen struct {
	g    *generator
	r    *rand.Rand
	p    *patientRec
	seq  int32
	pref map[int]int // VMP catalogue index -> the code this patient usually gets
}

func (g *generator) patient(i int) *patientRec {
	pg := &pgen{g: g, r: rand.New(rand.NewPCG(g.seed, uint64(i))), p: &patientRec{id: PatientIDBase + int64(i+1)*PatientIDStride, dod: noDay}}
	pg.run()
	return pg.p
}

func (pg *pgen) uniform(lo, hi day) day { // inclusive
	if hi <= lo {
		return lo
	}
	return lo + day(pg.r.IntN(int(hi-lo)+1))
}

func (pg *pgen) chance(p float64) bool { return pg.r.Float64() < p }

func (pg *pgen) expDays(meanYears float64) day {
	return day(pg.r.ExpFloat64() * meanYears * 365.25)
}

func (pg *pgen) poisson(mean float64) int {
	// Knuth; means here are small.
	if mean <= 0 {
		return 0
	}
	if mean > 30 {
		return max(0, int(math.Round(mean+math.Sqrt(mean)*pg.r.NormFloat64())))
	}
	l, k, p := math.Exp(-mean), 0, 1.0
	for {
		p *= pg.r.Float64()
		if p <= l {
			return k
		}
		k++
	}
}

// fromBands draws an age and a sex from bands.
func (pg *pgen) fromBands(bands []ageBand) (int, byte) {
	total := 0.0
	for _, b := range bands {
		total += b.pct
	}
	u := pg.r.Float64() * total
	b := bands[len(bands)-1]
	for _, x := range bands {
		if u < x.pct {
			b = x
			break
		}
		u -= x.pct
	}
	age := b.lo + pg.r.IntN(b.hi-b.lo+1)
	sex := byte('F')
	if pg.r.Float64() < b.male {
		sex = 'M'
	}
	if pg.chance(pSexUnknown) {
		sex = 'U'
	}
	return age, sex
}

// bornAged returns a date of birth giving age a on date on.
func (pg *pgen) bornAged(a int, on day) day {
	return on.addYears(-a) - day(pg.r.IntN(365))
}

// interval is a closed range of days.
type interval struct{ a, b day }

func (pg *pgen) run() {
	g, p, r := pg.g, pg.p, pg.r
	// Who: still registered at the end, left, or died in the window.
	u := r.Float64() * (1 + (leaveRatePerYear+deathRatePerYear)*g.years)
	var mainStart, mainEnd day
	kind := 0 // 0 current, 1 left, 2 died
	switch {
	case u < 1:
		age, sex := pg.fromBands(listPyramid)
		p.sex, p.dob = sex, pg.bornAged(age, g.end)
		mainStart, mainEnd = g.end-pg.expDays(meanCurrentSpellYears), noDay
	case u < 1+leaveRatePerYear*g.years:
		kind = 1
		mainEnd = pg.uniform(g.start, g.end-1)
		age, sex := pg.fromBands(leaverAges)
		p.sex, p.dob = sex, pg.bornAged(age, mainEnd)
		mainStart = mainEnd - pg.expDays(meanLeaverSpellYears)
	default:
		kind = 2
		p.dod = pg.uniform(g.start, g.end)
		age, sex := pg.fromBands(deathAges)
		p.sex, p.dob = sex, pg.bornAged(age, p.dod)
		mainStart = p.dod - pg.expDays(meanDeceasedSpellYear)
		mainEnd = p.dod
		if pg.chance(pDeathRegLag) {
			mainEnd += day(1 + r.IntN(14))
		}
	}
	if mainStart < p.dob {
		mainStart = p.dob + day(r.IntN(43))
	}
	if mainEnd != noDay && mainStart >= mainEnd {
		mainStart = max(p.dob, mainEnd-1)
	}
	if mainEnd == noDay && mainStart > g.end {
		mainStart = g.end
	}
	if pg.chance(pIMDNull) {
		p.imd = 0
	} else {
		p.imd = 1 + r.IntN(10)
		lo, hi := imdRankRange(p.imd)
		// Ranks are rounded to the hundred, as in TPP's ImdRankRounded.
		loH, hiH := (lo+99)/100, hi/100
		p.imdRnk = 100 * (loH + r.IntN(hiH-loH+1))
	}
	p.regs = append(p.regs, reg{g.practice, mainStart, mainEnd})
	// Earlier spell at this practice (left and came back).
	if pg.chance(pEarlierSpell) {
		e0 := mainStart - day(30+r.IntN(1070))
		s0 := e0 - pg.expDays(4)
		if s0 < p.dob {
			s0 = p.dob
		}
		if e0 > s0 {
			p.regs = append(p.regs, reg{g.practice, s0, e0})
		}
	}
	// Overlapping spell inside the main one (a duplicate registration).
	mainB := mainEnd
	if mainB == noDay {
		mainB = g.end
	}
	if pg.chance(pOverlappingSpell) && mainB-mainStart > 60 {
		s := pg.uniform(mainStart, mainStart+(mainB-mainStart)/2)
		e := min(s+day(30+r.IntN(700)), mainB)
		if mainEnd == noDay && pg.chance(0.3) {
			e = noDay
		}
		p.regs = append(p.regs, reg{g.practice, s, e})
	}
	// Spells at other practices.
	if pg.chance(pOtherPracticeSpel) {
		other := g.others[r.IntN(len(g.others))]
		if kind == 1 && pg.chance(0.4) {
			s := mainEnd + day(1+r.IntN(30))
			if s <= g.end {
				p.regs = append(p.regs, reg{other, s, noDay})
			}
		} else if mainStart-p.dob > 400 {
			e := mainStart - day(r.IntN(2))
			s := max(p.dob, e-pg.expDays(5))
			if e > s {
				p.regs = append(p.regs, reg{other, s, e})
			}
		}
	}

	// Periods with data: own-practice spells inside the window.
	var act []interval
	for _, rg := range p.regs {
		if rg.ods != g.practice {
			continue
		}
		b := rg.end
		if b == noDay || b > g.end {
			b = g.end
		}
		if p.dod != noDay && b > p.dod {
			b = p.dod
		}
		a := max(rg.start, g.start)
		if a <= b {
			act = append(act, interval{a, b})
		}
	}
	act = mergeIntervals(act)
	main := interval{noDay, noDay}
	for _, iv := range act {
		if main.a == noDay || iv.b-iv.a > main.b-main.a {
			main = iv
		}
	}

	pg.events(kind, mainStart, mainEnd)
	if main.a != noDay {
		pg.scenario(kind, main)
		pg.otherMedicines(act, main)
		if kind == 0 && pg.chance(pFutureIssue) {
			pg.fillerIssue(g.end+day(1+r.IntN(60)), false)
		}
	}
	if p.scen.name == "" {
		p.scen.name = ScenarioNone
	}
	p.scen.excludedFrom = noDay
	for _, e := range p.events {
		role := g.cat.products[e.code].role
		if (role == roleCancer || role == rolePalliative) && (p.scen.excludedFrom == noDay || e.date < p.scen.excludedFrom) {
			p.scen.excludedFrom = e.date
		}
	}
	slices.SortStableFunc(p.issues, func(a, b issue) int {
		if a.date != b.date {
			return int(a.date - b.date)
		}
		return int(a.seq - b.seq)
	})
	slices.SortStableFunc(p.events, func(a, b event) int {
		if a.date != b.date {
			return int(a.date - b.date)
		}
		return int(a.seq - b.seq)
	})
	slices.SortStableFunc(p.regs, func(a, b reg) int { return int(a.start - b.start) })
}

func mergeIntervals(iv []interval) []interval {
	slices.SortFunc(iv, func(x, y interval) int { return int(x.a - y.a) })
	var out []interval
	for _, x := range iv {
		if n := len(out); n > 0 && x.a <= out[n-1].b+1 {
			out[n-1].b = max(out[n-1].b, x.b)
			continue
		}
		out = append(out, x)
	}
	return out
}

// imdRankRange returns the LSOA ranks of an IMD 2019 decile.
func imdRankRange(decile int) (lo, hi int) {
	w := float64(imdLSOAs) / 10
	return int(math.Floor(float64(decile-1)*w)) + 1, int(math.Floor(float64(decile) * w))
}

func (pg *pgen) minute() int16 {
	if pg.chance(pMidnight) {
		return 0
	}
	return int16(8*60 + pg.r.IntN(10*60+30))
}

func (pg *pgen) addIssue(d day, prod int, qty float64, dose string) *issue {
	pg.seq++
	pg.p.issues = append(pg.p.issues, issue{
		date: d, prod: int32(prod), qty: qty, dose: dose, minute: pg.minute(),
		withUnit: pg.chance(pQtyWithUnit), unmapped: -1, seq: pg.seq,
	})
	return &pg.p.issues[len(pg.p.issues)-1]
}

func (pg *pgen) addEvent(d day, code int) {
	pg.seq++
	pg.p.events = append(pg.p.events, event{date: d, code: int32(code), minute: pg.minute(), seq: pg.seq})
}

func (pg *pgen) pick(list []int) int { return list[pg.r.IntN(len(list))] }

// code returns the dm+d code issued for a VMP: each patient mostly gets one
// product (the VMP or a brand), sometimes another.
func (pg *pgen) code(vmp int) int {
	opts := pg.g.cat.ampsOf[pg.g.cat.products[vmp].code]
	if len(opts) <= 1 {
		return vmp
	}
	if pg.pref == nil {
		pg.pref = map[int]int{}
	}
	c, ok := pg.pref[vmp]
	if !ok {
		c = vmp
		if !pg.chance(0.6) {
			c = opts[1+pg.r.IntN(len(opts)-1)]
		}
		pg.pref[vmp] = c
	}
	if pg.chance(0.1) {
		return opts[pg.r.IntN(len(opts))]
	}
	return c
}

// fillerQty returns a plausible quantity for a product's unit.
func (pg *pgen) fillerQty(prod int) float64 {
	var qs []float64
	switch pg.g.cat.products[prod].unit {
	case "tablet", "capsule":
		qs = []float64{28, 28, 56, 56, 30, 60, 84, 100, 112}
	case "ml":
		qs = []float64{100, 150, 200, 300, 500}
	case "ampoule":
		qs = []float64{5, 10}
	case "patch":
		qs = []float64{4, 5, 10}
	case "sachet":
		qs = []float64{10, 20, 30}
	case "gram":
		qs = []float64{30, 50, 100}
	default:
		qs = []float64{1, 2, 3}
	}
	return qs[pg.r.IntN(len(qs))]
}

var fillerDoses = []string{"As directed", "ONE to be taken each day", "ONE twice a day", "1 tds", "TWO at night",
	"One to be taken as required", "Use as directed by prescriber", "1 ON", "ONE three times a day", "apply as needed"}

// fillerIssue writes one non-opioid-measure issue with the mess of real data.
func (pg *pgen) fillerIssue(d day, mess bool) {
	prod := pg.pick(pg.g.filler)
	pg.fillerProductIssue(d, prod, pg.fillerQty(prod), mess)
}

func (pg *pgen) fillerProductIssue(d day, prod int, qty float64, mess bool) {
	dose := ""
	if !pg.chance(0.1) {
		dose = fillerDoses[pg.r.IntN(len(fillerDoses))]
	}
	is := pg.addIssue(d, prod, qty, dose)
	if pg.g.cat.products[prod].role == roleFiller && pg.chance(pUnmapped) {
		is.unmapped = int16(pg.r.IntN(pg.g.unmappedRows))
	}
	if !mess {
		return
	}
	switch u := pg.r.Float64(); {
	case u < pNullQty:
		is.qtyNull, is.qty = true, 0
	case u < pNullQty+pZeroQty:
		is.qty = 0
	}
	if pg.chance(pDupIssue) {
		dup := *is
		pg.seq++
		dup.seq = pg.seq
		pg.p.issues = append(pg.p.issues, dup)
	}
}

// repeatIssues issues prod every interval days (with jitter) from a to b.
func (pg *pgen) repeatIssues(a, b day, prod int, every int, qty float64, mess bool) {
	for d := a; d <= b; d += day(every - 3 + pg.r.IntN(9)) {
		pg.fillerProductIssue(d, prod, qty, mess)
	}
}

// otherMedicines writes repeats and acute issues of medicines other than
// in-scope opioids.
func (pg *pgen) otherMedicines(act []interval, main interval) {
	g, p, r := pg.g, pg.p, pg.r
	age := p.dob.ageOn(main.a + (main.b-main.a)/2)
	adult := p.dob.addYears(18)
	for k := pg.poisson(meanRepeats(age) * repeatScale); k > 0; k-- {
		a := main.a
		if !pg.chance(0.6) {
			a = pg.uniform(main.a, main.b)
		}
		b := min(main.b, a+pg.expDays(6))
		every := 28
		if pg.chance(0.25) {
			every = 56
		}
		prod := pg.pick(g.filler)
		pg.repeatIssues(a, b, prod, every, pg.fillerQty(prod), true)
	}
	for _, iv := range act {
		yrs := float64(iv.b-iv.a+1) / 365.25
		for k := pg.poisson(acutePerYear(p.dob.ageOn(iv.a)) * yrs); k > 0; k-- {
			pg.fillerIssue(pg.uniform(iv.a, iv.b), true)
		}
	}
	// Gabapentinoids and benzodiazepines.
	lt := p.scen.start != noDay && p.scen.name != ScenarioAcute && p.scen.name != ""
	pGaba, pBenzo := pGabaOther, pBenzoOther
	if lt {
		pGaba, pBenzo = pGabaLongTerm, pBenzoLongTerm
	}
	a0 := max(main.a, adult)
	if a0 > main.b {
		return
	}
	for _, cls := range []struct {
		p    float64
		list []int
		name string
	}{{pGaba, g.gabaOral, "gabapentinoid"}, {pBenzo, g.benzoOral, "benzodiazepine"}} {
		if !pg.chance(cls.p) {
			continue
		}
		var a, b day
		if lt {
			a = min(p.scen.start+day(r.IntN(180)), p.scen.end)
			b = p.scen.end
		} else {
			a = pg.uniform(a0, main.b)
			b = min(main.b, a+day(180+r.IntN(900)))
		}
		prod := pg.pick(cls.list)
		qty := []float64{28, 56, 84, 112}[r.IntN(4)]
		pg.repeatIssues(a, b, prod, 28, qty, false)
		switch p.scen.coprescribed {
		case "":
			p.scen.coprescribed = cls.name
		default:
			p.scen.coprescribed = "both"
		}
	}
	// Medication reviews for people on repeats who are not long-term users
	// (theirs are written with the trajectory).
	if !lt && len(p.issues) > 8 {
		y0, _, _ := a0.civil()
		y1, _, _ := main.b.civil()
		for y := y0; y <= y1; y++ {
			if pg.chance(pReviewYearRepeats) {
				d := pg.uniform(max(a0, mkDay(y, 1, 1)), min(main.b, mkDay(y, 12, 31)))
				pg.addEvent(d, pg.pick(g.review))
			}
		}
	}
}

// repeatScale calibrates repeat counts to about 18 issues per patient-year.
const repeatScale = 2.7

// events writes cancer, palliative care and other coded events.
func (pg *pgen) events(kind int, mainStart, mainEnd day) {
	g, p, r := pg.g, pg.p, pg.r
	b := mainEnd
	if b == noDay || b > g.end {
		b = g.end
	}
	if p.dod != noDay && b > p.dod {
		b = p.dod
	}
	// Cancer: one diagnosis at most, with follow-up codes.
	for a := max(mainStart, g.start.addYears(-5)); a <= b; a = a.addYears(1) {
		if pg.chance(cancerHazard(p.dob.ageOn(a))) {
			d := pg.uniform(a, min(b, a.addYears(1)-1))
			code := pg.pick(g.cancer)
			pg.addEvent(d, code)
			for k := pg.poisson(1); k > 0; k-- {
				f := d + day(r.IntN(540))
				if f <= b {
					if pg.chance(0.3) {
						code = pg.pick(g.cancer)
					}
					pg.addEvent(f, code)
				}
			}
			break
		}
	}
	if kind == 2 && pg.chance(pPalliativeAtDeath) {
		for k := 1 + r.IntN(3); k > 0; k-- {
			pg.addEvent(pg.uniform(max(mainStart, p.dod-365), p.dod), pg.pick(g.palliative))
		}
	} else if kind != 2 && pg.chance(pPalliativeOther) {
		pg.addEvent(pg.uniform(max(mainStart, g.start, b-730), b), pg.pick(g.palliative))
	}
	if p.dob.ageOn(b) >= 80 && pg.chance(pCareHome80) {
		pg.addEvent(pg.uniform(max(mainStart, b-3*365), b), pg.pick(g.careHome))
	}
	if p.dob.ageOn(b) >= 18 && pg.chance(pDependency) {
		pg.addEvent(pg.uniform(max(mainStart, p.dob.addYears(18)), b), pg.pick(g.otherEvt))
	}
	if kind == 0 && pg.chance(pFutureEvent) {
		codes := g.careHome
		if pg.chance(0.5) {
			codes = g.review
		}
		pg.addEvent(g.end+day(1+r.IntN(180)), pg.pick(codes))
	}
}
