// Package results defines the results document (schema steward.results/v1)
// that `steward run` prints and the agent submits: the only thing that ever
// leaves a practice. Its types hold aggregates only; there is no field in
// which a patient identifier, a date of birth or a per-patient code list
// could travel, and Decode rejects any document that carries one. Every
// string it holds is bounded, and free text is screened for NHS numbers and
// dates (validate.go); CheckPack holds a document to the pack version it
// names (pack.go).
package results

import (
	"errors"
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/nhs-steward/steward/internal/strictjson"
)

// Schema is the value of Document.Schema for this version.
const Schema = "steward.results/v1"

// Measure kinds.
const (
	KindCount = "count"
	KindSum   = "sum"
	KindRatio = "ratio"
)

// Document is one practice's results for one pack evaluated as of one date.
type Document struct {
	Schema   string  `json:"schema"`
	Practice string  `json:"practice"`
	Pack     PackRef `json:"pack"`
	AsOf     string  `json:"as_of"`
	Baseline string  `json:"baseline,omitempty"`
	// Measures hold every measure of the pack, in the pack's order.
	Measures []Measure `json:"measures"`
	// Parameters are the pack parameter values the run used (defaults
	// included), as strings exactly as resolved.
	Parameters map[string]string `json:"parameters,omitempty"`
	// References name every codelist and reference table, with its version.
	References []Reference `json:"references,omitempty"`
	// Producer names the software that made the document.
	Producer Producer `json:"producer"`
	// Runs record, per search, how long it took and how many rows it read.
	Runs []SearchRun `json:"runs,omitempty"`
	// Disclosure says which disclosure control was applied to strata.
	Disclosure *Disclosure `json:"disclosure,omitempty"`
	// GeneratedAt is when the document was computed (RFC 3339, UTC). The
	// collector orders two documents for the same month by it.
	GeneratedAt string `json:"generated_at,omitempty"`
	// Correction, on a document resent to correct a month already
	// delivered, names the submission it replaces and why.
	Correction *Correction `json:"correction,omitempty"`
}

// Correction says which submission a corrected document replaces, and why.
type Correction struct {
	// Supersedes is the submission id (idempotency key) of the document
	// being corrected.
	Supersedes string `json:"supersedes"`
	// Reason is the practice's reason, kept at the collector and shown in
	// the claim's history.
	Reason string `json:"reason"`
}

// MaxCorrectionReason bounds a correction's reason, in characters.
const MaxCorrectionReason = 500

// PackRef names a search pack and its version.
type PackRef struct {
	ID      string `json:"id"`
	Version string `json:"version"`
}

// Measure is one aggregate figure. Value is always present: the count, the
// sum, or numerator / denominator (null when the denominator is 0).
type Measure struct {
	ID          string   `json:"id"`
	Kind        string   `json:"kind"`
	Title       string   `json:"title,omitempty"`
	At          string   `json:"at,omitempty"` // "as_of" or "baseline": the date the figure describes
	Numerator   *float64 `json:"numerator,omitempty"`
	Denominator *float64 `json:"denominator,omitempty"`
	// Per scales a ratio's value: value = numerator / denominator x per,
	// with the numerator and denominator the raw figures (ome_per_1000:
	// denominator = eligible adults, per = 1000).
	Per   float64  `json:"per,omitempty"`
	Value *float64 `json:"value"`
	// Publishable marks a measure a scheme publishes: it is
	// disclosure-controlled like a stratified cell.
	Publishable bool `json:"publishable,omitempty"`
	// Suppressed is true when disclosure control withheld Value.
	Suppressed bool     `json:"suppressed,omitempty"`
	Strata     []Strata `json:"strata,omitempty"`
	// Series is the measure at each of a run of month ends, oldest first,
	// the last at the document's as_of (equal to the measure's own
	// figures); absent when the measure has no series.
	Series []Point `json:"series,omitempty"`
}

// Point is a measure's figures at one month end of its series: the same
// fields, with the same rules, as the measure's own. Points have no strata.
type Point struct {
	AsOf        string   `json:"as_of"`
	Numerator   *float64 `json:"numerator,omitempty"`
	Denominator *float64 `json:"denominator,omitempty"`
	Value       *float64 `json:"value"`
	Suppressed  bool     `json:"suppressed,omitempty"`
}

// Strata is one stratification of a count measure, or of a ratio's
// numerator or denominator.
type Strata struct {
	Dimension string `json:"dimension"` // "sex", "age_band", "imd_quintile", a variable, a crossed pair (sex_by_on_opioid)
	// Part is "numerator" or "denominator" for a stratified ratio, whose
	// document holds each stratification twice; absent for a count.
	Part  string `json:"part,omitempty"`
	Cells []Cell `json:"cells"`
}

// Parts of a stratified ratio.
const (
	PartNumerator   = "numerator"
	PartDenominator = "denominator"
)

// Key names a stratification within its measure: the dimension, and for a
// ratio the part.
func (s Strata) Key() string {
	if s.Part == "" {
		return s.Dimension
	}
	return s.Part + "/" + s.Dimension
}

