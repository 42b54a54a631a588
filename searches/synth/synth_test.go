package synth

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"

	"github.com/nhs-steward/steward/searches/schema"
)

// One 5,000-patient practice (10 years) shared by the distribution and
// scenario tests, generated through the in-memory writer.
var (
	sharedOnce sync.Once
	sharedPD   *practiceData
	sharedSum  *Summary
)

const sharedPatients = 5000

func shared(t *testing.T) (*practiceData, *Summary) {
	t.Helper()
	sharedOnce.Do(func() {
		sharedPD, sharedSum = genMemory(t, smallConfig(sharedPatients))
	})
	if sharedPD == nil {
		t.Fatal("shared practice failed to generate")
	}
	return sharedPD, sharedSum
}

// tableHash hashes every row of table in order.
func tableHash(t *testing.T, db *sql.DB, table, order string) (string, int) {
	t.Helper()
	rows, err := db.Query("SELECT * FROM " + table + " ORDER BY " + order)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	h := sha256.New()
	n := 0
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		for _, v := range vals {
			if b, ok := v.([]byte); ok {
				v = string(b)
			}
			fmt.Fprintf(h, "%T:%v|", v, v)
		}
		h.Write([]byte{'\n'})
		n++
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil)), n
}

var canonicalOrder = map[string]string{
	"patients":          "patient_id",
	"registrations":     "patient_id, start_date, practice_ods, end_date",
	"medication_issues": "issue_id",
	"clinical_events":   "event_id",
	ScenarioTable:       "patient_id",
}

func practiceHash(t *testing.T, db *sql.DB) string {
	t.Helper()
	var parts []string
	for _, table := range append(append([]string{}, schema.Tables...), ScenarioTable) {
		h, n := tableHash(t, db, table, canonicalOrder[table])
		parts = append(parts, fmt.Sprintf("%s:%d:%s", table, n, h))
	}
	return strings.Join(parts, " ")
}

func TestDeterministic(t *testing.T) {
	cfg := smallConfig(sqlitePatients)
	cfg.Workers = 1
	db1, _ := genSQLite(t, cfg)
	cfg.Workers = 3
	db2, _ := genSQLite(t, cfg)
	h1, h2 := practiceHash(t, db1), practiceHash(t, db2)
	if h1 != h2 {
		t.Fatalf("same seed, different workers: tables differ\n%s\n%s", h1, h2)
	}
	cfg.Seed++
	db3, _ := genSQLite(t, cfg)
	if h3 := practiceHash(t, db3); h3 == h1 {
		t.Fatalf("different seeds wrote identical practices")
	}
}

func within(t *testing.T, what string, got, lo, hi float64) {
	t.Helper()
	if got < lo || got > hi {
		t.Errorf("%s = %.4f, want within [%.4f, %.4f]", what, got, lo, hi)
	} else {
		t.Logf("%s = %.4f (target range [%.4f, %.4f])", what, got, lo, hi)
	}
}

