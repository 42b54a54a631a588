package reference

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// ScopeCodelist is one codelist the in-scope set is drawn from.
type ScopeCodelist struct {
	File  string // in the codelists folder
	Route string
}

// The in-scope set (MEASURES.md, Products): dm+d codes in the oral or
// transdermal opioid-containing codelists whose BNF code starts with
// ScopeBNFPrefix and not ScopeBNFExclude.
var ScopeCodelists = []ScopeCodelist{
	{"opensafely-opioid-containing-medicines-oral-excluding-drugs-for-substance-misuse-dmd.csv", RouteOral},
	{"opensafely-opioid-containing-medicines-transdermal-excluding-drugs-for-substance-misuse-dmd.csv", RouteTransdermal},
}

const (
	ScopeBNFPrefix  = "0407"   // analgesics: opioid analgesics and compound preparations
	ScopeBNFExclude = "040704" // antimigraine drugs
)

// VMPTableFile is OpenPrescribing's per-VMP table in the sources folder.
const VMPTableFile = "ome_vmp.csv"

// unrepairedPrefix starts vmp_id_note on the ome_vmp.csv rows whose VMP ids
// were mangled and could not be repaired; those rows are never used.
const unrepairedPrefix = "UNREPAIRED"

// Inputs are the files a build reads.
type Inputs struct {
	SourcesDir   string // holds ome_vmp.csv
	CodelistsDir string // holds the ScopeCodelists
	FactorsFile  string
}

// DefaultInputs are the repository's copies, relative to the repository root.
func DefaultInputs(root string) Inputs {
	return Inputs{
		SourcesDir:   filepath.Join(root, "searches", "reference", "sources"),
		CodelistsDir: filepath.Join(root, "searches", "codelists"),
		FactorsFile:  filepath.Join(root, "searches", "reference", FactorsFile),
	}
}

// Product is one in-scope dm+d code as its codelist lists it.
type Product struct {
	Code    string
	Type    string // VMP or AMP
	Name    string
	BNFCode string
	Route   string
}

// InScope reads the in-scope products from the codelists folder, sorted by code.
func InScope(codelistsDir string) ([]Product, error) {
	seen := map[string]Product{}
	for _, cl := range ScopeCodelists {
		recs, err := readCSV(filepath.Join(codelistsDir, cl.File), "code", "term", "dmd_type", "bnf_code")
		if err != nil {
			return nil, err
		}
		for _, r := range recs {
			p := Product{Code: r[0], Name: r[1], Type: r[2], BNFCode: r[3], Route: cl.Route}
			if !strings.HasPrefix(p.BNFCode, ScopeBNFPrefix) || strings.HasPrefix(p.BNFCode, ScopeBNFExclude) {
				continue
			}
			if q, dup := seen[p.Code]; dup && q.Route != p.Route {
				return nil, fmt.Errorf("%s is in both the %s and %s codelists", p.Code, q.Route, p.Route)
			}
			seen[p.Code] = p
		}
	}
	out := make([]Product, 0, len(seen))
	for _, p := range seen {
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b Product) int { return strings.Compare(a.Code, b.Code) })
	return out, nil
}

// GenericBNFCode maps a branded BNF presentation code to its generic
// equivalent: characters 1-9, then "AA", then characters 14-15 twice
// (0407020Q0BBACAI MST Continus 60mg tablets -> 0407020Q0AAAIAI).
func GenericBNFCode(code string) (string, bool) {
	if len(code) != 15 {
		return "", false
	}
	return code[:9] + "AA" + code[13:15] + code[13:15], true
}

// VMPTableRow is one trusted row of ome_vmp.csv.
type VMPTableRow struct {
	VMPID      string
	BNFCode    string
	Name       string
	Ingredient string
	Route      string
	Unit       string
	Weighting  float64 // mg OME per unit of quantity
}

