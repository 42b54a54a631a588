package synth

import "fmt"

// Scenario names: the opioid trajectory generated for a patient. Their exact
// guarantees are documented in docs/synthetic-practice.md and checked by
// TestScenarioGuarantees.
const (
	ScenarioNone           = "none"
	ScenarioAcute          = "acute_course"
	ScenarioLongTermStable = "long_term_stable"
	ScenarioPatchLongTerm  = "patch_long_term"
	ScenarioHighDose       = "long_term_high_dose"
	ScenarioEscalating     = "escalating_to_high_dose"
	ScenarioTapering       = "long_term_high_dose_tapering"
	ScenarioStopRestart    = "stop_restart"
	ScenarioMessy          = "long_term_messy"
	ScenarioExcluded       = "long_term_excluded"
)

// Scenarios lists every scenario name, in a fixed order.
var Scenarios = []string{
	ScenarioNone, ScenarioAcute, ScenarioLongTermStable, ScenarioPatchLongTerm, ScenarioHighDose,
	ScenarioEscalating, ScenarioTapering, ScenarioStopRestart, ScenarioMessy, ScenarioExcluded,
}

// Bands of intended daily OME (mg/day) that the regimens respect, so that a
// 3-month MedSIP daily OME, which lies between 0.91 and 1.26 times the
// intended rate for a steady 28-day regimen, is unambiguous about high dose.
const (
	MaxStableDailyOME = 90.0  // stable, patch, stop/restart, messy, excluded regimens
	MinHighDailyOME   = 135.0 // high-dose regimens and the top of an escalation
)

// VMP ids from ome_vmp.csv (all in the oral or transdermal opioid codelists,
// BNF 0407). Checked on load: each must be an in-scope opioid with its own
// OME row.
const (
	vmpCoCodamol30Tab   = "42009811000001101" // Co-codamol 30mg/500mg tablets
	vmpCoCodamol30Cap   = "42009511000001104" // Co-codamol 30mg/500mg capsules
	vmpCoCodamol15Tab   = "3805611000001109"  // Co-codamol 15mg/500mg tablets
	vmpCoCodamol8Tab    = "42010211000001106" // Co-codamol 8mg/500mg tablets
	vmpCoDydramol10     = "42010611000001108" // Co-dydramol 10mg/500mg tablets
	vmpCoDydramol30     = "42010811000001107" // Co-dydramol 30mg/500mg tablets
	vmpCodeine30        = "42010411000001105" // Codeine 30mg tablets
	vmpDihydrocodeine30 = "39708511000001104" // Dihydrocodeine 30mg tablets
	vmpTramadol50Cap    = "42017811000001106" // Tramadol 50mg capsules
	vmpTramadolMR100    = "35920311000001103" // Tramadol 100mg modified-release tablets
	vmpTramadolMR200    = "35920811000001107" // Tramadol 200mg modified-release tablets
	vmpMorphineMR5      = "36127511000001108" // Morphine 5mg modified-release tablets
	vmpMorphineMR10     = "36126511000001106" // Morphine 10mg modified-release tablets
	vmpMorphineMR15     = "36126811000001109" // Morphine 15mg modified-release tablets
	vmpMorphineMR30     = "36127311000001102" // Morphine 30mg modified-release tablets
	vmpMorphineMR60     = "36127711000001103" // Morphine 60mg modified-release tablets
	vmpMorphineMR100    = "36126211000001108" // Morphine 100mg modified-release tablets
	vmpMorphineSol      = "36128311000001101" // Morphine sulfate 10mg/5ml oral solution
	vmpOxycodoneMR5     = "36131011000001107" // Oxycodone 5mg modified-release tablets
	vmpOxycodoneMR10    = "36129511000001101" // Oxycodone 10mg modified-release tablets
	vmpOxycodoneMR20    = "36130411000001107" // Oxycodone 20mg modified-release tablets
	vmpOxycodoneMR40    = "36130911000001104" // Oxycodone 40mg modified-release tablets
	vmpOxycodoneMR60    = "36131311000001105" // Oxycodone 60mg modified-release tablets
	vmpOxycodoneMR80    = "36131511000001104" // Oxycodone 80mg modified-release tablets
	vmpOxycodone5Cap    = "42016011000001103" // Oxycodone 5mg capsules
	vmpTapentadolMR50   = "18672211000001103" // Tapentadol 50mg modified-release tablets
	vmpTapentadolMR100  = "18671811000001106" // Tapentadol 100mg modified-release tablets
	vmpTapentadolMR250  = "18672111000001109" // Tapentadol 250mg modified-release tablets
	vmpFentanyl12       = "9752311000001101"  // Fentanyl 12micrograms/hour transdermal patches
	vmpFentanyl25       = "36120011000001101" // Fentanyl 25micrograms/hour transdermal patches
	vmpFentanyl50       = "36120211000001106" // Fentanyl 50micrograms/hour transdermal patches
	vmpFentanyl75       = "36120311000001103" // Fentanyl 75micrograms/hour transdermal patches
	vmpFentanyl100      = "36119911000001103" // Fentanyl 100micrograms/hour transdermal patches
	vmpBuprenorphine5   = "9567211000001104"  // Buprenorphine 5micrograms/hour transdermal patches (7-day)
	vmpBuprenorphine10  = "9567411000001100"  // Buprenorphine 10micrograms/hour transdermal patches (7-day)
	vmpBuprenorphine15  = "32038411000001102" // Buprenorphine 15micrograms/hour transdermal patches (7-day)
	vmpBuprenorphine20  = "9567311000001107"  // Buprenorphine 20micrograms/hour transdermal patches (7-day)
	vmpBuprenorphine35  = "35913711000001103" // Buprenorphine 35micrograms/hour transdermal patches (96-hour)
	vmpBuprenorphine70  = "35913911000001101" // Buprenorphine 70micrograms/hour transdermal patches (96-hour)
)

