// Package results defines the results document (schema steward.results/v1)
// that `steward run` prints and the agent submits: the only thing that ever
// leaves a practice. Its types hold aggregates only; there is no field in
// which a patient identifier, a date of birth or a per-patient code list
// could travel, and Decode rejects any document that carries one.
package results

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"strings"
	"time"
	"unicode"
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
	// GeneratedAt is when the document was computed (RFC 3339, UTC).
	GeneratedAt string `json:"generated_at,omitempty"`
}

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
	// Per scales a ratio: the denominator is expressed per this many
	// (ome_per_1000: denominator = eligible adults / 1000).
	Per   float64  `json:"per,omitempty"`
	Value *float64 `json:"value"`
	// Publishable marks a measure a scheme publishes: it is
	// disclosure-controlled like a stratified cell.
	Publishable bool `json:"publishable,omitempty"`
	// Suppressed is true when disclosure control withheld Value.
	Suppressed bool     `json:"suppressed,omitempty"`
	Strata     []Strata `json:"strata,omitempty"`
}

// Strata is one stratification of a count measure.
type Strata struct {
	Dimension string `json:"dimension"` // "sex", "age_band", "imd_quintile"
	Cells     []Cell `json:"cells"`
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

// Limits on a document's size, enforced by Decode.
const (
	MaxBytes    = 1 << 20
	MaxMeasures = 500
	MaxCells    = 200
)

var (
	odsPattern = regexp.MustCompile(`^[A-Z0-9]{3,10}$`)
	idPattern  = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)
	// ErrInvalid wraps every validation failure.
	ErrInvalid = errors.New("invalid results document")
	// ErrPatientLevel marks a document that carries a field that could hold
	// patient-level data.
	ErrPatientLevel = errors.New("patient-level field in results document")
)

// patientLevelNames are JSON keys that suggest patient-level data. A
// document carrying any of them is refused outright, with a message that
// names the field.
var patientLevelNames = []string{
	"patient", "patient_id", "patient_ids", "patients", "nhs_number", "date_of_birth", "dob",
	"birth_date", "date_of_death", "postcode", "address", "issue_id", "event_id", "worklist",
}

// Decode reads and validates a document strictly: unknown fields, trailing
// data, a wrong schema, ill-formed ids or dates, and oversized content are
// errors wrapping ErrInvalid; a patient-level field wraps ErrPatientLevel.
func Decode(r io.Reader) (*Document, error) {
	body, err := io.ReadAll(io.LimitReader(r, MaxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read results document: %w", err)
	}
	if len(body) > MaxBytes {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrInvalid, MaxBytes)
	}
	if field := findPatientLevelField(body); field != "" {
		return nil, fmt.Errorf("%w: %q: a results document holds aggregates only; remove the field", ErrPatientLevel, field)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var d Document
	if err := dec.Decode(&d); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	// More would pass a stray '}' or ']' after the document: only the end
	// of the input may follow it.
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: trailing data after the document", ErrInvalid)
	}
	if err := d.Validate(); err != nil {
		return nil, err
	}
	return &d, nil
}

// findPatientLevelField returns the first object key anywhere in body that
// names patient-level data, or "". It reads the keys as they come, so a
// repeated key (whose values decoding would merge into one map) and a
// document with bytes after it are still searched in full.
func findPatientLevelField(body []byte) string {
	dec := json.NewDecoder(bytes.NewReader(body))
	type open struct{ object, wantKey bool }
	var stack []open // the containers the next token is in
	valueDone := func() {
		if n := len(stack); n > 0 && stack[n-1].object {
			stack[n-1].wantKey = true
		}
	}
	for {
		tok, err := dec.Token()
		if err != nil {
			return ""
		}
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{':
				stack = append(stack, open{object: true, wantKey: true})
			case '[':
				stack = append(stack, open{})
			default:
				stack = stack[:len(stack)-1]
				valueDone()
			}
		case string:
			if n := len(stack); n > 0 && stack[n-1].wantKey {
				stack[n-1].wantKey = false
				lk := strings.ToLower(t)
				for _, name := range patientLevelNames {
					if lk == name {
						return t
					}
				}
				continue
			}
			valueDone()
		default:
			valueDone()
		}
	}
}

// Validate checks the document's content.
func (d *Document) Validate() error {
	var problems []string
	add := func(format string, a ...any) { problems = append(problems, fmt.Sprintf(format, a...)) }
	if d.Schema != Schema {
		add("schema is %q, want %q", d.Schema, Schema)
	}
	if !odsPattern.MatchString(d.Practice) {
		add("practice %q is not an ODS code", d.Practice)
	}
	if d.Pack.ID == "" || d.Pack.Version == "" {
		add("pack id and version are required")
	} else if !printable(d.Pack.ID) || !printable(d.Pack.Version) {
		// The collector stores them as text, which in PostgreSQL cannot
		// hold a NUL.
		add("pack id %q and version %q must be printable text", d.Pack.ID, d.Pack.Version)
	}
	if !isMonthEnd(d.AsOf) {
		add("as_of %q is not the last day of a month (YYYY-MM-DD)", d.AsOf)
	}
	if d.Baseline != "" && !isMonthEnd(d.Baseline) {
		add("baseline %q is not the last day of a month (YYYY-MM-DD)", d.Baseline)
	}
	if len(d.Measures) == 0 {
		add("measures is empty")
	}
	if len(d.Measures) > MaxMeasures {
		add("%d measures, more than %d", len(d.Measures), MaxMeasures)
	}
	seen := map[string]bool{}
	for i, m := range d.Measures {
		where := fmt.Sprintf("measures[%d]", i)
		if !idPattern.MatchString(m.ID) {
			add("%s: id %q is not a measure id", where, m.ID)
		}
		if seen[m.ID] {
			add("%s: duplicate measure id %q", where, m.ID)
		}
		seen[m.ID] = true
		switch m.Kind {
		case KindCount, KindSum:
			if m.Value == nil && !m.Suppressed {
				add("%s (%s): value is required", where, m.ID)
			}
		case KindRatio:
			if (m.Numerator == nil || m.Denominator == nil) && !m.Suppressed {
				add("%s (%s): a ratio needs numerator and denominator", where, m.ID)
			}
		default:
			add("%s (%s): kind %q is not count, sum or ratio", where, m.ID, m.Kind)
		}
		for _, p := range []*float64{m.Value, m.Numerator, m.Denominator} {
			if p != nil && (math.IsNaN(*p) || math.IsInf(*p, 0)) {
				add("%s (%s): not a finite number", where, m.ID)
			}
		}
		if m.Kind == KindCount && m.Value != nil && (*m.Value < 0 || *m.Value != math.Trunc(*m.Value)) {
			add("%s (%s): a count must be a whole number >= 0", where, m.ID)
		}
		for _, s := range m.Strata {
			if len(s.Cells) > MaxCells {
				add("%s (%s): stratification %q has more than %d cells", where, m.ID, s.Dimension, MaxCells)
			}
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: %s", ErrInvalid, strings.Join(problems, "; "))
	}
	return nil
}

// printable reports whether s holds no control characters.
func printable(s string) bool {
	return !strings.ContainsFunc(s, unicode.IsControl)
}

func isMonthEnd(s string) bool {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return false
	}
	return t.AddDate(0, 0, 1).Day() == 1
}

// Round4 rounds a ratio's value to four decimal places, as documents carry it.
func Round4(v float64) float64 { return math.Round(v*1e4) / 1e4 }
