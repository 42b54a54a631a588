// Package reference holds Steward's reference data: the oral morphine
// equivalent (OME) of every in-scope opioid product, and the builder that
// derives it from published sources (OpenPrescribing's OME tables and the
// OpenSAFELY dm+d codelists) and a named, versioned factor set.
//
// The built table is committed as ome-<factor set>.csv and embedded; OME()
// loads it. `steward reference build` rebuilds it, and a test checks that the
// committed file is exactly what the build produces from the sources.
package reference

import (
	"bytes"
	_ "embed"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Files of the current reference table, relative to this package.
const (
	// OMEVersion names the table: "ome-" and its factor set.
	OMEVersion = "ome-uk-2020.1"
	// OMEFile is the committed table.
	OMEFile = OMEVersion + ".csv"
	// UnderivableFile is the committed report of in-scope products without an OME.
	UnderivableFile = OMEVersion + "-underivable.csv"
	// FactorsFile is the factor set the table was built with.
	FactorsFile = "factors-uk-2020.1.csv"
)

//go:embed ome-uk-2020.1.csv
var omeCSV []byte

// Method says where a row's OME came from.
type Method string

// Methods, in the order the builder tries them.
const (
	// MethodVMPTable: the VMP's row in OpenPrescribing's per-VMP table
	// (ome_vmp.csv weighting), matched by VMP id; a previous VMP id takes its
	// successor's row (VMPCode).
	MethodVMPTable Method = "vmp_table"
	// MethodAMPViaVMPBNF: an AMP takes the per-VMP table value of the VMP
	// (VMPCode) found through its BNF code.
	MethodAMPViaVMPBNF Method = "amp_via_vmp_bnf"
	// MethodDerivedStrength: strength from the dm+d name (the VMP's name for
	// AMPs and previous VMP ids) x the factor set.
	MethodDerivedStrength Method = "derived_strength"
	// MethodNone: in scope, but the OME cannot be determined; the product is
	// listed in the underivable report and has no value.
	MethodNone Method = "none"
)

// Methods lists every method in report order.
var Methods = []Method{MethodVMPTable, MethodAMPViaVMPBNF, MethodDerivedStrength, MethodNone}

// Row is one in-scope dm+d product.
type Row struct {
	DMDCode string
	DMDType string // VMP or AMP
	// VMPCode is the VMP whose OME the row takes: an AMP's VMP, or a previous
	// VMP id's successor. Empty when the row is a current VMP.
	VMPCode    string
	Name       string
	BNFCode    string
	Ingredient string // the opioid, lower case without salt
	Route      string // oral or transdermal
	Unit       string // tablet, capsule, sachet, ml or patch
	// MgOMEPerUnit is mg oral morphine equivalent per unit of quantity;
	// meaningful only when HasOME.
	MgOMEPerUnit float64
	HasOME       bool
	Method       Method
	FactorSet    string
	// Basis says how the value was reached, or why there is none.
	Basis string
}

// Columns of the table file.
var tableHeader = []string{"dmd_code", "dmd_type", "vmp_code", "name", "bnf_code", "ingredient", "route", "unit", "mg_ome_per_unit", "method", "factor_set", "basis"}

// Table is a loaded OME reference table.
type Table struct {
	version   string
	factorSet string
	rows      []Row
	index     map[string]int
}

var (
	omeOnce  sync.Once
	omeTable *Table
	omeErr   error
)

// OME returns the embedded reference table. It panics if the embedded file is
// invalid, which the package tests rule out.
func OME() *Table {
	omeOnce.Do(func() {
		omeTable, omeErr = ParseTable(bytes.NewReader(omeCSV), OMEVersion)
	})
	if omeErr != nil {
		panic(fmt.Sprintf("reference: embedded %s: %v", OMEFile, omeErr))
	}
	return omeTable
}

// ParseTable reads a table written by Build.WriteTable. Every row must name
// the same factor set, and version must contain it.
func ParseTable(r io.Reader, version string) (*Table, error) {
	cr := csv.NewReader(r)
	header, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("read table header: %w", err)
	}
	if !slices.Equal(header, tableHeader) {
		return nil, fmt.Errorf("table header is %q, want %q", header, tableHeader)
	}
	t := &Table{version: version, index: map[string]int{}}
	var errs []error
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read table: %w", err)
		}
		row := Row{
			DMDCode: rec[0], DMDType: rec[1], VMPCode: rec[2], Name: rec[3], BNFCode: rec[4],
			Ingredient: rec[5], Route: rec[6], Unit: rec[7], Method: Method(rec[9]), FactorSet: rec[10], Basis: rec[11],
		}
		if err := t.add(row, rec[8]); err != nil {
			errs = append(errs, fmt.Errorf("line %d: %w", line, err))
		}
	}
	if len(t.rows) == 0 && len(errs) == 0 {
		errs = append(errs, errors.New("table has no rows"))
	}
	if t.factorSet != "" && !strings.Contains(version, t.factorSet) {
		errs = append(errs, fmt.Errorf("version %q does not name the factor set %q", version, t.factorSet))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return t, nil
}