// itemDef is one product of a regimen, issued every 28 days.
type itemDef struct {
	vmp   string
	qty28 float64 // quantity per 28-day issue, in the dm+d unit
	dose  string
}

type regimenDef struct{ items []itemDef }

var (
	stableRegimens = []regimenDef{
		{[]itemDef{{vmpCoCodamol30Tab, 224, "TWO tablets FOUR times a day"}}},
		{[]itemDef{{vmpCoCodamol30Tab, 112, "ONE or TWO tablets up to four times a day"}}},
		{[]itemDef{{vmpCoCodamol30Cap, 224, "TWO capsules four times a day"}}},
		{[]itemDef{{vmpCoCodamol15Tab, 224, "2 tablets 4 times a day"}}},
		{[]itemDef{{vmpCoDydramol10, 224, "TWO tablets FOUR times a day"}}},
		{[]itemDef{{vmpCoDydramol30, 112, "ONE tablet four times a day"}}},
		{[]itemDef{{vmpCodeine30, 112, "ONE tablet four times a day"}}},
		{[]itemDef{{vmpDihydrocodeine30, 112, "one tablet every 4-6 hours, max 4 a day"}}},
		{[]itemDef{{vmpTramadol50Cap, 112, "ONE capsule four times a day"}}},
		{[]itemDef{{vmpTramadol50Cap, 224, "TWO capsules four times a day"}}},
		{[]itemDef{{vmpTramadolMR100, 56, "ONE tablet twice a day"}}},
		{[]itemDef{{vmpTramadolMR200, 56, "ONE tablet twice a day"}}},
		{[]itemDef{{vmpMorphineMR10, 56, "ONE tablet twice a day"}}},
		{[]itemDef{{vmpMorphineMR15, 56, "ONE tablet every 12 hours"}}},
		{[]itemDef{{vmpMorphineMR30, 56, "ONE tablet twice a day"}}},
		{[]itemDef{{vmpOxycodoneMR10, 56, "ONE tablet twice daily"}}},
		{[]itemDef{{vmpOxycodoneMR20, 56, "ONE tablet twice daily"}}},
		{[]itemDef{{vmpTapentadolMR50, 56, "ONE tablet twice a day"}}},
		{[]itemDef{{vmpTapentadolMR100, 56, "ONE tablet twice a day"}}},
		{[]itemDef{{vmpMorphineSol, 500, "5ml to 10ml up to four times a day"}}},
		{[]itemDef{{vmpMorphineMR30, 56, "ONE tablet twice a day"}, {vmpMorphineSol, 300, "5ml when required for breakthrough pain"}}},
	}
	patchRegimens = []regimenDef{
		{[]itemDef{{vmpFentanyl12, 10, "Apply ONE patch every 72 hours"}}},
		{[]itemDef{{vmpFentanyl25, 10, "Apply ONE patch every 3 days"}}},
		{[]itemDef{{vmpBuprenorphine5, 4, "Apply ONE patch once a week"}}},
		{[]itemDef{{vmpBuprenorphine10, 4, "Apply ONE patch every 7 days"}}},
		{[]itemDef{{vmpBuprenorphine15, 4, "Apply ONE patch weekly"}}},
		{[]itemDef{{vmpBuprenorphine20, 4, "Apply ONE patch once a week"}}},
		{[]itemDef{{vmpBuprenorphine35, 7, "Apply ONE patch every 4 days"}}},
	}
	highRegimens = []regimenDef{
		{[]itemDef{{vmpMorphineMR100, 56, "ONE tablet twice a day"}}},
		{[]itemDef{{vmpMorphineMR60, 84, "ONE tablet three times a day"}}},
		{[]itemDef{{vmpMorphineMR60, 56, "ONE tablet twice a day"}, {vmpMorphineMR30, 56, "ONE tablet twice a day with 60mg"}}},
		{[]itemDef{{vmpOxycodoneMR60, 56, "ONE tablet twice a day"}}},
		{[]itemDef{{vmpOxycodoneMR80, 56, "ONE tablet every 12 hours"}}},
		{[]itemDef{{vmpTapentadolMR250, 56, "ONE tablet twice a day"}}},
		{[]itemDef{{vmpFentanyl75, 10, "Apply ONE patch every 72 hours"}}},
		{[]itemDef{{vmpFentanyl100, 10, "Apply ONE patch every 72 hours"}}},
		{[]itemDef{{vmpFentanyl50, 10, "Apply ONE patch every 72 hours"}, {vmpFentanyl25, 10, "Apply ONE patch every 72 hours with 50"}}},
		{[]itemDef{{vmpBuprenorphine70, 7, "Apply ONE patch every 96 hours"}}},
	}
	acuteProducts = []struct {
		vmp  string
		qtys []float64
		dose string
	}{
		{vmpCoCodamol30Tab, []float64{30, 32, 56, 60, 100}, "ONE or TWO tablets up to four times a day when required"},
		{vmpCoCodamol30Tab, []float64{100}, "2 QDS PRN"},
		{vmpCoCodamol8Tab, []float64{32, 100}, "TWO tablets four times a day when required"},
		{vmpCodeine30, []float64{28, 56}, "ONE tablet up to four times a day"},
		{vmpDihydrocodeine30, []float64{28, 30, 60}, "ONE tablet every 4 to 6 hours when required"},
		{vmpTramadol50Cap, []float64{30, 56, 100}, "ONE or TWO capsules up to four times a day"},
		{vmpCoDydramol10, []float64{30, 100}, "TWO tablets up to four times a day"},
		{vmpMorphineSol, []float64{100, 300}, "2.5ml to 5ml every 4 hours when required"},
		{vmpOxycodone5Cap, []float64{28, 56}, "ONE capsule every 4-6 hours when required"},
	}
	// Dose-titratable families for escalation and tapering: modified-release
	// tablets taken twice a day. factor is mg OME per mg of drug.
	morphineFamily  = family{name: "morphine MR", vmps: []string{vmpMorphineMR100, vmpMorphineMR60, vmpMorphineMR30, vmpMorphineMR15, vmpMorphineMR10, vmpMorphineMR5}, mgs: []int{100, 60, 30, 15, 10, 5}}
	oxycodoneFamily = family{name: "oxycodone MR", vmps: []string{vmpOxycodoneMR80, vmpOxycodoneMR40, vmpOxycodoneMR20, vmpOxycodoneMR10, vmpOxycodoneMR5}, mgs: []int{80, 40, 20, 10, 5}}
)