func TestDistributions(t *testing.T) {
	pd, _ := shared(t)
	ref := loadRef(t)
	end := dayOf(DefaultEnd)

	// Age bands and sex of the list registered at the end, against the
	// NHS Digital pyramid in model.go: each broad band within 2.5 points.
	bands := []int{0, 18, 40, 65, 80, 200}
	want := make([]float64, 5)
	total := 0.0
	for _, b := range listPyramid {
		total += b.pct
		for age := b.lo; age <= b.hi; age++ {
			for k := range 5 {
				if age >= bands[k] && age < bands[k+1] {
					want[k] += b.pct / float64(b.hi-b.lo+1)
				}
			}
		}
	}
	got := make([]float64, 5)
	var reg, male, unknown, imdNull int
	deciles := make([]int, 11)
	for _, id := range pd.ids {
		if !pd.registered(id, end) {
			continue
		}
		reg++
		p := pd.patients[id]
		age := p.dob.ageOn(end)
		for k := range 5 {
			if age >= bands[k] && age < bands[k+1] {
				got[k]++
			}
		}
		switch p.sex {
		case "M":
			male++
		case "U":
			unknown++
		}
		deciles[p.imd]++
		if p.imd == 0 {
			imdNull++
		}
	}
	for k := range 5 {
		w := 100 * want[k] / total
		within(t, fmt.Sprintf("%% of list aged %d-%d", bands[k], bands[k+1]-1), 100*got[k]/float64(reg), w-2.5, w+2.5)
	}
	within(t, "male share of list", float64(male)/float64(reg), 0.47, 0.52)
	within(t, "sex U share", float64(unknown)/float64(reg), 0, 0.005)
	within(t, "IMD NULL share", float64(imdNull)/float64(reg), 0.01, 0.045)
	for d := 1; d <= 10; d++ {
		within(t, fmt.Sprintf("IMD decile %d share", d), float64(deciles[d])/float64(reg-imdNull), 0.075, 0.125)
	}

	// About 18 issues per patient per registered year.
	yrs, n := pd.personYears(dayOf(DefaultStart), end)
	within(t, "issues per registered patient-year", float64(n)/yrs, 16, 20)

	// Churn and deaths, per year of the list at the start of the year.
	var sj, sl, sd float64
	years := 0
	for y := 2015; y <= 2024; y++ {
		l, j, lv, d := pd.churn(mkDay(y, 4, 1), mkDay(y+1, 3, 31))
		sj += float64(j) / float64(l)
		sl += float64(lv) / float64(l)
		sd += float64(d) / float64(l)
		years++
	}
	within(t, "joiners per year (share of list)", sj/float64(years), 0.04, 0.10)
	within(t, "leavers per year (share of list)", sl/float64(years), 0.04, 0.09)
	within(t, "deaths per year (share of list)", sd/float64(years), 0.0075, 0.0115)

	// Long-term opioid prevalence among eligible adults at yearly month-end
	// as-of dates, high dose as a share of long-term, reviews.
	var m measures
	for y := 2016; y <= 2025; y++ {
		a := mkDay(y, 3, 31)
		ma := pd.measure(ref, a)
		t.Logf("%s: %s", a, ma)
		within(t, fmt.Sprintf("long-term prevalence at %s", a), float64(ma.longTerm)/float64(ma.eligible), 0.02, 0.04)
		m.adults += ma.adults
		m.eligible += ma.eligible
		m.longTerm += ma.longTerm
		m.highDose += ma.highDose
		m.ltReviewed += ma.ltReviewed
	}
	within(t, "long-term prevalence, pooled", float64(m.longTerm)/float64(m.eligible), 0.025, 0.038)
	within(t, "high dose share of long-term, pooled", float64(m.highDose)/float64(m.longTerm), 0.06, 0.15)
	within(t, "long-term reviewed in 12 months, pooled", float64(m.ltReviewed)/float64(m.longTerm), 0.60, 0.85)

	// Cancer in the last 60 months and palliative care among adults at end.
	var adults, cancer5, pal int
	for _, id := range pd.ids {
		if !pd.adult(id, end) {
			continue
		}
		adults++
		for _, k := range pd.evByPat[id] {
			ev := pd.events[k]
			if ref.cancer[ev.code] && ev.date >= monthStart(end.monthIndex()-59) && ev.date <= end {
				cancer5++
				break
			}
		}
		for _, k := range pd.evByPat[id] {
			if ref.pal[pd.events[k].code] && pd.events[k].date <= end {
				pal++
				break
			}
		}
	}
	within(t, "adults with cancer coded in 60 months", float64(cancer5)/float64(adults), 0.01, 0.05)
	within(t, "adults alive with a palliative code", float64(pal)/float64(adults), 0.001, 0.01)
	var deaths, palDeaths int
	for _, id := range pd.ids {
		if p := pd.patients[id]; p.dod != noDay {
			deaths++
			for _, k := range pd.evByPat[id] {
				if ref.pal[pd.events[k].code] {
					palDeaths++
					break
				}
			}
		}
	}
	within(t, "deaths with a palliative code", float64(palDeaths)/float64(deaths), 0.25, 0.5)
}

