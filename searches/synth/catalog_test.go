package synth

import (
	"bytes"
	"encoding/csv"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite catalog.csv from the reference data")

// Where the shared reference data sits relative to this package.
var (
	codelistDir = filepath.Join("..", "codelists")
	omeVMPFile  = filepath.Join("..", "reference", "sources", "ome_vmp.csv")
)

const (
	oralList       = "opensafely-opioid-containing-medicines-oral-excluding-drugs-for-substance-misuse-dmd.csv"
	transdermalLst = "opensafely-opioid-containing-medicines-transdermal-excluding-drugs-for-substance-misuse-dmd.csv"
	gabaList       = "user-anschaf-gabapentinoids-dmd.csv"
	addictiveList  = "opensafely-addictive-medicines.csv"
	medrvwList     = "nhsd-primary-care-domain-refsets-medrvw_cod.csv"
	allReviewsList = "opensafely-medication-reviews-all-types.csv"
	palcareList    = "nhsd-primary-care-domain-refsets-palcare_cod.csv"
	carehomeList   = "nhsd-primary-care-domain-refsets-carehome_cod.csv"
	dependencyList = "user-hjforbes-opioid-dependency-clinical-diagnosis.csv"
)

var cancerLists = []string{
	"opensafely-cancer-excluding-lung-and-haematological-snomed.csv",
	"opensafely-haematological-cancer-snomed.csv",
	"opensafely-lung-cancer-snomed.csv",
}

var reviewLists = []string{
	medrvwList, allReviewsList,
	"opensafely-structured-medication-review-nhs-england.csv",
	"opensafely-care-planning-medication-review-simple-reference-set-nhs-digital.csv",
	"user-chriswood-medication-review.csv",
}

type refRow struct{ code, dmdType, bnf, name, active string }

// readCSV reads a reference file into maps keyed by column name.
func readCSV(path string) ([]map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var out []map[string]string
	for _, r := range recs[1:] {
		m := map[string]string{}
		for i, h := range recs[0] {
			m[h] = r[i]
		}
		out = append(out, m)
	}
	return out, nil
}

// readList reads one codelist in any of its three column layouts.
func readList(name string) ([]refRow, error) {
	rows, err := readCSV(filepath.Join(codelistDir, name))
	if err != nil {
		return nil, err
	}
	var out []refRow
	for _, m := range rows {
		switch {
		case m["dmd_id"] != "":
			n := m["term"]
			if n == "" {
				n = m["dmd_name"]
			}
			out = append(out, refRow{code: m["dmd_id"], dmdType: m["dmd_type"], bnf: m["bnf_code"], name: n})
		case m["id"] != "":
			out = append(out, refRow{code: m["id"], name: m["name"], active: m["active"]})
		default:
			out = append(out, refRow{code: m["code"], name: m["term"]})
		}
	}
	return out, nil
}

// referenceCodes returns every dm+d and every SNOMED code in the shared
// reference codelists.
func referenceCodes() (dmd, snomed map[string]bool, err error) {
	files, err := filepath.Glob(filepath.Join(codelistDir, "*.csv"))
	if err != nil {
		return nil, nil, err
	}
	if len(files) == 0 {
		return nil, nil, fmt.Errorf("no codelists in %s", codelistDir)
	}
	dmd, snomed = map[string]bool{}, map[string]bool{}
	for _, f := range files {
		rows, err := readList(filepath.Base(f))
		if err != nil {
			return nil, nil, err
		}
		for _, r := range rows {
			if r.dmdType != "" {
				dmd[r.code] = true
			} else {
				snomed[r.code] = true
			}
		}
	}
	return dmd, snomed, nil
}

// genericBNF maps a branded BNF presentation code to its generic one.
func genericBNF(b string) string {
	if len(b) != 15 {
		return b
	}
	return b[:9] + "AA" + b[13:15] + b[13:15]
}

func guessUnit(name string) string {
	n := strings.ToLower(name)
	switch {
	case strings.Contains(n, "patch"):
		return "patch"
	case strings.Contains(n, "capsule"):
		return "capsule"
	case strings.Contains(n, "sachet"):
		return "sachet"
	case strings.Contains(n, "suppositor"):
		return "suppository"
	case strings.Contains(n, "ampoule") || strings.Contains(n, "vial") || strings.Contains(n, "injection") || strings.Contains(n, "infusion"):
		return "ampoule"
	case strings.Contains(n, "oral solution") || strings.Contains(n, "linctus") || strings.Contains(n, "suspension") ||
		strings.Contains(n, "mixture") || strings.Contains(n, "elixir") || strings.Contains(n, "syrup") || strings.Contains(n, "liquid") ||
		strings.Contains(n, "oral drops") || strings.Contains(n, "solution"):
		return "ml"
	case strings.Contains(n, "tablet") || strings.Contains(n, "caplet"):
		return "tablet"
	case strings.Contains(n, "spray"):
		return "spray"
	case strings.Contains(n, "gel") || strings.Contains(n, "cream"):
		return "gram"
	}
	return "dose"
}

// buildCatalog derives catalog.csv from the reference data.
func buildCatalog() ([]byte, error) {
	type omeRow struct {
		vmp    string
		weight string
		unit   string
	}
	omeRows, err := readCSV(omeVMPFile)
	if err != nil {
		return nil, err
	}
	omeByVMP := map[string]omeRow{}
	omeByBNF := map[string][]omeRow{}
	for _, m := range omeRows {
		if _, err := strconv.ParseUint(m["vmp_id"], 10, 64); err != nil {
			continue // the two unrepaired, Excel-mangled ids
		}
		r := omeRow{vmp: m["vmp_id"], weight: m["weighting"], unit: m["unit_dose_form_units"]}
		omeByVMP[r.vmp] = r
		omeByBNF[m["bnf_code"]] = append(omeByBNF[m["bnf_code"]], r)
	}

	set := func(names ...string) (map[string]refRow, error) {
		out := map[string]refRow{}
		for _, n := range names {
			rows, err := readList(n)
			if err != nil {
				return nil, err
			}
			for _, r := range rows {
				if _, ok := out[r.code]; !ok {
					out[r.code] = r
				}
			}
		}
		return out, nil
	}
	var rows [][]string
	add := func(role string, r refRow, vmp, status, ome, unit string) {
		rows = append(rows, []string{role, r.code, r.dmdType, r.bnf, vmp, status, ome, unit, r.name})
	}

	// dm+d.
	opioidRoute, err := set(oralList, transdermalLst)
	if err != nil {
		return nil, err
	}
	gaba, err := set(gabaList)
	if err != nil {
		return nil, err
	}
	addictive, err := set(addictiveList)
	if err != nil {
		return nil, err
	}
	files, err := filepath.Glob(filepath.Join(codelistDir, "*.csv"))
	if err != nil {
		return nil, err
	}
	slices.Sort(files)
	var names []string
	for _, f := range files {
		names = append(names, filepath.Base(f))
	}
	all, err := set(names...)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, r := range opioidRoute {
		if !strings.HasPrefix(r.bnf, "0407") || strings.HasPrefix(r.bnf, "040704") {
			continue
		}
		seen[r.code] = true
		vmp, status, ome, unit := "", omeNone, "", guessUnit(r.name)
		if o, ok := omeByVMP[r.code]; ok && r.dmdType == "VMP" {
			vmp, status, ome, unit = o.vmp, omeVMP, o.weight, o.unit
		} else if r.dmdType == "AMP" {
			cands := omeByBNF[genericBNF(r.bnf)]
			switch {
			case len(cands) == 1:
				vmp, status, ome, unit = cands[0].vmp, omeBNF, cands[0].weight, cands[0].unit
			case len(cands) > 1:
				status = omeAmbiguous
			}
		} else if len(omeByBNF[r.bnf]) > 0 {
			status = omeAmbiguous // a VMP without its own row but sharing a BNF code with one
		}
		add(roleOpioid, r, vmp, status, ome, unit)
	}
	for _, r := range gaba {
		if !seen[r.code] {
			seen[r.code] = true
			add(roleGaba, r, "", "", "", guessUnit(r.name))
		}
	}
	for _, r := range addictive {
		if seen[r.code] || !(strings.HasPrefix(r.bnf, "0401010") || strings.HasPrefix(r.bnf, "0401020")) {
			continue
		}
		seen[r.code] = true
		add(roleBenzo, r, "", "", "", guessUnit(r.name))
	}
	for _, r := range all {
		if r.dmdType == "" || seen[r.code] {
			continue
		}
		seen[r.code] = true
		add(roleFiller, r, "", "", "", guessUnit(r.name))
	}

	// SNOMED CT.
	reviewsAny, err := set(reviewLists...)
	if err != nil {
		return nil, err
	}
	cancer, err := set(cancerLists...)
	if err != nil {
		return nil, err
	}
	pal, err := set(palcareList)
	if err != nil {
		return nil, err
	}
	medrvw, err := set(medrvwList)
	if err != nil {
		return nil, err
	}
	allRev, err := set(allReviewsList)
	if err != nil {
		return nil, err
	}
	careHome, err := set(carehomeList)
	if err != nil {
		return nil, err
	}
	other, err := set(dependencyList)
	if err != nil {
		return nil, err
	}
	for _, r := range medrvw {
		if _, ok := allRev[r.code]; ok && !inAny(r.code, pal, cancer) {
			add(roleReview, refRow{code: r.code}, "", "", "", "")
		}
	}
	for _, r := range cancer {
		if r.active == "y" && !inAny(r.code, pal, reviewsAny) {
			add(roleCancer, refRow{code: r.code}, "", "", "", "")
		}
	}
	for _, r := range pal {
		if !inAny(r.code, reviewsAny, cancer) {
			add(rolePalliative, refRow{code: r.code}, "", "", "", "")
		}
	}
	for _, r := range careHome {
		if !inAny(r.code, reviewsAny, cancer, pal) {
			add(roleCareHome, refRow{code: r.code}, "", "", "", "")
		}
	}
	for _, r := range other {
		if !inAny(r.code, reviewsAny, cancer, pal, careHome) {
			add(roleOtherEvent, refRow{code: r.code}, "", "", "", "")
		}
	}

	slices.SortFunc(rows, func(a, b []string) int {
		if c := strings.Compare(a[0], b[0]); c != 0 {
			return c
		}
		return strings.Compare(a[1], b[1])
	})
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	w.Write(catalogHeader)
	w.WriteAll(rows)
	if err := w.Error(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func inAny(code string, sets ...map[string]refRow) bool {
	for _, s := range sets {
		if _, ok := s[code]; ok {
			return true
		}
	}
	return false
}

func TestCatalogUpToDate(t *testing.T) {
	got, err := buildCatalog()
	if err != nil {
		t.Fatalf("build catalogue from reference data: %v", err)
	}
	if *update {
		if err := os.WriteFile("catalog.csv", got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if !bytes.Equal(got, catalogCSV) {
		t.Fatalf("catalog.csv is stale against the reference data: run go test -run TestCatalogUpToDate -update ./searches/synth/")
	}
}
