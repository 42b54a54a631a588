package synth

// The published proportions the generator reproduces. Each figure is a
// rounded public statistic; docs/synthetic-practice.md names the source of
// every one and the tests check the generated practice against them with
// stated tolerances.

// ageBand is one five-year band of the registered list.
type ageBand struct {
	lo, hi int     // ages, inclusive
	pct    float64 // share of the registered list, per cent
	male   float64 // share of the band that is male
}

// listPyramid is the age and sex structure of patients registered at GP
// practices in England (NHS Digital, "Patients Registered at a GP Practice",
// five-year bands, rounded). Registered lists hold more young adults than the
// ONS population because of list inflation.
var listPyramid = []ageBand{
	{0, 4, 5.2, 0.512}, {5, 9, 5.7, 0.512}, {10, 14, 6.1, 0.513}, {15, 19, 5.9, 0.513},
	{20, 24, 6.0, 0.505}, {25, 29, 6.7, 0.497}, {30, 34, 7.2, 0.494}, {35, 39, 7.1, 0.496},
	{40, 44, 6.7, 0.499}, {45, 49, 6.2, 0.497}, {50, 54, 6.6, 0.494}, {55, 59, 6.6, 0.493},
	{60, 64, 5.9, 0.489}, {65, 69, 5.0, 0.482}, {70, 74, 4.5, 0.472}, {75, 79, 4.0, 0.455},
	{80, 84, 2.5, 0.432}, {85, 89, 1.5, 0.395}, {90, 94, 0.7, 0.33}, {95, 104, 0.2, 0.25},
}

// deathAges is the age distribution of deaths in England (ONS deaths
// registered, rounded): most deaths are at 75 and over.
var deathAges = []ageBand{
	{0, 0, 0.4, 0.55}, {1, 44, 2.6, 0.62}, {45, 64, 13.0, 0.58}, {65, 74, 17.0, 0.57},
	{75, 84, 28.0, 0.52}, {85, 94, 32.0, 0.42}, {95, 104, 7.0, 0.25},
}

// leaverAges is the age at leaving a practice: moves cluster in young
// adulthood (students, first jobs, young families).
var leaverAges = []ageBand{
	{0, 4, 7, 0.51}, {5, 17, 10, 0.51}, {18, 24, 20, 0.48}, {25, 34, 27, 0.5},
	{35, 44, 14, 0.51}, {45, 64, 14, 0.5}, {65, 79, 5, 0.47}, {80, 100, 3, 0.4},
}

const (
	// Registration churn per year, as a share of the list: GP practices in
	// England see several per cent of their list leave and join every year.
	leaveRatePerYear = 0.060
	// Deaths per year as a share of the registered list: England's crude
	// death rate is about 0.9-1.0% a year.
	deathRatePerYear = 0.0088
	// Mean length, in years, of the registration of someone still on the
	// list; with it about 7% of the list joined in the last year.
	meanCurrentSpellYears = 25.0
	meanLeaverSpellYears  = 6.0
	meanDeceasedSpellYear = 18.0

	pSexUnknown        = 0.0005 // 'U': indeterminate or not recorded
	pIMDNull           = 0.025  // no LSOA: address not matched, no fixed abode
	pEarlierSpell      = 0.05   // left and re-registered at this practice
	pOverlappingSpell  = 0.01   // a second, overlapping spell at this practice
	pOtherPracticeSpel = 0.10   // a spell at another practice on record
	pDeathRegLag       = 0.10   // registration closed a few days after death

	// IMD 2019: 32,844 LSOAs ranked 1 (most deprived) to 32,844.
	imdLSOAs = 32844
)

// Long-term opioid prescribing: published English estimates put long-term
// use at roughly 2-4% of adults, with about a tenth of them at >= 120 mg/day
// OME. pLongTerm is the chance an adult is ever a long-term user in the
// window; it is calibrated so that point prevalence lands near 3%.
const (
	pLongTerm    = 0.060
	pAcuteCourse = 0.22 // an adult has at least one acute course in the window
)

// longTermMix is the mixture of long-term trajectories.
var longTermMix = []struct {
	name string
	w    float64
}{
	{ScenarioLongTermStable, 0.60},
	{ScenarioPatchLongTerm, 0.10},
	{ScenarioHighDose, 0.028},
	{ScenarioEscalating, 0.02},
	{ScenarioTapering, 0.04},
	{ScenarioStopRestart, 0.07},
	{ScenarioMessy, 0.06},
	{ScenarioExcluded, 0.06},
}

// Relative risk of long-term opioid use: more common with age, in women and
// with deprivation (published English primary-care analyses).
func longTermRR(age int, sex byte, imd int) float64 {
	rr := 1.0
	switch {
	case age < 40:
		rr = 0.45
	case age < 65:
		rr = 1.0
	case age < 80:
		rr = 1.35
	default:
		rr = 1.45
	}
	if sex == 'F' {
		rr *= 1.15
	} else {
		rr *= 0.85
	}
	if imd > 0 {
		rr *= 1.5 - 0.1*float64(imd-1) // decile 1: 1.5, decile 10: 0.6
	}
	return rr
}

// Medicines other than opioids. The mean number of repeat medicines rises
// steeply with age; together with acute issues these give about 18 issues
// per patient per registered year (NHS BSA: about 1.1 billion items a year
// for about 60 million registered patients).
func meanRepeats(age int) float64 {
	switch {
	case age < 18:
		return 0.15
	case age < 40:
		return 0.55
	case age < 65:
		return 1.35
	case age < 80:
		return 2.9
	default:
		return 3.8
	}
}

func acutePerYear(age int) float64 {
	switch {
	case age < 18:
		return 1.0
	case age < 40:
		return 1.6
	case age < 65:
		return 2.4
	default:
		return 3.5
	}
}

// Annual hazard of a new cancer diagnosis by age (cancer registrations in
// England, about 0.6% of the population a year overall, rising with age).
func cancerHazard(age int) float64 {
	switch {
	case age < 25:
		return 0.0002
	case age < 50:
		return 0.0015
	case age < 65:
		return 0.006
	case age < 80:
		return 0.014
	default:
		return 0.018
	}
}

const (
	pPalliativeAtDeath  = 0.35  // palliative care code in the year before death
	pPalliativeOther    = 0.004 // palliative code in the last 2 years on someone not dying in the window
	pReviewYearLongTerm = 0.78  // medication review per year, long-term opioid users
	pReviewYearRepeats  = 0.55  // medication review per year, others on repeats
	pGabaLongTerm       = 0.25
	pBenzoLongTerm      = 0.12
	pGabaOther          = 0.03
	pBenzoOther         = 0.025
	pCareHome80         = 0.04  // care home code, aged 80+
	pDependency         = 0.002 // opioid dependency code, adults
	pFutureIssue        = 0.02  // a filler issue dated after --end
	pFutureEvent        = 0.03  // an event dated after --end
	pFutureOpioid       = 0.2   // long-term user still on at --end: a post-dated issue
	pNullQty            = 0.015 // filler: NULL quantity
	pZeroQty            = 0.007 // filler: zero quantity
	pDupIssue           = 0.01  // filler: same-day duplicate issue
	pUnmapped           = 0.01  // filler, tpp: dictionary row without a dm+d id
	pQtyWithUnit        = 0.3   // tpp: quantity text carries the unit
	pMidnight           = 0.1   // tpp: time of day missing (00:00:00)
)
