package synth

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Scenario is one row of synth_scenarios: what the generator intended for a
// patient. Zero times and zero floats stand for NULL. The guarantee each
// scenario name carries is documented in docs/synthetic-practice.md.
type Scenario struct {
	PatientID int64
	Name      string // one of Scenarios
	// OpioidStart and OpioidEnd are the dates of the first and the last
	// in-scope opioid issue of the trajectory on or before the end of the
	// window (a post-dated issue after the window is not counted).
	OpioidStart, OpioidEnd time.Time
	// DailyOME is the intended mg/day OME at the start, PeakDailyOME the
	// highest and EndDailyOME that of the last issue (quantity x OME per
	// unit / days supplied). Zero for none and acute_course.
	DailyOME, PeakDailyOME, EndDailyOME float64
	// HighDoseFrom is the first issue at >= MinHighDailyOME; TaperStart the
	// first reduced issue; GapStart and GapEnd the last issue before and the
	// first issue after a stop_restart gap.
	HighDoseFrom, TaperStart, GapStart, GapEnd time.Time
	// ExcludedFrom is the date of the patient's first cancer or palliative
	// care event, for every scenario.
	ExcludedFrom time.Time
	Product      string // the main product (VMP name or family)
	Coprescribed string // "", "gabapentinoid", "benzodiazepine" or "both"
}

// ReadScenarios reads synth_scenarios from a generated practice database
// (SQLite or PostgreSQL), in patient order.
func ReadScenarios(ctx context.Context, db *sql.DB) ([]Scenario, error) {
	cols := make([]string, len(scenarioCols))
	for i, c := range scenarioCols {
		cols[i] = "CAST(" + c + " AS TEXT)"
	}
	rows, err := db.QueryContext(ctx, "SELECT "+strings.Join(cols, ", ")+" FROM "+ScenarioTable+" ORDER BY "+ScenarioTable+".patient_id")
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", ScenarioTable, err)
	}
	defer rows.Close()
	var out []Scenario
	for rows.Next() {
		var v [14]sql.NullString
		ptrs := make([]any, len(v))
		for i := range v {
			ptrs[i] = &v[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, fmt.Errorf("read %s: %w", ScenarioTable, err)
		}
		var s Scenario
		var perr error
		date := func(n sql.NullString) time.Time {
			if !n.Valid || perr != nil {
				return time.Time{}
			}
			t, err := time.Parse(time.DateOnly, n.String[:min(10, len(n.String))])
			if err != nil {
				perr = err
			}
			return t
		}
		num := func(n sql.NullString) float64 {
			if !n.Valid || perr != nil {
				return 0
			}
			f, err := strconv.ParseFloat(n.String, 64)
			if err != nil {
				perr = err
			}
			return f
		}
		if s.PatientID, err = strconv.ParseInt(v[0].String, 10, 64); err != nil {
			return nil, fmt.Errorf("read %s: patient_id %q: %w", ScenarioTable, v[0].String, err)
		}
		s.Name = v[1].String
		s.OpioidStart, s.OpioidEnd = date(v[2]), date(v[3])
		s.DailyOME, s.PeakDailyOME, s.EndDailyOME = num(v[4]), num(v[5]), num(v[6])
		s.HighDoseFrom, s.TaperStart, s.GapStart, s.GapEnd, s.ExcludedFrom = date(v[7]), date(v[8]), date(v[9]), date(v[10]), date(v[11])
		s.Product, s.Coprescribed = v[12].String, v[13].String
		if perr != nil {
			return nil, fmt.Errorf("read %s: patient %d: %w", ScenarioTable, s.PatientID, perr)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", ScenarioTable, err)
	}
	return out, nil
}