func TestCodesFromReference(t *testing.T) {
	pd, _ := shared(t)
	ref := loadRef(t)
	var inScope, gaba, benzo, other, cancer, pal, rvw, outside int
	for _, is := range pd.issues {
		if !ref.dmd[is.code] {
			t.Fatalf("issue code %s is not a dm+d code of the reference codelists", is.code)
		}
		switch {
		case ref.inScope[is.code]:
			inScope++
		case ref.gaba[is.code]:
			gaba++
		case ref.benzo[is.code]:
			benzo++
		default:
			other++
		}
	}
	for _, ev := range pd.events {
		if !ref.snomed[ev.code] {
			t.Fatalf("event code %s is not a SNOMED code of the reference codelists", ev.code)
		}
		switch {
		case ref.cancer[ev.code]:
			cancer++
		case ref.pal[ev.code]:
			pal++
		case ref.rvw[ev.code]:
			rvw++
		case !ref.packLists[ev.code]:
			outside++
		}
	}
	t.Logf("issues: in-scope %d, gabapentinoid %d, benzodiazepine %d, other %d", inScope, gaba, benzo, other)
	t.Logf("events: cancer %d, palliative %d, review %d, in no pack list %d", cancer, pal, rvw, outside)
	if inScope == 0 || gaba == 0 || benzo == 0 || other == 0 || cancer == 0 || pal == 0 || rvw == 0 || outside == 0 {
		t.Fatal("a class of codes is missing")
	}
	if frac := float64(other) / float64(len(pd.issues)); frac < 0.8 {
		t.Errorf("other medicines are %.2f of issues, want most", frac)
	}
	// Regimen products carry the OME the reference table gives them.
	g, err := newGenerator(smallConfig(1))
	if err != nil {
		t.Fatal(err)
	}
	for _, set := range [][]regimen{g.stable, g.patch, g.high} {
		for _, r := range set {
			for _, it := range r.items {
				for _, k := range g.cat.ampsOf[g.cat.products[it.prod].code] {
					code := g.cat.products[k].code
					if w, ok := ref.ome[code]; !ok || w != g.cat.products[k].ome {
						t.Errorf("%s (%s): catalogue OME %g, reference %g (known %v)", code, g.cat.products[k].name, g.cat.products[k].ome, w, ok)
					}
				}
			}
		}
	}
	for _, k := range g.unknownOME {
		if _, ok := ref.ome[g.cat.products[k].code]; ok {
			t.Errorf("unknown-OME product %s has a reference OME", g.cat.products[k].code)
		}
	}
}