// family is a set of strengths of one modified-release product, largest first.
type family struct {
	name string
	vmps []string
	mgs  []int
	idx  []int     // catalogue indices, resolved on load
	ome  []float64 // mg OME per tablet
}

// regimen is a resolved regimenDef.
type regimen struct {
	items []item
	rate  float64 // intended mg OME per day
	name  string  // name of the first product's VMP
}

type item struct {
	prod int
	qty  float64
	dose string
}

type acuteDef struct {
	prod int
	qtys []float64
	dose string
}

func resolveRegimens(c *catalog, defs []regimenDef) ([]regimen, error) {
	var out []regimen
	for _, d := range defs {
		var r regimen
		for _, it := range d.items {
			i, err := c.vmpProduct(it.vmp)
			if err != nil {
				return nil, err
			}
			r.items = append(r.items, item{prod: i, qty: it.qty28, dose: it.dose})
			r.rate += it.qty28 * c.products[i].ome / 28
		}
		r.name = c.products[r.items[0].prod].name
		out = append(out, r)
	}
	return out, nil
}

func checkRates(what string, rs []regimen, lo, hi float64) error {
	for _, r := range rs {
		if r.rate < lo || r.rate > hi {
			return fmt.Errorf("%s regimen %s: intended %.1f mg/day OME outside [%g, %g]", what, r.name, r.rate, lo, hi)
		}
	}
	return nil
}

func (f *family) resolve(c *catalog) error {
	f.idx, f.ome = nil, nil
	for k, v := range f.vmps {
		i, err := c.vmpProduct(v)
		if err != nil {
			return err
		}
		f.idx = append(f.idx, i)
		f.ome = append(f.ome, c.products[i].ome)
		if k > 0 && f.mgs[k] >= f.mgs[k-1] {
			return fmt.Errorf("family %s strengths not descending", f.name)
		}
	}
	return nil
}

// factor is the mg OME per mg of the family's drug.
func (f *family) factor() float64 { return f.ome[len(f.ome)-1] / float64(f.mgs[len(f.mgs)-1]) }

// split returns, for a daily dose of mg (twice a day), tablets per dose of
// each strength.
func (f *family) split(mgPerDay int) []int {
	per := mgPerDay / 2
	n := make([]int, len(f.mgs))
	for k, s := range f.mgs {
		n[k] = per / s
		per -= n[k] * s
	}
	return n
}
