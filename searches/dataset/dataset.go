// Package dataset holds a practice's records as plain Go values — patients,
// registration spells, medication issues and clinical events — and writes
// them into a SQL database in the canonical layout, SystmOne's tables
// ("tpp") or EMIS Web's ("emis"), each with its quirks. The reference
// evaluator reads a Dataset directly (ForLayout gives what a layout can
// hold); the SQL engines read what a writer put in a database; the
// conformance suite compares the two.
package dataset

import (
	"fmt"
	"math"
	"sort"
	"time"
)

// Patient is one row of patients. Dates are UTC midnights.
type Patient struct {
	ID          int64
	Sex         string // "F", "M" or "U"
	DateOfBirth time.Time
	DateOfDeath *time.Time
	IMDDecile   *int
}

// Registration is one registration spell; End nil means still registered.
type Registration struct {
	PatientID int64
	Practice  string
	Start     time.Time
	End       *time.Time
}

// Issue is one medication issue. Dose "" is stored as NULL.
type Issue struct {
	ID        int64
	PatientID int64
	Date      time.Time
	Code      string // dm+d code
	Quantity  *float64
	Dose      string
}

// Event is one coded clinical event.
type Event struct {
	ID        int64
	PatientID int64
	Date      time.Time
	Code      string // SNOMED CT code
	Value     *float64
}

// Dataset is a practice's records.
type Dataset struct {
	Patients      []Patient
	Registrations []Registration
	Issues        []Issue
	Events        []Event
}

// Date returns the UTC midnight of y-m-d.
func Date(y int, m time.Month, d int) time.Time {
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// Validate checks the constraints the database tables impose: unique
// patient, issue and event ids, rows referring to known patients, dates
// without a time of day, and non-empty codes.
func (ds *Dataset) Validate() error {
	patients := map[int64]bool{}
	for _, p := range ds.Patients {
		if patients[p.ID] {
			return fmt.Errorf("patient %d: duplicate id", p.ID)
		}
		patients[p.ID] = true
		if !isDate(p.DateOfBirth) || (p.DateOfDeath != nil && !isDate(*p.DateOfDeath)) {
			return fmt.Errorf("patient %d: dates must be UTC midnights", p.ID)
		}
		if p.Sex == "" {
			return fmt.Errorf("patient %d: empty sex", p.ID)
		}
	}
	for _, r := range ds.Registrations {
		if !patients[r.PatientID] {
			return fmt.Errorf("registration of unknown patient %d", r.PatientID)
		}
		if r.Practice == "" || !isDate(r.Start) || (r.End != nil && !isDate(*r.End)) {
			return fmt.Errorf("registration of patient %d: empty practice or a date with a time of day", r.PatientID)
		}
	}
	ids := map[int64]bool{}
	for _, is := range ds.Issues {
		if ids[is.ID] {
			return fmt.Errorf("issue %d: duplicate id", is.ID)
		}
		ids[is.ID] = true
		if !patients[is.PatientID] {
			return fmt.Errorf("issue %d: unknown patient %d", is.ID, is.PatientID)
		}
		if is.Code == "" || !isDate(is.Date) {
			return fmt.Errorf("issue %d: empty code or a date with a time of day", is.ID)
		}
		if is.Quantity != nil && !fourPlaces(*is.Quantity) {
			return fmt.Errorf("issue %d: quantity %v has more than 4 decimal places or is out of range (the column is decimal(18,4))", is.ID, *is.Quantity)
		}
	}
	ids = map[int64]bool{}
	for _, ev := range ds.Events {
		if ids[ev.ID] {
			return fmt.Errorf("event %d: duplicate id", ev.ID)
		}
		ids[ev.ID] = true
		if !patients[ev.PatientID] {
			return fmt.Errorf("event %d: unknown patient %d", ev.ID, ev.PatientID)
		}
		if ev.Code == "" || !isDate(ev.Date) {
			return fmt.Errorf("event %d: empty code or a date with a time of day", ev.ID)
		}
		if ev.Value != nil && !fourPlaces(*ev.Value) {
			return fmt.Errorf("event %d: value %v has more than 4 decimal places or is out of range (the column is decimal(18,4))", ev.ID, *ev.Value)
		}
	}
	return nil
}

// fourPlaces reports whether f fits decimal(18,4) exactly.
func fourPlaces(f float64) bool {
	if math.IsNaN(f) || math.Abs(f) >= 1e14 {
		return false
	}
	x := f * 1e4
	return math.Abs(x-math.Round(x)) < 1e-6
}

func isDate(t time.Time) bool {
	return t.Location() == time.UTC && t.Hour() == 0 && t.Minute() == 0 && t.Second() == 0 && t.Nanosecond() == 0
}

// IssueCodes returns the distinct issue codes of ds, sorted.
func (ds *Dataset) IssueCodes() []string {
	seen := map[string]bool{}
	var out []string
	for _, is := range ds.Issues {
		if !seen[is.Code] {
			seen[is.Code] = true
			out = append(out, is.Code)
		}
	}
	sort.Strings(out)
	return out
}