func TestMess(t *testing.T) {
	pd, _ := shared(t)
	ref := loadRef(t)
	end := dayOf(DefaultEnd)
	var nullQty, zeroQty, dups, futureIssues, futureEvents, inScopeNull, inScopeDup int
	type key struct {
		pid  int64
		date day
		code string
	}
	seen := map[key]bool{}
	for _, is := range pd.issues {
		if is.qtyNull {
			nullQty++
			if ref.inScope[is.code] {
				inScopeNull++
			}
		} else if is.qty == 0 {
			zeroQty++
		}
		k := key{is.pid, is.date, is.code}
		if seen[k] {
			dups++
			if ref.inScope[is.code] {
				inScopeDup++
			}
		}
		seen[k] = true
		if is.date > end {
			futureIssues++
		}
	}
	for _, ev := range pd.events {
		if ev.date > end {
			futureEvents++
		}
	}
	var overlapping, multiSpell, otherPractice, unknownOME int
	for _, id := range pd.ids {
		p := pd.patients[id]
		own := 0
		for i, r := range p.regs {
			if r.ods != pd.ods {
				otherPractice++
				continue
			}
			own++
			for _, q := range p.regs[i+1:] {
				if q.ods == pd.ods && q.start <= endOr(r.end, end) && r.start <= endOr(q.end, end) {
					overlapping++
				}
			}
		}
		if own > 1 {
			multiSpell++
		}
	}
	for _, is := range pd.issues {
		if ref.inScope[is.code] {
			if _, ok := ref.ome[is.code]; !ok {
				unknownOME++
			}
		}
	}
	t.Logf("NULL qty %d (in-scope %d), zero qty %d, same-day duplicates %d (in-scope %d), future issues %d, future events %d",
		nullQty, inScopeNull, zeroQty, dups, inScopeDup, futureIssues, futureEvents)
	t.Logf("overlapping spells %d, patients with several spells %d, spells at other practices %d, in-scope issues with no OME %d",
		overlapping, multiSpell, otherPractice, unknownOME)
	for name, n := range map[string]int{"NULL quantity": nullQty, "zero quantity": zeroQty, "same-day duplicate": dups,
		"future-dated issue": futureIssues, "future-dated event": futureEvents, "in-scope NULL quantity": inScopeNull,
		"in-scope duplicate": inScopeDup, "overlapping spells": overlapping, "multiple spells": multiSpell,
		"other-practice spell": otherPractice, "in-scope issue without OME": unknownOME} {
		if n == 0 {
			t.Errorf("no %s in the practice", name)
		}
	}
}

func endOr(d, or day) day {
	if d == noDay {
		return or
	}
	return d
}

