package schemes

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkEvaluateYear reconciles 6,500 practices for each of 24 periods
// (one op is all 24), on a scheme with a gateway and one element of every
// type.
func BenchmarkEvaluateYear(b *testing.B) {
	const practices, periods = 6500, 24
	s, err := Load("../../testdata/schemes/bench-scheme.yaml")
	if err != nil {
		b.Fatal(err)
	}
	periodList := s.PeriodList()
	figures := make([][]PracticeFigures, len(periodList))
	for p, period := range periodList {
		figures[p] = benchFigures(period, p, practices)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		for p, period := range periodList {
			if _, err := Evaluate(s, period, figures[p]); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(practices*periods), "ns/practice-period")
}

// benchFigures are figures for the benchmark scheme's p-th period.
func benchFigures(period string, p, practices int) []PracticeFigures {
	end, _ := periodMonthEnd(period)
	fs := make([]PracticeFigures, practices)
	for i := range fs {
		lt := float64(20 + i%60)
		hd := float64(i % 9)
		fs[i] = PracticeFigures{
			ODS: fmt.Sprintf("Y%05d", i), Name: fmt.Sprintf("Practice %d", i), SubmissionID: "s", ReceivedAt: end.AddDate(0, 0, 2),
			PackID: "medsip", PackVersion: "2026.1.0", AsOf: end.Format(time.DateOnly), ListSize: listSize(int64(4000 + i)),
			Measures: []Measure{
				cnt("registered_adults", float64(3200+i)), cnt("eligible_adults", float64(3000+i)),
				cnt("long_term", lt), cnt("high_dose", hd),
				rat("long_term_reviewed", float64((i+p)%int(lt+1)), lt), rat("high_dose_reviewed", float64(i%int(hd+1)), hd),
				cnt("long_term_baseline", lt+3), cnt("high_dose_baseline", hd+2),
				rat("high_dose_baseline_stopped", 1, hd+2), cnt("baseline_lost", 2),
			},
		}
	}
	return fs
}

// benchReconciliation is the benchmark scheme's first period for 6,500
// practices.
func benchReconciliation(b *testing.B) *Reconciliation {
	s, err := Load("../../testdata/schemes/bench-scheme.yaml")
	if err != nil {
		b.Fatal(err)
	}
	period := s.PeriodList()[0]
	rec, err := Evaluate(s, period, benchFigures(period, 0, 6500))
	if err != nil {
		b.Fatal(err)
	}
	return rec
}
