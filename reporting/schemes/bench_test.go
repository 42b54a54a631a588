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
	src := `version: 1
id: bench
title: Benchmark scheme
icb: QXX
pack:
  id: medsip
  versions: ">=2026.1.0 <2027.0.0"
baseline: 2025-03-31
periods:
  from: 2025-04
  to: 2027-03
  final_achievement_date: 2027-03-31
  payment_period_end: 2027-06-30
  submission_deadline_days: 10
  late_submissions: withhold
practices:
`
	for i := 0; i < practices; i++ {
		src += fmt.Sprintf("  - Y%05d\n", i)
	}
	src += `gateway:
  - id: submitted
    type: submission
  - id: has_eligible_adults
    type: threshold
    measure: eligible_adults
    op: ">"
    value: 0
elements:
  - id: reviews
    title: Reviews
    type: per_patient
    paid: monthly
    count: long_term_reviewed.numerator
    pence_per_patient: 1500
    cap_pence: 150000
  - id: points
    title: Points
    type: points
    paid: monthly
    numerator: long_term_reviewed.numerator
    denominator: long_term_reviewed.denominator
    lower_threshold: 50
    upper_threshold: 80
    points: 20
    pence_per_point: 220.62
    list_size: registered_patients
    national_average_list: 9964
  - id: tiers
    title: Tiers
    type: per_registered_patient
    paid: monthly
    numerator: high_dose_reviewed.numerator
    denominator: high_dose_reviewed.denominator
    list_size: registered_adults
    tiers:
      - from: 40
        pence_per_patient: 10
      - from: 70
        pence_per_patient: 25.5
  - id: reduction
    title: Reduction
    type: reduction
    paid: monthly
    baseline: high_dose_baseline
    current: high_dose
    pence_per_unit: 2500
caps:
  practice_pence: 1000000
sign_off:
  declare: [practice_manager]
  approve: [icb_lead]
  pay: [icb_finance]
`
	s, err := Parse("bench.yaml", []byte(src))
	if err != nil {
		b.Fatal(err)
	}
	periodList := s.PeriodList()
	figures := make([][]PracticeFigures, len(periodList))
	for p, period := range periodList {
		end, _ := periodMonthEnd(period)
		fs := make([]PracticeFigures, practices)
		for i := range fs {
			lt := float64(20 + i%60)
			hd := float64(i % 9)
			fs[i] = PracticeFigures{
				ODS: fmt.Sprintf("Y%05d", i), SubmissionID: "s", ReceivedAt: end.AddDate(0, 0, 2),
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
		figures[p] = fs
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