// LoadVMPTable reads ome_vmp.csv from the sources folder, keyed by VMP id.
// Rows whose id is flagged unrepaired are left out and returned by their
// BNF code and name, for the record.
func LoadVMPTable(sourcesDir string) (map[string]VMPTableRow, []string, error) {
	path := filepath.Join(sourcesDir, VMPTableFile)
	recs, err := readCSV(path, "vmp_id", "bnf_code", "vmp", "ingredient", "simplified_form_route",
		"unit_dose_form_units", "dtr_strength_unit", "ntr_strength_mg", "ome", "extra_multiplier", "weighting", "vmp_id_note")
	if err != nil {
		return nil, nil, err
	}
	rows := map[string]VMPTableRow{}
	var skipped []string
	var errs []error
	for i, r := range recs {
		if strings.HasPrefix(r[11], unrepairedPrefix) {
			skipped = append(skipped, r[1]+" "+r[2])
			continue
		}
		if r[0] == "" || strings.Trim(r[0], "0123456789") != "" {
			errs = append(errs, fmt.Errorf("%s: line %d: vmp_id %q is not a dm+d id", path, i+2, r[0]))
			continue
		}
		w, err := strconv.ParseFloat(r[10], 64)
		if err != nil || w <= 0 {
			errs = append(errs, fmt.Errorf("%s: line %d: weighting %q is not a positive number", path, i+2, r[10]))
			continue
		}
		// The table's own rule: weighting = strength in mg x factor x extra_multiplier.
		want, ok1 := new(big.Rat).SetString(r[7])
		ome, ok2 := new(big.Rat).SetString(r[8])
		extra, ok3 := new(big.Rat).SetString(r[9])
		got, ok4 := new(big.Rat).SetString(r[10])
		if !ok1 || !ok2 || !ok3 || !ok4 || want.Mul(want, ome).Mul(want, extra).Cmp(got) != 0 {
			errs = append(errs, fmt.Errorf("%s: line %d: weighting %s is not ntr_strength_mg x ome x extra_multiplier", path, i+2, r[10]))
			continue
		}
		unit := r[5]
		if r[6] == "ml" {
			unit = "ml"
		}
		if _, dup := rows[r[0]]; dup {
			errs = append(errs, fmt.Errorf("%s: line %d: vmp_id %s appears twice", path, i+2, r[0]))
			continue
		}
		rows[r[0]] = VMPTableRow{VMPID: r[0], BNFCode: r[1], Name: r[2], Ingredient: baseIngredient(r[3]), Route: r[4], Unit: unit, Weighting: w}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, nil, err
	}
	return rows, skipped, nil
}

// Build is the result of building the reference table.
type Build struct {
	FactorSet string
	// Rows holds every in-scope product, those without an OME included
	// (method none), in table order.
	Rows []Row
	// Notes are facts about the sources a maintainer should know (e.g. a
	// VMP whose name differs between the codelist and the per-VMP table).
	Notes []string
}

// previousPrefix starts the dm+d name of a VMP id that was replaced; the
// name ends with the successor's id.
const previousPrefix = "VMP previous to "

// BuildTable builds the reference table from the inputs.
func BuildTable(in Inputs) (*Build, error) {
	factors, err := LoadFactors(in.FactorsFile)
	if err != nil {
		return nil, err
	}
	products, err := InScope(in.CodelistsDir)
	if err != nil {
		return nil, err
	}
	vmpTable, skipped, err := LoadVMPTable(in.SourcesDir)
	if err != nil {
		return nil, err
	}
	b := &builder{
		factors: factors, table: vmpTable, byCode: map[string]Product{}, vmpsByBNF: map[string][]string{},
		done: map[string]Row{}, out: &Build{FactorSet: factors.Version()},
	}
	for _, s := range skipped {
		b.note("%s: row with an unrepaired VMP id not used: %s", VMPTableFile, s)
	}
	for _, p := range products {
		b.byCode[p.Code] = p
		if p.Type == "VMP" {
			b.vmpsByBNF[p.BNFCode] = append(b.vmpsByBNF[p.BNFCode], p.Code)
		}
	}
	for _, p := range products {
		var row Row
		switch p.Type {
		case "VMP":
			row = b.vmp(p.Code, 0)
		case "AMP":
			row = b.amp(p)
		default:
			return nil, fmt.Errorf("%s: dmd_type %q is not VMP or AMP", p.Code, p.Type)
		}
		b.out.Rows = append(b.out.Rows, row)
	}
	slices.SortFunc(b.out.Rows, func(x, y Row) int {
		if c := strings.Compare(x.BNFCode, y.BNFCode); c != 0 {
			return c
		}
		if c := strings.Compare(y.DMDType, x.DMDType); c != 0 { // VMP before AMP
			return c
		}
		return strings.Compare(x.DMDCode, y.DMDCode)
	})
	return b.out, nil
}

type builder struct {
	factors   *FactorSet
	table     map[string]VMPTableRow
	byCode    map[string]Product
	vmpsByBNF map[string][]string
	done      map[string]Row // VMP rows already resolved
	out       *Build
}

func (b *builder) note(format string, a ...any) {
	b.out.Notes = append(b.out.Notes, fmt.Sprintf(format, a...))
}

func (b *builder) base(p Product) Row {
	return Row{DMDCode: p.Code, DMDType: p.Type, Name: p.Name, BNFCode: p.BNFCode, Route: p.Route, FactorSet: b.factors.Version()}
}

