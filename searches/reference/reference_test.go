package reference

import (
	"bytes"
	"encoding/csv"
	"errors"
	"flag"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/nhs-steward/steward/searches/model"
)

var update = flag.Bool("update", false, "rewrite the committed table and report from the sources")

// repoRoot is the repository root seen from this package's directory.
const repoRoot = "../.."

func build(t *testing.T) *Build {
	t.Helper()
	b, err := BuildTable(DefaultInputs(repoRoot))
	if err != nil {
		t.Fatalf("BuildTable: %v", err)
	}
	return b
}

// The committed table and report are exactly what the build produces, so they
// cannot drift from the sources, the codelists or the factor set.
func TestCommittedFilesMatchBuild(t *testing.T) {
	b := build(t)
	var table, report bytes.Buffer
	if err := b.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	if err := b.WriteReport(&report); err != nil {
		t.Fatal(err)
	}
	if *update {
		for name, data := range map[string][]byte{OMEFile: table.Bytes(), UnderivableFile: report.Bytes()} {
			if err := os.WriteFile(name, data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		t.Skip("updated; rerun without -update (the embedded table is compiled in)")
	}
	if !bytes.Equal(omeCSV, table.Bytes()) {
		t.Errorf("%s differs from the build; run `steward reference build` (or go test -update) and review the diff", OMEFile)
	}
	got, err := os.ReadFile(UnderivableFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, report.Bytes()) {
		t.Errorf("%s differs from the build; run `steward reference build` (or go test -update) and review the diff", UnderivableFile)
	}
}

func TestCoverage(t *testing.T) {
	c := build(t).Coverage()
	t.Logf("in scope %d, with OME %d (%.2f%%), without %d; by method %v; by type %v",
		c.InScope, c.WithOME, c.Percent(), c.Without, c.ByMethod, c.ByType)
	if got, want := c.InScope, len(OME().Rows()); got != want {
		t.Errorf("in-scope codes = %d, embedded table has %d", got, want)
	}
	if c.Percent() < 98 {
		t.Errorf("coverage = %.2f%%, want at least 98%%", c.Percent())
	}
	if got := c.ByMethod[MethodNone]; got != c.Without {
		t.Errorf("method none = %d, without OME = %d", got, c.Without)
	}
}

// vmpTableNoStrengthInName are per-VMP table rows whose names carry no
// strength, so the independent derivation cannot reach them. They are not
// disagreements: there is nothing to compare.
var vmpTableNoStrengthInName = map[string]string{
	"18084511000001109": "Generic Solpadeine Max soluble tablets sugar free: brand-style name, no strength",
	"4777011000001101":  "Generic Propain caplets: brand-style name, no strength",
	"10075411000001104": "Generic Solpadeine Plus soluble tablets sugar free: brand-style name, no strength",
	"4009611000001106":  "Generic Ultramol Soluble tablets sugar free: brand-style name, no strength",
	"4934411000001109":  "Generic Syndol Headache Relief tablets: brand-style name, no strength",
	"38555311000001107": "Generic Codasolve 8mg/500mg/30mg effervescent tablets sugar free: brand-style name",
	"42754911000001101": "Buprenorphine 25micrograms/hour patches: out of scope; the factor set has no wear time for 25",
	"42755011000001101": "Buprenorphine 30micrograms/hour patches: out of scope; the factor set has no wear time for 30",
}

// vmpTableDisagreements lists documented source disagreements between the
// per-VMP table and the name-and-factor derivation. There are none.
var vmpTableDisagreements = map[string]string{}

// The name-and-factor derivation, computed without the table, reproduces the
// per-VMP table's weighting for every product the two share.
func TestDerivedEqualsVMPTable(t *testing.T) {
	factors, err := LoadFactors(FactorsFile)
	if err != nil {
		t.Fatal(err)
	}
	table, _, err := LoadVMPTable("sources")
	if err != nil {
		t.Fatal(err)
	}
	compared, unreached := 0, 0
	check := func(what, name, route string, want float64, wantUnit string) bool {
		t.Helper()
		d, err := Derive(name, route, factors)
		if err != nil {
			return false
		}
		compared++
		if d.MgOMEPerUnit != want || d.Unit != wantUnit {
			t.Errorf("%s %q: derived %v per %s (%s), table %v per %s", what, name, d.MgOMEPerUnit, d.Unit, d.Basis, want, wantUnit)
		}
		return true
	}
	// Every trusted in-scope-route row of the per-VMP table.
	for id, r := range table {
		if r.Route != RouteOral && r.Route != RouteTransdermal {
			continue
		}
		if !strings.HasPrefix(r.BNFCode, ScopeBNFPrefix) || strings.HasPrefix(r.BNFCode, ScopeBNFExclude) {
			continue
		}
		if _, ok := vmpTableDisagreements[id]; ok {
			continue
		}
		ok := check("VMP "+id, r.Name, r.Route, r.Weighting, r.Unit)
		_, listed := vmpTableNoStrengthInName[id]
		switch {
		case !ok && !listed:
			t.Errorf("VMP %s %q is in the per-VMP table but its OME cannot be derived from its name", id, r.Name)
		case ok && listed:
			t.Errorf("VMP %s %q is listed as not derivable but is", id, r.Name)
		}
	}
	// Every in-scope code whose value came from the table: derive from the
	// name of the VMP it takes its value from and, where the code's own name
	// reads as a generic name, from that too.
	ome := OME()
	for _, r := range ome.Rows() {
		if r.Method != MethodVMPTable && r.Method != MethodAMPViaVMPBNF {
			continue
		}
		vmp := r.DMDCode
		if r.VMPCode != "" {
			vmp = r.VMPCode
		}
		tr, ok := table[vmp]
		if !ok {
			t.Errorf("%s %s: method %s but VMP %s is not in the table", r.DMDType, r.DMDCode, r.Method, vmp)
			continue
		}
		if r.MgOMEPerUnit != tr.Weighting {
			t.Errorf("%s %s = %v, table weighting of VMP %s = %v", r.DMDType, r.DMDCode, r.MgOMEPerUnit, vmp, tr.Weighting)
		}
		if _, listed := vmpTableNoStrengthInName[vmp]; !listed && !check("VMP "+vmp, tr.Name, r.Route, tr.Weighting, tr.Unit) {
			t.Errorf("VMP %s %q: not derivable", vmp, tr.Name)
		}
		if !strings.HasPrefix(r.Name, previousPrefix) && !check(r.DMDType+" "+r.DMDCode, r.Name, r.Route, tr.Weighting, tr.Unit) {
			unreached++ // a brand name such as "MST Continus 60mg tablets"
		}
	}
	t.Logf("compared %d derivations with the table; %d brand names not derivable on their own", compared, unreached)
	if compared < 150 {
		t.Errorf("only %d comparisons made", compared)
	}
}

func TestDeriveExamples(t *testing.T) {
	factors, err := LoadFactors(FactorsFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, route string
		want        float64
		unit        string
	}{
		{"Morphine 10mg/5ml oral solution", RouteOral, 2, "ml"},
		{"Morphine sulfate 10mg/5ml oral solution", RouteOral, 2, "ml"},
		{"Morphine sulfate 500micrograms/5ml oral solution", RouteOral, 0.1, "ml"},
		{"Morphine sulfate 1g/5ml oral solution", RouteOral, 200, "ml"},
		{"Morphine 60mg modified-release tablets", RouteOral, 60, "tablet"},
		{"Oxycodone 5mg/5ml oral solution", RouteOral, 1.5, "ml"},
		{"Oxycodone 10mg/ml oral solution sugar free", RouteOral, 15, "ml"},
		{"Oxycodone 40mg / Naloxone 20mg modified-release tablets", RouteOral, 60, "tablet"},
		{"Oxycodone 40mg/5ml / Naloxone 20mg/5ml oral suspension", RouteOral, 12, "ml"},
		{"Co-codamol 30mg/500mg tablets", RouteOral, 3, "tablet"},
		{"Co-codamol 30mg/500mg/5ml oral solution sugar free", RouteOral, 0.6, "ml"},
		{"Co-codamol 60mg/1000mg effervescent powder sachets sugar free", RouteOral, 6, "sachet"},
		{"Co-dydramol 10mg/500mg tablets", RouteOral, 1, "tablet"},
		{"Co-proxamol 32.5mg/325mg tablets", RouteOral, 3.25, "tablet"},
		{"Tramadol 37.5mg / Paracetamol 325mg tablets", RouteOral, 3.75, "tablet"},
		{"Aspirin 500mg / Codeine 8mg dispersible tablets sugar free", RouteOral, 0.8, "tablet"},
		{"Tapentadol 20mg/ml oral solution sugar free", RouteOral, 8, "ml"},
		{"Hydromorphone 24mg modified-release capsules", RouteOral, 120, "capsule"},
		{"Buprenorphine 5micrograms/hour transdermal patches", RouteTransdermal, 84, "patch"},
		{"Buprenorphine 52.5micrograms/hour transdermal patches", RouteTransdermal, 504, "patch"},
		{"Fentanyl 12micrograms/hour transdermal patches", RouteTransdermal, 86.4, "patch"},
		{"Fentanyl 37.5microgram/hour transdermal patches", RouteTransdermal, 270, "patch"},
	} {
		d, err := Derive(tc.name, tc.route, factors)
		if err != nil {
			t.Errorf("Derive(%q): %v", tc.name, err)
			continue
		}
		if d.MgOMEPerUnit != tc.want || d.Unit != tc.unit {
			t.Errorf("Derive(%q) = %v per %s (%s), want %v per %s", tc.name, d.MgOMEPerUnit, d.Unit, d.Basis, tc.want, tc.unit)
		}
	}
	for _, tc := range []struct{ name, route, reason string }{
		{"Morphine and Cocaine elixir", RouteOral, "no strength"},
		{"Buprenorphine 40micrograms/hour transdermal patches", RouteTransdermal, "no buprenorphine transdermal factor for 40"},
		{"Paracetamol 500mg tablets", RouteOral, "no factor for paracetamol"},
		{"Fentanyl 25micrograms/hour transdermal patches", RouteOral, "strength per hour"},
		{"Morphine 10mg tablets", RouteTransdermal, "not a micrograms/hour patch"},
		{"MST Continus 60mg tablets", RouteOral, "no strength"},
	} {
		_, err := Derive(tc.name, tc.route, factors)
		if !errors.Is(err, ErrUnderivable) || !strings.Contains(err.Error(), tc.reason) {
			t.Errorf("Derive(%q) error = %v, want ErrUnderivable with %q", tc.name, err, tc.reason)
		}
	}
}

func TestAMPMapping(t *testing.T) {
	if got, ok := GenericBNFCode("0407020Q0BBACAI"); !ok || got != "0407020Q0AAAIAI" {
		t.Errorf("GenericBNFCode(0407020Q0BBACAI) = %q, %v, want 0407020Q0AAAIAI", got, ok)
	}
	if _, ok := GenericBNFCode("0407020Q0"); ok {
		t.Error("GenericBNFCode accepted a short code")
	}
	ome := OME()
	for _, tc := range []struct {
		amp, name, vmp, vmpBNF string
		want                   float64
	}{
		{"2883211000001103", "MST Continus 60mg tablets", "36127711000001103", "0407020Q0AAAIAI", 60},
		{"9751111000001108", "Durogesic DTrans 12micrograms/hour transdermal patches", "9752311000001101", "0407020A0AAAUAU", 86.4},
		{"3446611000001101", "Transtec 35micrograms/hour transdermal patches", "35913711000001103", "0407020B0AAAEAE", 336},
		{"9565311000001104", "BuTrans 5micrograms/hour transdermal patches", "9567211000001104", "0407020B0AAAHAH", 84},
	} {
		r, ok := findAMP(ome, tc.amp, tc.name)
		if !ok {
			t.Errorf("AMP %s %q not in the table", tc.amp, tc.name)
			continue
		}
		v, _ := ome.Row(r.VMPCode)
		if r.VMPCode != tc.vmp || v.BNFCode != tc.vmpBNF || r.Method != MethodAMPViaVMPBNF {
			t.Errorf("AMP %q -> VMP %s (%s) by %s, want VMP %s (%s) by %s", tc.name, r.VMPCode, v.BNFCode, r.Method, tc.vmp, tc.vmpBNF, MethodAMPViaVMPBNF)
		}
		if got, ok := ome.Lookup(r.DMDCode); !ok || got != tc.want {
			t.Errorf("Lookup(%s %q) = %v, %v, want %v", r.DMDCode, tc.name, got, ok, tc.want)
		}
	}
}

func findAMP(t *Table, code, name string) (Row, bool) {
	if code != "" {
		r, ok := t.Row(code)
		return r, ok && r.Name == name && r.DMDType == "AMP"
	}
	for _, r := range t.Rows() {
		if r.DMDType == "AMP" && r.Name == name {
			return r, true
		}
	}
	return Row{}, false
}

// Rows of ome_vmp.csv flagged unrepaired are never used, even when their id
// looks like a valid dm+d id.
func TestUnrepairedVMPIdsNotUsed(t *testing.T) {
	_, skipped, err := LoadVMPTable("sources")
	if err != nil {
		t.Fatal(err)
	}
	if len(skipped) != 2 {
		t.Errorf("skipped %d unrepaired rows, want 2: %q", len(skipped), skipped)
	}
	for _, bnf := range []string{"0407020B0AAANAN", "1501043F0AAABAB"} {
		if !slices.ContainsFunc(skipped, func(s string) bool { return strings.HasPrefix(s, bnf+" ") }) {
			t.Errorf("unrepaired row %s not skipped", bnf)
		}
		for _, r := range OME().Rows() {
			if r.BNFCode == bnf && r.Method != MethodDerivedStrength && r.Method != MethodNone {
				t.Errorf("%s %s (BNF %s) took its OME from the table", r.DMDType, r.DMDCode, bnf)
			}
		}
	}

	// A per-VMP table whose only row is flagged unrepaired but carries a real
	// in-scope VMP id: the build must not use it.
	dir := t.TempDir()
	src, err := os.ReadFile(filepath.Join("sources", VMPTableFile))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(src), "\n")
	var row string
	for _, l := range lines {
		if strings.Contains(l, "36127711000001103,") {
			row = l
		}
	}
	if row == "" {
		t.Fatal("no row for VMP 36127711000001103")
	}
	row = strings.TrimRight(row, "\r\n")
	row = row[:strings.LastIndex(row, ",")+1] + "UNREPAIRED test\n"
	if err := os.WriteFile(filepath.Join(dir, VMPTableFile), []byte(lines[0]+row), 0o644); err != nil {
		t.Fatal(err)
	}
	in := DefaultInputs(repoRoot)
	in.SourcesDir = dir
	b, err := BuildTable(in)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range b.Rows {
		if r.Method == MethodVMPTable || r.Method == MethodAMPViaVMPBNF {
			t.Errorf("%s %s used the table (%s)", r.DMDType, r.DMDCode, r.Basis)
		}
		if r.DMDCode == "36127711000001103" && (r.Method != MethodDerivedStrength || r.MgOMEPerUnit != 60) {
			t.Errorf("VMP 36127711000001103 = %v by %s, want 60 by %s", r.MgOMEPerUnit, r.Method, MethodDerivedStrength)
		}
	}
}

func TestFactorSetVersionRecorded(t *testing.T) {
	factors, err := LoadFactors(FactorsFile)
	if err != nil {
		t.Fatal(err)
	}
	ome := OME()
	if got, want := ome.FactorSet(), factors.Version(); got != want {
		t.Errorf("FactorSet() = %q, want %q", got, want)
	}
	if got, want := FactorsFile, "factors-"+factors.Version()+".csv"; got != want {
		t.Errorf("factor file %q does not carry its version %q", got, want)
	}
	if got, want := ome.Version(), "ome-"+factors.Version(); got != want {
		t.Errorf("Version() = %q, want %q", got, want)
	}
	for _, r := range ome.Rows() {
		if r.FactorSet != factors.Version() {
			t.Errorf("%s: factor_set %q, want %q", r.DMDCode, r.FactorSet, factors.Version())
		}
	}
}

// The in-scope set equals the set the MedSIP pack defines with codelist
// filters (bnf_code include 0407, exclude 040704), applied independently.
func TestInScopeMatchesCodelistFilters(t *testing.T) {
	var files []model.CodelistFile
	for _, cl := range ScopeCodelists {
		files = append(files, model.CodelistFile{
			Path:    filepath.Join(repoRoot, "searches", "codelists", cl.File),
			Include: map[string][]string{"bnf_code": {"0407"}},
			Exclude: map[string][]string{"bnf_code": {"040704"}},
		})
	}
	want := map[string]bool{}
	for _, f := range files {
		for _, code := range filterCodelist(t, f, "code") {
			want[code] = true
		}
	}
	products, err := InScope(filepath.Join(repoRoot, "searches", "codelists"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range products {
		got = append(got, p.Code)
	}
	wantCodes := make([]string, 0, len(want))
	for c := range want {
		wantCodes = append(wantCodes, c)
	}
	slices.Sort(wantCodes)
	if !slices.Equal(got, wantCodes) {
		t.Errorf("InScope has %d codes, codelist filters give %d", len(got), len(wantCodes))
	}
	if !slices.Equal(OME().Codes(), wantCodes) {
		t.Errorf("embedded table has %d codes, codelist filters give %d", len(OME().Codes()), len(wantCodes))
	}
	if len(wantCodes) != 1386 {
		t.Errorf("in-scope codes = %d, want 1386 (353 VMPs, 1,033 AMPs)", len(wantCodes))
	}
}

// filterCodelist applies a codelist file's include and exclude prefixes the
// way the search model describes them.
func filterCodelist(t *testing.T, f model.CodelistFile, column string) []string {
	t.Helper()
	fh, err := os.Open(f.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	recs, err := csv.NewReader(fh).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	col := map[string]int{}
	for i, h := range recs[0] {
		col[h] = i
	}
	hasPrefix := func(rec []string, filters map[string][]string, c string) bool {
		return slices.ContainsFunc(filters[c], func(p string) bool { return strings.HasPrefix(rec[col[c]], p) })
	}
	var out []string
rows:
	for _, rec := range recs[1:] {
		for c := range f.Include {
			if !hasPrefix(rec, f.Include, c) {
				continue rows
			}
		}
		for c := range f.Exclude {
			if hasPrefix(rec, f.Exclude, c) {
				continue rows
			}
		}
		out = append(out, rec[col[column]])
	}
	return out
}

func TestEmbeddedTable(t *testing.T) {
	ome := OME()
	if _, ok := ome.Lookup("not-a-code"); ok {
		t.Error("Lookup of an unknown code succeeded")
	}
	values := ome.Values()
	for _, r := range ome.Rows() {
		v, ok := ome.Lookup(r.DMDCode)
		if ok != r.HasOME || ok != (r.Method != MethodNone) || (ok && (v <= 0 || math.IsNaN(v) || values[r.DMDCode] != v)) {
			t.Errorf("%s: Lookup = %v, %v; row %+v", r.DMDCode, v, ok, r)
		}
		if r.DMDType == "AMP" && r.HasOME && r.VMPCode == "" {
			t.Errorf("AMP %s has an OME but no VMP", r.DMDCode)
		}
		if r.HasOME && (r.Unit == "" || r.Ingredient == "") {
			t.Errorf("%s: unit %q ingredient %q", r.DMDCode, r.Unit, r.Ingredient)
		}
	}
	if _, err := ParseTable(strings.NewReader(strings.Join(tableHeader, ",")+"\n1,VMP,,x,0407,morphine,oral,tablet,,vmp_table,uk-2020.1,\n"), "ome-uk-2020.1"); err == nil {
		t.Error("ParseTable accepted a vmp_table row without a value")
	}
	if _, err := ParseTable(bytes.NewReader(omeCSV), "ome-other"); err == nil {
		t.Error("ParseTable accepted a version that does not name the factor set")
	}
}

func TestParseFactorsRejects(t *testing.T) {
	head := strings.Join(factorHeader, ",") + "\n"
	for name, body := range map[string]string{
		"two sets":      "a,morphine,oral,1,mg OME per mg,,,ref\nb,codeine,oral,0.1,mg OME per mg,,,ref\n",
		"duplicate":     "a,morphine,oral,1,mg OME per mg,,,ref\na,morphine,oral,2,mg OME per mg,,,ref\n",
		"no reference":  "a,morphine,oral,1,mg OME per mg,,,\n",
		"bad factor":    "a,morphine,oral,one,mg OME per mg,,,ref\n",
		"patch no wear": "a,fentanyl,transdermal,2.4,mg OME per day per microgram/hour,,,ref\n",
		"empty":         "",
	} {
		if _, err := ParseFactors(strings.NewReader(head + body)); err == nil {
			t.Errorf("%s: ParseFactors accepted it", name)
		}
	}
}

// ampNumbersDiffer lists AMP names whose numbers are not all in their VMP's
// name, with why the link is still right.
var ampNumbersDiffer = map[string]string{
	"Tramadol 10mg/ml oral solution sugar free":   "10mg/ml is 50mg/5ml",
	"OxyNorm liquid 1mg/ml oral solution":         "1mg/ml is 5mg/5ml",
	"Shortec liquid 1mg/ml oral solution":         "1mg/ml is 5mg/5ml",
	"Zamadol 24hr 150mg modified-release tablets": "24hr is the release profile",
	"Zamadol 24hr 200mg modified-release tablets": "24hr is the release profile",
	"Zamadol 24hr 300mg modified-release tablets": "24hr is the release profile",
	"Zamadol 24hr 400mg modified-release tablets": "24hr is the release profile",
	"DF 118 Forte 40mg tablets":                   "118 is part of the brand",
	"Doloxene 100mg capsules":                     "BNF code maps it to Dextropropoxyphene 60mg capsules; the brand states its napsilate salt strength (unverified here)",
}

// A guard on the BNF mapping: the strengths in an AMP's (often branded) name
// appear in the name of the VMP it was linked to.
func TestAMPNamesAgreeWithVMP(t *testing.T) {
	numRE := regexp.MustCompile(`\d+(?:\.\d+)?`)
	ome := OME()
	for _, r := range ome.Rows() {
		if r.DMDType != "AMP" || r.VMPCode == "" {
			continue
		}
		v, _ := ome.Row(r.VMPCode)
		in := numRE.FindAllString(v.Name, -1)
		for _, n := range numRE.FindAllString(r.Name, -1) {
			if !slices.Contains(in, n) && ampNumbersDiffer[r.Name] == "" {
				t.Errorf("AMP %s %q linked to VMP %s %q: %s not in the VMP's name", r.DMDCode, r.Name, v.DMDCode, v.Name, n)
			}
		}
	}
}