// Cell is one stratum's count. After disclosure control Value is rounded to
// the nearest 5, or null with Suppressed set.
type Cell struct {
	Stratum    string   `json:"stratum"`
	Value      *float64 `json:"value"`
	Suppressed bool     `json:"suppressed,omitempty"`
	// Reason says why a cell was suppressed: "small" (1 to 7) or
	// "complementary" (to protect another suppressed cell).
	Reason string `json:"reason,omitempty"`
}

// Reference names a codelist or reference table and its version.
type Reference struct {
	Kind    string `json:"kind"` // "codelist", "reference_table", "factor_set"
	Name    string `json:"name"`
	Version string `json:"version"`
	Source  string `json:"source,omitempty"`
	SHA256  string `json:"sha256,omitempty"`
}

// Producer names the program and version that computed the document.
type Producer struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Profile string `json:"profile,omitempty"` // schema profile, e.g. "canonical" or "tpp"
	Dialect string `json:"dialect,omitempty"`
}

// SearchRun records one search's execution.
type SearchRun struct {
	Search     string  `json:"search"`
	DurationMS float64 `json:"duration_ms"`
	Rows       int64   `json:"rows"`
	Status     string  `json:"status"` // "ok", "no_data", "failed"
}

// Disclosure describes the disclosure control applied.
type Disclosure struct {
	Method       string `json:"method"`
	SuppressFrom int    `json:"suppress_from"`
	SuppressTo   int    `json:"suppress_to"`
	RoundTo      int    `json:"round_to"`
	Applied      bool   `json:"applied"`
}

// F returns a pointer to v, for building measures.
func F(v float64) *float64 { return &v }

// Find returns the measure with id, or nil.
func (d *Document) Find(id string) *Measure {
	for i := range d.Measures {
		if d.Measures[i].ID == id {
			return &d.Measures[i]
		}
	}
	return nil
}

// Limits on a document, enforced by Decode and Validate. Lengths are bytes
// of UTF-8.
const (
	MaxBytes      = 1 << 20
	MaxMeasures   = 500
	MaxStrata     = 8   // stratifications of one measure
	MaxCells      = 200 // cells of one stratification
	MaxPoints     = 60  // points of one measure's series (five years of month ends)
	MaxParameters = 100
	MaxReferences = 200
	MaxRuns       = 100
	MaxTitle      = 200 // a measure's title
	MaxName       = 64  // ids, stratum labels, names of searches, producers, parameter values, versions
	MaxRefName    = 200 // a reference's name
	MaxSource     = 500 // a reference's source
	// MaxCount bounds every count: no practice has a billion of anything,
	// and a ten-digit figure is more likely an identifier than a count.
	MaxCount = 999_999_999
)

// patientLevelNames are JSON keys that suggest patient-level data. A
// document carrying any of them, at any depth and in any case, is refused
// outright, with a message that names the field.
var patientLevelNames = []string{
	"patient", "patient_id", "patient_ids", "patients", "nhs_number", "date_of_birth", "dob",
	"birth_date", "date_of_death", "postcode", "address", "issue_id", "event_id", "worklist",
}

var patientLevelFolded = func() map[string]bool {
	m := map[string]bool{}
	for _, n := range patientLevelNames {
		m[strictjson.Fold(n)] = true
	}
	return m
}()

// Decode reads and validates a document strictly. Invalid UTF-8, a key
// repeated in any object (even but for case), unknown fields, a value of
// the wrong type, trailing data, a wrong schema, ill-formed ids or dates,
// inconsistent figures and oversized content are problems of kind
// ErrInvalid; a patient-level field is ErrPatientLevel, and free text that
// holds an NHS number or a full date is ErrPatientText. The error is an
// *Error listing each problem at its JSON path.
func Decode(r io.Reader) (*Document, error) {
	body, err := io.ReadAll(io.LimitReader(r, MaxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read results document: %w", err)
	}
	if len(body) > MaxBytes {
		return nil, problemf(ErrInvalid, "$", "larger than %d bytes", MaxBytes)
	}
	// One walk finds every patient-level key, in every copy of a repeated
	// member, and the first thing that makes the body unacceptable.
	var c checker
	var d Document
	err = strictjson.DecodeWalk(body, &d, func(path, key string) error {
		if patientLevelFolded[strictjson.Fold(key)] {
			c.add(ErrPatientLevel, path, "%s: a results document holds aggregates only; remove the field", strictjson.QuoteKey(key))
		}
		return nil
	})
	if len(c.problems) > 0 {
		// An unknown-field error would only repeat the patient-level key.
		var se *strictjson.Error
		if errors.As(err, &se) && !strings.HasPrefix(se.Msg, "unknown field") {
			c.add(ErrInvalid, se.Path, "%s", se.Msg)
		}
		return nil, c.err()
	}
	if err != nil {
		var se *strictjson.Error
		if errors.As(err, &se) {
			return nil, problemf(ErrInvalid, se.Path, "%s", se.Msg)
		}
		return nil, problemf(ErrInvalid, "$", "%s", err.Error())
	}
	if err := d.Validate(); err != nil {
		return nil, err
	}
	return &d, nil
}

// Round4 rounds a ratio's value to four decimal places, as documents carry it.
func Round4(v float64) float64 { return math.Round(v*1e4) / 1e4 }