// TestScenarioGuarantees checks, patient by patient, what each scenario
// label promises (docs/synthetic-practice.md), from the generated rows.
func TestScenarioGuarantees(t *testing.T) {
	pd, sum := shared(t)
	ref := loadRef(t)
	end := dayOf(DefaultEnd)
	for _, s := range Scenarios {
		if sum.Scenarios[s] == 0 {
			t.Errorf("no patient with scenario %s", s)
		}
	}
	fails := 0
	checked := map[string]int{} // 3-month windows checked per scenario
	fail := func(id int64, format string, a ...any) {
		fails++
		if fails < 20 {
			t.Errorf("patient %d (%s): %s", id, pd.scen[id].Name, fmt.Sprintf(format, a...))
		}
	}
	for _, id := range pd.ids {
		sc := pd.scen[id]
		var dates []day
		for _, k := range pd.byPat[id] {
			if is := pd.issues[k]; ref.inScope[is.code] && is.date <= end {
				dates = append(dates, is.date)
			}
		}
		if sc.Name == ScenarioNone {
			if len(dates) > 0 {
				fail(id, "has %d in-scope issues", len(dates))
			}
			continue
		}
		if len(dates) == 0 {
			fail(id, "has no in-scope issues")
			continue
		}
		S, E := dayOf(sc.OpioidStart), dayOf(sc.OpioidEnd)
		if dates[0] != S || dates[len(dates)-1] != E {
			fail(id, "in-scope issues run %s..%s, scenario says %s..%s", dates[0], dates[len(dates)-1], S, E)
		}
		covered := map[int]bool{}
		for _, x := range dates {
			covered[x.monthIndex()] = true
		}
		if sc.Name == ScenarioAcute {
			for m := S.monthIndex(); m+2 <= E.monthIndex(); m++ {
				if covered[m] && covered[m+1] && covered[m+2] {
					fail(id, "acute course covers 3 consecutive months from %s", monthStart(m))
				}
			}
			continue
		}
		// Every long-term trajectory: adult and registered throughout.
		if pd.patients[id].dob.ageOn(S) < 18 || !pd.registered(id, S) || !pd.registered(id, E) {
			fail(id, "not an adult registered from %s to %s", S, E)
		}
		phases := [][2]day{{S, E}}
		if sc.Name == ScenarioStopRestart {
			gs, ge := dayOf(sc.GapStart), dayOf(sc.GapEnd)
			if ge-gs < 120 {
				fail(id, "gap %s..%s shorter than 120 days", gs, ge)
			}
			for _, x := range dates {
				if x > gs && x < ge {
					fail(id, "in-scope issue %s inside the gap", x)
				}
			}
			phases = [][2]day{{S, gs}, {ge, E}}
		}
		for _, ph := range phases {
			for m := ph[0].monthIndex(); m <= ph[1].monthIndex(); m++ {
				if !covered[m] {
					fail(id, "month %s has no in-scope issue", monthStart(m))
				}
			}
		}
		// OME over every 3-month window inside a phase.
		for _, ph := range phases {
			for m := ph[0].monthIndex() + 2; m <= ph[1].monthIndex(); m++ {
				a := monthEnd(m)
				_, ome := pd.opioidState(ref, id, a)
				checked[sc.Name]++
				switch sc.Name {
				case ScenarioLongTermStable, ScenarioPatchLongTerm, ScenarioHighDose:
					if ome < 0.9*sc.DailyOME || ome > 1.3*sc.DailyOME {
						fail(id, "daily OME %.1f at %s outside [0.9, 1.3] x intended %.1f", ome, a, sc.DailyOME)
					}
					if (ome >= 120) != (sc.Name == ScenarioHighDose) {
						fail(id, "daily OME %.1f at %s on the wrong side of 120", ome, a)
					}
				case ScenarioStopRestart:
					if ome >= 120 {
						fail(id, "daily OME %.1f at %s is high dose", ome, a)
					}
				case ScenarioEscalating:
					if m == S.monthIndex()+2 && ome >= 120 {
						fail(id, "starts at high dose (%.1f at %s)", ome, a)
					}
					if monthStart(m-2) >= dayOf(sc.HighDoseFrom) && ome < 120 {
						fail(id, "daily OME %.1f at %s after reaching high dose on %s", ome, a, dayOf(sc.HighDoseFrom))
					}
				case ScenarioTapering:
					if m < dayOf(sc.TaperStart).monthIndex() && ome < 120 {
						fail(id, "daily OME %.1f at %s before the taper from %s", ome, a, dayOf(sc.TaperStart))
					}
				case ScenarioExcluded:
					if !pd.excluded(ref, id, a) {
						fail(id, "not excluded at %s", a)
					}
				}
			}
		}
		switch sc.Name {
		case ScenarioLongTermStable, ScenarioPatchLongTerm, ScenarioStopRestart, ScenarioMessy:
			if sc.PeakDailyOME > MaxStableDailyOME {
				fail(id, "intended OME %.1f above %g", sc.PeakDailyOME, MaxStableDailyOME)
			}
		case ScenarioHighDose:
			if sc.DailyOME < MinHighDailyOME {
				fail(id, "intended OME %.1f below %g", sc.DailyOME, MinHighDailyOME)
			}
		case ScenarioEscalating:
			if sc.DailyOME >= MinHighDailyOME || sc.EndDailyOME < MinHighDailyOME || sc.HighDoseFrom.IsZero() {
				fail(id, "escalation %.1f -> %.1f, high from %v", sc.DailyOME, sc.EndDailyOME, sc.HighDoseFrom)
			}
		case ScenarioTapering:
			if sc.DailyOME < MinHighDailyOME || sc.EndDailyOME >= sc.DailyOME || sc.TaperStart.IsZero() {
				fail(id, "taper %.1f -> %.1f from %v", sc.DailyOME, sc.EndDailyOME, sc.TaperStart)
			}
			// 10% steps every 2 to 4 weeks: at least 5 reduced issues.
			n := 0
			for _, x := range dates {
				if x >= dayOf(sc.TaperStart) {
					n++
				}
			}
			if n < 5 {
				fail(id, "only %d taper issues", n)
			}
		case ScenarioExcluded:
			if sc.ExcludedFrom.IsZero() || dayOf(sc.ExcludedFrom) > S {
				fail(id, "excluded from %v, after the start %s", sc.ExcludedFrom, S)
			}
		}
	}
	t.Logf("3-month windows checked per scenario: %v", checked)
	for _, s := range Scenarios[2:] {
		if checked[s] == 0 {
			t.Errorf("no window checked for %s", s)
		}
	}
	if fails > 0 {
		t.Errorf("%d guarantee failures", fails)
	}
}