func none(r Row, format string, a ...any) Row {
	r.Method, r.HasOME, r.MgOMEPerUnit = MethodNone, false, 0
	r.Basis = fmt.Sprintf(format, a...)
	return r
}

// vmp resolves a VMP: its per-VMP table row by id, else (for a previous VMP
// id) its successor's value, else the strength in its name x the factor set.
func (b *builder) vmp(code string, depth int) Row {
	if r, ok := b.done[code]; ok {
		return r
	}
	p := b.byCode[code]
	r := b.base(p)
	if succ, ok := strings.CutPrefix(p.Name, previousPrefix); ok {
		s, in := b.byCode[succ]
		switch {
		case depth > 3:
			r = none(r, "chain of previous VMP ids too long")
		case !in || s.Type != "VMP":
			r = none(r, "successor VMP %s is not in scope", succ)
		case s.BNFCode != p.BNFCode:
			r = none(r, "successor VMP %s has BNF code %s, not %s", succ, s.BNFCode, p.BNFCode)
		default:
			sr := b.vmp(succ, depth+1)
			r.VMPCode = succ
			if sr.VMPCode != "" {
				r.VMPCode = sr.VMPCode
			}
			r.Ingredient, r.Unit, r.Method = sr.Ingredient, sr.Unit, sr.Method
			r.MgOMEPerUnit, r.HasOME = sr.MgOMEPerUnit, sr.HasOME
			r.Basis = "previous VMP id: takes successor " + succ + ": " + sr.Basis
		}
		b.done[code] = r
		return r
	}
	if t, ok := b.table[code]; ok && t.Route == p.Route {
		r.Ingredient, r.Unit = t.Ingredient, t.Unit
		r.Method, r.MgOMEPerUnit, r.HasOME = MethodVMPTable, t.Weighting, true
		r.Basis = fmt.Sprintf("%s weighting of VMP %s", VMPTableFile, code)
		if t.Name != p.Name {
			r.Basis += fmt.Sprintf(" (named %q there)", t.Name)
			b.note("VMP %s is %q in the codelist but %q in %s; matched by id", code, p.Name, t.Name, VMPTableFile)
		}
	} else {
		if ok {
			b.note("VMP %s: %s route %s differs from codelist route %s; not used", code, VMPTableFile, t.Route, p.Route)
		}
		r = b.derive(r, p.Name)
	}
	b.done[code] = r
	return r
}

func (b *builder) derive(r Row, name string) Row {
	d, err := Derive(name, r.Route, b.factors)
	if err != nil {
		return none(r, "%s", strings.TrimPrefix(err.Error(), ErrUnderivable.Error()+": "))
	}
	r.Ingredient, r.Unit = d.Ingredient, d.Unit
	r.Method, r.MgOMEPerUnit, r.HasOME = MethodDerivedStrength, d.MgOMEPerUnit, true
	r.Basis = d.Basis
	if name != r.Name {
		r.Basis = "from VMP name " + strconv.Quote(name) + ": " + r.Basis
	}
	return r
}

// amp resolves an AMP through the VMP with its BNF code, or with the generic
// equivalent of its branded BNF code.
func (b *builder) amp(p Product) Row {
	r := b.base(p)
	bnf := p.BNFCode
	cands := b.vmpsByBNF[bnf]
	if len(cands) == 0 {
		if g, ok := GenericBNFCode(bnf); ok {
			bnf, cands = g, b.vmpsByBNF[g]
		}
	}
	if len(cands) == 0 {
		return none(r, "no in-scope VMP has BNF code %s or its generic equivalent", p.BNFCode)
	}
	// Resolve previous VMP ids to their successors; keep distinct VMPs.
	var vmps []Row
	seen := map[string]bool{}
	for _, c := range cands {
		v := b.vmp(c, 0)
		id := c
		if v.VMPCode != "" {
			id = v.VMPCode
		}
		if !seen[id] {
			seen[id] = true
			vmps = append(vmps, b.vmp(id, 0))
		}
	}
	v := vmps[0]
	if len(vmps) > 1 {
		var exact []Row
		for _, x := range vmps {
			if x.Name == p.Name {
				exact = append(exact, x)
			}
		}
		switch {
		case len(exact) == 1:
			v = exact[0]
		case agree(vmps):
			slices.SortFunc(vmps, func(x, y Row) int { return strings.Compare(x.DMDCode, y.DMDCode) })
			v = vmps[0]
			b.note("AMP %s %q: BNF code %s is shared by VMPs %s with the same OME; linked to %s", p.Code, p.Name, bnf, codes(vmps), v.DMDCode)
		default:
			return none(r, "BNF code %s is shared by VMPs %s with different OME", bnf, codes(vmps))
		}
	}
	r.VMPCode = v.DMDCode
	r.Ingredient, r.Unit = v.Ingredient, v.Unit
	switch v.Method {
	case MethodVMPTable:
		r.Method, r.MgOMEPerUnit, r.HasOME = MethodAMPViaVMPBNF, v.MgOMEPerUnit, true
		r.Basis = fmt.Sprintf("VMP %s by BNF code %s: %s", v.DMDCode, bnf, v.Basis)
	case MethodDerivedStrength:
		r.Method, r.MgOMEPerUnit, r.HasOME = MethodDerivedStrength, v.MgOMEPerUnit, true
		r.Basis = fmt.Sprintf("VMP %s by BNF code %s: %s", v.DMDCode, bnf, v.Basis)
		if !strings.Contains(v.Basis, "from VMP name") {
			r.Basis = fmt.Sprintf("VMP %s by BNF code %s: from VMP name %q: %s", v.DMDCode, bnf, v.Name, v.Basis)
		}
	default:
		return none(r, "VMP %s by BNF code %s: %s", v.DMDCode, bnf, v.Basis)
	}
	return r
}

