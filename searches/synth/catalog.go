package synth

import (
	"bytes"
	_ "embed"
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
)

// catalogCSV is every code the generator may write, derived from the shared
// reference data (searches/codelists and searches/reference/sources) by
// TestCatalogUpToDate; regenerate it with `go test -run TestCatalogUpToDate
// -update ./searches/synth/`.
//
//go:embed catalog.csv
var catalogCSV []byte

// Roles of catalogue rows.
const (
	roleOpioid     = "opioid"         // in-scope MedSIP opioid (oral/transdermal, BNF 0407 not 040704)
	roleGaba       = "gabapentinoid"  // user-anschaf-gabapentinoids-dmd
	roleBenzo      = "benzodiazepine" // opensafely-addictive-medicines, BNF 0401010 / 0401020
	roleFiller     = "filler"         // reference dm+d outside the three sets above
	roleReview     = "review"         // medrvw_cod and medication-reviews-all-types
	roleCancer     = "cancer"         // the three cancer lists, active concepts
	rolePalliative = "palliative"     // palcare_cod
	roleCareHome   = "care_home"      // carehome_cod: in no list the pack uses
	roleOtherEvent = "other_event"    // opioid dependency diagnoses: in no list the pack uses
)

// OME status of an opioid row.
const (
	omeVMP       = "vmp"       // a VMP with its own row in ome_vmp.csv
	omeBNF       = "bnf"       // an AMP whose generic BNF code has exactly one ome_vmp.csv row
	omeAmbiguous = "ambiguous" // a mapping exists but is not unique
	omeNone      = "none"      // no route to an OME at all
)

var catalogHeader = []string{"role", "code", "dmd_type", "bnf_code", "vmp_id", "ome_status", "ome_per_unit", "unit", "name"}

// product is one catalogue row.
type product struct {
	role      string
	code      string
	dmdType   string
	bnf       string
	vmp       string
	omeStatus string
	ome       float64 // mg OME per unit; 0 when unknown
	unit      string
	name      string
}

type catalog struct {
	products []product
	byCode   map[string]int
	byRole   map[string][]int
	// ampsOf lists, per VMP id, the opioid rows (the VMP itself first, then
	// AMPs) that take that VMP's OME.
	ampsOf map[string][]int
}

var (
	catOnce sync.Once
	catVal  *catalog
	catErr  error
)

func loadCatalog() (*catalog, error) {
	catOnce.Do(func() { catVal, catErr = parseCatalog(bytes.NewReader(catalogCSV)) })
	return catVal, catErr
}

func parseCatalog(r io.Reader) (*catalog, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = len(catalogHeader)
	head, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("read catalogue header: %w", err)
	}
	if strings.Join(head, ",") != strings.Join(catalogHeader, ",") {
		return nil, fmt.Errorf("catalogue header is %q, want %q", head, catalogHeader)
	}
	c := &catalog{byCode: map[string]int{}, byRole: map[string][]int{}, ampsOf: map[string][]int{}}
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read catalogue: %w", err)
		}
		p := product{role: rec[0], code: rec[1], dmdType: rec[2], bnf: rec[3], vmp: rec[4], omeStatus: rec[5], unit: rec[7], name: rec[8]}
		if rec[6] != "" {
			if p.ome, err = strconv.ParseFloat(rec[6], 64); err != nil {
				return nil, fmt.Errorf("catalogue code %s: ome_per_unit: %w", p.code, err)
			}
		}
		if _, dup := c.byCode[p.code]; dup {
			return nil, fmt.Errorf("catalogue code %s appears twice", p.code)
		}
		i := len(c.products)
		c.products = append(c.products, p)
		c.byCode[p.code] = i
		c.byRole[p.role] = append(c.byRole[p.role], i)
	}
	for _, i := range c.byRole[roleOpioid] {
		p := c.products[i]
		if p.vmp == "" || (p.omeStatus != omeVMP && p.omeStatus != omeBNF) {
			continue
		}
		if p.code == p.vmp {
			c.ampsOf[p.vmp] = append([]int{i}, c.ampsOf[p.vmp]...)
		} else {
			c.ampsOf[p.vmp] = append(c.ampsOf[p.vmp], i)
		}
	}
	for _, role := range []string{roleOpioid, roleGaba, roleBenzo, roleFiller, roleReview, roleCancer, rolePalliative, roleCareHome, roleOtherEvent} {
		if len(c.byRole[role]) == 0 {
			return nil, fmt.Errorf("catalogue has no %s codes", role)
		}
	}
	return c, nil
}

// vmpProduct returns the catalogue index of a VMP usable in a regimen: an
// in-scope opioid with its own OME row.
func (c *catalog) vmpProduct(id string) (int, error) {
	i, ok := c.byCode[id]
	if !ok {
		return 0, fmt.Errorf("regimen VMP %s is not in the catalogue", id)
	}
	p := c.products[i]
	if p.role != roleOpioid || p.omeStatus != omeVMP || p.ome <= 0 {
		return 0, fmt.Errorf("regimen VMP %s (%s) is not an in-scope opioid with an OME row", id, p.name)
	}
	return i, nil
}
