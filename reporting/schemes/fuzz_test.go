package schemes

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nhs-steward/steward/internal/fuzzcheck"
)

// FuzzParse gives Parse arbitrary scheme files, which an ICB writes by hand
// and finance signs off. Seeds: testdata/fuzz/FuzzParse (the example
// scheme, the benchmark scheme, the valid and invalid test files).
//
// Properties:
//   - a refusal is Problems (ErrInvalid), each problem in the file, at a
//     line and column of the text, in order, printed on one line;
//   - an accepted scheme reconciles its first, last and final-achievement
//     periods, with no figures and with figures for its practices, and each
//     reconciliation encodes (AppendJSON, as encoding/json would).
func FuzzParse(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		const name = "scheme.yaml"
		s, err := Parse(name, data)
		if err != nil {
			if s != nil {
				t.Fatalf("Parse returned a scheme and the error %v", err)
			}
			var ps Problems
			if !errors.As(err, &ps) || !errors.Is(err, ErrInvalid) || len(ps) == 0 {
				t.Fatalf("error %T %v is not Problems", err, err)
			}
			for i, p := range ps {
				if p.Pos.File != name || !fuzzcheck.InYAML(data, p.Pos.Line, p.Pos.Col) || p.Msg == "" {
					t.Fatalf("problem %q is not at a place in the %d lines", p, fuzzcheck.YAMLLines(data))
				}
				if strings.Contains(p.String(), "\n") {
					t.Fatalf("problem printed over several lines: %q", p)
				}
				if i > 0 {
					q := ps[i-1].Pos
					if q.Line > p.Pos.Line || q.Line == p.Pos.Line && q.Col > p.Pos.Col {
						t.Fatalf("problems out of order: %q before %q", ps[i-1], p)
					}
				}
			}
			return
		}
		periods := s.PeriodList()
		if len(periods) == 0 {
			t.Fatalf("accepted periods %q to %q", s.Periods.From, s.Periods.To)
		}
		check := []string{periods[0], periods[len(periods)-1]}
		if fa := s.Periods.FinalAchievementDate; len(fa) >= 7 {
			check = append(check, fa[:7])
		}
		for _, period := range check {
			for _, figures := range [][]PracticeFigures{nil, fuzzFigures(s, period)} {
				rec, err := Evaluate(s, period, figures)
				if err != nil {
					t.Fatalf("an accepted scheme does not reconcile %s: %v", period, err)
				}
				if _, err := rec.AppendJSON(nil); err != nil {
					t.Fatalf("the reconciliation of %s cannot be encoded: %v", period, err)
				}
				sameAsEncodingJSON(t, period, rec)
			}
		}
	})
}

// fuzzFigures are on-time figures for every practice of s (one made-up
// practice for practices: all), with every medsip measure, each
// declaration made and a list size.
func fuzzFigures(s *Scheme, period string) []PracticeFigures {
	end, err := periodMonthEnd(period)
	if err != nil {
		return nil
	}
	practices := s.Practices
	if s.AllPractices {
		practices = []string{"Y09999"}
	}
	var ms []Measure
	for id, def := range MedSIPMeasures() {
		switch def.Kind {
		case KindRatio:
			ms = append(ms, Measure{ID: id, Kind: string(def.Kind), Numerator: ptr(30), Denominator: ptr(40), Value: ptr(0.75)})
		case KindSum:
			ms = append(ms, Measure{ID: id, Kind: string(def.Kind), Value: ptr(12345.5)})
		default:
			ms = append(ms, Measure{ID: id, Kind: string(def.Kind), Value: ptr(40)})
		}
	}
	size := int64(5000)
	out := make([]PracticeFigures, len(practices))
	for i, ods := range practices {
		out[i] = PracticeFigures{
			ODS: ods, ListSize: &size, SubmissionID: "sub-" + ods, ReceivedAt: end.Add(24 * time.Hour),
			PackID: s.Pack.ID, PackVersion: "2026.1.0", AsOf: end.Format(time.DateOnly), Baseline: s.Baseline,
			Declarations: s.Declarations(), Measures: ms,
		}
	}
	return out
}

func ptr(v float64) *float64 { return &v }