func (t *Table) add(row Row, value string) error {
	if row.DMDCode == "" || strings.Trim(row.DMDCode, "0123456789") != "" {
		return fmt.Errorf("dmd_code %q is not a dm+d id", row.DMDCode)
	}
	if _, dup := t.index[row.DMDCode]; dup {
		return fmt.Errorf("dmd_code %s appears twice", row.DMDCode)
	}
	if row.DMDType != "VMP" && row.DMDType != "AMP" {
		return fmt.Errorf("%s: dmd_type %q is not VMP or AMP", row.DMDCode, row.DMDType)
	}
	if !slices.Contains(Methods, row.Method) {
		return fmt.Errorf("%s: method %q is unknown", row.DMDCode, row.Method)
	}
	switch {
	case row.Method == MethodNone && value != "":
		return fmt.Errorf("%s: method none with a value", row.DMDCode)
	case row.Method != MethodNone:
		v, err := strconv.ParseFloat(value, 64)
		if err != nil || v <= 0 {
			return fmt.Errorf("%s: mg_ome_per_unit %q is not a positive number", row.DMDCode, value)
		}
		row.MgOMEPerUnit, row.HasOME = v, true
	}
	if row.FactorSet == "" {
		return fmt.Errorf("%s: factor_set is empty", row.DMDCode)
	}
	switch {
	case t.factorSet == "":
		t.factorSet = row.FactorSet
	case row.FactorSet != t.factorSet:
		return fmt.Errorf("%s: factor_set %q differs from %q", row.DMDCode, row.FactorSet, t.factorSet)
	}
	t.index[row.DMDCode] = len(t.rows)
	t.rows = append(t.rows, row)
	return nil
}

// Lookup returns mg OME per unit of quantity of a dm+d code (VMP or AMP).
// ok is false for codes out of scope and for in-scope codes without an OME.
func (t *Table) Lookup(code string) (mgPerUnit float64, ok bool) {
	i, found := t.index[code]
	if !found || !t.rows[i].HasOME {
		return 0, false
	}
	return t.rows[i].MgOMEPerUnit, true
}

// Row returns the row of a dm+d code.
func (t *Table) Row(code string) (Row, bool) {
	i, ok := t.index[code]
	if !ok {
		return Row{}, false
	}
	return t.rows[i], true
}

// Version names the table, including its factor set (e.g. "ome-uk-2020.1").
func (t *Table) Version() string { return t.version }

// FactorSet is the version of the factor set every row was built with.
func (t *Table) FactorSet() string { return t.factorSet }

// Rows returns every in-scope product, in file order.
func (t *Table) Rows() []Row { return slices.Clone(t.rows) }

// Codes returns every in-scope dm+d code, sorted.
func (t *Table) Codes() []string {
	codes := make([]string, 0, len(t.rows))
	for _, r := range t.rows {
		codes = append(codes, r.DMDCode)
	}
	slices.Sort(codes)
	return codes
}

// Values returns mg OME per unit by dm+d code for the codes that have one.
func (t *Table) Values() map[string]float64 {
	m := make(map[string]float64, len(t.rows))
	for _, r := range t.rows {
		if r.HasOME {
			m[r.DMDCode] = r.MgOMEPerUnit
		}
	}
	return m
}

func formatFloat(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