func TestRefusesExistingTables(t *testing.T) {
	ctx := context.Background()
	db, _ := genSQLite(t, smallConfig(50))
	_, err := Generate(ctx, db, schema.SQLite, smallConfig(50))
	if !errors.Is(err, ErrTablesExist) {
		t.Fatalf("Generate into a generated database = %v, want ErrTablesExist", err)
	}
	before := practiceHash(t, db)
	cfg := smallConfig(60)
	cfg.Force = true
	sum, err := Generate(ctx, db, schema.SQLite, cfg)
	if err != nil {
		t.Fatalf("Generate with Force: %v", err)
	}
	if got, want := sum.Patients, int64(60); got != want {
		t.Fatalf("patients = %d, want %d", got, want)
	}
	if practiceHash(t, db) == before {
		t.Fatal("Force did not replace the tables")
	}
	var n int
	if err := db.QueryRow("SELECT count(*) FROM patients").Scan(&n); err != nil || n != 60 {
		t.Fatalf("patients rows = %d (%v), want 60", n, err)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, cfg := range []Config{
		{Patients: 0},
		{Patients: 10, Practice: "not an ods"},
		{Patients: 10, Layout: "vision"},
		{Patients: 10, Start: DefaultEnd, End: DefaultStart},
	} {
		if err := cfg.normalise(); err == nil {
			t.Errorf("normalise(%+v) = nil, want an error", cfg)
		}
	}
}

func TestDates(t *testing.T) {
	for _, s := range []string{"1900-01-01", "1970-01-01", "2000-02-29", "2024-12-31", "9999-12-31"} {
		d := parseDay(t, s)
		if got := d.String(); got != s {
			t.Errorf("round trip %s = %s", s, got)
		}
	}
	if got := mkDay(2007, 3, 31).ageOn(mkDay(2025, 3, 31)); got != 18 {
		t.Errorf("age = %d, want 18", got)
	}
	if got := mkDay(2007, 4, 1).ageOn(mkDay(2025, 3, 31)); got != 17 {
		t.Errorf("age = %d, want 17", got)
	}
	for dec := 1; dec <= 10; dec++ {
		lo, hi := imdRankRange(dec)
		if dec == 1 && lo != 1 || dec == 10 && hi != imdLSOAs {
			t.Errorf("decile %d ranks %d..%d", dec, lo, hi)
		}
		if math.Abs(float64(hi-lo+1)-3284.4) > 1 {
			t.Errorf("decile %d has %d ranks", dec, hi-lo+1)
		}
	}
}

func TestOtherWindows(t *testing.T) {
	for _, w := range [][2]string{{"2024-01-01", "2024-03-31"}, {"2000-01-01", "2001-12-31"}, {"1995-06-15", "2025-12-31"}} {
		cfg := smallConfig(1500)
		cfg.Start, cfg.End = parseDay(t, w[0]).time(), parseDay(t, w[1]).time()
		pd, sum := genMemory(t, cfg)
		if len(pd.ids) != 1500 || sum.Issues == 0 {
			t.Errorf("window %v: %d patients, %d issues", w, len(pd.ids), sum.Issues)
		}
		end := parseDay(t, w[1])
		for _, is := range pd.issues {
			if is.date > end+60 || is.date < parseDay(t, w[0]) {
				t.Fatalf("window %v: issue dated %s", w, is.date)
			}
		}
	}
}