func agree(rows []Row) bool {
	for _, x := range rows[1:] {
		if x.HasOME != rows[0].HasOME || x.MgOMEPerUnit != rows[0].MgOMEPerUnit || x.Unit != rows[0].Unit {
			return false
		}
	}
	return true
}

func codes(rows []Row) string {
	s := make([]string, len(rows))
	for i, r := range rows {
		s[i] = r.DMDCode
	}
	return strings.Join(s, ", ")
}

// Underivable returns the in-scope products without an OME.
func (b *Build) Underivable() []Row {
	var out []Row
	for _, r := range b.Rows {
		if !r.HasOME {
			out = append(out, r)
		}
	}
	return out
}

// Coverage counts in-scope codes by whether and how they got an OME.
type Coverage struct {
	InScope, WithOME, Without int
	ByMethod                  map[Method]int
	ByType                    map[string][2]int // dmd_type -> {with OME, in scope}
}

// Percent is the share of in-scope codes with an OME.
func (c Coverage) Percent() float64 {
	if c.InScope == 0 {
		return 0
	}
	return 100 * float64(c.WithOME) / float64(c.InScope)
}

// Coverage summarises the build.
func (b *Build) Coverage() Coverage {
	c := Coverage{ByMethod: map[Method]int{}, ByType: map[string][2]int{}}
	for _, r := range b.Rows {
		c.InScope++
		c.ByMethod[r.Method]++
		t := c.ByType[r.DMDType]
		t[1]++
		if r.HasOME {
			c.WithOME++
			t[0]++
		} else {
			c.Without++
		}
		c.ByType[r.DMDType] = t
	}
	return c
}

// WriteTable writes the table file.
func (b *Build) WriteTable(w io.Writer) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(tableHeader); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	for _, r := range b.Rows {
		v := ""
		if r.HasOME {
			v = formatFloat(r.MgOMEPerUnit)
		}
		rec := []string{r.DMDCode, r.DMDType, r.VMPCode, r.Name, r.BNFCode, r.Ingredient, r.Route, r.Unit, v, string(r.Method), r.FactorSet, r.Basis}
		if err := cw.Write(rec); err != nil {
			return fmt.Errorf("write table: %w", err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	return nil
}

var reportHeader = []string{"dmd_code", "dmd_type", "vmp_code", "name", "bnf_code", "route", "factor_set", "reason"}

// WriteReport writes the products without an OME, each with the reason.
func (b *Build) WriteReport(w io.Writer) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(reportHeader); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	for _, r := range b.Underivable() {
		if err := cw.Write([]string{r.DMDCode, r.DMDType, r.VMPCode, r.Name, r.BNFCode, r.Route, r.FactorSet, r.Basis}); err != nil {
			return fmt.Errorf("write report: %w", err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

// readCSV reads the named columns of a CSV file with a header row.
func readCSV(path string, cols ...string) ([][]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", filepath.Base(path), err)
	}
	defer f.Close()
	cr := csv.NewReader(f)
	header, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("%s: read header: %w", path, err)
	}
	idx := make([]int, len(cols))
	for i, c := range cols {
		idx[i] = slices.Index(header, c)
		if idx[i] < 0 {
			return nil, fmt.Errorf("%s: no column %q", path, c)
		}
	}
	var out [][]string
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		row := make([]string, len(cols))
		for i, j := range idx {
			row[i] = rec[j]
		}
		out = append(out, row)
	}
}
